#pragma once
// Moments of one channel pair (a, b) = (2k, 2k+1), enough to give both
// batch-norm statistics of the relation branch in one read of x
// (see shared/notes/relation-op-math.md, "Forward in one statistics pass").
//
// A partial result is a set of power sums of deviations from a reference
// point (ka, kb) chosen close to the data (a chunk's own mean). Partial
// results are merged in double precision by re-centring both on a common
// point with the binomial expansion, so no raw 4th-power sum of x is ever
// formed: inputs such as x = 1000 + randn keep full accuracy.
//
// Range: a chunk accumulates its sums in the input's precision (float for
// float32) on deviations pre-scaled by a power of two (deviation_scale), so
// that 4th powers neither overflow (float32 data of magnitude 1e10 has
// deviations^4 of 1e40) nor underflow (1e-30 has 1e-120); the scale is
// undone exactly in double. Double records hold every float32 input (at most
// 2048 * (2 * 3.4e38)^4, far below 1e308); float64 inputs overflow them
// beyond about 1e75 in magnitude.
#include <math.h>

#include "common/macros.h"

namespace smartops {

struct PairMoments {
  double n;       // number of positions
  double ka, kb;  // reference points of channels a and b
  // Sums over positions of da^i db^j with da = xa - ka, db = xb - kb.
  double a1, a2, a3, a4;  // (i, 0)
  double b1, b2, b3, b4;  // (0, j)
  double ab, a2b, ab2, a2b2;
};

SMARTOPS_HD PairMoments pair_moments_zero() {
  PairMoments m;
  m.n = m.ka = m.kb = 0.0;
  m.a1 = m.a2 = m.a3 = m.a4 = 0.0;
  m.b1 = m.b2 = m.b3 = m.b4 = 0.0;
  m.ab = m.a2b = m.ab2 = m.a2b2 = 0.0;
  return m;
}

// Sums of powers of the deviations da, db of a chunk, accumulated element
// by element in the input's precision (W: a scalar or a CPU vector).
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

// A power of two s with |x - k| s < 1 for every deviation of a chunk whose
// values are at most max_abs in magnitude (|x - k| <= 2 max_abs for a centre
// k inside the values' range). Kept within float's normal exponents, so
// multiplying by s is exact. Constant zero, NaN or infinite data: 1.
SMARTOPS_HD double deviation_scale(double max_abs) {
  const double range = 2.0 * max_abs;
  if (!(range > 0.0) || isinf(range)) return 1.0;
  int e = 0;
  frexp(range, &e);  // range < 2^e
  e = e < -125 ? -125 : (e > 126 ? 126 : e);
  return ldexp(1.0, -e);
}

// The record of a chunk of n positions from its power sums of scaled
// deviations da = (x_a - ka) sa, db = (x_b - kb) sb (S: a scalar type).
template <typename S>
SMARTOPS_HD PairMoments pair_moments_from_sums(const PowerSums<S>& s, double n, double ka, double kb, double sa,
                                               double sb) {
  PairMoments m;
  m.n = n;
  m.ka = ka;
  m.kb = kb;
  const double ia = 1.0 / sa, ib = 1.0 / sb;  // exact: powers of two
  const double ia2 = ia * ia, ib2 = ib * ib;
  m.a1 = s.a1 * ia; m.a2 = s.a2 * ia2; m.a3 = s.a3 * ia2 * ia; m.a4 = s.a4 * ia2 * ia2;
  m.b1 = s.b1 * ib; m.b2 = s.b2 * ib2; m.b3 = s.b3 * ib2 * ib; m.b4 = s.b4 * ib2 * ib2;
  m.ab = s.ab * ia * ib; m.a2b = s.a2b * ia2 * ib; m.ab2 = s.ab2 * ia * ib2; m.a2b2 = s.a2b2 * ia2 * ib2;
  return m;
}

// The same sums about a new reference point (ka + al, kb + be).
SMARTOPS_HD PairMoments pair_moments_shift(const PairMoments& m, double al, double be) {
  PairMoments r;
  const double n = m.n;
  const double al2 = al * al, be2 = be * be;
  r.n = n;
  r.ka = m.ka + al;
  r.kb = m.kb + be;
  r.a1 = m.a1 - n * al;
  r.a2 = m.a2 - 2.0 * al * m.a1 + al2 * n;
  r.a3 = m.a3 - 3.0 * al * m.a2 + 3.0 * al2 * m.a1 - al2 * al * n;
  r.a4 = m.a4 - 4.0 * al * m.a3 + 6.0 * al2 * m.a2 - 4.0 * al2 * al * m.a1 + al2 * al2 * n;
  r.b1 = m.b1 - n * be;
  r.b2 = m.b2 - 2.0 * be * m.b1 + be2 * n;
  r.b3 = m.b3 - 3.0 * be * m.b2 + 3.0 * be2 * m.b1 - be2 * be * n;
  r.b4 = m.b4 - 4.0 * be * m.b3 + 6.0 * be2 * m.b2 - 4.0 * be2 * be * m.b1 + be2 * be2 * n;
  // (da - al)^i (db - be)^j expanded.
  r.ab = m.ab - be * m.a1 - al * m.b1 + al * be * n;
  r.a2b = m.a2b - be * m.a2 - 2.0 * al * m.ab + 2.0 * al * be * m.a1 + al2 * m.b1 - al2 * be * n;
  r.ab2 = m.ab2 - al * m.b2 - 2.0 * be * m.ab + 2.0 * al * be * m.b1 + be2 * m.a1 - al * be2 * n;
  r.a2b2 = m.a2b2 - 2.0 * be * m.a2b + be2 * m.a2 - 2.0 * al * m.ab2 + 4.0 * al * be * m.ab
         - 2.0 * al * be2 * m.a1 + al2 * m.b2 - 2.0 * al2 * be * m.b1 + al2 * be2 * n;
  return r;
}

SMARTOPS_HD double pair_moments_mean_a(const PairMoments& m) { return m.ka + m.a1 / m.n; }
SMARTOPS_HD double pair_moments_mean_b(const PairMoments& m) { return m.kb + m.b1 / m.n; }

// Union of two disjoint sets of positions (Chan et al.'s pairwise update,
// carried to 4th and mixed moments): both re-centred on the pooled mean.
SMARTOPS_HD PairMoments pair_moments_merge(const PairMoments& x, const PairMoments& y) {
  if (y.n == 0.0) return x;
  if (x.n == 0.0) return y;
  const double n = x.n + y.n;
  const double ca = (x.n * pair_moments_mean_a(x) + y.n * pair_moments_mean_a(y)) / n;
  const double cb = (x.n * pair_moments_mean_b(x) + y.n * pair_moments_mean_b(y)) / n;
  const PairMoments u = pair_moments_shift(x, ca - x.ka, cb - x.kb);
  const PairMoments v = pair_moments_shift(y, ca - y.ka, cb - y.kb);
  PairMoments r;
  r.n = n;
  r.ka = ca;
  r.kb = cb;
  r.a1 = u.a1 + v.a1; r.a2 = u.a2 + v.a2; r.a3 = u.a3 + v.a3; r.a4 = u.a4 + v.a4;
  r.b1 = u.b1 + v.b1; r.b2 = u.b2 + v.b2; r.b3 = u.b3 + v.b3; r.b4 = u.b4 + v.b4;
  r.ab = u.ab + v.ab; r.a2b = u.a2b + v.a2b; r.ab2 = u.ab2 + v.ab2; r.a2b2 = u.a2b2 + v.a2b2;
  return r;
}

// Batch statistics of one pair: BN1's mean and biased variance of channels a
// and b, and BN2's mean and biased variance of the pooled channel
// p = (u_a^2 + u_b^2) / 2 where u = g1 (x - mean) / sqrt(var + eps) + b1.
struct PairStats {
  double mean_a, var_a, mean_b, var_b, mean_p, var_p;
};

SMARTOPS_HD PairStats pair_stats_from_moments(const PairMoments& raw, double g1a, double b1a, double g1b,
                                              double b1b, double eps) {
  // Central moments: re-centre on the exact means.
  const PairMoments c = pair_moments_shift(raw, raw.a1 / raw.n, raw.b1 / raw.n);
  const double inv_n = 1.0 / c.n;
  const double ma2 = c.a2 * inv_n, ma3 = c.a3 * inv_n, ma4 = c.a4 * inv_n;
  const double mb2 = c.b2 * inv_n, mb3 = c.b3 * inv_n, mb4 = c.b4 * inv_n;
  const double c11 = c.ab * inv_n, c21 = c.a2b * inv_n, c12 = c.ab2 * inv_n, c22 = c.a2b2 * inv_n;

  PairStats s;
  s.mean_a = c.ka;
  s.mean_b = c.kb;
  s.var_a = ma2 < 0.0 ? 0.0 : ma2;  // a rounding below 0 is 0; NaN stays NaN
  s.var_b = mb2 < 0.0 ? 0.0 : mb2;
  const double Aa = g1a / sqrt(s.var_a + eps);  // u_a = Aa * d_a + b1a
  const double Ab = g1b / sqrt(s.var_b + eps);

  s.mean_p = 0.5 * (Aa * Aa * ma2 + b1a * b1a + Ab * Ab * mb2 + b1b * b1b);
  // p - mean_p = (al_a e_a + be_a d_a + al_b e_b + be_b d_b) / 2 with
  // e = d^2 - m2, al = A^2, be = 2 A b1: a centred form, so var_p has no
  // cancellation between large raw moments.
  const double ala = Aa * Aa, bea = 2.0 * Aa * b1a;
  const double alb = Ab * Ab, beb = 2.0 * Ab * b1b;
  const double ee_a = ma4 - ma2 * ma2, ee_b = mb4 - mb2 * mb2, ee_ab = c22 - ma2 * mb2;
  const double s2 = ala * ala * ee_a + bea * bea * ma2 + 2.0 * ala * bea * ma3
                  + alb * alb * ee_b + beb * beb * mb2 + 2.0 * alb * beb * mb3
                  + 2.0 * ala * alb * ee_ab + 2.0 * ala * beb * c21 + 2.0 * bea * alb * c12
                  + 2.0 * bea * beb * c11;
  s.var_p = s2 < 0.0 ? 0.0 : 0.25 * s2;
  if (c.n == 2.0) {
    // Two positions: d_a = +-da and d_b = +-db at the two positions, with
    // da db of the sign of c11. e_a, e_b, ma3, c21, c12 and ee_ab are then 0
    // and p - mean_p = (be_a d_a + be_b d_b) / 2 exactly. The sum above
    // forms those zeros from rounded 4th-order sums (ee_a = ma4 - ma2^2 has
    // a rounding of u (A^2 ma2)^2 ~ u g1^4, however small var_p is) and its
    // remaining terms as squares, whose cancellation loses var_p's digits
    // quadratically. The signed difference keeps var_p to the relative
    // rounding of ma2, mb2 times |be_a da| / |be_a da + be_b db|, as eager's
    // p_1 - p_2 (docs/relation-op-numerics.md, 6.).
    const double d = bea * sqrt(s.var_a) + (c11 < 0.0 ? -beb : beb) * sqrt(s.var_b);
    s.var_p = 0.25 * d * d;
  }
  return s;
}

}  // namespace smartops
