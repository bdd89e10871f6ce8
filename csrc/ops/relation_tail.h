#pragma once
// Device-independent argument checks of smartops::relation_tail, shared by
// its CPU and CUDA entry points. Layout rule and shape: those of
// relation_pool (ops/relation_pool.h).
#include <ATen/core/Tensor.h>

#include "ops/relation_pool.h"

namespace smartops {

// Checks u (N, 2C, T, H, W) and scale, shift (C) and returns the shape.
RelationShape check_relation_tail(const Tensor& u, const Tensor& scale, const Tensor& shift);

}  // namespace smartops
