#pragma once
// Device-independent parts of the relation op, shared by the CPU and CUDA
// implementations: argument checks and the layout rule.
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <vector>


namespace smartops {

using at::Tensor;

// Memory format of the op's outputs (and of x as the kernels read it):
// contiguous NCDHW if x is, else channels_last_3d if x is, else x is made
// contiguous first. The Python fake implementation mirrors this rule.
at::MemoryFormat relation_pool_memory_format(const Tensor& x);

// Geometry of x: N, number of pairs C, positions per sample S.
struct RelationShape {
  int64_t N, C, S;
  int64_t count() const { return N * S; }  // positions per channel
};

// Whether the kernels walk x as planar NCDHW runs (else as NDHWC rows). With
// one position per sample both layouts are the same memory and the row walk
// is the efficient one.
inline bool relation_pool_planar(const RelationShape& s, at::MemoryFormat format) {
  return format == at::MemoryFormat::Contiguous && s.S > 1;
}

// Checks every argument of relation_pool and returns the shape. The four
// statistics are either all given (frozen statistics) or none (batch
// statistics).
RelationShape check_relation_pool_forward(const Tensor& x, const Tensor& weight1, const Tensor& bias1,
                                          const Tensor& weight2, const Tensor& bias2,
                                          const std::optional<Tensor>& mean1, const std::optional<Tensor>& var1,
                                          const std::optional<Tensor>& mean2, const std::optional<Tensor>& var2,
                                          double eps);

// The same for relation_pool_backward, grad_out included; also for the
// backward phases of the synchronized op (op names them; they allow_empty).
RelationShape check_relation_pool_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight1,
                                           const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
                                           const Tensor& mean1, const Tensor& var1, const Tensor& mean2,
                                           const Tensor& var2, double eps, bool batch_stats,
                                           const char* op = "relation_pool_backward",
                                           bool allow_empty = false);

// The synchronized op's apply pass (relation_pool_apply): statistics given
// (the merged batch ones, so eps must be positive) with `count`, the
// positions per channel over all processes; x may have no positions.
RelationShape check_relation_pool_apply(const Tensor& x, const Tensor& weight1, const Tensor& bias1,
                                        const Tensor& weight2, const Tensor& bias2, const Tensor& mean1,
                                        const Tensor& var1, const Tensor& mean2, const Tensor& var2, int64_t count,
                                        double eps);

// x alone (rank, even channels, dtype), for the statistics phase: x may have
// no positions.
RelationShape check_relation_pool_input(const char* op, const Tensor& x);

// Checks an input of pair-pooling ops, named `name` in errors: 5-D, an even
// number of channels, a floating dtype. Returns the dtype that per-channel
// parameters must have (float32 for half-precision inputs, else x's).
at::ScalarType check_pair_input(const char* op, const char* name, const Tensor& x);

// The output's shape (N, C, T, H, W) for x of shape (N, 2C, T, H, W).
std::vector<int64_t> relation_pool_output_shape(const Tensor& x);

}  // namespace smartops
