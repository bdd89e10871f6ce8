#pragma once
// The CUDA kernel of smartops::relation_tail (schema in csrc/smartops.cpp),
// for registration.
#include <ATen/core/Tensor.h>

namespace smartops {
namespace cuda {

at::Tensor relation_tail_cuda(const at::Tensor& u, const at::Tensor& scale, const at::Tensor& shift, bool relu);

}  // namespace cuda
}  // namespace smartops
