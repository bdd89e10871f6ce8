#pragma once
// The CUDA kernels of the synchronized relation op's phases
// (relation_pool_moments, relation_pool_merge_stats, relation_pool_apply,
// relation_pool_grad_sums, relation_pool_grad_input; schemas in
// csrc/smartops.cpp), for registration.
#include <ATen/core/Tensor.h>

#include <tuple>

namespace smartops {
namespace cuda {

at::Tensor relation_pool_moments_cuda(const at::Tensor& x);

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> relation_pool_merge_stats_cuda(
    const at::Tensor& moments, const at::Tensor& weight1, const at::Tensor& bias1, const at::Tensor& weight2,
    const at::Tensor& bias2, double eps);

at::Tensor relation_pool_apply_cuda(const at::Tensor& x, const at::Tensor& weight1, const at::Tensor& bias1,
                                    const at::Tensor& weight2, const at::Tensor& bias2, const at::Tensor& mean1,
                                    const at::Tensor& var1, const at::Tensor& mean2, const at::Tensor& var2,
                                    int64_t count, double eps, bool relu);

at::Tensor relation_pool_grad_sums_cuda(const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight1,
                                        const at::Tensor& bias1, const at::Tensor& weight2, const at::Tensor& bias2,
                                        const at::Tensor& mean1, const at::Tensor& var1, const at::Tensor& mean2,
                                        const at::Tensor& var2, int64_t count, double eps, bool relu);

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> relation_pool_grad_input_cuda(
    const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weight1, const at::Tensor& bias1,
    const at::Tensor& weight2, const at::Tensor& bias2, const at::Tensor& mean1, const at::Tensor& var1,
    const at::Tensor& mean2, const at::Tensor& var2, const at::Tensor& grad_sums, int64_t count, double eps,
    bool relu);

}  // namespace cuda
}  // namespace smartops
