#pragma once
// Per-pair coefficients of the relation op's elementwise passes, computed in
// double from the statistics and BN parameters, shared by CPU and CUDA.
//
// Notation (shared/notes/relation-op-math.md, docs/relation-op-numerics.md):
// for pair k = (a, b) with BN1 means ma, mb,
//   xc_a = x_a - ma                    (centred first: see below)
//   xh_a = Ra xc_a                     (BN1's normalised value, Ra = 1/sqrt(var_a + eps))
//   u_a  = Aa xc_a + b1a               (BN1's output, Aa = g1a Ra)
//   s    = u_a^2 + u_b^2,  p = s / 2
//   ph   = clamp(H (s - M2), Hmax)     (BN2's normalised value, H = Rp / 2, M2 = 2 mean_p)
//   q    = clamp(P (s - M2), Qmax) + b2 (BN2's output, P = g2 Rp / 2)
//   y    = relu(q) or q
// with clamp(v, m) = v limited to [-m, m]. In general Hmax = Qmax = inf (no
// clamp); with two positions per channel (two_positions below) the clamp
// gives BN2's exact output, sign(s - M2) times its magnitude.
// Every value is centred on its mean before it is scaled. The folded forms
// (u = Aa x + (b1 - ma Aa), q = P s + Q) cancel catastrophically when a
// channel's spread is small against its mean (a constant channel at 1e4:
// Aa x ~ 3e6 while u ~ 1), which cost float32 up to all of its digits.
// Forward and backward evaluate q with the same expression and
// coefficients, so the ReLU mask of the backward is the forward's.
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

enum ApplyCoef { kMa, kAa, kB1a, kMb, kAb, kB1b, kM2, kP, kB2, kQmax, kNumApplyCoef };

// Backward coefficients: the apply ones, then the normalising factors, then
// the dx pass: dx_a = Ua u_a t + Va xc_a + Wa with t = dq - E (s - M2) - F.
enum BackwardCoef {
  kBMa, kBAa, kBB1a, kBMb, kBAb, kBB1b, kBM2, kBP, kBB2, kBQmax,
  kH, kHmax, kRa, kRb,
  kE, kF, kUa, kVa, kWa, kUb, kVb, kWb,
  kNumBackwardCoef
};
// The backward's table starts with the apply table (its passes recompute q).
static_assert(static_cast<int>(kBQmax) == static_cast<int>(kQmax), "the backward table starts with the apply table");

// Sums over positions that the backward needs, per pair: sum(dq),
// sum(dq ph) and, per channel, sums of xh and xh^2 against dq and ph.
// Normalised values keep every term O(|grad|) whatever the scale of x.
struct PairGradSums {
  double dq, dq_ph;
  double hdq_a, hph_a, h2dq_a, h2ph_a;  // sum(xh_a dq), sum(xh_a ph), sum(xh_a^2 dq), sum(xh_a^2 ph)
  double hdq_b, hph_b, h2dq_b, h2ph_b;
};

struct PairGrads {
  double g1a, b1a, g1b, b1b, g2, b2;
};

// 1/sqrt(var + eps) of BN1's channels a, b and BN2's pooled channel.
struct PairInvStd {
  double ra, rb, rp;
};

SMARTOPS_HD PairInvStd pair_inv_std(const PairStatsIn& s, double eps) {
  return PairInvStd{1.0 / sqrt(s.var_a + eps), 1.0 / sqrt(s.var_b + eps), 1.0 / sqrt(s.var_p + eps)};
}

// Unit roundoff of the precision A the elementwise passes compute in.
template <typename A>
struct Roundoff;
template <>
struct Roundoff<float> {
  static constexpr double value = 0x1p-24;
  static constexpr double max = 0x1.fffffep+127;  // FLT_MAX
};
template <>
struct Roundoff<double> {
  static constexpr double value = 0x1p-53;
  static constexpr double max = 0x1.fffffffffffffp+1023;  // DBL_MAX
};

// v limited to A's finite range (NaN passes): a coefficient that rounds to
// inf in A would make inf * 0 = NaN where eager gives a number.
template <typename A>
SMARTOPS_HD double finite_in(double v) {
  return v > Roundoff<A>::max ? Roundoff<A>::max : (v < -Roundoff<A>::max ? -Roundoff<A>::max : v);
}

// 1/sqrt(var_p + eps) as the elementwise passes use it. With batch
// statistics it is 0 for a pooled channel whose spread in this batch is below
// what precision A resolves of its mean (both channels constant, or |x| so
// small that u = b1 to A's precision): its normalised value is then exactly
// 0, as eager BN2 gives for identical values, instead of A's rounding noise
// in s amplified by up to 1/sqrt(eps). (Running statistics say nothing about
// the spread of the batch at hand: they are used as they are.)
template <typename A>
SMARTOPS_HD double pooled_inv_std(const PairStatsIn& s, double rp, bool batch_stats) {
  const double resolved = 4.0 * Roundoff<A>::value * s.mean_p;
  return batch_stats && s.var_p <= resolved * resolved ? 0.0 : rp;
}

// Two positions per channel with batch statistics (count == 2; with the
// synchronized op, all processes' count): the closed forms below are used,
// for BN2's output in the forward and the backward's recomputation
// (pooled_scale) and for the backward's gradients
// (two_position_grads_and_dx_coeffs). Callers that do not know the count
// pass 0 and get the general forms.
SMARTOPS_HD bool two_positions(bool batch_stats, double count) { return batch_stats && count == 2.0; }

// BN2 over two positions (docs/relation-op-numerics.md, 6.). The pooled
// values are p_1, p_2 with mean_p = (p_1 + p_2) / 2, so p - mean_p = +-d with
// d^2 = var_p and BN2's normalised value is exactly
//   ph = sign(s - M2) h,   h = sqrt(var_p) Rp = sqrt(var_p / (var_p + eps)),
// self-normalising as eager BN2 over two values is (its p - mean(p) and
// var(p) come from the same rounded values and their rounding cancels). The
// general ph = H (s - M2) instead keeps the rounding of s = u_a^2 + u_b^2
// (u_A |s|) against |s - M2| = 2 d, which may be far smaller than |s|.
// h comes in double from the statistics (var_p: pair_stats_from_moments'
// two-position form); only the sign is taken from the elementwise value.
// The kernels evaluate clamp(G (s - M2), h) with a gain G so large that
// every nonzero s - M2 of precision A saturates the clamp: s - M2, when it is not
// 0, is at least u_A M2 / 2 in magnitude (s and M2 are A values, s >= 0 and
// M2 > 0; within a factor 2 of each other their difference is exact), so
// G = 16 h / (u_A M2) gives |G (s - M2)| >= 8 h. The result is +-h rounded
// once to A, 0 where s = M2 (as eager gives for equal values) and NaN where
// s - M2 is NaN. A pooled channel that the statistics do not resolve
// (pooled_inv_std: rp = 0; this includes M2 = 0) has h = G = 0. The sign
// of s - M2 can be wrong only where the rounding of s (and of u_a, u_b, xc
// before it) exceeds |s - M2| = 2 sqrt(var_p): then h is at most that
// rounding times Rp, and eager's p carry the same rounding, so its BN2
// output is as uncertain.
//
// pooled_scale: BN2's normalised value as the kernels evaluate it,
// ph = clamp(scale (s - M2), max): in general scale = H = Rp / 2 and
// max = inf (no clamp), with two positions scale = G and max = h.
struct PooledScale {
  double scale, max;
};

template <typename A>
SMARTOPS_HD PooledScale pooled_scale(const PairStatsIn& s, double eps, bool batch_stats, double count) {
  const double rp = pooled_inv_std<A>(s, 1.0 / sqrt(s.var_p + eps), batch_stats);
  if (!two_positions(batch_stats, count)) return PooledScale{0.5 * rp, INFINITY};
  const double h = sqrt(s.var_p) * rp;
  // h > 0 implies a resolved channel, so M2 > 0; h = 0 or NaN passes as it is.
  // G is finite in A even where M2 is near A's underflow (tiny BN1 weights
  // with a tiny eps): s and M2 may then both round to 0, and G (s - M2) must
  // be 0 there as eager's BN2 output is, not inf * 0.
  const double gain = h > 0.0 ? finite_in<A>(16.0 * h / (Roundoff<A>::value * 2.0 * s.mean_p)) : h;
  return PooledScale{gain, h};
}

template <typename A>
SMARTOPS_HD void relation_apply_coeffs(const PairStatsIn& s, const PairParams& w, double eps, bool batch_stats,
                                       double count, double* c) {
  const PairInvStd r = pair_inv_std(s, eps);
  const PooledScale ph = pooled_scale<A>(s, eps, batch_stats, count);
  c[kMa] = s.mean_a;
  c[kAa] = w.g1a * r.ra;
  c[kB1a] = w.b1a;
  c[kMb] = s.mean_b;
  c[kAb] = w.g1b * r.rb;
  c[kB1b] = w.b1b;
  c[kM2] = 2.0 * s.mean_p;
  c[kP] = finite_in<A>(w.g2 * ph.scale);  // q - b2 = clamp(g2 scale (s - M2), |g2| max) = g2 ph
  c[kB2] = w.b2;
  c[kQmax] = isinf(ph.max) ? ph.max : fabs(w.g2) * ph.max;
}

// Coefficients of the backward's reduction pass (the first kE entries).
// `count` and `batch_stats` must be the forward's, so that q (and the ReLU
// mask) is the forward's.
template <typename A>
SMARTOPS_HD void relation_reduce_coeffs(const PairStatsIn& s, const PairParams& w, double eps, bool batch_stats,
                                        double count, double* c) {
  relation_apply_coeffs<A>(s, w, eps, batch_stats, count, c);  // kBMa..kBQmax share positions with kMa..kQmax
  const PairInvStd r = pair_inv_std(s, eps);
  const PooledScale ph = pooled_scale<A>(s, eps, batch_stats, count);
  c[kH] = ph.scale;
  c[kHmax] = ph.max;
  c[kRa] = r.ra;
  c[kRb] = r.rb;
}

// Parameter gradients of channel a (or b) of a pair, from its sums.
// With u = g1 xh + b1, dp = K (dq - m1 - m2 ph) and K = g2 Rp:
//   db1 = sum(dp u)    = K g1 (sum(xh dq) - m2 sum(xh ph))
//   dg1 = sum(dp u xh) = K (b1 (sum(xh dq) - m2 sum(xh ph))
//                           + g1 (sum(xh^2 dq) - m1 M var R^2 - m2 sum(xh^2 ph)))
// using sum(ph) = 0, sum(xh) = 0 and sum(xh^2) = M var R^2 of batch
// statistics: the large terms b1 sum(dq) that the raw form subtracts cancel
// exactly and are never formed. Frozen statistics (m1 = m2 = 0) keep
// sum(u dq) = g1 sum(xh dq) + b1 sum(dq).
struct ChannelGrads {
  double g1, b1;
};

SMARTOPS_HD ChannelGrads relation_channel_grads(double hdq, double hph, double h2dq, double h2ph, double g1,
                                                double b1, double var, double r, double K, double dq, double m1,
                                                double m2, double count, bool batch_stats) {
  ChannelGrads out;
  if (batch_stats) {
    const double lin = hdq - m2 * hph;
    out.b1 = K * g1 * lin;
    out.g1 = K * (b1 * lin + g1 * (h2dq - m1 * count * var * r * r - m2 * h2ph));
  } else {
    out.b1 = K * (g1 * hdq + b1 * dq);
    out.g1 = K * (b1 * hdq + g1 * h2dq);
  }
  return out;
}

// Two positions per channel (count == 2) with batch statistics. Every
// centred vector is then a multiple of (1, -1), so BN's backward projection
// v - mean(v) - xh mean(xh v) is exactly eps R^2 (v - mean(v)), with
// eps R^2 = eps / (var + eps) = 1 - mean(xh^2) (docs/relation-op-numerics.md,
// 6.). The general formulas form this small factor as the cancellation of
// terms of size |v| in the elementwise precision, once for BN2 and once more
// for BN1, so their result would be rounding noise of |v| times the product
// of the two factors; here the factors come in double from the statistics:
//   t     = ep (dq - m1),                ep = eps Rp^2
//   db1   = K sum(u t)    = K ep g1 sum(xh dq)       (sum(xh) = 0)
//   dg1   = K sum(u xh t) = K ep b1 sum(xh dq)       (xh^2 is the same at both positions)
//   dx_a  = Ga ea (du - mean(du)),  du = K u t,  ea = eps Ra^2
//         = Ga K ea ep (u (dq - m1) - g1 sum(xh dq) / 2)
// dx is left in the kernels' form Ua u t + Va xc + Wa (E = 0, F = m1, Va = 0).
SMARTOPS_HD ChannelGrads two_position_channel(double hdq, double g1, double b1, double r, double K, double ep,
                                              double eps, double* ua, double* va, double* wa) {
  const double lin = ep * hdq;
  *ua = g1 * r * K * (eps * r * r) * ep;
  *va = 0.0;
  *wa = -*ua * g1 * hdq * 0.5;
  return ChannelGrads{K * b1 * lin, K * g1 * lin};
}

SMARTOPS_HD PairGrads two_position_grads_and_dx_coeffs(const PairGradSums& g, const PairStatsIn& s,
                                                       const PairParams& w, double eps, double* c) {
  const PairInvStd r = pair_inv_std(s, eps);
  const double K = w.g2 * r.rp, ep = eps * r.rp * r.rp;
  c[kE] = 0.0;
  c[kF] = g.dq * 0.5;
  const ChannelGrads ga = two_position_channel(g.hdq_a, w.g1a, w.b1a, r.ra, K, ep, eps, &c[kUa], &c[kVa], &c[kWa]);
  const ChannelGrads gb = two_position_channel(g.hdq_b, w.g1b, w.b1b, r.rb, K, ep, eps, &c[kUb], &c[kVb], &c[kWb]);
  return PairGrads{ga.g1, ga.b1, gb.g1, gb.b1, g.dq_ph, g.dq};
}

// Parameter gradients of one pair from its sums, and the remaining dx
// coefficients. `batch_stats`: the statistics were the batch's own (training),
// so they depend on x; otherwise they are constants (evaluation).
SMARTOPS_HD PairGrads relation_grads_and_dx_coeffs(const PairGradSums& g, const PairStatsIn& s, const PairParams& w,
                                                   double eps, double count, bool batch_stats, double* c) {
  if (two_positions(batch_stats, count)) return two_position_grads_and_dx_coeffs(g, s, w, eps, c);
  const PairInvStd r = pair_inv_std(s, eps);
  const double K = w.g2 * r.rp;
  const double m1 = batch_stats ? g.dq / count : 0.0;
  const double m2 = batch_stats ? g.dq_ph / count : 0.0;
  const ChannelGrads ga = relation_channel_grads(g.hdq_a, g.hph_a, g.h2dq_a, g.h2ph_a, w.g1a, w.b1a, s.var_a, r.ra,
                                                 K, g.dq, m1, m2, count, batch_stats);
  const ChannelGrads gb = relation_channel_grads(g.hdq_b, g.hph_b, g.h2dq_b, g.h2ph_b, w.g1b, w.b1b, s.var_b, r.rb,
                                                 K, g.dq, m1, m2, count, batch_stats);
  const PairGrads out{ga.g1, ga.b1, gb.g1, gb.b1, g.dq_ph, g.dq};
  // dx_a = Ga (K u_a (dq - m1 - m2 ph) - db1_a / M - xh_a dg1_a / M), Ga = g1a Ra,
  // with ph = H (s - M2) and xh_a = Ra xc_a folded in (no dependence on the
  // statistics' own gradient with frozen statistics: the last two terms vanish).
  c[kE] = m2 * 0.5 * r.rp;
  c[kF] = m1;
  const double Ga = w.g1a * r.ra, Gb = w.g1b * r.rb;
  const double inv_m = batch_stats ? 1.0 / count : 0.0;
  c[kUa] = Ga * K;
  c[kVa] = -Ga * r.ra * out.g1a * inv_m;
  c[kWa] = -Ga * out.b1a * inv_m;
  c[kUb] = Gb * K;
  c[kVb] = -Gb * r.rb * out.g1b * inv_m;
  c[kWb] = -Gb * out.b1b * inv_m;
  return out;
}

}  // namespace smartops
