// concat_reduce on CUDA: the ATen implementation of csrc/ops/concat_reduce.cpp
// (cuBLAS GEMMs accumulating into one output), registered for the CUDA key.
#include <torch/library.h>

#include "ops/concat_reduce.h"

TORCH_LIBRARY_IMPL(smartops, CUDA, m) {
  m.impl("concat_reduce", &smartops::concat_reduce_forward);
  m.impl("concat_reduce_backward", &smartops::concat_reduce_backward);
}
