#pragma once
// Launchers of the relation op's CUDA kernels, on raw pointers (no ATen),
// so that the .cu file compiles quickly and the host side (checks,
// allocation, dispatch) lives in relation_pool_cuda.cpp.
//
// T: input dtype (float, double, c10::Half, c10::BFloat16); P: dtype of BN
// parameters and statistics (float, or double for double inputs).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/pair_moments.h"
#include "common/relation_coeffs.h"
#include "cuda/launch_geometry.h"

namespace smartops {
namespace cuda {

// Partial results per pair that the reducing kernels write (the size of the
// workspaces below is C * parts).
int relation_parts(const RelationGeometry& g, int device);

// Training forward, pass 1: batch statistics of both BNs (written to
// mean1/var1 (2C) and mean2/var2 (C)) and the apply coefficients
// (kNumApplyCoef x C, in the accumulation type: double for double inputs,
// else float). moments: C * parts records.
template <typename T, typename P>
void relation_stats(const T* x, const P* w1, const P* b1, const P* w2, const P* b2, const RelationGeometry& g,
                    double eps, P* mean1, P* var1, P* mean2, P* var2, PairMoments* moments, void* coeffs,
                    int device, cudaStream_t stream);

// The apply coefficients from given statistics: frozen ones (evaluation;
// batch_stats false, count unused), or the synchronized op's merged batch
// statistics of `count` positions per channel (batch_stats true).
template <typename P>
void relation_apply_coeffs_from_stats(const P* w1, const P* b1, const P* w2, const P* b2, const P* mean1,
                                      const P* var1, const P* mean2, const P* var2, int64_t C, double eps,
                                      bool batch_stats, double count, void* coeffs, cudaStream_t stream);

// The output pass: y = relu(P (u_a^2 + u_b^2) + Q).
template <typename T>
void relation_apply(const T* x, T* y, const void* coeffs, const RelationGeometry& g, bool relu, int device,
                    cudaStream_t stream);

// Backward. coeffs: kNumBackwardCoef x C in the accumulation type; sums:
// C * parts records. Parameter gradients gw1, gb1 (2C), gw2, gb2 (C).
// batch_stats: sums pass, then dx pass; else a single pass.
template <typename T, typename P>
void relation_backward(const T* grad, const T* x, T* dx, const P* w1, const P* b1, const P* w2, const P* b2,
                       const P* mean1, const P* var1, const P* mean2, const P* var2, const RelationGeometry& g,
                       double eps, bool relu, bool batch_stats, P* gw1, P* gb1, P* gw2, P* gb2, PairGradSums* sums,
                       void* coeffs, int device, cudaStream_t stream);

// Phases of the synchronized op (csrc/smartops.cpp), for x with positions.
// Statistics pass: one moment record per pair (records: C), from `parts`
// (C * parts records of workspace).
template <typename T>
void relation_moments(const T* x, const RelationGeometry& g, PairMoments* parts, PairMoments* records, int device,
                      cudaStream_t stream);

// Both BNs' statistics from `processes` x C records (process p's pair k at
// p * C + k), merged in process order.
template <typename P>
void relation_merge_stats(const PairMoments* records, int64_t processes, const P* w1, const P* b1, const P* w2,
                          const P* b2, int64_t C, double eps, P* mean1, P* var1, P* mean2, P* var2,
                          cudaStream_t stream);

// Backward pass 1 with the merged batch statistics of `count` positions per
// channel: one record of sums per pair (sums: C), from `parts` (C * parts
// records of workspace). coeffs as for relation_backward.
template <typename T, typename P>
void relation_grad_sums(const T* grad, const T* x, const P* w1, const P* b1, const P* w2, const P* b2,
                        const P* mean1, const P* var1, const P* mean2, const P* var2, double count,
                        const RelationGeometry& g, double eps, bool relu, PairGradSums* parts, PairGradSums* sums,
                        void* coeffs, int device, cudaStream_t stream);

// Backward pass 2: parameter gradients and dx from the sums of every process
// over `count` positions per channel. x may have no positions (no dx pass).
template <typename T, typename P>
void relation_grad_input(const T* grad, const T* x, T* dx, const P* w1, const P* b1, const P* w2, const P* b2,
                         const P* mean1, const P* var1, const P* mean2, const P* var2, const PairGradSums* sums,
                         double count, const RelationGeometry& g, double eps, bool relu, P* gw1, P* gb1, P* gw2,
                         P* gb2, void* coeffs, int device, cudaStream_t stream);

}  // namespace cuda
}  // namespace smartops
