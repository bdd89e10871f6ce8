#pragma once
// Elementwise bodies of the relation op's CPU passes (see pair_iteration.h
// for the interface and common/relation_coeffs.h for the coefficients).
#include <algorithm>
#include <type_traits>

#include "common/pair_moments.h"
#include "common/relation_pointwise.h"
#include "cpu/pair_iteration.h"

namespace smartops {
namespace cpu {

// Statistics pass, phase 1: per-lane sums and largest magnitudes, which
// give the reference points and scales of phase 2.
template <typename T>
struct MeanBody {
  static constexpr bool kReadsGrad = false, kWritesY = false, kWritesDx = false;
  template <class W>
  struct Acc {
    W a{}, b{}, abs_a{}, abs_b{};
  };
  template <class W>
  static W abs_max(const W& m, const W& v) {
    const W a = v < W{} ? -v : v;
    return a > m ? a : m;
  }
  template <class W>
  void step(Acc<W>& acc, int, W a, W b, W, W&, W&, W&) const {
    acc.a += a;
    acc.b += b;
    acc.abs_a = abs_max(acc.abs_a, a);
    acc.abs_b = abs_max(acc.abs_b, b);
  }
};

// Statistics pass, phase 2: power sums of deviations from the lane means,
// pre-scaled by a power of two per lane (common/pair_moments.h, "Range").
template <typename T>
struct MomentBody {
  static constexpr bool kReadsGrad = false, kWritesY = false, kWritesDx = false;
  template <class W>
  using Acc = PowerSums<W>;
  // Reference points and scales: vector lanes, and one per scalar slot.
  Vec<T> va{}, vb{}, vsa{}, vsb{};
  T sa[lanes<T>()]{}, sb[lanes<T>()]{}, ssa[lanes<T>()]{}, ssb[lanes<T>()]{};

  void set_centres(const PairItems<T>& items, const PairItem& it, const ItemAcc<T, MeanBody<T>>& sums) {
    const int64_t nv = items.vector_count(it), ns = items.scalar_count(it);
    if (items.geo.planar) {
      // One pair: every lane and the tail share the item's mean and scale,
      // so that store_parts can add the lanes' sums without re-centring.
      T ta = sums.s[0].a, tb = sums.s[0].b, ma = sums.s[0].abs_a, mb = sums.s[0].abs_b;
      for (int l = 0; l < lanes<T>(); ++l) {
        ta += sums.v.a[l];
        tb += sums.v.b[l];
        ma = std::max(ma, sums.v.abs_a[l]);
        mb = std::max(mb, sums.v.abs_b[l]);
      }
      const T n = static_cast<T>(nv * lanes<T>() + ns);
      sa[0] = ta / n;
      sb[0] = tb / n;
      ssa[0] = static_cast<T>(deviation_scale(ma));
      ssb[0] = static_cast<T>(deviation_scale(mb));
      va = broadcast<Vec<T>>(sa[0]);
      vb = broadcast<Vec<T>>(sb[0]);
      vsa = broadcast<Vec<T>>(ssa[0]);
      vsb = broadcast<Vec<T>>(ssb[0]);
      return;
    }
    if (nv > 0) {
      va = sums.v.a / static_cast<T>(nv);
      vb = sums.v.b / static_cast<T>(nv);
      for (int l = 0; l < lanes<T>(); ++l) {
        vsa[l] = static_cast<T>(deviation_scale(sums.v.abs_a[l]));
        vsb[l] = static_cast<T>(deviation_scale(sums.v.abs_b[l]));
      }
    }
    for (int64_t j = 0; ns > 0 && j < items.slots(it); ++j) {
      sa[j] = sums.s[j].a / static_cast<T>(ns);
      sb[j] = sums.s[j].b / static_cast<T>(ns);
      ssa[j] = static_cast<T>(deviation_scale(sums.s[j].abs_a));
      ssb[j] = static_cast<T>(deviation_scale(sums.s[j].abs_b));
    }
  }

  template <class W>
  inline void step(Acc<W>& acc, int slot, W a, W b, W, W&, W&, W&) const {
    if constexpr (std::is_same_v<W, T>) {
      acc.add((a - sa[slot]) * ssa[slot], (b - sb[slot]) * ssb[slot]);
    } else {
      acc.add((a - va) * vsa, (b - vb) * vsb);
    }
  }

  template <class W>
  PairMoments record(const Acc<W>& acc, int l, int64_t count) const {
    if (count == 0) return pair_moments_zero();
    PowerSums<T> s;
    s.a1 = lane(acc.a1, l); s.a2 = lane(acc.a2, l); s.a3 = lane(acc.a3, l); s.a4 = lane(acc.a4, l);
    s.b1 = lane(acc.b1, l); s.b2 = lane(acc.b2, l); s.b3 = lane(acc.b3, l); s.b4 = lane(acc.b4, l);
    s.ab = lane(acc.ab, l); s.a2b = lane(acc.a2b, l); s.ab2 = lane(acc.ab2, l); s.a2b2 = lane(acc.a2b2, l);
    const double n = static_cast<double>(count);
    if constexpr (std::is_same_v<W, T>) return pair_moments_from_sums(s, n, sa[l], sb[l], ssa[l], ssb[l]);
    else return pair_moments_from_sums(s, n, va[l], vb[l], vsa[l], vsb[l]);
  }
  static PairMoments combine(const PairMoments& x, const PairMoments& y) { return pair_moments_merge(x, y); }
  // Sums about one and the same reference point (the lanes of a planar item).
  static PairMoments add(const PairMoments& x, const PairMoments& y) {
    if (y.n == 0.0) return x;
    if (x.n == 0.0) return y;
    PairMoments r = x;
    r.n += y.n;
    r.a1 += y.a1; r.a2 += y.a2; r.a3 += y.a3; r.a4 += y.a4;
    r.b1 += y.b1; r.b2 += y.b2; r.b3 += y.b3; r.b4 += y.b4;
    r.ab += y.ab; r.a2b += y.a2b; r.ab2 += y.ab2; r.a2b2 += y.a2b2;
    return r;
  }
};

// Forward: y = relu(clamp(P (s - M2), Qmax) + b2) (common/relation_pointwise.h).
template <typename T>
struct ApplyBody {
  static constexpr bool kReadsGrad = false, kWritesY = true, kWritesDx = false;
  template <class W>
  struct Acc {};
  ItemCoeffs<T, kNumApplyCoef> c;
  bool relu_out = true;

  template <class W>
  inline void step(Acc<W>&, int slot, W a, W b, W, W& y, W&, W&) const {
    y = relation_output(coeffs<W>(slot), a, b, relu_out);
  }
  template <class W>
  inline const W* coeffs(int slot) const {
    if constexpr (std::is_same_v<W, T>) return c.s[slot]; else return c.v;
  }
};

// Shared by the two backward bodies: coefficients and the sums' records.
template <typename T>
struct BackwardBodyBase {
  ItemCoeffs<T, kNumBackwardCoef> c;
  bool relu_out = true;

  template <class W>
  inline const W* coeffs(int slot) const {
    if constexpr (std::is_same_v<W, T>) return c.s[slot]; else return c.v;
  }
  template <class W>
  PairGradSums record(const GradSums<W>& a, int l, int64_t) const {
    PairGradSums r;
    r.dq = lane(a.dq, l); r.dq_ph = lane(a.dq_ph, l);
    r.hdq_a = lane(a.hdq_a, l); r.hph_a = lane(a.hph_a, l); r.h2dq_a = lane(a.h2dq_a, l); r.h2ph_a = lane(a.h2ph_a, l);
    r.hdq_b = lane(a.hdq_b, l); r.hph_b = lane(a.hph_b, l); r.h2dq_b = lane(a.h2dq_b, l); r.h2ph_b = lane(a.h2ph_b, l);
    return r;
  }
  static PairGradSums combine(const PairGradSums& x, const PairGradSums& y) { return pair_grad_sums_add(x, y); }
  static PairGradSums add(const PairGradSums& x, const PairGradSums& y) { return combine(x, y); }
};

// Backward pass 1 (batch statistics): the per-pair sums.
template <typename T>
struct GradSumBody : BackwardBodyBase<T> {
  static constexpr bool kReadsGrad = true, kWritesY = false, kWritesDx = false;
  template <class W>
  using Acc = GradSums<W>;

  template <class W>
  inline void step(Acc<W>& acc, int slot, W a, W b, W g, W&, W&, W&) const {
    const W* k = this->template coeffs<W>(slot);
    acc.add(k, BackwardPoint<W>(k, a, b, g, this->relu_out));
  }
};

// Backward pass writing dx; with kSums also the per-pair sums (frozen
// statistics need no sums before dx, so that backward is a single pass:
// kSums means frozen statistics).
template <typename T, bool kSums>
struct GradInputBody : BackwardBodyBase<T> {
  static constexpr bool kReadsGrad = true, kWritesY = false, kWritesDx = true;
  template <class W>
  using Acc = GradSums<W>;

  template <class W>
  inline void step(Acc<W>& acc, int slot, W a, W b, W g, W&, W& da, W& db) const {
    const W* k = this->template coeffs<W>(slot);
    const BackwardPoint<W> p(k, a, b, g, this->relu_out);
    relation_grad_input<!kSums>(k, p, da, db);
    if constexpr (kSums) acc.add(k, p);
  }
};

}  // namespace cpu
}  // namespace smartops
