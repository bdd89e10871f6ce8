#pragma once
// Per-pair coefficients of the relation op's elementwise passes, computed in
// double from the statistics and BN parameters, shared by CPU and CUDA.
//
// Notation (shared/notes/relation-op-math.md): for pair k = (a, b),
//   u_a = Aa x_a + Ba                  (BN1, affine folded)
//   s   = u_a^2 + u_b^2,  p = s / 2
//   q   = P s + Q                      (BN2, affine folded)
//   ph  = H s + J                      (BN2's normalised value)
//   xh_a = Ra x_a + Sa                 (BN1's normalised value)
//   y   = relu(q) or q
// Forward and backward evaluate q with the same P and Q, so the ReLU mask of
// the backward is exactly the one the forward applied.
#include <math.h>

#include "common/macros.h"

namespace smartops {

// Per-pair statistics as the kernels use them: BN1 of channels a and b, BN2
// of the pooled channel. In training these are the batch statistics, in
// evaluation the running ones.
struct PairStatsIn {
  double mean_a, var_a, mean_b, var_b, mean_p, var_p;
};

struct PairParams {
  double g1a, b1a, g1b, b1b, g2, b2;
};

enum ApplyCoef { kAa, kBa, kAb, kBb, kP, kQ, kNumApplyCoef };

// Backward coefficients: the apply ones, then the normalised values, then
// the dx pass: dx_a = Ua u_a t + Va x_a + Wa with t = dq - E s - F.
enum BackwardCoef {
  kBAa, kBBa, kBAb, kBBb, kBP, kBQ,
  kH, kJ, kRa, kSa, kRb, kSb,
  kE, kF, kUa, kVa, kWa, kUb, kVb, kWb,
  kNumBackwardCoef
};

// Sums over positions that the backward needs, per pair.
struct PairGradSums {
  double dq, dq_ph;                       // sum(dq), sum(dq ph)
  double udq_a, uph_a, uxdq_a, uxph_a;    // sum(u_a dq), sum(u_a ph), sum(u_a xh_a dq), sum(u_a xh_a ph)
  double udq_b, uph_b, uxdq_b, uxph_b;
};

struct PairGrads {
  double g1a, b1a, g1b, b1b, g2, b2;
};

SMARTOPS_HD void relation_apply_coeffs(const PairStatsIn& s, const PairParams& w, double eps, double* c) {
  const double ra = 1.0 / sqrt(s.var_a + eps), rb = 1.0 / sqrt(s.var_b + eps);
  const double rp = 1.0 / sqrt(s.var_p + eps);
  c[kAa] = w.g1a * ra;
  c[kBa] = w.b1a - s.mean_a * c[kAa];
  c[kAb] = w.g1b * rb;
  c[kBb] = w.b1b - s.mean_b * c[kAb];
  c[kP] = 0.5 * w.g2 * rp;
  c[kQ] = w.b2 - s.mean_p * w.g2 * rp;
}

// Coefficients of the backward's reduction pass (the first 12 entries).
SMARTOPS_HD void relation_reduce_coeffs(const PairStatsIn& s, const PairParams& w, double eps, double* c) {
  relation_apply_coeffs(s, w, eps, c);  // kBAa..kBQ share positions with kAa..kQ
  const double ra = 1.0 / sqrt(s.var_a + eps), rb = 1.0 / sqrt(s.var_b + eps);
  const double rp = 1.0 / sqrt(s.var_p + eps);
  c[kH] = 0.5 * rp;
  c[kJ] = -s.mean_p * rp;
  c[kRa] = ra;
  c[kSa] = -s.mean_a * ra;
  c[kRb] = rb;
  c[kSb] = -s.mean_b * rb;
}

// Parameter gradients of one pair from its sums, and the remaining dx
// coefficients. `batch_stats`: the statistics were the batch's own (training),
// so they depend on x; otherwise they are constants (evaluation).
SMARTOPS_HD PairGrads relation_grads_and_dx_coeffs(const PairGradSums& g, const PairStatsIn& s, const PairParams& w,
                                                   double eps, double count, bool batch_stats, double* c) {
  const double ra = 1.0 / sqrt(s.var_a + eps), rb = 1.0 / sqrt(s.var_b + eps);
  const double rp = 1.0 / sqrt(s.var_p + eps);
  const double K = w.g2 * rp;
  PairGrads out;
  out.b2 = g.dq;
  out.g2 = g.dq_ph;
  double m1 = 0.0, m2 = 0.0;
  if (batch_stats) {
    m1 = g.dq / count;
    m2 = g.dq_ph / count;
    // sum(u) = count * b1 and sum(u xh) = count * g1 var r^2 exactly.
    out.b1a = K * (g.udq_a - m1 * count * w.b1a - m2 * g.uph_a);
    out.g1a = K * (g.uxdq_a - m1 * count * w.g1a * s.var_a * ra * ra - m2 * g.uxph_a);
    out.b1b = K * (g.udq_b - m1 * count * w.b1b - m2 * g.uph_b);
    out.g1b = K * (g.uxdq_b - m1 * count * w.g1b * s.var_b * rb * rb - m2 * g.uxph_b);
  } else {
    out.b1a = K * g.udq_a;
    out.g1a = K * g.uxdq_a;
    out.b1b = K * g.udq_b;
    out.g1b = K * g.uxdq_b;
  }
  // dx_a = Ga (K u_a (dq - m1 - m2 ph) - db1_a / M - xh_a dg1_a / M), Ga = g1a ra,
  // with ph = H s + J and xh_a = Ra x_a + Sa folded in.
  const double H = 0.5 * rp, J = -s.mean_p * rp;
  c[kE] = m2 * H;
  c[kF] = m2 * J + m1;
  const double Ga = w.g1a * ra, Gb = w.g1b * rb;
  const double ca = batch_stats ? out.b1a / count : 0.0, ea = batch_stats ? out.g1a / count : 0.0;
  const double cb = batch_stats ? out.b1b / count : 0.0, eb = batch_stats ? out.g1b / count : 0.0;
  c[kUa] = Ga * K;
  c[kVa] = -Ga * ea * ra;
  c[kWa] = -Ga * (ea * (-s.mean_a * ra) + ca);
  c[kUb] = Gb * K;
  c[kVb] = -Gb * eb * rb;
  c[kWb] = -Gb * (eb * (-s.mean_b * rb) + cb);
  return out;
}

}  // namespace smartops
