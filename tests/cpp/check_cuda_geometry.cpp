// Checks the CUDA kernels' work split (csrc/cuda/launch_geometry.h) on the
// CPU: every element of x and y is visited exactly once, at the address of
// the right (sample, channel, position), and each block-reduction step pairs
// threads of the same pair. Prints a line per failure; exit code 1 if any.
#include <cstdio>
#include <vector>

#include "cuda/launch_geometry.h"

using namespace smartops::cuda;

static int failures = 0;
#define CHECK(cond, ...)                   \
  do {                                     \
    if (!(cond)) {                         \
      if (failures++ < 20) {               \
        std::printf(__VA_ARGS__);          \
        std::printf("\n");                 \
      }                                    \
    }                                      \
  } while (0)

static void check(int64_t N, int64_t C, int64_t S, bool planar, int64_t target) {
  RelationGeometry g;
  g.N = N;
  g.C = C;
  g.S = S;
  g.planar = planar;
  const Launch L = make_launch(g, target);
  const char* name = planar ? "planar" : "interleaved";
  CHECK(L.rows >= 1 && (L.rows & (L.rows - 1)) == 0, "%s N=%ld C=%ld S=%ld: rows %d not a power of two", name, N, C,
        S, L.rows);
  CHECK(static_cast<int64_t>(L.rows) * L.pairs_per_block <= kThreads, "%s: block too large", name);
  std::vector<unsigned char> seen_x(N * 2 * C * S, 0), seen_y(N * C * S, 0);
  for (int64_t by = 0; by < L.grid_y; ++by) {
    for (int64_t bx = 0; bx < L.grid_x; ++bx) {
      for (int t = 0; t < kThreads; ++t) {
        const Lane ln = lane_of(g, L, t, by);
        if (ln.active) {
          // The reduction partner of every step is the same pair's thread r + step.
          for (int step = L.rows / 2; step > 0; step /= 2) {
            if (ln.r < step) {
              const Lane partner = lane_of(g, L, t + step * r_stride(L), by);
              CHECK(partner.k == ln.k && partner.r == ln.r + step, "%s: bad reduction partner", name);
            }
          }
        }
        if (!ln.active) continue;
        for (int64_t c = bx; c < L.chunks; c += L.grid_x) {
          const Chunk ch = chunk_of(g, L, c, ln.k);
          for (int j = 0; j < kTile; ++j) {
            const int64_t p = ln.r + static_cast<int64_t>(j) * L.rows;
            if (p >= ch.npos) continue;
            const int64_t xa = ch.xa + p * ch.stride_x, xb = ch.xb + p * ch.stride_x, y = ch.y + p * ch.stride_y;
            int64_t n, s, ca, cb, cy, ny, sy;
            if (planar) {
              n = xa / (2 * C * S);
              ca = (xa / S) % (2 * C);
              s = xa % S;
              cb = (xb / S) % (2 * C);
              CHECK(xb == xa + S, "planar: b not one plane after a");
              ny = y / (C * S);
              cy = (y / S) % C;
              sy = y % S;
            } else {
              n = (xa / (2 * C)) / S;
              s = (xa / (2 * C)) % S;
              ca = xa % (2 * C);
              cb = xb % (2 * C);
              CHECK(xb == xa + 1, "interleaved: b not next to a");
              ny = (y / C) / S;
              sy = (y / C) % S;
              cy = y % C;
            }
            CHECK(ca == 2 * ln.k && cb == 2 * ln.k + 1, "%s: pair %ld read channels %ld, %ld", name, ln.k, ca, cb);
            CHECK(ny == n && sy == s && cy == ln.k, "%s: output (%ld,%ld,%ld) for input (%ld,%ld,%ld)", name, ny,
                  cy, sy, n, ln.k, s);
            CHECK(xa >= 0 && xa < (int64_t)seen_x.size() && y >= 0 && y < (int64_t)seen_y.size(), "%s: out of range",
                  name);
            if (failures) continue;
            seen_x[xa]++;
            seen_x[xb]++;
            seen_y[y]++;
          }
        }
      }
    }
  }
  for (size_t i = 0; i < seen_x.size(); ++i)
    CHECK(seen_x[i] == 1, "%s N=%ld C=%ld S=%ld target=%ld: x[%zu] visited %d times", name, N, C, S, target, i,
          seen_x[i]);
  for (size_t i = 0; i < seen_y.size(); ++i)
    CHECK(seen_y[i] == 1, "%s N=%ld C=%ld S=%ld target=%ld: y[%zu] visited %d times", name, N, C, S, target, i,
          seen_y[i]);
}

int main() {
  const int64_t shapes[][3] = {
      {1, 1, 1},   {3, 2, 5},    {2, 3, 392},  {4, 32, 3136}, {2, 64, 2049}, {1, 5, 4096},
      {5, 7, 257}, {16, 4, 1},   {2, 300, 7},  {2, 129, 33},  {1, 256, 49},  {3, 1, 100000},
      {32, 32, 25088},  // ARTNet res2 at batch 32 (64 channels, 8x56x56)
  };
  for (const auto& sh : shapes)
    for (bool planar : {true, false})
      for (int64_t target : {1, 7, 1056}) check(sh[0], sh[1], sh[2], planar, target);
  if (failures) {
    std::printf("%d failures\n", failures);
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
