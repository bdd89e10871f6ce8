#pragma once
// How the CPU kernels walk x: work items over channel pairs and positions,
// for the two memory layouts the ops read in place.
//
//  planar (contiguous NCDHW): for pair k of sample n, channel a and b are two
//    runs of S = T*H*W values. An item is one pair, one sample, one chunk of
//    the run; a vector holds L consecutive positions of that pair.
//  interleaved (channels_last_3d, NDHWC): every position is a row of 2C
//    values a0 b0 a1 b1 ...; an item is a block of L pairs (a vector: the
//    row's 2L values split into a and b) over a chunk of rows.
//
// A kernel body is a class with
//   kReadsGrad / kWritesY / kWritesDx   what it touches besides x
//   template <class W> struct Acc       its accumulators (W = Vec<T> or T)
//   template <class W> void step(Acc<W>&, int slot, W a, W b, W g, W& y, W& dxa, W& dxb)
// `slot` tells scalar tails apart: in the interleaved layout a tail block
// holds up to L-1 pairs, each with its own accumulators and coefficients.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

#include "cpu/simd.h"

namespace smartops {
namespace cpu {

struct PairGeometry {
  int64_t N = 0, C = 0, S = 0;  // C pairs (x has 2C channels), S positions per sample
  bool planar = true;
};

struct PairItem {
  int64_t k0 = 0;        // first pair
  int64_t npairs = 1;    // pairs covered (planar: 1)
  bool full_block = false;  // interleaved: the pairs fill a whole vector
  int64_t part = 0;      // index of the partial result this item yields for its pairs
  int64_t x_off = 0;     // planar: channel a's first value; interleaved: first row
  int64_t y_off = 0;     // planar: first output value
  int64_t count = 0;     // planar: positions; interleaved: rows
};

template <typename T>
struct PairPointers {
  const T* x = nullptr;
  const T* grad = nullptr;  // pair-shaped, same layout as y
  T* y = nullptr;           // pair-shaped output
  T* dx = nullptr;          // x-shaped output
};

// The item decomposition of a geometry: deterministic (independent of the
// number of threads), so results are reproducible run to run.
template <typename T>
struct PairItems {
  static constexpr int64_t kPlanarChunk = 2048;  // positions per planar item (a multiple of L)

  PairGeometry geo;
  int64_t chunks = 1;  // planar: chunks per run of S; interleaved: row chunks
  int64_t rows_per_chunk = 0;
  int64_t blocks = 1;  // interleaved: blocks of L pairs (the last may be partial)

  explicit PairItems(const PairGeometry& g) : geo(g) {
    constexpr int64_t L = lanes<T>();
    if (geo.planar) {
      chunks = (geo.S + kPlanarChunk - 1) / kPlanarChunk;
    } else {
      // A chunk of rows (all 2C channels) of about 512 KiB: the items sharing
      // it find it in L2, and each pair has few partial results to merge.
      const int64_t row_bytes = 2 * geo.C * static_cast<int64_t>(sizeof(T));
      rows_per_chunk = std::min<int64_t>(4096, std::max<int64_t>(64, (512 * 1024) / row_bytes));
      const int64_t rows = geo.N * geo.S;
      chunks = std::max<int64_t>(1, (rows + rows_per_chunk - 1) / rows_per_chunk);
      blocks = (geo.C + L - 1) / L;
    }
  }

  int64_t size() const { return geo.planar ? geo.C * geo.N * chunks : chunks * blocks; }
  // Partial results per pair.
  int64_t parts() const { return geo.planar ? geo.N * chunks : chunks; }

  PairItem item(int64_t i) const {
    constexpr int64_t L = lanes<T>();
    PairItem it;
    if (geo.planar) {
      const int64_t ch = i % chunks;
      const int64_t n = (i / chunks) % geo.N;
      const int64_t k = i / (chunks * geo.N);
      const int64_t s0 = ch * kPlanarChunk;
      it.k0 = k;
      it.npairs = 1;
      it.part = n * chunks + ch;
      it.x_off = (n * 2 * geo.C + 2 * k) * geo.S + s0;
      it.y_off = (n * geo.C + k) * geo.S + s0;
      it.count = std::min(kPlanarChunk, geo.S - s0);
    } else {
      // Row chunk major, so consecutive items (one thread's share) reuse the
      // rows that are already in cache.
      const int64_t b = i % blocks;
      const int64_t rc = i / blocks;
      it.k0 = b * L;
      it.npairs = std::min(L, geo.C - it.k0);
      it.full_block = it.npairs == L;
      it.part = rc;
      it.x_off = rc * rows_per_chunk;
      it.count = std::min(rows_per_chunk, geo.N * geo.S - it.x_off);
    }
    return it;
  }

  // Iterations that the vector accumulators saw, and those of each scalar slot.
  int64_t vector_count(const PairItem& it) const {
    if (geo.planar) return it.count / lanes<T>();
    return it.full_block ? it.count : 0;
  }
  int64_t scalar_count(const PairItem& it) const {
    if (geo.planar) return it.count % lanes<T>();
    return it.full_block ? 0 : it.count;
  }
  // Scalar slots of an item.
  int64_t slots(const PairItem& it) const { return geo.planar ? 1 : (it.full_block ? 0 : it.npairs); }

  template <class F>
  void parallel(const F& f) const {
    at::parallel_for(0, size(), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) f(item(i));
    });
  }
};

// Accumulators of one item: the vector ones and one scalar set per slot.
template <typename T, class Body>
struct ItemAcc {
  typename Body::template Acc<Vec<T>> v{};
  typename Body::template Acc<T> s[lanes<T>()]{};
};

// Runs `body` over every value of the item.
template <typename T, class Body>
inline void run_item(const PairItems<T>& items, const PairItem& it, const PairPointers<T>& p, const Body& body_in,
                     ItemAcc<T, Body>& acc_out) {
  using V = Vec<T>;
  constexpr int64_t L = lanes<T>();
  const PairGeometry& g = items.geo;
  // Work on local copies of the body (its coefficients) and accumulators:
  // the compiler cannot rule out that the output stores alias the caller's
  // objects, and would reload them on every iteration.
  const Body body = body_in;
  ItemAcc<T, Body> acc = acc_out;
  if (g.planar) {
    const T* xa = p.x + it.x_off;
    const T* xb = xa + g.S;
    const T* gp = Body::kReadsGrad ? p.grad + it.y_off : nullptr;
    T* yp = Body::kWritesY ? p.y + it.y_off : nullptr;
    T* dxa = Body::kWritesDx ? p.dx + it.x_off : nullptr;
    T* dxb = Body::kWritesDx ? dxa + g.S : nullptr;
    int64_t i = 0;
    for (; i + L <= it.count; i += L) {
      V gv{}, y, da, db;
      if constexpr (Body::kReadsGrad) gv = load<V>(gp + i);
      body.step(acc.v, 0, load<V>(xa + i), load<V>(xb + i), gv, y, da, db);
      if constexpr (Body::kWritesY) store(yp + i, y);
      if constexpr (Body::kWritesDx) {
        store(dxa + i, da);
        store(dxb + i, db);
      }
    }
    for (; i < it.count; ++i) {
      T gs{}, y, da, db;
      if constexpr (Body::kReadsGrad) gs = gp[i];
      body.step(acc.s[0], 0, xa[i], xb[i], gs, y, da, db);
      if constexpr (Body::kWritesY) yp[i] = y;
      if constexpr (Body::kWritesDx) {
        dxa[i] = da;
        dxb[i] = db;
      }
    }
    acc_out = acc;
    return;
  }
  const int64_t C = g.C;
  const int64_t k0 = it.k0;
  const int64_t r_end = it.x_off + it.count;
  if (it.full_block) {
    auto v = acc.v;
    for (int64_t r = it.x_off; r < r_end; ++r) {
      const T* xr = p.x + r * 2 * C + 2 * k0;
      V a, b, gv{}, y, da, db;
      deinterleave(load<V>(xr), load<V>(xr + L), a, b);
      if constexpr (Body::kReadsGrad) gv = load<V>(p.grad + r * C + k0);
      body.step(v, 0, a, b, gv, y, da, db);
      if constexpr (Body::kWritesY) store(p.y + r * C + k0, y);
      if constexpr (Body::kWritesDx) {
        V lo, hi;
        interleave(da, db, lo, hi);
        store(p.dx + r * 2 * C + 2 * k0, lo);
        store(p.dx + r * 2 * C + 2 * k0 + L, hi);
      }
    }
    acc.v = v;
  } else {
    for (int64_t r = it.x_off; r < r_end; ++r) {
      for (int64_t j = 0; j < it.npairs; ++j) {
        const int64_t k = k0 + j;
        const T* xr = p.x + r * 2 * C;
        T gs{}, y, da, db;
        if constexpr (Body::kReadsGrad) gs = p.grad[r * C + k];
        body.step(acc.s[j], static_cast<int>(j), xr[2 * k], xr[2 * k + 1], gs, y, da, db);
        if constexpr (Body::kWritesY) p.y[r * C + k] = y;
        if constexpr (Body::kWritesDx) {
          p.dx[r * 2 * C + 2 * k] = da;
          p.dx[r * 2 * C + 2 * k + 1] = db;
        }
      }
    }
  }
  acc_out = acc;
}

// Per-pair coefficients of an item, from arrays laid out [NC][C]: a vector
// set (planar: each broadcast; interleaved: L consecutive pairs) and one
// scalar set per slot.
template <typename T, int NC>
struct ItemCoeffs {
  Vec<T> v[NC];
  T s[lanes<T>()][NC];

  void load_for(const PairItems<T>& items, const PairItem& it, const T* arrays) {
    const int64_t C = items.geo.C;
    for (int j = 0; j < NC; ++j) {
      const T* a = arrays + j * C + it.k0;
      if (items.geo.planar) {
        v[j] = broadcast<Vec<T>>(a[0]);
        s[0][j] = a[0];
      } else if (it.full_block) {
        v[j] = load<Vec<T>>(a);
      } else {
        for (int64_t i = 0; i < it.npairs; ++i) s[i][j] = a[i];
      }
    }
  }
};

// Collapses an item's accumulators into per-pair partial results, stored at
// parts[pair * nparts + item.part]. Body provides
//   Rec record(const Acc<W>&, int lane_or_slot, int64_t count) const
//   static Rec combine(const Rec&, const Rec&)   any two partial results
//   static Rec add(const Rec&, const Rec&)       the lanes of one planar item
template <typename T, class Body, class Rec>
inline void store_parts(const PairItems<T>& items, const PairItem& it, const Body& body, const ItemAcc<T, Body>& acc,
                        Rec* parts) {
  constexpr int L = lanes<T>();
  const int64_t nparts = items.parts();
  const int64_t nv = items.vector_count(it), ns = items.scalar_count(it);
  if (items.geo.planar) {
    Rec r = body.record(acc.s[0], 0, ns);
    for (int l = 0; l < L; ++l) r = Body::add(r, body.record(acc.v, l, nv));
    parts[it.k0 * nparts + it.part] = r;
  } else if (it.full_block) {
    for (int l = 0; l < L; ++l) parts[(it.k0 + l) * nparts + it.part] = body.record(acc.v, l, nv);
  } else {
    for (int64_t j = 0; j < it.npairs; ++j)
      parts[(it.k0 + j) * nparts + it.part] = body.record(acc.s[j], static_cast<int>(j), ns);
  }
}

// The per-pair totals: partial results combined in a fixed order.
template <class Body, class Rec, class F>
inline void reduce_parts(int64_t pairs, int64_t nparts, const Rec* parts, const F& f) {
  at::parallel_for(0, pairs, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      Rec r = parts[k * nparts];
      for (int64_t j = 1; j < nparts; ++j) r = Body::combine(r, parts[k * nparts + j]);
      f(k, r);
    }
  });
}

}  // namespace cpu
}  // namespace smartops
