#pragma once
// The CUDA kernels of smartops::relation_pool and relation_pool_backward
// (same schemas as csrc/smartops.cpp), for registration.
#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace smartops {
namespace cuda {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> relation_pool_cuda(
    const at::Tensor& x, const at::Tensor& weight1, const at::Tensor& bias1, const at::Tensor& weight2,
    const at::Tensor& bias2, const std::optional<at::Tensor>& mean1, const std::optional<at::Tensor>& var1,
    const std::optional<at::Tensor>& mean2, const std::optional<at::Tensor>& var2, double eps, bool relu);

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> relation_pool_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight1, const at::Tensor& bias1,
    const at::Tensor& weight2, const at::Tensor& bias2, const at::Tensor& mean1, const at::Tensor& var1,
    const at::Tensor& mean2, const at::Tensor& var2, double eps, bool relu, bool batch_stats);

}  // namespace cuda
}  // namespace smartops
