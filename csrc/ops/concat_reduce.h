#pragma once
// concat_reduce: conv3d(cat([a, z], 1), weight, bias) for a 1x1x1 weight,
// computed as two GEMMs accumulating into one output, never forming the
// concatenation. Written with ATen GEMMs, so one implementation serves
// every device (registered for CPU here and for CUDA in csrc/cuda/).
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <tuple>

namespace smartops {

at::Tensor concat_reduce_forward(const at::Tensor& a, const at::Tensor& z, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias);

// grad_bias is an empty tensor when bias_grad is false.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> concat_reduce_backward(
    const at::Tensor& grad_out, const at::Tensor& a, const at::Tensor& z, const at::Tensor& weight, bool bias_grad);

}  // namespace smartops
