#pragma once
// Elementwise bodies of the relation op's CPU passes (see pair_iteration.h
// for the interface and common/relation_coeffs.h for the coefficients).
#include <type_traits>

#include "common/pair_moments.h"
#include "common/relation_pointwise.h"
#include "cpu/pair_iteration.h"

namespace smartops {
namespace cpu {

// Statistics pass, phase 1: per-lane means, used as reference points.
template <typename T>
struct MeanBody {
  static constexpr bool kReadsGrad = false, kWritesY = false, kWritesDx = false;
  template <class W>
  struct Acc {
    W a{}, b{};
  };
  template <class W>
  void step(Acc<W>& acc, int, W a, W b, W, W&, W&, W&) const {
    acc.a += a;
    acc.b += b;
  }
};

// Statistics pass, phase 2: power sums of deviations from the lane means.
template <typename T>
struct MomentBody {
  static constexpr bool kReadsGrad = false, kWritesY = false, kWritesDx = false;
  template <class W>
  using Acc = PowerSums<W>;
  // Reference points: vector lanes, and one per scalar slot.
  Vec<T> va{}, vb{};
  T sa[lanes<T>()]{}, sb[lanes<T>()]{};

  void set_centres(const PairItems<T>& items, const PairItem& it, const ItemAcc<T, MeanBody<T>>& sums) {
    const int64_t nv = items.vector_count(it), ns = items.scalar_count(it);
    if (items.geo.planar) {
      // One pair: every lane and the tail share the item's mean, so that
      // store_parts can add the lanes' sums without re-centring.
      T ta = sums.s[0].a, tb = sums.s[0].b;
      for (int l = 0; l < lanes<T>(); ++l) {
        ta += sums.v.a[l];
        tb += sums.v.b[l];
      }
      const T n = static_cast<T>(nv * lanes<T>() + ns);
      sa[0] = ta / n;
      sb[0] = tb / n;
      va = broadcast<Vec<T>>(sa[0]);
      vb = broadcast<Vec<T>>(sb[0]);
      return;
    }
    if (nv > 0) {
      va = sums.v.a / static_cast<T>(nv);
      vb = sums.v.b / static_cast<T>(nv);
    }
    for (int64_t j = 0; ns > 0 && j < items.slots(it); ++j) {
      sa[j] = sums.s[j].a / static_cast<T>(ns);
      sb[j] = sums.s[j].b / static_cast<T>(ns);
    }
  }

  template <class W>
  inline void step(Acc<W>& acc, int slot, W a, W b, W, W&, W&, W&) const {
    if constexpr (std::is_same_v<W, T>) {
      acc.add(a - sa[slot], b - sb[slot]);
    } else {
      acc.add(a - va, b - vb);
    }
  }

  template <class W>
  PairMoments record(const Acc<W>& acc, int l, int64_t count) const {
    PairMoments m = pair_moments_zero();
    if (count == 0) return m;
    m.n = static_cast<double>(count);
    if constexpr (std::is_same_v<W, T>) {
      m.ka = sa[l];
      m.kb = sb[l];
    } else {
      m.ka = va[l];
      m.kb = vb[l];
    }
    m.a1 = lane(acc.a1, l); m.a2 = lane(acc.a2, l); m.a3 = lane(acc.a3, l); m.a4 = lane(acc.a4, l);
    m.b1 = lane(acc.b1, l); m.b2 = lane(acc.b2, l); m.b3 = lane(acc.b3, l); m.b4 = lane(acc.b4, l);
    m.ab = lane(acc.ab, l); m.a2b = lane(acc.a2b, l); m.ab2 = lane(acc.ab2, l); m.a2b2 = lane(acc.a2b2, l);
    return m;
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

// Forward: y = relu(P (u_a^2 + u_b^2) + Q).
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
    r.udq_a = lane(a.udq_a, l); r.uph_a = lane(a.uph_a, l); r.uxdq_a = lane(a.uxdq_a, l); r.uxph_a = lane(a.uxph_a, l);
    r.udq_b = lane(a.udq_b, l); r.uph_b = lane(a.uph_b, l); r.uxdq_b = lane(a.uxdq_b, l); r.uxph_b = lane(a.uxph_b, l);
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
    acc.add(k, BackwardPoint<W>(k, a, b, g, this->relu_out), a, b);
  }
};

// Backward pass writing dx; with kSums also the per-pair sums (frozen
// statistics need no sums before dx, so that backward is a single pass).
template <typename T, bool kSums>
struct GradInputBody : BackwardBodyBase<T> {
  static constexpr bool kReadsGrad = true, kWritesY = false, kWritesDx = true;
  template <class W>
  using Acc = GradSums<W>;

  template <class W>
  inline void step(Acc<W>& acc, int slot, W a, W b, W g, W&, W& da, W& db) const {
    const W* k = this->template coeffs<W>(slot);
    const BackwardPoint<W> p(k, a, b, g, this->relu_out);
    relation_grad_input(k, p, a, b, da, db);
    if constexpr (kSums) acc.add(k, p, a, b);
  }
};

}  // namespace cpu
}  // namespace smartops
