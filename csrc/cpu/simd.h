#pragma once
// Minimal portable SIMD for the CPU kernels, on GCC/Clang vector extensions:
// the compiler maps the vectors onto AVX-512 or AVX registers when the build
// targets them (-march=native by default) and onto SSE pairs otherwise.
//
// Kernel bodies are written once as templates over a value type W that is
// either a vector (Vec<T>) or a plain scalar T (loop tails), so the vector
// and scalar paths cannot drift apart.
#include <cstdint>
#include <cstring>

namespace smartops {
namespace cpu {

// 64-byte vectors where the build targets AVX-512, else 32 bytes.
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#else
constexpr int kVectorBytes = 32;
#endif

template <typename T>
struct VecTraits {
  typedef T type __attribute__((vector_size(kVectorBytes)));
  static constexpr int lanes = kVectorBytes / sizeof(T);
};

template <typename T>
using Vec = typename VecTraits<T>::type;

template <typename T>
constexpr int lanes() {
  return VecTraits<T>::lanes;
}

// Loads and stores of a W (vector: unaligned; scalar: plain).
template <typename W, typename T>
inline W load(const T* p) {
  W v;
  std::memcpy(&v, p, sizeof(W));
  return v;
}

template <typename W, typename T>
inline void store(T* p, const W& v) {
  std::memcpy(p, &v, sizeof(W));
}

template <typename W, typename T>
inline W broadcast(T v) {
  return W{} + v;  // scalar: v; vector: v in every lane
}

template <typename T>
inline T lane(const T& v, int) {
  return v;
}
inline float lane(const Vec<float>& v, int i) { return v[i]; }
inline double lane(const Vec<double>& v, int i) { return v[i]; }

// Split 2L interleaved values (a0 b0 a1 b1 ...) held in lo, hi into a and b,
// and the inverse. One overload per vector shape.
#if defined(__AVX512F__)
inline void deinterleave(const Vec<float>& lo, const Vec<float>& hi, Vec<float>& a, Vec<float>& b) {
  a = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  b = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
inline void deinterleave(const Vec<double>& lo, const Vec<double>& hi, Vec<double>& a, Vec<double>& b) {
  a = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
  b = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
}
inline void interleave(const Vec<float>& a, const Vec<float>& b, Vec<float>& lo, Vec<float>& hi) {
  lo = __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  hi = __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}
inline void interleave(const Vec<double>& a, const Vec<double>& b, Vec<double>& lo, Vec<double>& hi) {
  lo = __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
  hi = __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15);
}
#else
inline void deinterleave(const Vec<float>& lo, const Vec<float>& hi, Vec<float>& a, Vec<float>& b) {
  a = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
  b = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
}
inline void deinterleave(const Vec<double>& lo, const Vec<double>& hi, Vec<double>& a, Vec<double>& b) {
  a = __builtin_shufflevector(lo, hi, 0, 2, 4, 6);
  b = __builtin_shufflevector(lo, hi, 1, 3, 5, 7);
}
inline void interleave(const Vec<float>& a, const Vec<float>& b, Vec<float>& lo, Vec<float>& hi) {
  lo = __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
  hi = __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15);
}
inline void interleave(const Vec<double>& a, const Vec<double>& b, Vec<double>& lo, Vec<double>& hi) {
  lo = __builtin_shufflevector(a, b, 0, 4, 1, 5);
  hi = __builtin_shufflevector(a, b, 2, 6, 3, 7);
}
#endif

}  // namespace cpu
}  // namespace smartops
