#pragma once
// Per-pair records (PairMoments, PairGradSums: plain structs of doubles) as
// float64 tensors of shape (pairs, width), so that the phases of the
// synchronized relation op can hand them to collectives and back.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include <cstring>
#include <type_traits>
#include <vector>

namespace smartops {

template <class Rec>
constexpr int64_t record_width() {
  static_assert(std::is_trivially_copyable_v<Rec> && sizeof(Rec) % sizeof(double) == 0,
                "records must be plain structs of doubles");
  return static_cast<int64_t>(sizeof(Rec) / sizeof(double));
}

template <class Rec>
at::Tensor records_to_tensor(const std::vector<Rec>& recs, const at::Device& device) {
  at::Tensor t = at::empty({static_cast<int64_t>(recs.size()), record_width<Rec>()}, at::TensorOptions().dtype(at::kDouble));
  if (!recs.empty()) std::memcpy(t.data_ptr<double>(), recs.data(), recs.size() * sizeof(Rec));
  return t.to(device);
}

// A float64 tensor of shape (..., pairs, width of Rec), on any device.
template <class Rec>
void check_record_tensor(const char* op, const char* name, const at::Tensor& t, int64_t pairs) {
  TORCH_CHECK(t.scalar_type() == at::kDouble && t.dim() >= 2 && t.size(-2) == pairs &&
                  t.size(-1) == record_width<Rec>(),
              op, ": ", name, " must be a float64 tensor of shape (..., ", pairs, ", ", record_width<Rec>(),
              ") as the matching phase returns it, got ", t.scalar_type(), " ", t.sizes());
}

// Rows of a (..., pairs, width) float64 tensor, row-major: with a leading
// process dimension, process p's pair k is element p * pairs + k.
template <class Rec>
std::vector<Rec> records_from_tensor(const char* op, const char* name, const at::Tensor& t, int64_t pairs) {
  check_record_tensor<Rec>(op, name, t, pairs);
  const at::Tensor c = t.cpu().contiguous();
  std::vector<Rec> out(static_cast<size_t>(c.numel() / record_width<Rec>()));
  if (!out.empty()) std::memcpy(out.data(), c.const_data_ptr<double>(), out.size() * sizeof(Rec));
  return out;
}

}  // namespace smartops
