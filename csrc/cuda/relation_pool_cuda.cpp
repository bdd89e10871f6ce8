// CUDA implementation of smartops::relation_pool and its backward: checks,
// allocation and dtype dispatch; the kernels are in relation_pool_kernels.cu.
// Registered for the CUDA key in cuda/registration.cpp (the CPU emulation in
// tests/cuda_emulation compiles this file unchanged and registers it there).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include "cuda/relation_pool_cuda.h"

#include "cuda/relation_pool_host.h"
#include "cuda/relation_pool_kernels.h"
#include "ops/relation_pool.h"

namespace smartops {
namespace cuda {

using at::Tensor;

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_cuda(
    const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
    const std::optional<Tensor>& mean1, const std::optional<Tensor>& var1, const std::optional<Tensor>& mean2,
    const std::optional<Tensor>& var2, double eps, bool relu) {
  const bool use_batch_stats = !mean1.has_value();
  const RelationShape shape =
      check_relation_pool_forward(x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps);
  const DeviceInputs in(x);
  Tensor y = at::empty(relation_pool_output_shape(x), x.options().memory_format(in.format));
  const RelationGeometry g = geometry(shape, in.format);
  Tensor m1, v1, m2, v2;
  if (use_batch_stats) {
    m1 = at::empty({2 * shape.C}, weight1.options());
    v1 = at::empty({2 * shape.C}, weight1.options());
    m2 = at::empty({shape.C}, weight1.options());
    v2 = at::empty({shape.C}, weight1.options());
  } else {
    m1 = mean1->clone();
    v1 = var1->clone();
    m2 = mean2->clone();
    v2 = var2->clone();
  }
  Tensor coeffs = at::empty({kNumApplyCoef * shape.C}, x.options().dtype(acc_dtype(x)));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "relation_pool_cuda", [&] {
    using P = ParamOf<scalar_t>;
    const P* w1 = weight1.const_data_ptr<P>();
    const P* h1 = bias1.const_data_ptr<P>();
    const P* w2 = weight2.const_data_ptr<P>();
    const P* h2 = bias2.const_data_ptr<P>();
    if (use_batch_stats) {
      Tensor moments = workspace<PairMoments>(shape.C * relation_parts(g, in.device), x);
      relation_stats<scalar_t, P>(in.x.const_data_ptr<scalar_t>(), w1, h1, w2, h2, g, eps, m1.data_ptr<P>(),
                                  v1.data_ptr<P>(), m2.data_ptr<P>(), v2.data_ptr<P>(),
                                  reinterpret_cast<PairMoments*>(moments.data_ptr()), coeffs.data_ptr(), in.device,
                                  in.stream);
    } else {
      relation_apply_coeffs_from_stats<P>(w1, h1, w2, h2, m1.const_data_ptr<P>(), v1.const_data_ptr<P>(),
                                          m2.const_data_ptr<P>(), v2.const_data_ptr<P>(), shape.C, eps, false, 0.0,
                                          coeffs.data_ptr(), in.stream);
    }
    relation_apply<scalar_t>(in.x.const_data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), coeffs.const_data_ptr(), g, relu,
                             in.device, in.stream);
  });
  return {y, m1, v1, m2, v2};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_backward_cuda(
    const Tensor& grad_out, const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2,
    const Tensor& bias2, const Tensor& mean1, const Tensor& var1, const Tensor& mean2, const Tensor& var2,
    double eps, bool relu, bool batch_stats) {
  const RelationShape shape =
      check_relation_pool_backward(grad_out, x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps,
                                   batch_stats);
  const DeviceInputs in(x, grad_out);
  Tensor dx = at::empty(x.sizes(), x.options().memory_format(in.format));
  Tensor gw1 = at::empty_like(weight1), gb1 = at::empty_like(bias1);
  Tensor gw2 = at::empty_like(weight2), gb2 = at::empty_like(bias2);
  const RelationGeometry g = geometry(shape, in.format);
  Tensor sums = workspace<PairGradSums>(shape.C * relation_parts(g, in.device), x);
  Tensor coeffs = at::empty({kNumBackwardCoef * shape.C}, x.options().dtype(acc_dtype(x)));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "relation_pool_backward_cuda", [&] {
    using P = ParamOf<scalar_t>;
    relation_backward<scalar_t, P>(
        in.grad.const_data_ptr<scalar_t>(), in.x.const_data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(),
        weight1.const_data_ptr<P>(), bias1.const_data_ptr<P>(), weight2.const_data_ptr<P>(), bias2.const_data_ptr<P>(),
        mean1.const_data_ptr<P>(), var1.const_data_ptr<P>(), mean2.const_data_ptr<P>(), var2.const_data_ptr<P>(), g,
        eps, relu, batch_stats, gw1.data_ptr<P>(), gb1.data_ptr<P>(), gw2.data_ptr<P>(), gb2.data_ptr<P>(),
        reinterpret_cast<PairGradSums*>(sums.data_ptr()), coeffs.data_ptr(), in.device, in.stream);
  });
  return {dx, gw1, gb1, gw2, gb2};
}

}  // namespace cuda
}  // namespace smartops
