#pragma once
// How the .cu files launch kernels, synchronise a block and ask for the SM
// count, written so that the same source compiles under nvcc and, as C++,
// against the CPU emulation of tests/cuda_emulation (which runs each block's
// threads concurrently on the host, under sanitizers). No text rewriting:
//
//   SMARTOPS_LAUNCH(grid, block, shmem, stream, kernel<T, ...>)(args...);
//   SMARTOPS_SYNCTHREADS(site);   // __syncthreads(); `site`: a number unique in the file
//
// A test build compiles one barrier out with -DSMARTOPS_DROP_SYNC=<site> and
// checks that ThreadSanitizer reports the race that follows (a mutant).
#ifndef SMARTOPS_DROP_SYNC
#define SMARTOPS_DROP_SYNC 0
#endif

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#define SMARTOPS_LAUNCH(grid, block, shmem, stream, ...) __VA_ARGS__<<<grid, block, shmem, stream>>>
#define SMARTOPS_SYNCTHREADS(site) \
  do {                             \
    if ((site) != SMARTOPS_DROP_SYNC) __syncthreads(); \
  } while (0)
#else
// tests/cuda_emulation/cuda_emu.h: only the emulation builds compile a .cu
// without nvcc, with that folder on the include path.
#include "cuda_emu.h"

#define SMARTOPS_LAUNCH(grid, block, shmem, stream, ...) ::cuda_emu::launch(grid, block, shmem, stream, __VA_ARGS__)
#define SMARTOPS_SYNCTHREADS(site) \
  do {                             \
    if ((site) != SMARTOPS_DROP_SYNC) ::cuda_emu::syncthreads(); \
  } while (0)
#endif
