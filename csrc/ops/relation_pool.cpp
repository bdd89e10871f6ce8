#include "ops/relation_pool.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "ops/phase_checks.h"  // check_global_count

namespace smartops {

at::MemoryFormat relation_pool_memory_format(const Tensor& x) {
  if (x.is_contiguous()) return at::MemoryFormat::Contiguous;
  if (x.dim() == 5 && x.is_contiguous(at::MemoryFormat::ChannelsLast3d)) return at::MemoryFormat::ChannelsLast3d;
  return at::MemoryFormat::Contiguous;
}

namespace {

void check_vector(const char* op, const char* name, const Tensor& t, int64_t len, const Tensor& x,
                  at::ScalarType dtype) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is required");
  TORCH_CHECK(t.dim() == 1 && t.size(0) == len, op, ": ", name, " must have shape (", len, "), got ", t.sizes());
  TORCH_CHECK(t.device() == x.device(), op, ": ", name, " is on ", t.device(), " but x is on ", x.device());
  TORCH_CHECK(t.scalar_type() == dtype, op, ": ", name, " has dtype ", t.scalar_type(), ", expected ", dtype,
              " for x of dtype ", x.scalar_type(),
              " (BN parameters and statistics are float32 for half-precision x, else x's dtype)");
}

// eps as torch's batch_norm takes it: positive with batch statistics (a
// constant channel would divide by 0), non-negative with running ones; and,
// unlike torch, finite (NaN or inf would silently give NaN or zero outputs).
void check_eps(const char* op, double eps, bool batch_stats) {
  TORCH_CHECK(std::isfinite(eps), op, ": eps must be finite, got ", eps);
  if (batch_stats) {
    TORCH_CHECK(eps > 0, op, ": eps must be positive when training (batch statistics), got ", eps);
  } else {
    TORCH_CHECK(eps >= 0, op, ": eps must be non-negative, got ", eps);
  }
}

// allow_empty: x may have no positions (a process with no clips in a
// synchronized batch; its phases contribute nothing).
RelationShape check_args(const char* op, const Tensor& x, const Tensor& weight1, const Tensor& bias1,
                         const Tensor& weight2, const Tensor& bias2, const Tensor* stats[4], double eps,
                         bool batch_stats, bool allow_empty = false) {
  check_eps(op, eps, batch_stats);
  const at::ScalarType param_dtype = check_pair_input(op, "x", x);
  const int64_t channels = x.size(1);
  const int64_t C = channels / 2;
  check_vector(op, "weight1", weight1, channels, x, param_dtype);
  check_vector(op, "bias1", bias1, channels, x, param_dtype);
  check_vector(op, "weight2", weight2, C, x, param_dtype);
  check_vector(op, "bias2", bias2, C, x, param_dtype);
  static const char* names[4] = {"mean1", "var1", "mean2", "var2"};
  const int64_t lens[4] = {channels, channels, C, C};
  for (int i = 0; i < 4; ++i) {
    if (batch_stats) {
      TORCH_CHECK(stats[i] == nullptr || !stats[i]->defined(), op,
                  ": statistics must be given all four (mean1, var1, mean2, var2) or none");
    } else {
      TORCH_CHECK(stats[i] != nullptr && stats[i]->defined(), op,
                  ": statistics must be given all four (mean1, var1, mean2, var2) or none; ", names[i], " is missing");
      check_vector(op, names[i], *stats[i], lens[i], x, param_dtype);
    }
  }
  const RelationShape s{x.size(0), C, x.size(2) * x.size(3) * x.size(4)};
  if (allow_empty) return s;
  TORCH_CHECK(s.count() > 0, op, ": x has no positions (shape ", x.sizes(), ")");
  if (batch_stats) {
    TORCH_CHECK(s.count() > 1, op, ": expected more than 1 value per channel when training (batch statistics), got x of shape ",
                x.sizes());
  }
  return s;
}

}  // namespace

at::ScalarType check_pair_input(const char* op, const char* name, const Tensor& x) {
  TORCH_CHECK(x.dim() == 5, op, ": ", name, " must be 5-D (N, 2C, T, H, W), got ", x.dim(), "-D with shape ",
              x.sizes());
  const int64_t channels = x.size(1);
  TORCH_CHECK(channels >= 2 && channels % 2 == 0, op, ": ", name,
              " must have an even number of channels (adjacent pairs are pooled), got ", channels);
  const auto dt = x.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble || dt == at::kHalf || dt == at::kBFloat16, op, ": ", name,
              " must be float32, float64, float16 or bfloat16, got ", dt);
  return (dt == at::kHalf || dt == at::kBFloat16) ? at::kFloat : dt;
}

std::vector<int64_t> relation_pool_output_shape(const Tensor& x) {
  return {x.size(0), x.size(1) / 2, x.size(2), x.size(3), x.size(4)};
}

RelationShape check_relation_pool_forward(const Tensor& x, const Tensor& weight1, const Tensor& bias1,
                                          const Tensor& weight2, const Tensor& bias2,
                                          const std::optional<Tensor>& mean1, const std::optional<Tensor>& var1,
                                          const std::optional<Tensor>& mean2, const std::optional<Tensor>& var2,
                                          double eps) {
  const Tensor* stats[4] = {mean1 ? &*mean1 : nullptr, var1 ? &*var1 : nullptr, mean2 ? &*mean2 : nullptr,
                            var2 ? &*var2 : nullptr};
  return check_args("relation_pool", x, weight1, bias1, weight2, bias2, stats, eps, !mean1.has_value());
}

RelationShape check_relation_pool_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight1,
                                           const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
                                           const Tensor& mean1, const Tensor& var1, const Tensor& mean2,
                                           const Tensor& var2, double eps, bool batch_stats, const char* op,
                                           bool allow_empty) {
  const Tensor* stats[4] = {&mean1, &var1, &mean2, &var2};
  check_eps(op, eps, batch_stats);
  const RelationShape shape = check_args(op, x, weight1, bias1, weight2, bias2, stats, eps, false, allow_empty);
  const auto out_shape = relation_pool_output_shape(x);
  TORCH_CHECK(grad_out.sizes() == c10::IntArrayRef(out_shape), op, ": grad_out must have shape ",
              c10::IntArrayRef(out_shape), ", got ", grad_out.sizes());
  TORCH_CHECK(grad_out.scalar_type() == x.scalar_type() && grad_out.device() == x.device(), op,
              ": grad_out must match x's dtype and device");
  return shape;
}

RelationShape check_relation_pool_apply(const Tensor& x, const Tensor& weight1, const Tensor& bias1,
                                        const Tensor& weight2, const Tensor& bias2, const Tensor& mean1,
                                        const Tensor& var1, const Tensor& mean2, const Tensor& var2, int64_t count,
                                        double eps) {
  const char* op = "relation_pool_apply";
  const Tensor* stats[4] = {&mean1, &var1, &mean2, &var2};
  check_eps(op, eps, true);
  const RelationShape shape = check_args(op, x, weight1, bias1, weight2, bias2, stats, eps, false, true);
  check_global_count(op, count, shape);
  return shape;
}

RelationShape check_relation_pool_input(const char* op, const Tensor& x) {
  check_pair_input(op, "x", x);
  return RelationShape{x.size(0), x.size(1) / 2, x.size(2) * x.size(3) * x.size(4)};
}

}  // namespace smartops
