#pragma once
// Host-side helpers of the relation op's CUDA kernels shared by
// relation_pool_cuda.cpp (the op) and relation_pool_phases_cuda.cpp (the
// synchronized op's phases): launch geometry, dtypes, workspaces.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>

#include <type_traits>

#include "cuda/launch_geometry.h"
#include "ops/relation_pool.h"

namespace smartops {
namespace cuda {

inline RelationGeometry geometry(const RelationShape& s, at::MemoryFormat format) {
  // Planar launches put pairs on the grid's y dimension.
  TORCH_CHECK(s.C <= 65535, "relation_pool: the CUDA kernels take at most 65535 channel pairs, got ", s.C);
  RelationGeometry g;
  g.N = s.N;
  g.C = s.C;
  g.S = s.S;
  g.planar = relation_pool_planar(s, format);
  return g;
}

// Accumulation / coefficient dtype: double for double inputs, else float.
inline at::ScalarType acc_dtype(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// Device workspace of `count` records of type R.
template <typename R>
at::Tensor workspace(int64_t count, const at::Tensor& like) {
  return at::empty({count * static_cast<int64_t>(sizeof(R))}, like.options().dtype(at::kByte));
}

// Dtype of BN parameters and statistics for inputs of dtype T.
template <typename T>
using ParamOf = std::conditional_t<std::is_same_v<T, double>, double, float>;

// x and, for the backward passes, grad_out as the kernels read them (in x's
// memory format, relation_pool_memory_format), with x's device current and
// its current stream, for the lifetime of this object.
struct DeviceInputs {
  explicit DeviceInputs(const at::Tensor& x_in, const at::Tensor& grad_out = at::Tensor())
      : guard(x_in.device()),
        stream(c10::cuda::getCurrentCUDAStream()),
        device(x_in.get_device()),
        format(relation_pool_memory_format(x_in)),
        x(x_in.contiguous(format)),
        grad(grad_out.defined() ? grad_out.contiguous(format) : at::Tensor()) {}

  const c10::cuda::CUDAGuard guard;
  const cudaStream_t stream;
  const int device;
  const at::MemoryFormat format;
  const at::Tensor x, grad;
};

}  // namespace cuda
}  // namespace smartops
