#pragma once
// Per-pair rows of per-channel vectors. BN parameters, statistics and their
// gradients come as two 2C-vectors (channels a = 2k and b = 2k + 1) and two
// C-vectors (the pooled channel k); the row of pair k is
// (a[2k], b[2k], a[2k+1], b[2k+1], c[k], d[k]), the field order of
// PairParams, PairStatsIn and PairGrads.
#include <cstdint>

#include "common/macros.h"

namespace smartops {

template <class Row, typename P>
SMARTOPS_HD Row load_pair_row(const P* a, const P* b, const P* c, const P* d, int64_t k) {
  return Row{static_cast<double>(a[2 * k]), static_cast<double>(b[2 * k]), static_cast<double>(a[2 * k + 1]),
             static_cast<double>(b[2 * k + 1]), static_cast<double>(c[k]), static_cast<double>(d[k])};
}

// Stores a row given as its six values in row order.
template <typename P>
SMARTOPS_HD void store_pair_row(P* a, P* b, P* c, P* d, int64_t k, double a0, double b0, double a1, double b1,
                                double cv, double dv) {
  a[2 * k] = static_cast<P>(a0);
  b[2 * k] = static_cast<P>(b0);
  a[2 * k + 1] = static_cast<P>(a1);
  b[2 * k + 1] = static_cast<P>(b1);
  c[k] = static_cast<P>(cv);
  d[k] = static_cast<P>(dv);
}

}  // namespace smartops
