#pragma once
// How the relation op's CUDA kernels cover x: which block and thread handle
// which pair and positions, and where those live in memory. Host/device
// code without CUDA types, so that tests/test_cuda_geometry.py can check on
// a CPU that every element is visited exactly once at the right address.
//
// A block covers `pairs_per_block` pairs with `rows` threads per pair (a
// power of two); each thread takes a tile of kTile positions of its pair per
// chunk, strided by `rows`. Consecutive threads read consecutive memory:
// NCDHW gives each pair a run of threads over consecutive positions (rows
// sized to the plane, so small planes still fill blocks); NDHWC puts
// consecutive pairs of one row on consecutive threads. Blocks loop over
// chunks (grid-stride), so small channel counts still fill the GPU.
#include <cstdint>

#include "common/macros.h"

namespace smartops {
namespace cuda {

constexpr int kThreads = 256;
constexpr int kTile = 8;

struct RelationGeometry {
  int64_t N = 0, C = 0, S = 0;  // C pairs (x has 2C channels), S positions per sample
  bool planar = true;           // contiguous NCDHW; else rows of 2C channels (NDHWC)
};

struct Launch {
  int pairs_per_block;   // pairs handled by one block
  int rows;              // threads per pair (a power of two)
  bool pair_major;       // thread t = slot * rows + r (NCDHW), else r * pairs_per_block + slot
  int64_t chunk;         // positions per chunk: rows * kTile
  int64_t chunks_per_n;  // planar: chunks per sample (chunks never cross samples)
  int64_t chunks;        // chunks of one pair
  int64_t grid_x, grid_y;
};

// `target_blocks`: about how many blocks to launch in all (a few per SM).
inline Launch make_launch(const RelationGeometry& g, int64_t target_blocks) {
  Launch L;
  L.pair_major = g.planar;
  if (g.planar) {
    // Enough threads per pair for one chunk to cover a sample's plane.
    int rows = 32;
    while (rows < kThreads && static_cast<int64_t>(rows) * kTile < g.S) rows *= 2;
    L.rows = rows;
    L.pairs_per_block = static_cast<int>(g.C < kThreads / rows ? g.C : kThreads / rows);
  } else {
    L.pairs_per_block = static_cast<int>(g.C < kThreads ? g.C : kThreads);
    int rows = 1;
    while (rows * 2 * L.pairs_per_block <= kThreads) rows *= 2;
    L.rows = rows;
  }
  L.chunk = static_cast<int64_t>(L.rows) * kTile;
  if (g.planar) {
    L.chunks_per_n = (g.S + L.chunk - 1) / L.chunk;
    L.chunks = g.N * L.chunks_per_n;
  } else {
    L.chunks_per_n = 0;
    L.chunks = (g.N * g.S + L.chunk - 1) / L.chunk;
  }
  L.grid_y = (g.C + L.pairs_per_block - 1) / L.pairs_per_block;
  int64_t grid_x = (target_blocks + L.grid_y - 1) / L.grid_y;
  if (grid_x > L.chunks) grid_x = L.chunks;
  L.grid_x = grid_x < 1 ? 1 : grid_x;
  return L;
}

struct Lane {
  int r;      // index among the threads of this pair
  int slot;   // pair index within the block
  int64_t k;  // pair
  bool active;
};

SMARTOPS_HD Lane lane_of(const RelationGeometry& g, const Launch& L, int thread, int64_t block_y) {
  Lane ln;
  if (L.pair_major) {
    ln.slot = thread / L.rows;
    ln.r = thread % L.rows;
  } else {
    ln.slot = thread % L.pairs_per_block;
    ln.r = thread / L.pairs_per_block;
  }
  ln.k = block_y * L.pairs_per_block + ln.slot;
  ln.active = ln.r < L.rows && ln.slot < L.pairs_per_block && ln.k < g.C;
  return ln;
}

// Thread distance between a pair's threads r and r + 1 (block reductions).
SMARTOPS_HD int r_stride(const Launch& L) { return L.pair_major ? 1 : L.pairs_per_block; }

// Element offsets of chunk c of pair k: position p of the chunk is at
// xa + p * stride_x (channel a), xb + p * stride_x (channel b) and
// y + p * stride_y (the pair's output / incoming gradient). A thread with
// index r takes positions r + j * rows, j < kTile, below npos.
struct Chunk {
  int64_t xa, xb, y, stride_x, stride_y, npos;
};

SMARTOPS_HD Chunk chunk_of(const RelationGeometry& g, const Launch& L, int64_t c, int64_t k) {
  Chunk ch;
  if (g.planar) {
    const int64_t n = c / L.chunks_per_n;
    const int64_t s0 = (c - n * L.chunks_per_n) * L.chunk;
    ch.npos = L.chunk < g.S - s0 ? L.chunk : g.S - s0;
    ch.xa = (n * 2 * g.C + 2 * k) * g.S + s0;
    ch.xb = ch.xa + g.S;
    ch.y = (n * g.C + k) * g.S + s0;
    ch.stride_x = 1;
    ch.stride_y = 1;
  } else {
    const int64_t m0 = c * L.chunk;
    const int64_t rows_left = g.N * g.S - m0;
    ch.npos = L.chunk < rows_left ? L.chunk : rows_left;
    ch.xa = m0 * 2 * g.C + 2 * k;
    ch.xb = ch.xa + 1;
    ch.y = m0 * g.C + k;
    ch.stride_x = 2 * g.C;
    ch.stride_y = g.C;
  }
  return ch;
}

}  // namespace cuda
}  // namespace smartops
