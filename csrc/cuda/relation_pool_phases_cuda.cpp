// CUDA implementation of the synchronized relation op's phases: checks,
// allocation and dtype dispatch; the kernels are in relation_pool_kernels.cu.
// Registered for the CUDA key in cuda/registration.cpp (the CPU emulation in
// tests/cuda_emulation compiles this file unchanged and registers it there).
// The apply pass and both backward phases take `count`, the positions per
// channel over all processes, which selects the statistics' forms as the
// single-process op's own count does (common/relation_coeffs.h).
// Records stay on the device; only relation_pool_merge_stats reads one
// number back, the fewest positions of a pair, to refuse a batch of 1 as the
// CPU kernel does (the synchronized op reads that count anyway).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>

#include "cuda/relation_pool_host.h"
#include "cuda/relation_pool_kernels.h"
#include "cuda/relation_pool_phases_cuda.h"
#include "ops/phase_checks.h"

namespace smartops {
namespace cuda {
namespace {

// Records of a batch without positions: all zero (a record with n = 0 adds
// nothing to a merge or a sum).
template <class Rec>
Tensor empty_records(int64_t pairs, const Tensor& like) {
  return at::zeros({pairs, record_width<Rec>()}, like.options().dtype(at::kDouble));
}

template <class Rec>
Rec* records_of(const Tensor& t) {
  return reinterpret_cast<Rec*>(t.data_ptr<double>());
}

// The merge's BN parameters: shapes (2C, 2C, C, C), one float dtype, on the
// records' device.
void check_merge_params(const char* op, const Tensor& moments, const Tensor& weight1, const Tensor& bias1,
                        const Tensor& weight2, const Tensor& bias2) {
  const int64_t C = weight2.numel();
  const Tensor* params[4] = {&weight1, &bias1, &weight2, &bias2};
  static const char* names[4] = {"weight1", "bias1", "weight2", "bias2"};
  for (int i = 0; i < 4; ++i) {
    const Tensor& t = *params[i];
    const int64_t len = i < 2 ? 2 * C : C;
    TORCH_CHECK(t.dim() == 1 && t.size(0) == len, op, ": ", names[i], " must have shape (", len, "), got ",
                t.sizes());
    TORCH_CHECK(t.scalar_type() == weight1.scalar_type() &&
                    (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble),
                op, ": BN parameters must all be float32 or all float64, got ", names[i], " of ", t.scalar_type());
    TORCH_CHECK(t.device() == moments.device(), op, ": ", names[i], " is on ", t.device(), " but moments is on ",
                moments.device());
  }
}

}  // namespace

Tensor relation_pool_moments_cuda(const Tensor& x) {
  const RelationShape shape = check_relation_pool_input("relation_pool_moments", x);
  if (shape.count() == 0) return empty_records<PairMoments>(shape.C, x);  // no positions: zero records
  const DeviceInputs in(x);
  const RelationGeometry g = geometry(shape, in.format);
  Tensor records = at::empty({shape.C, record_width<PairMoments>()}, x.options().dtype(at::kDouble));
  Tensor parts = workspace<PairMoments>(shape.C * relation_parts(g, in.device), x);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "relation_pool_moments_cuda", [&] {
    relation_moments<scalar_t>(in.x.const_data_ptr<scalar_t>(), g, reinterpret_cast<PairMoments*>(parts.data_ptr()),
                               records_of<PairMoments>(records), in.device, in.stream);
  });
  return records;
}

std::tuple<Tensor, Tensor, Tensor, Tensor> relation_pool_merge_stats_cuda(const Tensor& moments, const Tensor& weight1,
                                                                          const Tensor& bias1, const Tensor& weight2,
                                                                          const Tensor& bias2, double eps) {
  const char* op = "relation_pool_merge_stats";
  const int64_t C = weight2.numel();
  check_moment_records(op, moments, C);
  check_merge_params(op, moments, weight1, bias1, weight2, bias2);
  TORCH_CHECK(C > 0 && moments.size(0) > 0, op, ": needs at least one pair and one process, got moments of shape ",
              moments.sizes());
  const c10::cuda::CUDAGuard guard(moments.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const Tensor records = moments.contiguous();
  check_merged_count(op, records.select(2, 0).sum(0).min().item<double>());  // field 0: positions
  Tensor m1 = at::empty_like(weight1), v1 = at::empty_like(weight1);
  Tensor m2 = at::empty_like(weight2), v2 = at::empty_like(weight2);
  AT_DISPATCH_FLOATING_TYPES(weight1.scalar_type(), "relation_pool_merge_stats_cuda", [&] {
    relation_merge_stats<scalar_t>(
        reinterpret_cast<const PairMoments*>(records.const_data_ptr<double>()), records.size(0),
        weight1.const_data_ptr<scalar_t>(), bias1.const_data_ptr<scalar_t>(), weight2.const_data_ptr<scalar_t>(),
        bias2.const_data_ptr<scalar_t>(), C, eps, m1.data_ptr<scalar_t>(), v1.data_ptr<scalar_t>(),
        m2.data_ptr<scalar_t>(), v2.data_ptr<scalar_t>(), stream);
  });
  return {m1, v1, m2, v2};
}

Tensor relation_pool_apply_cuda(const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2,
                                const Tensor& bias2, const Tensor& mean1, const Tensor& var1, const Tensor& mean2,
                                const Tensor& var2, int64_t count, double eps, bool relu) {
  const RelationShape shape =
      check_relation_pool_apply(x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, count, eps);
  const DeviceInputs in(x);
  Tensor y = at::empty(relation_pool_output_shape(x), x.options().memory_format(in.format));
  if (shape.count() == 0) return y;  // a process without clips
  const RelationGeometry g = geometry(shape, in.format);
  Tensor coeffs = at::empty({kNumApplyCoef * shape.C}, x.options().dtype(acc_dtype(x)));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "relation_pool_apply_cuda", [&] {
    using P = ParamOf<scalar_t>;
    relation_apply_coeffs_from_stats<P>(weight1.const_data_ptr<P>(), bias1.const_data_ptr<P>(),
                                        weight2.const_data_ptr<P>(), bias2.const_data_ptr<P>(),
                                        mean1.const_data_ptr<P>(), var1.const_data_ptr<P>(), mean2.const_data_ptr<P>(),
                                        var2.const_data_ptr<P>(), shape.C, eps, true, static_cast<double>(count),
                                        coeffs.data_ptr(), in.stream);
    relation_apply<scalar_t>(in.x.const_data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), coeffs.const_data_ptr(), g, relu,
                             in.device, in.stream);
  });
  return y;
}

Tensor relation_pool_grad_sums_cuda(const Tensor& grad_out, const Tensor& x, const Tensor& weight1, const Tensor& bias1,
                                    const Tensor& weight2, const Tensor& bias2, const Tensor& mean1, const Tensor& var1,
                                    const Tensor& mean2, const Tensor& var2, int64_t count, double eps, bool relu) {
  const RelationShape shape = check_relation_pool_backward(grad_out, x, weight1, bias1, weight2, bias2, mean1, var1,
                                                           mean2, var2, eps, true, "relation_pool_grad_sums", true);
  check_global_count("relation_pool_grad_sums", count, shape);
  if (shape.count() == 0) return empty_records<PairGradSums>(shape.C, x);  // no positions: zero sums
  const DeviceInputs in(x, grad_out);
  const RelationGeometry g = geometry(shape, in.format);
  Tensor sums = at::empty({shape.C, record_width<PairGradSums>()}, x.options().dtype(at::kDouble));
  Tensor parts = workspace<PairGradSums>(shape.C * relation_parts(g, in.device), x);
  Tensor coeffs = at::empty({kNumBackwardCoef * shape.C}, x.options().dtype(acc_dtype(x)));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "relation_pool_grad_sums_cuda", [&] {
    using P = ParamOf<scalar_t>;
    relation_grad_sums<scalar_t, P>(
        in.grad.const_data_ptr<scalar_t>(), in.x.const_data_ptr<scalar_t>(), weight1.const_data_ptr<P>(),
        bias1.const_data_ptr<P>(), weight2.const_data_ptr<P>(), bias2.const_data_ptr<P>(), mean1.const_data_ptr<P>(),
        var1.const_data_ptr<P>(), mean2.const_data_ptr<P>(), var2.const_data_ptr<P>(), static_cast<double>(count), g,
        eps, relu, reinterpret_cast<PairGradSums*>(parts.data_ptr()), records_of<PairGradSums>(sums), coeffs.data_ptr(),
        in.device, in.stream);
  });
  return sums;
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_grad_input_cuda(
    const Tensor& grad_out, const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2,
    const Tensor& bias2, const Tensor& mean1, const Tensor& var1, const Tensor& mean2, const Tensor& var2,
    const Tensor& grad_sums, int64_t count, double eps, bool relu) {
  const char* op = "relation_pool_grad_input";
  const RelationShape shape = check_relation_pool_backward(grad_out, x, weight1, bias1, weight2, bias2, mean1, var1,
                                                           mean2, var2, eps, true, op, true);
  check_grad_sum_records(op, grad_sums, count, shape);
  TORCH_CHECK(grad_sums.device() == x.device(), op, ": grad_sums is on ", grad_sums.device(), " but x is on ",
              x.device());
  const DeviceInputs in(x, grad_out);
  const Tensor sums = grad_sums.contiguous();
  const RelationGeometry g = geometry(shape, in.format);
  Tensor dx = at::empty(x.sizes(), x.options().memory_format(in.format));
  Tensor gw1 = at::empty_like(weight1), gb1 = at::empty_like(bias1);
  Tensor gw2 = at::empty_like(weight2), gb2 = at::empty_like(bias2);
  Tensor coeffs = at::empty({kNumBackwardCoef * shape.C}, x.options().dtype(acc_dtype(x)));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "relation_pool_grad_input_cuda", [&] {
    using P = ParamOf<scalar_t>;
    relation_grad_input<scalar_t, P>(
        in.grad.const_data_ptr<scalar_t>(), in.x.const_data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(),
        weight1.const_data_ptr<P>(), bias1.const_data_ptr<P>(), weight2.const_data_ptr<P>(), bias2.const_data_ptr<P>(),
        mean1.const_data_ptr<P>(), var1.const_data_ptr<P>(), mean2.const_data_ptr<P>(), var2.const_data_ptr<P>(),
        reinterpret_cast<const PairGradSums*>(sums.const_data_ptr<double>()), static_cast<double>(count), g, eps, relu,
        gw1.data_ptr<P>(), gb1.data_ptr<P>(), gw2.data_ptr<P>(), gb2.data_ptr<P>(), coeffs.data_ptr(), in.device,
        in.stream);
  });
  return {dx, gw1, gb1, gw2, gb2};
}

}  // namespace cuda
}  // namespace smartops
