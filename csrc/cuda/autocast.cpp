// torch.autocast("cuda") for the smartops ops: relation_pool runs in the
// autocast dtype with float32 BN parameters and statistics; concat_reduce
// casts all its operands, as a convolution does.
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace smartops {
namespace cuda {
namespace {

using at::Tensor;

Tensor cast(const Tensor& t) {
  return at::autocast::cached_cast(at::autocast::get_autocast_dtype(at::kCUDA), t, c10::DeviceType::CUDA);
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_autocast(
    const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
    const std::optional<Tensor>& mean1, const std::optional<Tensor>& var1, const std::optional<Tensor>& mean2,
    const std::optional<Tensor>& var2, double eps, bool relu) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCUDA);
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("smartops::relation_pool", "")
                       .typed<decltype(relation_pool_autocast)>();
  return op.call(cast(x), weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps, relu);
}

Tensor concat_reduce_autocast(const Tensor& a, const Tensor& z, const Tensor& weight,
                              const std::optional<Tensor>& bias) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastCUDA);
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("smartops::concat_reduce", "")
                       .typed<decltype(concat_reduce_autocast)>();
  return op.call(cast(a), cast(z), cast(weight), bias ? std::optional<Tensor>(cast(*bias)) : std::nullopt);
}

}  // namespace

TORCH_LIBRARY_IMPL(smartops, AutocastCUDA, m) {
  m.impl("relation_pool", &relation_pool_autocast);
  m.impl("concat_reduce", &concat_reduce_autocast);
}

}  // namespace cuda
}  // namespace smartops
