// CUDA kernels of the relation op. Design (shared/notes/relation-op-math.md):
//  - one statistics pass reads x once and yields both BNs' statistics from
//    per-pair moments; one apply pass writes y (training forward: 2 reads);
//  - backward: one sums pass and one dx pass (1 pass with frozen statistics).
//
// Work split: see cuda/launch_geometry.h.
//
// Numerics: a tile's moments are taken about the tile's own mean in float,
// on deviations pre-scaled by a power of two, then merged into per-thread, per-block and per-pair results in double
// with exact re-centring (common/pair_moments.h); every reduction runs in a
// fixed order, so results are deterministic run to run. No host sync.
#include <c10/cuda/CUDAException.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>

#include "common/pair_merge.h"
#include "common/pair_rows.h"
#include "common/relation_pointwise.h"
#include "cuda/launch.h"
#include "cuda/relation_pool_kernels.h"

namespace smartops {
namespace cuda {
namespace {

constexpr int kFinalizeThreads = 128;

template <typename T>
struct AccType {
  using type = float;  // float, half and bfloat16 inputs accumulate in float
};
template <>
struct AccType<double> {
  using type = double;
};

// Asked on every launch, not cached: cudaDeviceGetAttribute is a cheap
// driver query, and the CPU emulation changes the SM count between calls.
int sm_count(int device) {
  int n = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
  return n > 0 ? n : 1;
}

Launch launch_for(const RelationGeometry& g, int device) {
  return make_launch(g, 8LL * sm_count(device));  // about 8 blocks per SM in all
}

dim3 grid_of(const Launch& L) { return dim3(static_cast<unsigned>(L.grid_x), static_cast<unsigned>(L.grid_y), 1); }

__device__ __forceinline__ Lane this_lane(const RelationGeometry& g, const Launch& L) {
  return lane_of(g, L, threadIdx.x, blockIdx.y);
}

// Loads the thread's tile of pair values (and of the gradient when grad is
// given); returns how many are valid (a prefix of the tile).
template <typename T, typename A>
__device__ __forceinline__ int load_tile(const T* __restrict__ x, const T* __restrict__ grad, const Chunk& ch, int r,
                                         int rows, A (&a)[kTile], A (&b)[kTile], A (&gv)[kTile]) {
  int n = 0;
#pragma unroll
  for (int j = 0; j < kTile; ++j) {
    const int64_t p = r + static_cast<int64_t>(j) * rows;
    a[j] = b[j] = gv[j] = A(0);
    if (p < ch.npos) {
      a[j] = static_cast<A>(x[ch.xa + p * ch.stride_x]);
      b[j] = static_cast<A>(x[ch.xb + p * ch.stride_x]);
      if (grad != nullptr) gv[j] = static_cast<A>(grad[ch.y + p * ch.stride_y]);
      ++n;
    }
  }
  return n;
}

template <typename A, int NC>
__device__ __forceinline__ void load_coeffs(const A* __restrict__ coeffs, int64_t C, int64_t k, A (&c)[NC]) {
#pragma unroll
  for (int j = 0; j < NC; ++j) c[j] = coeffs[j * C + k];
}

// Combines the per-thread results of each pair of the block (a tree over the
// `rows` threads of the pair, in a fixed order) and writes the block's
// result of pair k to parts[k * gridDim.x + blockIdx.x].
template <typename R, typename Combine>
__device__ __forceinline__ void block_reduce_to_parts(R* shared, const R& value, const Lane& ln, const Launch& L,
                                                      int64_t C, R* __restrict__ parts, Combine combine) {
  shared[threadIdx.x] = value;
  SMARTOPS_SYNCTHREADS(1);
  for (int step = L.rows / 2; step > 0; step /= 2) {
    if (ln.r < step && ln.slot < L.pairs_per_block)
      shared[threadIdx.x] = combine(shared[threadIdx.x], shared[threadIdx.x + step * r_stride(L)]);
    SMARTOPS_SYNCTHREADS(2);
  }
  if (ln.r == 0 && ln.slot < L.pairs_per_block && ln.k < C) parts[ln.k * gridDim.x + blockIdx.x] = shared[threadIdx.x];
}

// The partial results of pair blockIdx.x, combined by one block in a fixed
// order (strided per thread, then a tree): valid in thread 0.
template <typename R, typename Combine>
__device__ __forceinline__ R reduce_parts(const R* __restrict__ parts, int nparts, R* shared, Combine combine) {
  const int64_t k = blockIdx.x;
  R acc = parts[k * nparts + min(static_cast<int>(threadIdx.x), nparts - 1)];
  if (threadIdx.x >= nparts) acc = R{};
  for (int j = threadIdx.x + blockDim.x; j < nparts; j += blockDim.x) acc = combine(acc, parts[k * nparts + j]);
  shared[threadIdx.x] = acc;
  SMARTOPS_SYNCTHREADS(3);
  for (int step = blockDim.x / 2; step > 0; step /= 2) {
    if (threadIdx.x < step) shared[threadIdx.x] = combine(shared[threadIdx.x], shared[threadIdx.x + step]);
    SMARTOPS_SYNCTHREADS(4);
  }
  return shared[0];
}

// The phases' statistics and sums passes: pair blockIdx.x's partial results
// combined into its record.
template <typename R, typename Combine>
__global__ void __launch_bounds__(kFinalizeThreads) records_finalize_kernel(const R* __restrict__ parts, int nparts,
                                                                            R* __restrict__ records) {
  __shared__ R shared[kFinalizeThreads];
  const R r = reduce_parts(parts, nparts, shared, Combine());
  if (threadIdx.x == 0) records[blockIdx.x] = r;
}

struct MergeMoments {
  __device__ PairMoments operator()(const PairMoments& x, const PairMoments& y) const {
    return pair_moments_merge(x, y);
  }
};

struct AddGradSums {
  __device__ PairGradSums operator()(const PairGradSums& x, const PairGradSums& y) const {
    return pair_grad_sums_add(x, y);
  }
};

// ---------------------------------------------------------------- statistics

template <typename T>
__global__ void __launch_bounds__(kThreads) stats_partial_kernel(const T* __restrict__ x, RelationGeometry g,
                                                                 Launch L, PairMoments* __restrict__ parts) {
  using A = typename AccType<T>::type;
  __shared__ PairMoments shared[kThreads];
  const Lane ln = this_lane(g, L);
  PairMoments acc = pair_moments_zero();
  if (ln.active) {
    for (int64_t c = blockIdx.x; c < L.chunks; c += gridDim.x) {
      const Chunk ch = chunk_of(g, L, c, ln.k);
      A a[kTile], b[kTile], unused[kTile];
      const int n = load_tile<T, A>(x, nullptr, ch, ln.r, L.rows, a, b, unused);
      if (n == 0) continue;
      // The tile's mean as reference point, its largest magnitude for the
      // pre-scaling of the deviations (common/pair_moments.h, "Range").
      A ca = A(0), cb = A(0), ma = A(0), mb = A(0);
#pragma unroll
      for (int j = 0; j < kTile; ++j) {
        ca += a[j];
        cb += b[j];
        ma = fmax(ma, fabs(a[j]));
        mb = fmax(mb, fabs(b[j]));
      }
      ca /= A(n);
      cb /= A(n);
      const A sa = static_cast<A>(deviation_scale(ma)), sb = static_cast<A>(deviation_scale(mb));
      PowerSums<A> s;
#pragma unroll
      for (int j = 0; j < kTile; ++j)
        if (j < n) s.add((a[j] - ca) * sa, (b[j] - cb) * sb);
      const PairMoments m = pair_moments_from_sums(s, n, ca, cb, sa, sb);
      acc = pair_moments_merge(acc, m);
    }
  }
  block_reduce_to_parts(shared, acc, ln, L, g.C, parts, MergeMoments());
}

template <typename P, typename A>
__device__ void write_apply_coeffs(int64_t k, int64_t C, const PairStatsIn& s, const PairParams& w, double eps,
                                   bool batch_stats, double count, A* coeffs) {
  double c[kNumApplyCoef];
  relation_apply_coeffs<A>(s, w, eps, batch_stats, count, c);
  for (int j = 0; j < kNumApplyCoef; ++j) coeffs[j * C + k] = static_cast<A>(c[j]);
}

template <typename P>
__device__ __forceinline__ PairParams params_of(const P* w1, const P* b1, const P* w2, const P* b2, int64_t k) {
  return load_pair_row<PairParams>(w1, b1, w2, b2, k);
}

template <typename P>
__device__ __forceinline__ PairStatsIn stats_of(const P* m1, const P* v1, const P* m2, const P* v2, int64_t k) {
  return load_pair_row<PairStatsIn>(m1, v1, m2, v2, k);
}

// One block per pair.
template <typename P, typename A>
__global__ void __launch_bounds__(kFinalizeThreads) stats_finalize_kernel(
    const PairMoments* __restrict__ parts, int nparts, const P* w1, const P* b1, const P* w2, const P* b2, int64_t C,
    double eps, P* mean1, P* var1, P* mean2, P* var2, A* coeffs) {
  __shared__ PairMoments shared[kFinalizeThreads];
  const int64_t k = blockIdx.x;
  const PairMoments m = reduce_parts(parts, nparts, shared, MergeMoments());
  if (threadIdx.x != 0) return;
  const PairParams w = params_of(w1, b1, w2, b2, k);
  const PairStatsIn s = pair_stats_in_from_moments(m, w, eps);
  store_pair_row(mean1, var1, mean2, var2, k, s.mean_a, s.var_a, s.mean_b, s.var_b, s.mean_p, s.var_p);
  write_apply_coeffs<P, A>(k, C, s, w, eps, true, m.n, coeffs);
}

// relation_pool_merge_stats: pair k's records of every process merged in
// process order (as the CPU kernel does), then both BNs' statistics. One
// thread per pair.
template <typename P>
__global__ void merge_stats_kernel(const PairMoments* __restrict__ records, int64_t processes, const P* w1,
                                   const P* b1, const P* w2, const P* b2, int64_t C, double eps, P* mean1, P* var1,
                                   P* mean2, P* var2) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= C) return;
  const PairStatsIn s =
      pair_stats_in_from_moments(merge_process_records(records, processes, C, k), params_of(w1, b1, w2, b2, k), eps);
  store_pair_row(mean1, var1, mean2, var2, k, s.mean_a, s.var_a, s.mean_b, s.var_b, s.mean_p, s.var_p);
}

template <typename P, typename A>
__global__ void apply_coeffs_kernel(const P* w1, const P* b1, const P* w2, const P* b2, const P* m1, const P* v1,
                                    const P* m2, const P* v2, int64_t C, double eps, bool batch_stats, double count,
                                    A* coeffs) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= C) return;
  write_apply_coeffs<P, A>(k, C, stats_of(m1, v1, m2, v2, k), params_of(w1, b1, w2, b2, k), eps, batch_stats,
                           count, coeffs);
}

// --------------------------------------------------------------------- apply

template <typename T>
__global__ void __launch_bounds__(kThreads) apply_kernel(const T* __restrict__ x, T* __restrict__ y,
                                                         const typename AccType<T>::type* __restrict__ coeffs,
                                                         RelationGeometry g, Launch L, bool relu) {
  using A = typename AccType<T>::type;
  const Lane ln = this_lane(g, L);
  if (!ln.active) return;
  A k[kNumApplyCoef];
  load_coeffs(coeffs, g.C, ln.k, k);
  for (int64_t c = blockIdx.x; c < L.chunks; c += gridDim.x) {
    const Chunk ch = chunk_of(g, L, c, ln.k);
    A a[kTile], b[kTile], unused[kTile];
    const int n = load_tile<T, A>(x, nullptr, ch, ln.r, L.rows, a, b, unused);
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      if (j < n) y[ch.y + (ln.r + static_cast<int64_t>(j) * L.rows) * ch.stride_y] =
          static_cast<T>(relation_output(k, a[j], b[j], relu));
    }
  }
}

// ------------------------------------------------------------------ backward

__device__ __forceinline__ PairGradSums to_double(const GradSums<float>& s) {
  return PairGradSums{s.dq, s.dq_ph, s.hdq_a, s.hph_a, s.h2dq_a, s.h2ph_a, s.hdq_b, s.hph_b, s.h2dq_b, s.h2ph_b};
}
__device__ __forceinline__ PairGradSums to_double(const GradSums<double>& s) {
  return PairGradSums{s.dq, s.dq_ph, s.hdq_a, s.hph_a, s.h2dq_a, s.h2ph_a, s.hdq_b, s.hph_b, s.h2dq_b, s.h2ph_b};
}

// One kernel for both backward passes: kWriteDx writes dx, kSums
// accumulates the per-pair sums (batch statistics: sums pass, then dx pass;
// frozen statistics: both in one pass).
template <typename T, bool kWriteDx, bool kSums>
__global__ void __launch_bounds__(kThreads) backward_kernel(const T* __restrict__ grad, const T* __restrict__ x,
                                                            T* __restrict__ dx,
                                                            const typename AccType<T>::type* __restrict__ coeffs,
                                                            RelationGeometry g, Launch L, bool relu,
                                                            PairGradSums* __restrict__ parts) {
  using A = typename AccType<T>::type;
  __shared__ PairGradSums shared[kSums ? kThreads : 1];
  const Lane ln = this_lane(g, L);
  PairGradSums acc{};
  if (ln.active) {
    A k[kNumBackwardCoef];
    load_coeffs(coeffs, g.C, ln.k, k);
    for (int64_t c = blockIdx.x; c < L.chunks; c += gridDim.x) {
      const Chunk ch = chunk_of(g, L, c, ln.k);
      A a[kTile], b[kTile], gv[kTile];
      const int n = load_tile<T, A>(x, grad, ch, ln.r, L.rows, a, b, gv);
      GradSums<A> tile;
#pragma unroll
      for (int j = 0; j < kTile; ++j) {
        if (j >= n) continue;
        const BackwardPoint<A> p(k, a[j], b[j], gv[j], relu);
        if (kSums) tile.add(k, p);
        if (kWriteDx) {
          A da, db;
          relation_grad_input<!kSums>(k, p, da, db);  // kSums: frozen statistics
          const int64_t off = (ln.r + static_cast<int64_t>(j) * L.rows) * ch.stride_x;
          dx[ch.xa + off] = static_cast<T>(da);
          dx[ch.xb + off] = static_cast<T>(db);
        }
      }
      if (kSums) acc = pair_grad_sums_add(acc, to_double(tile));
    }
  }
  if (kSums) block_reduce_to_parts(shared, acc, ln, L, g.C, parts, AddGradSums());
}

// Backward coefficients from the statistics (all of them for frozen
// statistics; the reduction ones for batch statistics).
template <typename P, typename A>
__global__ void backward_coeffs_kernel(const P* w1, const P* b1, const P* w2, const P* b2, const P* m1, const P* v1,
                                       const P* m2, const P* v2, int64_t C, double eps, double count,
                                       bool batch_stats, A* coeffs) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= C) return;
  const PairStatsIn s = stats_of(m1, v1, m2, v2, k);
  const PairParams w = params_of(w1, b1, w2, b2, k);
  double c[kNumBackwardCoef];
  relation_reduce_coeffs<A>(s, w, eps, batch_stats, count, c);
  relation_grads_and_dx_coeffs(PairGradSums{}, s, w, eps, count, false, c);
  for (int j = 0; j < kNumBackwardCoef; ++j) coeffs[j * C + k] = static_cast<A>(c[j]);
}

// Pair k's parameter gradients from its sums over `count` positions; with
// batch statistics also its dx coefficients, which depend on them.
template <typename P, typename A>
__device__ void store_pair_grads(const PairGradSums& sums, int64_t k, const P* w1, const P* b1, const P* w2,
                                 const P* b2, const P* m1, const P* v1, const P* m2, const P* v2, int64_t C,
                                 double eps, double count, bool batch_stats, P* gw1, P* gb1, P* gw2, P* gb2,
                                 A* coeffs) {
  double c[kNumBackwardCoef];
  const PairGrads gr =
      relation_grads_and_dx_coeffs(sums, stats_of(m1, v1, m2, v2, k), params_of(w1, b1, w2, b2, k), eps, count,
                                   batch_stats, c);
  store_pair_row(gw1, gb1, gw2, gb2, k, gr.g1a, gr.b1a, gr.g1b, gr.b1b, gr.g2, gr.b2);
  if (batch_stats)
    for (int j = kE; j < kNumBackwardCoef; ++j) coeffs[j * C + k] = static_cast<A>(c[j]);
}

// The gradients from this batch's partial sums. One block per pair.
template <typename P, typename A>
__global__ void __launch_bounds__(kFinalizeThreads) grads_finalize_kernel(
    const PairGradSums* __restrict__ parts, int nparts, const P* w1, const P* b1, const P* w2, const P* b2,
    const P* m1, const P* v1, const P* m2, const P* v2, int64_t C, double eps, double count, bool batch_stats, P* gw1,
    P* gb1, P* gw2, P* gb2, A* coeffs) {
  __shared__ PairGradSums shared[kFinalizeThreads];
  const int64_t k = blockIdx.x;
  const PairGradSums sums = reduce_parts(parts, nparts, shared, AddGradSums());
  if (threadIdx.x != 0) return;
  store_pair_grads<P, A>(sums, k, w1, b1, w2, b2, m1, v1, m2, v2, C, eps, count, batch_stats, gw1, gb1, gw2, gb2,
                         coeffs);
}

// relation_pool_grad_input: the gradients from the sums of every process
// (batch statistics over `count` positions). One thread per pair.
template <typename P, typename A>
__global__ void grads_from_sums_kernel(const PairGradSums* __restrict__ sums, const P* w1, const P* b1, const P* w2,
                                       const P* b2, const P* m1, const P* v1, const P* m2, const P* v2, int64_t C,
                                       double eps, double count, P* gw1, P* gb1, P* gw2, P* gb2, A* coeffs) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= C) return;
  store_pair_grads<P, A>(sums[k], k, w1, b1, w2, b2, m1, v1, m2, v2, C, eps, count, true, gw1, gb1, gw2, gb2, coeffs);
}

unsigned pair_blocks(int64_t C) { return static_cast<unsigned>((C + kFinalizeThreads - 1) / kFinalizeThreads); }

}  // namespace

int relation_parts(const RelationGeometry& g, int device) { return static_cast<int>(launch_for(g, device).grid_x); }

template <typename T, typename P>
void relation_stats(const T* x, const P* w1, const P* b1, const P* w2, const P* b2, const RelationGeometry& g,
                    double eps, P* mean1, P* var1, P* mean2, P* var2, PairMoments* moments, void* coeffs, int device,
                    cudaStream_t stream) {
  using A = typename AccType<T>::type;
  const Launch L = launch_for(g, device);
  SMARTOPS_LAUNCH(grid_of(L), kThreads, 0, stream, stats_partial_kernel<T>)(x, g, L, moments);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  SMARTOPS_LAUNCH(static_cast<unsigned>(g.C), kFinalizeThreads, 0, stream, stats_finalize_kernel<P, A>)(
      moments, static_cast<int>(L.grid_x), w1, b1, w2, b2, g.C, eps, mean1, var1, mean2, var2, static_cast<A*>(coeffs));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename P>
void relation_apply_coeffs_from_stats(const P* w1, const P* b1, const P* w2, const P* b2, const P* mean1,
                                      const P* var1, const P* mean2, const P* var2, int64_t C, double eps,
                                      bool batch_stats, double count, void* coeffs, cudaStream_t stream) {
  using A = typename AccType<P>::type;  // P is float or double, as the accumulation type
  SMARTOPS_LAUNCH(pair_blocks(C), kFinalizeThreads, 0, stream, apply_coeffs_kernel<P, A>)(
      w1, b1, w2, b2, mean1, var1, mean2, var2, C, eps, batch_stats, count, static_cast<A*>(coeffs));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T>
void relation_apply(const T* x, T* y, const void* coeffs, const RelationGeometry& g, bool relu, int device,
                    cudaStream_t stream) {
  using A = typename AccType<T>::type;
  const Launch L = launch_for(g, device);
  SMARTOPS_LAUNCH(grid_of(L), kThreads, 0, stream, apply_kernel<T>)(x, y, static_cast<const A*>(coeffs), g, L, relu);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T, typename P>
void relation_backward(const T* grad, const T* x, T* dx, const P* w1, const P* b1, const P* w2, const P* b2,
                       const P* mean1, const P* var1, const P* mean2, const P* var2, const RelationGeometry& g,
                       double eps, bool relu, bool batch_stats, P* gw1, P* gb1, P* gw2, P* gb2, PairGradSums* sums,
                       void* coeffs, int device, cudaStream_t stream) {
  using A = typename AccType<T>::type;
  A* c = static_cast<A*>(coeffs);
  const Launch L = launch_for(g, device);
  const double count = static_cast<double>(g.N * g.S);
  SMARTOPS_LAUNCH(pair_blocks(g.C), kFinalizeThreads, 0, stream, backward_coeffs_kernel<P, A>)(
      w1, b1, w2, b2, mean1, var1, mean2, var2, g.C, eps, count, batch_stats, c);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (batch_stats) {
    SMARTOPS_LAUNCH(grid_of(L), kThreads, 0, stream, backward_kernel<T, false, true>)(grad, x, dx, c, g, L, relu, sums);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  } else {
    SMARTOPS_LAUNCH(grid_of(L), kThreads, 0, stream, backward_kernel<T, true, true>)(grad, x, dx, c, g, L, relu, sums);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  SMARTOPS_LAUNCH(static_cast<unsigned>(g.C), kFinalizeThreads, 0, stream, grads_finalize_kernel<P, A>)(
      sums, static_cast<int>(L.grid_x), w1, b1, w2, b2, mean1, var1, mean2, var2, g.C, eps, count, batch_stats, gw1,
      gb1, gw2, gb2, c);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (batch_stats) {
    SMARTOPS_LAUNCH(grid_of(L), kThreads, 0, stream, backward_kernel<T, true, false>)(grad, x, dx, c, g, L, relu, sums);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// ---------------------------------------------------- phases of the sync op

template <typename T>
void relation_moments(const T* x, const RelationGeometry& g, PairMoments* parts, PairMoments* records, int device,
                      cudaStream_t stream) {
  const Launch L = launch_for(g, device);
  SMARTOPS_LAUNCH(grid_of(L), kThreads, 0, stream, stats_partial_kernel<T>)(x, g, L, parts);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  SMARTOPS_LAUNCH(static_cast<unsigned>(g.C), kFinalizeThreads, 0, stream,
                  records_finalize_kernel<PairMoments, MergeMoments>)(parts, static_cast<int>(L.grid_x), records);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename P>
void relation_merge_stats(const PairMoments* records, int64_t processes, const P* w1, const P* b1, const P* w2,
                          const P* b2, int64_t C, double eps, P* mean1, P* var1, P* mean2, P* var2,
                          cudaStream_t stream) {
  SMARTOPS_LAUNCH(pair_blocks(C), kFinalizeThreads, 0, stream, merge_stats_kernel<P>)(
      records, processes, w1, b1, w2, b2, C, eps, mean1, var1, mean2, var2);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The reduction coefficients of the backward with the merged batch
// statistics of `count` positions per channel, for the synchronized op: q
// and ph as its apply pass (relation_pool_apply) formed them.
template <typename P, typename A>
void batch_backward_coeffs(const P* w1, const P* b1, const P* w2, const P* b2, const P* mean1, const P* var1,
                           const P* mean2, const P* var2, int64_t C, double eps, double count, A* coeffs,
                           cudaStream_t stream) {
  SMARTOPS_LAUNCH(pair_blocks(C), kFinalizeThreads, 0, stream, backward_coeffs_kernel<P, A>)(
      w1, b1, w2, b2, mean1, var1, mean2, var2, C, eps, count, true, coeffs);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T, typename P>
void relation_grad_sums(const T* grad, const T* x, const P* w1, const P* b1, const P* w2, const P* b2,
                        const P* mean1, const P* var1, const P* mean2, const P* var2, double count,
                        const RelationGeometry& g, double eps, bool relu, PairGradSums* parts, PairGradSums* sums,
                        void* coeffs, int device, cudaStream_t stream) {
  using A = typename AccType<T>::type;
  A* c = static_cast<A*>(coeffs);
  const Launch L = launch_for(g, device);
  batch_backward_coeffs<P, A>(w1, b1, w2, b2, mean1, var1, mean2, var2, g.C, eps, count, c, stream);
  SMARTOPS_LAUNCH(grid_of(L), kThreads, 0, stream, backward_kernel<T, false, true>)(grad, x, nullptr, c, g, L, relu,
                                                                                   parts);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  SMARTOPS_LAUNCH(static_cast<unsigned>(g.C), kFinalizeThreads, 0, stream,
                  records_finalize_kernel<PairGradSums, AddGradSums>)(parts, static_cast<int>(L.grid_x), sums);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename T, typename P>
void relation_grad_input(const T* grad, const T* x, T* dx, const P* w1, const P* b1, const P* w2, const P* b2,
                         const P* mean1, const P* var1, const P* mean2, const P* var2, const PairGradSums* sums,
                         double count, const RelationGeometry& g, double eps, bool relu, P* gw1, P* gb1, P* gw2,
                         P* gb2, void* coeffs, int device, cudaStream_t stream) {
  using A = typename AccType<T>::type;
  A* c = static_cast<A*>(coeffs);
  batch_backward_coeffs<P, A>(w1, b1, w2, b2, mean1, var1, mean2, var2, g.C, eps, count, c, stream);
  SMARTOPS_LAUNCH(pair_blocks(g.C), kFinalizeThreads, 0, stream, grads_from_sums_kernel<P, A>)(
      sums, w1, b1, w2, b2, mean1, var1, mean2, var2, g.C, eps, count, gw1, gb1, gw2, gb2, c);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (g.N * g.S == 0) return;  // a process without clips: parameter gradients only
  const Launch L = launch_for(g, device);
  SMARTOPS_LAUNCH(grid_of(L), kThreads, 0, stream, backward_kernel<T, true, false>)(grad, x, dx, c, g, L, relu,
                                                                                   nullptr);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

#define SMARTOPS_INSTANTIATE(T, P)                                                                                  \
  template void relation_stats<T, P>(const T*, const P*, const P*, const P*, const P*, const RelationGeometry&,     \
                                     double, P*, P*, P*, P*, PairMoments*, void*, int, cudaStream_t);              \
  template void relation_apply<T>(const T*, T*, const void*, const RelationGeometry&, bool, int, cudaStream_t);    \
  template void relation_backward<T, P>(const T*, const T*, T*, const P*, const P*, const P*, const P*, const P*, \
                                        const P*, const P*, const P*, const RelationGeometry&, double, bool, bool,  \
                                        P*, P*, P*, P*, PairGradSums*, void*, int, cudaStream_t);             \
  template void relation_moments<T>(const T*, const RelationGeometry&, PairMoments*, PairMoments*, int,          \
                                    cudaStream_t);                                                              \
  template void relation_grad_sums<T, P>(const T*, const T*, const P*, const P*, const P*, const P*, const P*,   \
                                         const P*, const P*, const P*, double, const RelationGeometry&, double,  \
                                         bool, PairGradSums*, PairGradSums*, void*, int, cudaStream_t);         \
  template void relation_grad_input<T, P>(const T*, const T*, T*, const P*, const P*, const P*, const P*,        \
                                          const P*, const P*, const P*, const P*, const PairGradSums*, double,   \
                                          const RelationGeometry&, double, bool, P*, P*, P*, P*, void*, int,     \
                                          cudaStream_t);

SMARTOPS_INSTANTIATE(float, float)
SMARTOPS_INSTANTIATE(double, double)
SMARTOPS_INSTANTIATE(c10::Half, float)
SMARTOPS_INSTANTIATE(c10::BFloat16, float)
#undef SMARTOPS_INSTANTIATE

template void relation_merge_stats<float>(const PairMoments*, int64_t, const float*, const float*, const float*,
                                          const float*, int64_t, double, float*, float*, float*, float*,
                                          cudaStream_t);
template void relation_merge_stats<double>(const PairMoments*, int64_t, const double*, const double*, const double*,
                                           const double*, int64_t, double, double*, double*, double*, double*,
                                           cudaStream_t);
template void relation_apply_coeffs_from_stats<float>(const float*, const float*, const float*, const float*,
                                                      const float*, const float*, const float*, const float*, int64_t,
                                                      double, bool, double, void*, cudaStream_t);
template void relation_apply_coeffs_from_stats<double>(const double*, const double*, const double*, const double*,
                                                       const double*, const double*, const double*, const double*,
                                                       int64_t, double, bool, double, void*, cudaStream_t);

}  // namespace cuda
}  // namespace smartops
