// CPU implementation of smartops::relation_pool and its backward.
//
// Training forward: 2 reads of x (one statistics pass giving both BNs'
// statistics, one apply pass). Evaluation forward: 1 read. Backward with
// batch statistics: 2 reads (sums, then dx); with frozen statistics: 1.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <torch/library.h>

#include <array>
#include <vector>

#include "common/pair_rows.h"
#include "cpu/relation_pool_bodies.h"
#include "ops/relation_pool.h"

namespace smartops {
namespace cpu {
namespace {

std::vector<double> host_doubles(const Tensor& t) {
  const Tensor d = t.to(at::kDouble).contiguous();
  const double* p = d.data_ptr<double>();
  return std::vector<double>(p, p + d.numel());
}

Tensor tensor_from(std::vector<double> values, const at::TensorOptions& options) {
  const auto n = static_cast<int64_t>(values.size());
  return at::from_blob(values.data(), {n}, at::TensorOptions().dtype(at::kDouble)).to(options, false, true);
}

// Per-pair rows {a[2k], b[2k], a[2k+1], b[2k+1], c[k], d[k]} of two
// 2C-vectors and two C-vectors: BN parameters (PairParams) or statistics
// (PairStatsIn) have this layout.
template <class Row>
std::vector<Row> pair_rows(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& d) {
  const auto va = host_doubles(a), vb = host_doubles(b), vc = host_doubles(c), vd = host_doubles(d);
  std::vector<Row> out(vc.size());
  for (size_t k = 0; k < out.size(); ++k) out[k] = load_pair_row<Row>(va.data(), vb.data(), vc.data(), vd.data(), k);
  return out;
}

// The inverse: four tensors from the rows of every pair, each row given by
// row_of(k) as its six values (see common/pair_rows.h).
template <class RowOf>
std::tuple<Tensor, Tensor, Tensor, Tensor> pair_tensors(int64_t C, const at::TensorOptions& options,
                                                        const RowOf& row_of) {
  std::vector<double> a(2 * C), b(2 * C), c(C), d(C);
  for (int64_t k = 0; k < C; ++k) {
    const std::array<double, 6> r = row_of(k);
    store_pair_row(a.data(), b.data(), c.data(), d.data(), k, r[0], r[1], r[2], r[3], r[4], r[5]);
  }
  return {tensor_from(a, options), tensor_from(b, options), tensor_from(c, options), tensor_from(d, options)};
}

std::vector<PairParams> read_params(const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  return pair_rows<PairParams>(w1, b1, w2, b2);
}

std::vector<PairStatsIn> read_stats(const Tensor& mean1, const Tensor& var1, const Tensor& mean2, const Tensor& var2) {
  return pair_rows<PairStatsIn>(mean1, var1, mean2, var2);
}

void check_cpu_dtype(const char* op, const Tensor& x) {
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              ": on CPU x must be float32 or float64, got ", x.scalar_type());
}

PairGeometry geometry(const RelationShape& s, at::MemoryFormat format) {
  PairGeometry g;
  g.N = s.N;
  g.C = s.C;
  g.S = s.S;
  g.planar = relation_pool_planar(s, format);
  return g;
}

template <typename T>
std::vector<PairStatsIn> batch_stats(const PairItems<T>& items, const PairPointers<T>& p,
                                     const std::vector<PairParams>& params, double eps) {
  const int64_t C = items.geo.C, nparts = items.parts();
  std::vector<PairMoments> parts(C * nparts);
  items.parallel([&](const PairItem& it) {
    MeanBody<T> centre_body;
    ItemAcc<T, MeanBody<T>> sums;
    run_item(items, it, p, centre_body, sums);
    MomentBody<T> body;
    body.set_centres(items, it, sums);
    ItemAcc<T, MomentBody<T>> acc;
    run_item(items, it, p, body, acc);
    store_parts(items, it, body, acc, parts.data());
  });
  std::vector<PairStatsIn> out(C);
  reduce_parts<MomentBody<T>>(C, nparts, parts.data(), [&](int64_t k, const PairMoments& m) {
    const PairParams& w = params[k];
    const PairStats s = pair_stats_from_moments(m, w.g1a, w.b1a, w.g1b, w.b1b, eps);
    out[k] = PairStatsIn{s.mean_a, s.var_a, s.mean_b, s.var_b, s.mean_p, s.var_p};
  });
  return out;
}

// Runs a coefficient-driven body over every item; after(it, body, acc) then
// sees the item's accumulators.
template <class Body, typename T, class After>
void run_with_coeffs(const PairItems<T>& items, const PairPointers<T>& p, const std::vector<T>& coeffs, bool relu,
                     const After& after) {
  items.parallel([&](const PairItem& it) {
    Body body;
    body.relu_out = relu;
    body.c.load_for(items, it, coeffs.data());
    ItemAcc<T, Body> acc;
    run_item(items, it, p, body, acc);
    after(it, body, acc);
  });
}

template <class Body, typename T>
void run_elementwise(const PairItems<T>& items, const PairPointers<T>& p, const std::vector<T>& coeffs, bool relu) {
  run_with_coeffs<Body>(items, p, coeffs, relu, [](const PairItem&, const Body&, const ItemAcc<T, Body>&) {});
}

template <class Body, typename T>
std::vector<PairGradSums> run_grad_sums(const PairItems<T>& items, const PairPointers<T>& p,
                                        const std::vector<T>& coeffs, bool relu) {
  std::vector<PairGradSums> parts(items.geo.C * items.parts());
  run_with_coeffs<Body>(items, p, coeffs, relu, [&](const PairItem& it, const Body& body, const ItemAcc<T, Body>& acc) {
    store_parts(items, it, body, acc, parts.data());
  });
  return parts;
}

using Stats4 = std::tuple<Tensor, Tensor, Tensor, Tensor>;

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_cpu(
    const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
    const std::optional<Tensor>& mean1, const std::optional<Tensor>& var1, const std::optional<Tensor>& mean2,
    const std::optional<Tensor>& var2, double eps, bool relu) {
  const bool use_batch_stats = !mean1.has_value();
  const RelationShape shape =
      check_relation_pool_forward(x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps);
  check_cpu_dtype("relation_pool", x);
  const at::MemoryFormat format = relation_pool_memory_format(x);
  const Tensor xc = x.contiguous(format);
  Tensor y = at::empty(relation_pool_output_shape(x), x.options().memory_format(format));
  const auto params = read_params(weight1, bias1, weight2, bias2);
  std::vector<PairStatsIn> st;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "relation_pool_cpu", [&] {
    const PairItems<scalar_t> items(geometry(shape, format));
    PairPointers<scalar_t> p;
    p.x = xc.const_data_ptr<scalar_t>();
    p.y = y.data_ptr<scalar_t>();
    st = use_batch_stats ? batch_stats(items, p, params, eps) : read_stats(*mean1, *var1, *mean2, *var2);
    std::vector<scalar_t> coeffs(kNumApplyCoef * shape.C);
    for (int64_t k = 0; k < shape.C; ++k) {
      double c[kNumApplyCoef];
      relation_apply_coeffs<scalar_t>(st[k], params[k], eps, use_batch_stats, c);
      for (int j = 0; j < kNumApplyCoef; ++j) coeffs[j * shape.C + k] = static_cast<scalar_t>(c[j]);
    }
    run_elementwise<ApplyBody<scalar_t>>(items, p, coeffs, relu);
  });
  Stats4 out = use_batch_stats ? pair_tensors(shape.C, weight1.options(),
                                              [&](int64_t k) {
                                                const PairStatsIn& r = st[k];
                                                return std::array<double, 6>{r.mean_a, r.var_a, r.mean_b,
                                                                             r.var_b, r.mean_p, r.var_p};
                                              })
                               : Stats4{mean1->clone(), var1->clone(), mean2->clone(), var2->clone()};
  return {y, std::get<0>(out), std::get<1>(out), std::get<2>(out), std::get<3>(out)};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_backward_cpu(
    const Tensor& grad_out, const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2,
    const Tensor& bias2, const Tensor& mean1, const Tensor& var1, const Tensor& mean2, const Tensor& var2,
    double eps, bool relu, bool batch_stats) {
  const RelationShape shape =
      check_relation_pool_backward(grad_out, x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps,
                                   batch_stats);
  check_cpu_dtype("relation_pool_backward", x);
  const at::MemoryFormat format = relation_pool_memory_format(x);
  const Tensor xc = x.contiguous(format);
  const Tensor gc = grad_out.contiguous(format);
  Tensor dx = at::empty(x.sizes(), x.options().memory_format(format));
  const auto params = read_params(weight1, bias1, weight2, bias2);
  const auto st = read_stats(mean1, var1, mean2, var2);
  const double count = static_cast<double>(shape.count());
  std::vector<PairGrads> grads(shape.C);

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "relation_pool_backward_cpu", [&] {
    const PairItems<scalar_t> items(geometry(shape, format));
    PairPointers<scalar_t> p;
    p.x = xc.const_data_ptr<scalar_t>();
    p.grad = gc.const_data_ptr<scalar_t>();
    p.dx = dx.data_ptr<scalar_t>();
    const int64_t C = shape.C;
    std::vector<scalar_t> coeffs(kNumBackwardCoef * C);
    auto set_coeffs = [&](int64_t k, const double* c, int first, int last) {
      for (int j = first; j < last; ++j) coeffs[j * C + k] = static_cast<scalar_t>(c[j]);
    };
    // Reduction coefficients, and for frozen statistics the dx ones too
    // (they do not depend on the sums then).
    for (int64_t k = 0; k < C; ++k) {
      double c[kNumBackwardCoef];
      relation_reduce_coeffs<scalar_t>(st[k], params[k], eps, batch_stats, c);
      relation_grads_and_dx_coeffs(PairGradSums{}, st[k], params[k], eps, count, false, c);
      set_coeffs(k, c, 0, kNumBackwardCoef);
    }
    const int64_t nparts = items.parts();
    if (batch_stats) {
      const auto parts = run_grad_sums<GradSumBody<scalar_t>>(items, p, coeffs, relu);
      reduce_parts<GradSumBody<scalar_t>>(C, nparts, parts.data(), [&](int64_t k, const PairGradSums& sums) {
        double c[kNumBackwardCoef];
        grads[k] = relation_grads_and_dx_coeffs(sums, st[k], params[k], eps, count, true, c);
        set_coeffs(k, c, kE, kNumBackwardCoef);
      });
      run_elementwise<GradInputBody<scalar_t, false>>(items, p, coeffs, relu);
    } else {
      const auto parts = run_grad_sums<GradInputBody<scalar_t, true>>(items, p, coeffs, relu);
      reduce_parts<GradInputBody<scalar_t, true>>(C, nparts, parts.data(), [&](int64_t k, const PairGradSums& sums) {
        double c[kNumBackwardCoef];
        grads[k] = relation_grads_and_dx_coeffs(sums, st[k], params[k], eps, count, false, c);
      });
    }
  });

  const auto g = pair_tensors(shape.C, weight1.options(), [&](int64_t k) {
    const PairGrads& r = grads[k];
    return std::array<double, 6>{r.g1a, r.b1a, r.g1b, r.b1b, r.g2, r.b2};
  });
  return {dx, std::get<0>(g), std::get<1>(g), std::get<2>(g), std::get<3>(g)};
}

}  // namespace

TORCH_LIBRARY_IMPL(smartops, CPU, m) {
  m.impl("relation_pool", &relation_pool_cpu);
  m.impl("relation_pool_backward", &relation_pool_backward_cpu);
}

}  // namespace cpu
}  // namespace smartops
