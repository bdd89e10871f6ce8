// torch.autocast for the smartops ops, on CPU and CUDA:
//  - relation_pool runs in the autocast dtype on CUDA (its kernels take
//    float16/bfloat16 with float32 BN parameters and statistics) and in
//    float32 on CPU (the CPU kernels are float32/float64);
//  - concat_reduce casts all its operands to the autocast dtype, as a
//    convolution does;
//  - relation_tail casts u as relation_pool casts x.
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace smartops {
namespace {

using at::Tensor;

template <c10::DeviceType kDevice>
constexpr c10::DispatchKey autocast_key() {
  return kDevice == c10::DeviceType::CUDA ? c10::DispatchKey::AutocastCUDA : c10::DispatchKey::AutocastCPU;
}

template <c10::DeviceType kDevice>
Tensor to_autocast_dtype(const Tensor& t) {
  return at::autocast::cached_cast(at::autocast::get_autocast_dtype(kDevice), t, kDevice);
}

template <c10::DeviceType kDevice>
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_autocast(
    const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
    const std::optional<Tensor>& mean1, const std::optional<Tensor>& var1, const std::optional<Tensor>& mean2,
    const std::optional<Tensor>& var2, double eps, bool relu) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key<kDevice>());
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("smartops::relation_pool", "")
                       .typed<decltype(relation_pool_autocast<kDevice>)>();
  const Tensor xc = kDevice == c10::DeviceType::CUDA ? to_autocast_dtype<kDevice>(x)
                                                     : at::autocast::cached_cast(at::kFloat, x, kDevice);
  return op.call(xc, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps, relu);
}

template <c10::DeviceType kDevice>
Tensor concat_reduce_autocast(const Tensor& a, const Tensor& z, const Tensor& weight,
                              const std::optional<Tensor>& bias) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key<kDevice>());
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("smartops::concat_reduce", "")
                       .typed<decltype(concat_reduce_autocast<kDevice>)>();
  return op.call(to_autocast_dtype<kDevice>(a), to_autocast_dtype<kDevice>(z), to_autocast_dtype<kDevice>(weight),
                 bias ? std::optional<Tensor>(to_autocast_dtype<kDevice>(*bias)) : std::nullopt);
}

// Like relation_pool: the autocast dtype on CUDA, float32 on CPU; scale and
// shift stay float32 (the kernels take float32 coefficients for half u).
template <c10::DeviceType kDevice>
Tensor relation_tail_autocast(const Tensor& u, const Tensor& scale, const Tensor& shift, bool relu) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key<kDevice>());
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("smartops::relation_tail", "")
                       .typed<decltype(relation_tail_autocast<kDevice>)>();
  const Tensor uc = kDevice == c10::DeviceType::CUDA ? to_autocast_dtype<kDevice>(u)
                                                     : at::autocast::cached_cast(at::kFloat, u, kDevice);
  return op.call(uc, scale, shift, relu);
}

}  // namespace

TORCH_LIBRARY_IMPL(smartops, AutocastCPU, m) {
  m.impl("relation_pool", &relation_pool_autocast<c10::DeviceType::CPU>);
  m.impl("concat_reduce", &concat_reduce_autocast<c10::DeviceType::CPU>);
  m.impl("relation_tail", &relation_tail_autocast<c10::DeviceType::CPU>);
}

TORCH_LIBRARY_IMPL(smartops, AutocastCUDA, m) {
  m.impl("relation_pool", &relation_pool_autocast<c10::DeviceType::CUDA>);
  m.impl("concat_reduce", &concat_reduce_autocast<c10::DeviceType::CUDA>);
  m.impl("relation_tail", &relation_tail_autocast<c10::DeviceType::CUDA>);
}

}  // namespace smartops
