#pragma once

// Functions shared by the C++ (CPU) and CUDA kernels.
#if defined(__CUDACC__)
#define SMARTOPS_HD __host__ __device__ __forceinline__
#else
#define SMARTOPS_HD inline
#endif
