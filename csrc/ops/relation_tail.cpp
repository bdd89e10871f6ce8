#include "ops/relation_tail.h"

#include <c10/util/Exception.h>

namespace smartops {

RelationShape check_relation_tail(const Tensor& u, const Tensor& scale, const Tensor& shift) {
  const char* op = "relation_tail";
  const at::ScalarType param_dtype = check_pair_input(op, "u", u);
  const auto dt = u.scalar_type();
  const int64_t channels = u.size(1);
  const int64_t C = channels / 2;
  for (const auto& [name, t] : {std::pair<const char*, const Tensor&>{"scale", scale}, {"shift", shift}}) {
    TORCH_CHECK(t.dim() == 1 && t.size(0) == C, op, ": ", name, " must have shape (", C,
                ") (one value per channel pair), got ", t.sizes());
    TORCH_CHECK(t.device() == u.device(), op, ": ", name, " is on ", t.device(), " but u is on ", u.device());
    TORCH_CHECK(t.scalar_type() == param_dtype, op, ": ", name, " has dtype ", t.scalar_type(), ", expected ",
                param_dtype, " for u of dtype ", dt, " (float32 for half-precision u, else u's dtype)");
  }
  return RelationShape{u.size(0), C, u.size(2) * u.size(3) * u.size(4)};
}

}  // namespace smartops
