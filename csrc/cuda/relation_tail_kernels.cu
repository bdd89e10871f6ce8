// CUDA kernel of the folded relation tail: one read of u, one write of y,
// with the work split of cuda/launch_geometry.h (coalesced in both layouts)
// and the per-element math of common/relation_tail.h.
#include <c10/cuda/CUDAException.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "common/relation_tail.h"
#include "cuda/launch.h"
#include "cuda/relation_tail_kernels.h"

namespace smartops {
namespace cuda {
namespace {

int sm_count(int device) {
  int n = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  return n > 0 ? n : 1;
}

template <typename T, typename P>
__global__ void __launch_bounds__(kThreads) tail_kernel(const T* __restrict__ u, T* __restrict__ y,
                                                        const P* __restrict__ scale, const P* __restrict__ shift,
                                                        RelationGeometry g, Launch L, bool relu) {
  const Lane ln = lane_of(g, L, threadIdx.x, blockIdx.y);
  if (!ln.active) return;
  const P k[kNumTailCoef] = {scale[ln.k], shift[ln.k]};
  for (int64_t c = blockIdx.x; c < L.chunks; c += gridDim.x) {
    const Chunk ch = chunk_of(g, L, c, ln.k);
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      const int64_t pos = ln.r + static_cast<int64_t>(j) * L.rows;
      if (pos < ch.npos) {
        const P a = static_cast<P>(u[ch.xa + pos * ch.stride_x]);
        const P b = static_cast<P>(u[ch.xb + pos * ch.stride_x]);
        y[ch.y + pos * ch.stride_y] = static_cast<T>(relation_tail_output<P>(k, a, b, relu));
      }
    }
  }
}

}  // namespace

template <typename T, typename P>
void relation_tail(const T* u, T* y, const P* scale, const P* shift, const RelationGeometry& g, bool relu, int device,
                   cudaStream_t stream) {
  const Launch L = make_launch(g, 8LL * sm_count(device));
  const dim3 grid(static_cast<unsigned>(L.grid_x), static_cast<unsigned>(L.grid_y), 1);
  SMARTOPS_LAUNCH(grid, kThreads, 0, stream, tail_kernel<T, P>)(u, y, scale, shift, g, L, relu);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template void relation_tail<float, float>(const float*, float*, const float*, const float*, const RelationGeometry&,
                                          bool, int, cudaStream_t);
template void relation_tail<double, double>(const double*, double*, const double*, const double*,
                                            const RelationGeometry&, bool, int, cudaStream_t);
template void relation_tail<c10::Half, float>(const c10::Half*, c10::Half*, const float*, const float*,
                                              const RelationGeometry&, bool, int, cudaStream_t);
template void relation_tail<c10::BFloat16, float>(const c10::BFloat16*, c10::BFloat16*, const float*, const float*,
                                                  const RelationGeometry&, bool, int, cudaStream_t);

}  // namespace cuda
}  // namespace smartops
