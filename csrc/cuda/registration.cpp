// The CUDA kernels of the smartops ops, registered for the CUDA key:
// relation_pool (cuda/relation_pool_cuda.cpp), the phases of its
// synchronized form (cuda/relation_pool_phases_cuda.cpp), relation_tail
// (cuda/relation_tail_cuda.cpp) and concat_reduce, whose
// ATen implementation (csrc/ops/concat_reduce.cpp: cuBLAS GEMMs accumulating
// into one output) serves CUDA as it is. Kept apart from the kernels' host
// code so that the CPU emulation can register that code elsewhere.
#include <torch/library.h>

#include "cuda/relation_pool_cuda.h"
#include "cuda/relation_pool_phases_cuda.h"
#include "cuda/relation_tail_cuda.h"
#include "ops/concat_reduce.h"

TORCH_LIBRARY_IMPL(smartops, CUDA, m) {
  m.impl("relation_pool", &smartops::cuda::relation_pool_cuda);
  m.impl("relation_pool_backward", &smartops::cuda::relation_pool_backward_cuda);
  m.impl("relation_pool_moments", &smartops::cuda::relation_pool_moments_cuda);
  m.impl("relation_pool_merge_stats", &smartops::cuda::relation_pool_merge_stats_cuda);
  m.impl("relation_pool_apply", &smartops::cuda::relation_pool_apply_cuda);
  m.impl("relation_pool_grad_sums", &smartops::cuda::relation_pool_grad_sums_cuda);
  m.impl("relation_pool_grad_input", &smartops::cuda::relation_pool_grad_input_cuda);
  m.impl("relation_tail", &smartops::cuda::relation_tail_cuda);
  m.impl("concat_reduce", &smartops::concat_reduce_forward);
  m.impl("concat_reduce_backward", &smartops::concat_reduce_backward);
}
