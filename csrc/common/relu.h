#pragma once
// relu(q) and its gradient as torch has them, for every kernel of the
// package: NaN passes through both (relu(NaN) = NaN, and threshold_backward
// masks only where q <= 0). W is a scalar or a GCC vector; W{} is zero for
// both.
#include "common/macros.h"

namespace smartops {

template <class W>
SMARTOPS_HD W relu_of(const W& q) {
  return q <= W{} ? W{} : q;
}

template <class W>
SMARTOPS_HD W pass_where_positive(const W& q, const W& g) {
  return q <= W{} ? W{} : g;
}

}  // namespace smartops
