#pragma once
// Per-element math of the folded relation tail (smartops::relation_tail),
// shared by the CPU and CUDA kernels. With BN1 folded into the relation
// conv (u = its output) and BN2 and the pair mean's 0.5 folded into a
// per-pair scale and shift, the tail of pair k is
//   y = relu(scale_k * (u_2k^2 + u_2k+1^2) + shift_k).
#include "common/macros.h"
#include "common/relu.h"

namespace smartops {

enum TailCoef { kTailScale, kTailShift, kNumTailCoef };

template <class W>
SMARTOPS_HD W relation_tail_output(const W* k, W a, W b, bool relu) {
  const W q = k[kTailScale] * (a * a + b * b) + k[kTailShift];
  return relu ? relu_of(q) : q;
}

}  // namespace smartops
