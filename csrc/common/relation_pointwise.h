#pragma once
// Per-element math of the relation op, written once for every kernel: W is
// a scalar (CUDA threads, CPU loop tails) or a GCC vector (CPU SIMD), so the
// CPU and CUDA kernels evaluate the same expressions in the same order.
// Coefficients `k` are the per-pair tables of common/relation_coeffs.h.
#include "common/macros.h"
#include "common/relation_coeffs.h"

namespace smartops {

// max(q, 0) and (q > 0 ? g : 0); W{} is zero for scalars and vectors alike.
template <class W>
SMARTOPS_HD W relu_of(const W& q) {
  return q > W{} ? q : W{};
}

template <class W>
SMARTOPS_HD W pass_where_positive(const W& q, const W& g) {
  return q > W{} ? g : W{};
}

// Sums of powers of the deviations da = x_a - ka, db = x_b - kb (see
// PairMoments in common/pair_moments.h).
template <class W>
struct PowerSums {
  W a1{}, a2{}, a3{}, a4{}, b1{}, b2{}, b3{}, b4{}, ab{}, a2b{}, ab2{}, a2b2{};

  SMARTOPS_HD void add(W da, W db) {
    const W da2 = da * da, db2 = db * db;
    a1 += da;
    a2 += da2;
    a3 += da2 * da;
    a4 += da2 * da2;
    b1 += db;
    b2 += db2;
    b3 += db2 * db;
    b4 += db2 * db2;
    ab += da * db;
    a2b += da2 * db;
    ab2 += da * db2;
    a2b2 += da2 * db2;
  }
};

// Forward output of one element: relu(P (u_a^2 + u_b^2) + Q).
template <class W>
SMARTOPS_HD W relation_output(const W* k, W a, W b, bool relu) {
  const W ua = k[kAa] * a + k[kBa];
  const W ub = k[kAb] * b + k[kBb];
  const W q = k[kP] * (ua * ua + ub * ub) + k[kQ];
  return relu ? relu_of(q) : q;
}

// Backward: the recomputed forward values of one element and its dq. q is
// evaluated exactly as relation_output does, so the ReLU mask matches.
template <class W>
struct BackwardPoint {
  W ua, ub, s, ph, dq;
  SMARTOPS_HD BackwardPoint(const W* k, W a, W b, W g, bool relu) {
    ua = k[kBAa] * a + k[kBBa];
    ub = k[kBAb] * b + k[kBBb];
    s = ua * ua + ub * ub;
    ph = k[kH] * s + k[kJ];
    dq = relu ? pass_where_positive(k[kBP] * s + k[kBQ], g) : g;
  }
};

// The per-pair sums of PairGradSums, accumulated element by element.
template <class W>
struct GradSums {
  W dq{}, dq_ph{}, udq_a{}, uph_a{}, uxdq_a{}, uxph_a{}, udq_b{}, uph_b{}, uxdq_b{}, uxph_b{};

  SMARTOPS_HD void add(const W* k, const BackwardPoint<W>& p, W a, W b) {
    const W uxa = p.ua * (k[kRa] * a + k[kSa]);
    const W uxb = p.ub * (k[kRb] * b + k[kSb]);
    dq += p.dq;
    dq_ph += p.dq * p.ph;
    udq_a += p.ua * p.dq;
    uph_a += p.ua * p.ph;
    uxdq_a += uxa * p.dq;
    uxph_a += uxa * p.ph;
    udq_b += p.ub * p.dq;
    uph_b += p.ub * p.ph;
    uxdq_b += uxb * p.dq;
    uxph_b += uxb * p.ph;
  }
};

// dx of one element pair: dx_a = Ua u_a (dq - E s - F) + Va x_a + Wa.
template <class W>
SMARTOPS_HD void relation_grad_input(const W* k, const BackwardPoint<W>& p, W a, W b, W& da, W& db) {
  const W t = p.dq - k[kE] * p.s - k[kF];
  da = k[kUa] * p.ua * t + k[kVa] * a + k[kWa];
  db = k[kUb] * p.ub * t + k[kVb] * b + k[kWb];
}

SMARTOPS_HD PairGradSums pair_grad_sums_add(const PairGradSums& x, const PairGradSums& y) {
  PairGradSums r;
  r.dq = x.dq + y.dq;
  r.dq_ph = x.dq_ph + y.dq_ph;
  r.udq_a = x.udq_a + y.udq_a;
  r.uph_a = x.uph_a + y.uph_a;
  r.uxdq_a = x.uxdq_a + y.uxdq_a;
  r.uxph_a = x.uxph_a + y.uxph_a;
  r.udq_b = x.udq_b + y.udq_b;
  r.uph_b = x.uph_b + y.uph_b;
  r.uxdq_b = x.uxdq_b + y.uxdq_b;
  r.uxph_b = x.uxph_b + y.uxph_b;
  return r;
}

}  // namespace smartops
