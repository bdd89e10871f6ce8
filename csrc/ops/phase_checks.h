#pragma once
// Argument checks of the synchronized relation op's phases that the CPU and
// CUDA kernels share: the record tensors passed between phases and the
// positions they count.
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "common/pair_moments.h"
#include "common/relation_coeffs.h"
#include "ops/record_tensors.h"
#include "ops/relation_pool.h"

namespace smartops {

// relation_pool_merge_stats: every process's records, (processes, pairs, width).
inline void check_moment_records(const char* op, const Tensor& moments, int64_t pairs) {
  TORCH_CHECK(moments.dim() == 3, op, ": moments must be 3-D (processes, pairs, width), got ", moments.sizes());
  check_record_tensor<PairMoments>(op, "moments", moments, pairs);
}

// The positions of a pair over all processes, as its merged record counts them.
inline void check_merged_count(const char* op, double n) {
  TORCH_CHECK(n > 1.0, op, ": expected more than 1 value per channel over all processes when training, got ", n);
}

// `count`: the positions per channel over all processes, of which x holds
// s.count() (relation_pool_apply, relation_pool_grad_sums and _grad_input).
inline void check_global_count(const char* op, int64_t count, const RelationShape& s) {
  TORCH_CHECK(count > 1 && count >= s.count(), op, ": count must be the number of positions per channel over "
              "all processes (more than 1, at least x's ", s.count(), "), got ", count);
}

// relation_pool_grad_input: the summed records (pairs, width) and `count`.
inline void check_grad_sum_records(const char* op, const Tensor& grad_sums, int64_t count, const RelationShape& s) {
  check_global_count(op, count, s);
  TORCH_CHECK(grad_sums.dim() == 2, op, ": grad_sums must be 2-D (pairs, width), got ", grad_sums.sizes());
  check_record_tensor<PairGradSums>(op, "grad_sums", grad_sums, s.C);
}

}  // namespace smartops
