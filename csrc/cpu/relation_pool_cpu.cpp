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

#include "common/pair_merge.h"
#include "common/pair_rows.h"
#include "cpu/relation_pool_bodies.h"
#include "ops/phase_checks.h"
#include "ops/record_tensors.h"
#include "ops/relation_pool.h"

namespace smartops {
namespace cpu {
namespace {

std::vector<double> host_doubles(const Tensor& t) {
  const Tensor d = t.to(at::kCPU, at::kDouble).contiguous();
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

// Statistics pass: each pair's moment record over all of x.
template <typename T>
std::vector<PairMoments> batch_moments(const PairItems<T>& items, const PairPointers<T>& p) {
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
  std::vector<PairMoments> out(C);
  reduce_parts<MomentBody<T>>(C, nparts, parts.data(), [&](int64_t k, const PairMoments& m) { out[k] = m; });
  return out;
}

std::vector<PairStatsIn> stats_from_moments(const std::vector<PairMoments>& moments,
                                            const std::vector<PairParams>& params, double eps) {
  std::vector<PairStatsIn> out(moments.size());
  for (size_t k = 0; k < moments.size(); ++k) out[k] = pair_stats_in_from_moments(moments[k], params[k], eps);
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

Stats4 stats_tensors(const std::vector<PairStatsIn>& st, const at::TensorOptions& options) {
  return pair_tensors(static_cast<int64_t>(st.size()), options, [&](int64_t k) {
    const PairStatsIn& r = st[k];
    return std::array<double, 6>{r.mean_a, r.var_a, r.mean_b, r.var_b, r.mean_p, r.var_p};
  });
}

// The output pass y = relation(x) with statistics `st` (nullptr: the
// batch's own, computed here and stored into *batch_st); `count`: the
// positions per channel the statistics cover, with `batch_stats` selecting
// their forms (relation_apply_coeffs).
Tensor apply_pass(const Tensor& x, const RelationShape& shape, const std::vector<PairParams>& params,
                  const std::vector<PairStatsIn>* st, std::vector<PairStatsIn>* batch_st, bool batch_stats,
                  double count, double eps, bool relu) {
  const at::MemoryFormat format = relation_pool_memory_format(x);
  const Tensor xc = x.contiguous(format);
  Tensor y = at::empty(relation_pool_output_shape(x), x.options().memory_format(format));
  if (shape.count() == 0) return y;  // a process without clips (relation_pool_apply)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "relation_pool_cpu", [&] {
    const PairItems<scalar_t> items(geometry(shape, format));
    PairPointers<scalar_t> p;
    p.x = xc.const_data_ptr<scalar_t>();
    p.y = y.data_ptr<scalar_t>();
    if (st == nullptr) {
      *batch_st = stats_from_moments(batch_moments(items, p), params, eps);
      st = batch_st;
    }
    std::vector<scalar_t> coeffs(kNumApplyCoef * shape.C);
    for (int64_t k = 0; k < shape.C; ++k) {
      double c[kNumApplyCoef];
      relation_apply_coeffs<scalar_t>((*st)[k], params[k], eps, batch_stats, count, c);
      for (int j = 0; j < kNumApplyCoef; ++j) coeffs[j * shape.C + k] = static_cast<scalar_t>(c[j]);
    }
    run_elementwise<ApplyBody<scalar_t>>(items, p, coeffs, relu);
  });
  return y;
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_cpu(
    const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
    const std::optional<Tensor>& mean1, const std::optional<Tensor>& var1, const std::optional<Tensor>& mean2,
    const std::optional<Tensor>& var2, double eps, bool relu) {
  const bool use_batch_stats = !mean1.has_value();
  const RelationShape shape =
      check_relation_pool_forward(x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps);
  check_cpu_dtype("relation_pool", x);
  const auto params = read_params(weight1, bias1, weight2, bias2);
  const double count = static_cast<double>(shape.count());
  if (use_batch_stats) {
    std::vector<PairStatsIn> st;
    Tensor y = apply_pass(x, shape, params, nullptr, &st, true, count, eps, relu);
    const Stats4 out = stats_tensors(st, weight1.options());
    return {y, std::get<0>(out), std::get<1>(out), std::get<2>(out), std::get<3>(out)};
  }
  const auto st = read_stats(*mean1, *var1, *mean2, *var2);
  Tensor y = apply_pass(x, shape, params, &st, nullptr, false, count, eps, relu);
  return {y, mean1->clone(), var1->clone(), mean2->clone(), var2->clone()};
}

// The backward's inputs as its passes read them.
struct BackwardInputs {
  RelationShape shape;
  at::MemoryFormat format;
  Tensor x, grad;  // in format
  std::vector<PairParams> params;
  std::vector<PairStatsIn> st;
  bool batch_stats;  // the statistics are the batch's own
};

BackwardInputs backward_inputs(const char* op, bool allow_empty, const Tensor& grad_out, const Tensor& x,
                               const Tensor& weight1, const Tensor& bias1, const Tensor& weight2, const Tensor& bias2,
                               const Tensor& mean1, const Tensor& var1, const Tensor& mean2, const Tensor& var2,
                               double eps, bool batch_stats) {
  BackwardInputs in;
  in.shape = check_relation_pool_backward(grad_out, x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps,
                                          batch_stats, op, allow_empty);
  in.batch_stats = batch_stats;
  check_cpu_dtype(op, x);
  in.format = relation_pool_memory_format(x);
  in.x = x.contiguous(in.format);
  in.grad = grad_out.contiguous(in.format);
  in.params = read_params(weight1, bias1, weight2, bias2);
  in.st = read_stats(mean1, var1, mean2, var2);
  return in;
}

// Runs f(items, p, coeffs) for in's dtype, with the reduction coefficients
// set and, for frozen statistics, the dx ones too (they do not depend on the
// sums then). dx may be undefined (no dx pass). `count`: the positions per
// channel that the forward's coefficients were formed with (all processes'
// for the synchronized op's phases), so that q and ph are the forward's
// (relation_reduce_coeffs).
template <class F>
void with_backward_passes(const BackwardInputs& in, const Tensor& dx, double eps, double count, const F& f) {
  AT_DISPATCH_FLOATING_TYPES(in.x.scalar_type(), "relation_pool_backward_cpu", [&] {
    const PairItems<scalar_t> items(geometry(in.shape, in.format));
    PairPointers<scalar_t> p;
    p.x = in.x.const_data_ptr<scalar_t>();
    p.grad = in.grad.const_data_ptr<scalar_t>();
    p.dx = dx.defined() ? dx.data_ptr<scalar_t>() : nullptr;
    const int64_t C = in.shape.C;
    std::vector<scalar_t> coeffs(kNumBackwardCoef * C);
    for (int64_t k = 0; k < C; ++k) {
      double c[kNumBackwardCoef];
      relation_reduce_coeffs<scalar_t>(in.st[k], in.params[k], eps, in.batch_stats, count, c);
      relation_grads_and_dx_coeffs(PairGradSums{}, in.st[k], in.params[k], eps, 1.0, false, c);
      for (int j = 0; j < kNumBackwardCoef; ++j) coeffs[j * C + k] = static_cast<scalar_t>(c[j]);
    }
    f(items, p, coeffs);
  });
}

// Backward pass 1 with batch statistics: each pair's gradient sums.
template <typename T>
std::vector<PairGradSums> grad_sums_pass(const PairItems<T>& items, const PairPointers<T>& p,
                                         const std::vector<T>& coeffs, bool relu) {
  const int64_t C = items.geo.C;
  std::vector<PairGradSums> sums(C);
  if (items.geo.N * items.geo.S == 0) return sums;
  const auto parts = run_grad_sums<GradSumBody<T>>(items, p, coeffs, relu);
  reduce_parts<GradSumBody<T>>(C, items.parts(), parts.data(), [&](int64_t k, const PairGradSums& r) { sums[k] = r; });
  return sums;
}

// Backward pass 2 with batch statistics: the parameter gradients and dx from
// the sums over `count` positions (all processes' when synchronized).
template <typename T>
std::vector<PairGrads> grad_input_pass(const PairItems<T>& items, const PairPointers<T>& p, std::vector<T>& coeffs,
                                       const BackwardInputs& in, const std::vector<PairGradSums>& sums, double count,
                                       double eps, bool relu) {
  const int64_t C = in.shape.C;
  std::vector<PairGrads> grads(C);
  for (int64_t k = 0; k < C; ++k) {
    double c[kNumBackwardCoef];
    grads[k] = relation_grads_and_dx_coeffs(sums[k], in.st[k], in.params[k], eps, count, true, c);
    for (int j = kE; j < kNumBackwardCoef; ++j) coeffs[j * C + k] = static_cast<T>(c[j]);
  }
  if (in.shape.count() > 0) run_elementwise<GradInputBody<T, false>>(items, p, coeffs, relu);
  return grads;
}

std::tuple<Tensor, Tensor, Tensor, Tensor> grad_tensors(const std::vector<PairGrads>& grads,
                                                        const at::TensorOptions& options) {
  return pair_tensors(static_cast<int64_t>(grads.size()), options, [&](int64_t k) {
    const PairGrads& r = grads[k];
    return std::array<double, 6>{r.g1a, r.b1a, r.g1b, r.b1b, r.g2, r.b2};
  });
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_backward_cpu(
    const Tensor& grad_out, const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2,
    const Tensor& bias2, const Tensor& mean1, const Tensor& var1, const Tensor& mean2, const Tensor& var2,
    double eps, bool relu, bool batch_stats) {
  const BackwardInputs in = backward_inputs("relation_pool_backward", false, grad_out, x, weight1, bias1, weight2,
                                            bias2, mean1, var1, mean2, var2, eps, batch_stats);
  Tensor dx = at::empty(x.sizes(), x.options().memory_format(in.format));
  const double count = static_cast<double>(in.shape.count());
  std::vector<PairGrads> grads(in.shape.C);
  with_backward_passes(in, dx, eps, count, [&](const auto& items, const auto& p, auto& coeffs) {
    using T = typename std::decay_t<decltype(coeffs)>::value_type;
    if (batch_stats) {
      grads = grad_input_pass(items, p, coeffs, in, grad_sums_pass(items, p, coeffs, relu), count, eps, relu);
      return;
    }
    const auto parts = run_grad_sums<GradInputBody<T, true>>(items, p, coeffs, relu);
    reduce_parts<GradInputBody<T, true>>(in.shape.C, items.parts(), parts.data(), [&](int64_t k, const PairGradSums& sums) {
      double c[kNumBackwardCoef];
      grads[k] = relation_grads_and_dx_coeffs(sums, in.st[k], in.params[k], eps, count, false, c);
    });
  });
  const auto g = grad_tensors(grads, weight1.options());
  return {dx, std::get<0>(g), std::get<1>(g), std::get<2>(g), std::get<3>(g)};
}

// ---- Phases of the synchronized op (see csrc/smartops.cpp for the schemas).

Tensor relation_pool_moments_cpu(const Tensor& x) {
  const RelationShape shape = check_relation_pool_input("relation_pool_moments", x);
  check_cpu_dtype("relation_pool_moments", x);
  std::vector<PairMoments> moments(shape.C, pair_moments_zero());
  if (shape.count() > 0) {
    const at::MemoryFormat format = relation_pool_memory_format(x);
    const Tensor xc = x.contiguous(format);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "relation_pool_moments_cpu", [&] {
      PairPointers<scalar_t> p;
      p.x = xc.const_data_ptr<scalar_t>();
      moments = batch_moments(PairItems<scalar_t>(geometry(shape, format)), p);
    });
  }
  return records_to_tensor(moments, x.device());
}

Tensor relation_pool_apply_cpu(const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2,
                               const Tensor& bias2, const Tensor& mean1, const Tensor& var1, const Tensor& mean2,
                               const Tensor& var2, int64_t count, double eps, bool relu) {
  const RelationShape shape =
      check_relation_pool_apply(x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, count, eps);
  check_cpu_dtype("relation_pool_apply", x);
  const auto st = read_stats(mean1, var1, mean2, var2);
  return apply_pass(x, shape, read_params(weight1, bias1, weight2, bias2), &st, nullptr, true,
                    static_cast<double>(count), eps, relu);
}

Tensor relation_pool_grad_sums_cpu(const Tensor& grad_out, const Tensor& x, const Tensor& weight1, const Tensor& bias1,
                                   const Tensor& weight2, const Tensor& bias2, const Tensor& mean1, const Tensor& var1,
                                   const Tensor& mean2, const Tensor& var2, int64_t count, double eps, bool relu) {
  const char* op = "relation_pool_grad_sums";
  const BackwardInputs in = backward_inputs(op, true, grad_out, x, weight1, bias1, weight2, bias2, mean1, var1,
                                            mean2, var2, eps, true);
  check_global_count(op, count, in.shape);
  std::vector<PairGradSums> sums;
  with_backward_passes(in, Tensor(), eps, static_cast<double>(count), [&](const auto& items, const auto& p,
                                                                          auto& coeffs) {
    sums = grad_sums_pass(items, p, coeffs, relu);
  });
  return records_to_tensor(sums, x.device());
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> relation_pool_grad_input_cpu(
    const Tensor& grad_out, const Tensor& x, const Tensor& weight1, const Tensor& bias1, const Tensor& weight2,
    const Tensor& bias2, const Tensor& mean1, const Tensor& var1, const Tensor& mean2, const Tensor& var2,
    const Tensor& grad_sums, int64_t count, double eps, bool relu) {
  const char* op = "relation_pool_grad_input";
  const BackwardInputs in = backward_inputs(op, true, grad_out, x, weight1, bias1, weight2, bias2, mean1, var1,
                                            mean2, var2, eps, true);
  check_grad_sum_records(op, grad_sums, count, in.shape);
  const auto sums = records_from_tensor<PairGradSums>(op, "grad_sums", grad_sums, in.shape.C);
  Tensor dx = at::empty(x.sizes(), x.options().memory_format(in.format));
  std::vector<PairGrads> grads;
  with_backward_passes(in, dx, eps, static_cast<double>(count), [&](const auto& items, const auto& p, auto& coeffs) {
    grads = grad_input_pass(items, p, coeffs, in, sums, static_cast<double>(count), eps, relu);
  });
  const auto g = grad_tensors(grads, weight1.options());
  return {dx, std::get<0>(g), std::get<1>(g), std::get<2>(g), std::get<3>(g)};
}

// Both BNs' statistics from the moment records (P, pairs, width) of P
// processes, merged in process order with the kernels' own re-centring merge.
std::tuple<Tensor, Tensor, Tensor, Tensor> relation_pool_merge_stats(const Tensor& moments, const Tensor& weight1,
                                                                     const Tensor& bias1, const Tensor& weight2,
                                                                     const Tensor& bias2, double eps) {
  const char* op = "relation_pool_merge_stats";
  const int64_t C = weight2.numel();
  check_moment_records(op, moments, C);
  const auto records = records_from_tensor<PairMoments>(op, "moments", moments, C);
  std::vector<PairMoments> merged(C);
  for (int64_t k = 0; k < C; ++k) merged[k] = merge_process_records(records.data(), moments.size(0), C, k);
  for (const PairMoments& m : merged) check_merged_count(op, m.n);
  const auto st = stats_from_moments(merged, read_params(weight1, bias1, weight2, bias2), eps);
  return stats_tensors(st, weight1.options());
}

}  // namespace

// The merge reads O(pairs) records on the host, whatever their device.
TORCH_LIBRARY_IMPL(smartops, CompositeExplicitAutograd, m) {
  m.impl("relation_pool_merge_stats", &relation_pool_merge_stats);
}

TORCH_LIBRARY_IMPL(smartops, CPU, m) {
  m.impl("relation_pool", &relation_pool_cpu);
  m.impl("relation_pool_backward", &relation_pool_backward_cpu);
  m.impl("relation_pool_moments", &relation_pool_moments_cpu);
  m.impl("relation_pool_apply", &relation_pool_apply_cpu);
  m.impl("relation_pool_grad_sums", &relation_pool_grad_sums_cpu);
  m.impl("relation_pool_grad_input", &relation_pool_grad_input_cpu);
}

}  // namespace cpu
}  // namespace smartops
