// Runs every CUDA kernel of csrc/cuda, compiled as C++ against the CPU
// emulation (include/cuda_emu.h), on a few small shapes, so that a sanitizer
// build catches what the numeric tests cannot see:
//  - AddressSanitizer + UBSan: reads and writes outside x, y, the workspaces
//    and the __shared__ arrays (every buffer is an exact-size heap block), for
//    shapes with partial tiles and pairs and a grid-stride loop;
//  - ThreadSanitizer: shared-memory races between __syncthreads barriers.
// No libtorch: raw pointers, as the host code passes them. Prints "ok".
// tests/test_cuda_emulation_sanitizers.py builds and runs it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <type_traits>

#include <c10/util/Half.h>

#include "common/relation_pointwise.h"
#include "cuda/relation_pool_kernels.h"  // build.py compiles and links the .cu files (KERNELS)
#include "cuda/relation_tail_kernels.h"

namespace {

using namespace smartops;
using namespace smartops::cuda;

template <typename T>
std::vector<T> values(size_t n, double scale, double offset) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<T>(offset + scale * std::sin(0.7 * static_cast<double>(i) + 0.3));
  return v;
}

// Exits with a message if any value of v (dx of what) is not finite.
template <typename T>
void require_finite(const std::vector<T>& v, const char* what, const RelationGeometry& g) {
  for (const T& e : v) {
    if (!std::isfinite(static_cast<double>(e))) {
      std::printf("non-finite %s for N=%ld C=%ld S=%ld planar=%d\n", what, static_cast<long>(g.N),
                  static_cast<long>(g.C), static_cast<long>(g.S), g.planar);
      std::exit(1);
    }
  }
}

// The synchronized op's phases as two processes with the same x would run
// them: records, their merge, the gradient sums and the dx pass over twice
// x's positions.
template <typename T, typename P>
void run_phases(const RelationGeometry& g, const std::vector<T>& x, const std::vector<T>& grad,
                const std::vector<P>& w1, const std::vector<P>& b1, const std::vector<P>& w2,
                const std::vector<P>& b2) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const int64_t C = g.C;
  const size_t parts = static_cast<size_t>(C * relation_parts(g, 0));
  std::vector<PairMoments> moment_parts(parts), records(2 * C);
  std::vector<PairGradSums> sum_parts(parts), sums(C);
  relation_moments<T>(x.data(), g, moment_parts.data(), records.data(), 0, nullptr);
  std::copy(records.begin(), records.begin() + C, records.begin() + C);  // the second process
  std::vector<P> m1(2 * C), v1(2 * C), m2(C), v2(C), gw1(2 * C), gb1(2 * C), gw2(C), gb2(C);
  const double eps = 1e-5;
  relation_merge_stats<P>(records.data(), 2, w1.data(), b1.data(), w2.data(), b2.data(), C, eps, m1.data(), v1.data(),
                          m2.data(), v2.data(), nullptr);
  std::vector<A> coeffs(static_cast<size_t>(kNumBackwardCoef * C));
  const double count = 2.0 * static_cast<double>(g.N * g.S);
  if constexpr (std::is_same_v<T, P>) {  // the apply pass
    std::vector<T> y(x.size() / 2);
    relation_apply_coeffs_from_stats<P>(w1.data(), b1.data(), w2.data(), b2.data(), m1.data(), v1.data(), m2.data(),
                                        v2.data(), C, eps, true, count, coeffs.data(), nullptr);
    relation_apply<T>(x.data(), y.data(), coeffs.data(), g, true, 0, nullptr);
    require_finite(y, "phase y", g);
  }
  relation_grad_sums<T, P>(grad.data(), x.data(), w1.data(), b1.data(), w2.data(), b2.data(), m1.data(), v1.data(),
                           m2.data(), v2.data(), count, g, eps, true, sum_parts.data(), sums.data(), coeffs.data(), 0,
                           nullptr);
  for (PairGradSums& s : sums) s = pair_grad_sums_add(s, s);
  std::vector<T> dx(x.size());
  relation_grad_input<T, P>(grad.data(), x.data(), dx.data(), w1.data(), b1.data(), w2.data(), b2.data(), m1.data(),
                            v1.data(), m2.data(), v2.data(), sums.data(), count, g, eps, true, gw1.data(), gb1.data(),
                            gw2.data(), gb2.data(), coeffs.data(), 0, nullptr);
  require_finite(dx, "phase dx", g);
}

// Every entry point of relation_pool_kernels.cu: training forward (stats +
// apply), evaluation forward, both backward variants, and the phases.
template <typename T, typename P>
void run_relation_pool(int64_t N, int64_t C, int64_t S, bool planar) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  RelationGeometry g;
  g.N = N;
  g.C = C;
  g.S = S;
  g.planar = planar;
  const size_t nx = static_cast<size_t>(N * 2 * C * S), ny = static_cast<size_t>(N * C * S);
  const std::vector<T> x = values<T>(nx, 2.0, 0.5), grad = values<T>(ny, 1.0, 0.1);
  const std::vector<P> w1 = values<P>(2 * C, 0.3, 1.0), b1 = values<P>(2 * C, 0.5, 0.0);
  const std::vector<P> w2 = values<P>(C, 0.3, 1.0), b2 = values<P>(C, 0.5, 0.2);
  std::vector<P> m1(2 * C), v1(2 * C), m2(C), v2(C);
  std::vector<T> y(ny), dx(nx);
  std::vector<P> gw1(2 * C), gb1(2 * C), gw2(C), gb2(C);
  const size_t parts = static_cast<size_t>(C * relation_parts(g, 0));
  std::vector<PairMoments> moments(parts);
  std::vector<PairGradSums> sums(parts);
  std::vector<A> coeffs(static_cast<size_t>(kNumBackwardCoef * C));
  const double eps = 1e-5;

  relation_stats<T, P>(x.data(), w1.data(), b1.data(), w2.data(), b2.data(), g, eps, m1.data(), v1.data(), m2.data(),
                       v2.data(), moments.data(), coeffs.data(), 0, nullptr);
  relation_apply<T>(x.data(), y.data(), coeffs.data(), g, true, 0, nullptr);
  for (bool batch_stats : {true, false})
    relation_backward<T, P>(grad.data(), x.data(), dx.data(), w1.data(), b1.data(), w2.data(), b2.data(), m1.data(),
                            v1.data(), m2.data(), v2.data(), g, eps, true, batch_stats, gw1.data(), gb1.data(),
                            gw2.data(), gb2.data(), sums.data(), coeffs.data(), 0, nullptr);
  run_phases<T, P>(g, x, grad, w1, b1, w2, b2);
  if constexpr (std::is_same_v<T, P>) {
    relation_apply_coeffs_from_stats<P>(w1.data(), b1.data(), w2.data(), b2.data(), m1.data(), v1.data(), m2.data(),
                                        v2.data(), C, eps, false, 0.0, coeffs.data(), nullptr);
    relation_apply<T>(x.data(), y.data(), coeffs.data(), g, false, 0, nullptr);
  }
  require_finite(dx, "dx", g);
}

// The folded relation tail (elementwise, no barriers): bounds only.
template <typename T, typename P>
void run_relation_tail(int64_t N, int64_t C, int64_t S, bool planar) {
  RelationGeometry g;
  g.N = N;
  g.C = C;
  g.S = S;
  g.planar = planar;
  const std::vector<T> u = values<T>(static_cast<size_t>(N * 2 * C * S), 1.0, 0.0);
  const std::vector<P> scale = values<P>(static_cast<size_t>(C), 0.5, 0.0), shift = values<P>(C, 1.0, 0.0);
  std::vector<T> y(static_cast<size_t>(N * C * S));
  relation_tail<T, P>(u.data(), y.data(), scale.data(), shift.data(), g, true, 0, nullptr);
}

}  // namespace

int main() {
  // One SM: grids of a few blocks, so a pair's chunks take the grid-stride
  // loop and several blocks' partial results are merged.
  cuda_emu::set_sm_count(1);
  for (bool planar : {true, false}) {
    run_relation_pool<float, float>(2, 3, 45, planar);  // partial tiles, 3 pairs
    run_relation_pool<double, double>(3, 1, 300, planar);  // grid-stride: more chunks than blocks
  }
  run_relation_pool<c10::Half, float>(1, 2, 19, true);
  for (bool planar : {true, false}) run_relation_tail<float, float>(2, 21, 45, planar);
  std::printf("ok\n");
  return 0;
}
