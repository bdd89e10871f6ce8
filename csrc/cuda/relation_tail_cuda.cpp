// CUDA entry point of smartops::relation_tail: checks, allocation and dtype
// dispatch; the kernel is in relation_tail_kernels.cu. Registered for the
// CUDA key in cuda/registration.cpp.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <type_traits>

#include "cuda/relation_tail_cuda.h"
#include "cuda/relation_tail_kernels.h"
#include "ops/relation_tail.h"

namespace smartops {
namespace cuda {

using at::Tensor;

Tensor relation_tail_cuda(const Tensor& u, const Tensor& scale, const Tensor& shift, bool relu) {
  const RelationShape shape = check_relation_tail(u, scale, shift);
  TORCH_CHECK(shape.C <= 65535, "relation_tail: the CUDA kernel takes at most 65535 channel pairs, got ", shape.C);
  const c10::cuda::CUDAGuard guard(u.device());
  const at::MemoryFormat format = relation_pool_memory_format(u);
  const Tensor uc = u.contiguous(format);
  Tensor y = at::empty(relation_pool_output_shape(u), u.options().memory_format(format));
  if (y.numel() == 0) return y;
  RelationGeometry g;
  g.N = shape.N;
  g.C = shape.C;
  g.S = shape.S;
  g.planar = relation_pool_planar(shape, format);
  const Tensor sc = scale.contiguous(), sh = shift.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, u.scalar_type(), "relation_tail_cuda", [&] {
    using P = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    relation_tail<scalar_t, P>(uc.const_data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), sc.const_data_ptr<P>(),
                               sh.const_data_ptr<P>(), g, relu, u.get_device(), c10::cuda::getCurrentCUDAStream());
  });
  return y;
}

}  // namespace cuda
}  // namespace smartops
