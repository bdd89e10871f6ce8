// CPU kernel of smartops::relation_tail: the folded relation tail
// y = relu(scale * (u_2k^2 + u_2k+1^2) + shift), one read of u and one write
// of y, vectorised and parallel over the items of cpu/pair_iteration.h (both
// memory layouts read in place).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "common/relation_tail.h"
#include "cpu/pair_iteration.h"
#include "ops/relation_tail.h"

namespace smartops {
namespace cpu {
namespace {

template <typename T>
struct TailBody {
  static constexpr bool kReadsGrad = false, kWritesY = true, kWritesDx = false;
  template <class W>
  struct Acc {};
  ItemCoeffs<T, kNumTailCoef> c;
  bool relu_out = true;

  template <class W>
  inline void step(Acc<W>&, int slot, W a, W b, W, W& y, W&, W&) const {
    if constexpr (std::is_same_v<W, T>) {
      y = relation_tail_output<W>(c.s[slot], a, b, relu_out);
    } else {
      y = relation_tail_output<W>(c.v, a, b, relu_out);
    }
  }
};

Tensor relation_tail_cpu(const Tensor& u, const Tensor& scale, const Tensor& shift, bool relu) {
  const RelationShape shape = check_relation_tail(u, scale, shift);
  TORCH_CHECK(u.scalar_type() == at::kFloat || u.scalar_type() == at::kDouble,
              "relation_tail: on CPU u must be float32 or float64, got ", u.scalar_type());
  const at::MemoryFormat format = relation_pool_memory_format(u);
  const Tensor uc = u.contiguous(format);
  Tensor y = at::empty(relation_pool_output_shape(u), u.options().memory_format(format));
  if (y.numel() == 0) return y;
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "relation_tail_cpu", [&] {
    PairGeometry g;
    g.N = shape.N;
    g.C = shape.C;
    g.S = shape.S;
    g.planar = relation_pool_planar(shape, format);
    const PairItems<scalar_t> items(g);
    PairPointers<scalar_t> p;
    p.x = uc.const_data_ptr<scalar_t>();
    p.y = y.data_ptr<scalar_t>();
    // Coefficient table [kNumTailCoef][C], as ItemCoeffs reads it.
    std::vector<scalar_t> coeffs(kNumTailCoef * shape.C);
    const Tensor sc = scale.contiguous(), sh = shift.contiguous();
    std::copy_n(sc.const_data_ptr<scalar_t>(), shape.C, coeffs.begin() + kTailScale * shape.C);
    std::copy_n(sh.const_data_ptr<scalar_t>(), shape.C, coeffs.begin() + kTailShift * shape.C);
    items.parallel([&](const PairItem& it) {
      TailBody<scalar_t> body;
      body.relu_out = relu;
      body.c.load_for(items, it, coeffs.data());
      ItemAcc<scalar_t, TailBody<scalar_t>> acc;
      run_item(items, it, p, body, acc);
    });
  });
  return y;
}

}  // namespace

TORCH_LIBRARY_IMPL(smartops, CPU, m) { m.impl("relation_tail", &relation_tail_cpu); }

}  // namespace cpu
}  // namespace smartops
