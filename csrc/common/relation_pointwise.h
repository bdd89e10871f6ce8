#pragma once
// Per-element math of the relation op, written once for every kernel: W is
// a scalar (CUDA threads, CPU loop tails) or a GCC vector (CPU SIMD), so the
// CPU and CUDA kernels evaluate the same expressions in the same order.
// Coefficients `k` are the per-pair tables of common/relation_coeffs.h.
#include "common/macros.h"
#include "common/relation_coeffs.h"
#include "common/relu.h"

namespace smartops {

// The forward values of one element pair: centred inputs, BN1 outputs and
// s - M2, the pooled value centred on BN2's mean (common/relation_coeffs.h).
// Both passes compute q from these with relation_pre_relu, so the ReLU mask
// of the backward is exactly the one the forward applied.
template <class W>
struct PairPoint {
  W xa, xb, ua, ub, sm;
  SMARTOPS_HD PairPoint(const W* k, W a, W b) {
    xa = a - k[kMa];
    xb = b - k[kMb];
    ua = k[kAa] * xa + k[kB1a];
    ub = k[kAb] * xb + k[kB1b];
    sm = (ua * ua + ub * ub) - k[kM2];
  }
};

// v limited to [-m, m] (m >= 0 or NaN); m = inf leaves v as it is. NaN in
// v passes through (both comparisons are false).
template <class W>
SMARTOPS_HD W clamp_magnitude(const W& v, const W& m) {
  return v > m ? m : (v < -m ? -m : v);
}

// q = clamp(P (s - M2), Qmax) + b2: P (s - M2) + b2 in general (Qmax = inf),
// g2 sign(s - M2) h + b2 with two positions per channel (common/relation_coeffs.h).
template <class W>
SMARTOPS_HD W relation_pre_relu(const W* k, const PairPoint<W>& p) {
  return clamp_magnitude(k[kP] * p.sm, k[kQmax]) + k[kB2];
}

// Forward output of one element.
template <class W>
SMARTOPS_HD W relation_output(const W* k, W a, W b, bool relu) {
  const W q = relation_pre_relu(k, PairPoint<W>(k, a, b));
  return relu ? relu_of(q) : q;
}

// Backward: the recomputed forward values of one element, BN2's normalised
// value and dq.
template <class W>
struct BackwardPoint : PairPoint<W> {
  W ph, dq;
  SMARTOPS_HD BackwardPoint(const W* k, W a, W b, W g, bool relu) : PairPoint<W>(k, a, b) {
    ph = clamp_magnitude(k[kH] * this->sm, k[kHmax]);
    dq = relu ? pass_where_positive(relation_pre_relu(k, *this), g) : g;
  }
};

// The per-pair sums of PairGradSums, accumulated element by element.
template <class W>
struct GradSums {
  W dq{}, dq_ph{}, hdq_a{}, hph_a{}, h2dq_a{}, h2ph_a{}, hdq_b{}, hph_b{}, h2dq_b{}, h2ph_b{};

  SMARTOPS_HD void add(const W* k, const BackwardPoint<W>& p) {
    const W ha = k[kRa] * p.xa, hb = k[kRb] * p.xb;
    const W hdq_a_i = ha * p.dq, hph_a_i = ha * p.ph, hdq_b_i = hb * p.dq, hph_b_i = hb * p.ph;
    dq += p.dq;
    dq_ph += p.dq * p.ph;
    hdq_a += hdq_a_i;
    hph_a += hph_a_i;
    h2dq_a += ha * hdq_a_i;
    h2ph_a += ha * hph_a_i;
    hdq_b += hdq_b_i;
    hph_b += hph_b_i;
    h2dq_b += hb * hdq_b_i;
    h2ph_b += hb * hph_b_i;
  }
};

// dx of one element pair: dx_a = Ua u_a (dq - E (s - M2) - F) + Va xc_a + Wa
// with batch statistics; with frozen ones E = F = Va = Wa = 0 and the terms
// are not formed, so that a NaN in one channel's BN1 output stays out of its
// partner's dx, as in eager (0 * NaN would be NaN).
template <bool kBatchStats, class W>
SMARTOPS_HD void relation_grad_input(const W* k, const BackwardPoint<W>& p, W& da, W& db) {
  if constexpr (kBatchStats) {
    const W t = p.dq - k[kE] * p.sm - k[kF];
    da = k[kUa] * p.ua * t + k[kVa] * p.xa + k[kWa];
    db = k[kUb] * p.ub * t + k[kVb] * p.xb + k[kWb];
  } else {
    da = k[kUa] * p.ua * p.dq;
    db = k[kUb] * p.ub * p.dq;
  }
}

SMARTOPS_HD PairGradSums pair_grad_sums_add(const PairGradSums& x, const PairGradSums& y) {
  PairGradSums r;
  r.dq = x.dq + y.dq;
  r.dq_ph = x.dq_ph + y.dq_ph;
  r.hdq_a = x.hdq_a + y.hdq_a;
  r.hph_a = x.hph_a + y.hph_a;
  r.h2dq_a = x.h2dq_a + y.h2dq_a;
  r.h2ph_a = x.h2ph_a + y.h2ph_a;
  r.hdq_b = x.hdq_b + y.hdq_b;
  r.hph_b = x.hph_b + y.hph_b;
  r.h2dq_b = x.h2dq_b + y.h2dq_b;
  r.h2ph_b = x.h2ph_b + y.h2ph_b;
  return r;
}

}  // namespace smartops
