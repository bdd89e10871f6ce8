#pragma once
// relation_pool_merge_stats per pair, shared by its CPU and CUDA kernels:
// the moment records of every process merged in process order with the
// kernels' exact re-centring merge, and both BNs' statistics from the result.
#include <cstdint>

#include "common/macros.h"
#include "common/pair_moments.h"
#include "common/relation_coeffs.h"

namespace smartops {

// Pair k's record over all processes: records holds `processes` blocks of
// `pairs` records (process p's pair k is records[p * pairs + k]).
SMARTOPS_HD PairMoments merge_process_records(const PairMoments* records, int64_t processes, int64_t pairs,
                                              int64_t k) {
  PairMoments merged = pair_moments_zero();
  for (int64_t p = 0; p < processes; ++p) merged = pair_moments_merge(merged, records[p * pairs + k]);
  return merged;
}

// BN1's and BN2's batch statistics of a pair from its merged record.
SMARTOPS_HD PairStatsIn pair_stats_in_from_moments(const PairMoments& m, const PairParams& w, double eps) {
  const PairStats s = pair_stats_from_moments(m, w.g1a, w.b1a, w.g1b, w.b1b, eps);
  return PairStatsIn{s.mean_a, s.var_a, s.mean_b, s.var_b, s.mean_p, s.var_p};
}

}  // namespace smartops
