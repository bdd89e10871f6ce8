#pragma once
// Launcher of the folded relation tail's CUDA kernel, on raw pointers (the
// host side is relation_tail_cuda.cpp). T: u's dtype; coefficients are
// float (double for double u), laid out [kNumTailCoef][C].
#include <cuda_runtime.h>

#include "cuda/launch_geometry.h"

namespace smartops {
namespace cuda {

template <typename T, typename P>
void relation_tail(const T* u, T* y, const P* scale, const P* shift, const RelationGeometry& g, bool relu, int device,
                   cudaStream_t stream);

}  // namespace cuda
}  // namespace smartops
