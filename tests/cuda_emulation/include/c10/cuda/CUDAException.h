#pragma once
// Stand-in for c10's CUDA error checks (the emulated runtime calls throw
// on error themselves).
#include "cuda_emu.h"

#define C10_CUDA_CHECK(EXPR)                                                              \
  do {                                                                                    \
    const cudaError_t smartops_emu_status = (EXPR);                                       \
    ::cuda_emu::check(smartops_emu_status == cudaSuccess, "CUDA call failed: " #EXPR);    \
  } while (0)
#define C10_CUDA_KERNEL_LAUNCH_CHECK() C10_CUDA_CHECK(cudaGetLastError())
