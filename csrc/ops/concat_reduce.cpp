#include "ops/concat_reduce.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include "ops/relation_pool.h"  // relation_pool_memory_format: the same layout rule

namespace smartops {
namespace {

struct Operands {
  at::MemoryFormat format;
  int64_t N, Ca, Cz, Cout, positions;  // positions per sample
  at::Tensor a, z;                     // in `format`
};

Operands check_operands(const char* op, const at::Tensor& a, const at::Tensor& z, const at::Tensor& weight,
                        const at::Tensor* bias) {
  TORCH_CHECK(a.dim() == 5 && z.dim() == 5, op, ": a and z must be 5-D (N, C, T, H, W), got ", a.sizes(), " and ",
              z.sizes());
  TORCH_CHECK(a.size(0) == z.size(0) && a.sizes().slice(2) == z.sizes().slice(2), op,
              ": a and z must agree in every dimension but channels, got ", a.sizes(), " and ", z.sizes());
  TORCH_CHECK(a.scalar_type() == z.scalar_type() && a.scalar_type() == weight.scalar_type(), op,
              ": a, z and weight must share a dtype, got ", a.scalar_type(), ", ", z.scalar_type(), ", ",
              weight.scalar_type());
  TORCH_CHECK(at::isFloatingType(a.scalar_type()), op, ": expected floating-point inputs, got ", a.scalar_type());
  TORCH_CHECK(z.device() == a.device() && weight.device() == a.device(), op,
              ": a, z and weight must be on one device, got ", a.device(), ", ", z.device(), ", ", weight.device());
  const int64_t Ca = a.size(1), Cz = z.size(1);
  TORCH_CHECK(weight.dim() == 5 && weight.size(1) == Ca + Cz && weight.size(2) == 1 && weight.size(3) == 1 &&
                  weight.size(4) == 1,
              op, ": weight must have shape (Cout, ", Ca + Cz, ", 1, 1, 1) for a with ", Ca, " and z with ", Cz,
              " channels, got ", weight.sizes());
  if (bias != nullptr) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0), op, ": bias must have shape (",
                weight.size(0), "), got ", bias->sizes());
    TORCH_CHECK(bias->scalar_type() == a.scalar_type() && bias->device() == a.device(), op,
                ": bias must match a's dtype and device");
  }
  Operands o;
  o.format = relation_pool_memory_format(a);
  o.N = a.size(0);
  o.Ca = Ca;
  o.Cz = Cz;
  o.Cout = weight.size(0);
  o.positions = a.size(2) * a.size(3) * a.size(4);
  o.a = a.contiguous(o.format);
  o.z = z.contiguous(o.format);
  return o;
}

bool channels_last(const Operands& o) { return o.format == at::MemoryFormat::ChannelsLast3d; }

// (N, C, positions) view of a contiguous NCDHW tensor, (N * positions, C)
// view of a channels_last_3d one.
at::Tensor as_matrix(const at::Tensor& t, const Operands& o) {
  if (channels_last(o)) return t.permute({0, 2, 3, 4, 1}).reshape({-1, t.size(1)});
  return t.reshape({o.N, t.size(1), o.positions});
}

}  // namespace

at::Tensor concat_reduce_forward(const at::Tensor& a_in, const at::Tensor& z_in, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias) {
  const Operands o = check_operands("concat_reduce", a_in, z_in, weight, bias ? &*bias : nullptr);
  const at::Tensor w = weight.reshape({o.Cout, o.Ca + o.Cz});
  const at::Tensor wa = w.narrow(1, 0, o.Ca), wz = w.narrow(1, o.Ca, o.Cz);
  at::Tensor out = at::empty({o.N, o.Cout, a_in.size(2), a_in.size(3), a_in.size(4)},
                             a_in.options().memory_format(o.format));
  at::Tensor out_m = as_matrix(out, o);  // a view: the GEMMs write into out
  const at::Tensor am = as_matrix(o.a, o), zm = as_matrix(o.z, o);
  if (channels_last(o)) {  // out (N*P, Cout) = a wa^T + z wz^T + bias
    if (bias) {
      at::addmm_out(out_m, *bias, am, wa.t());
    } else {
      at::mm_out(out_m, am, wa.t());
    }
    out_m.addmm_(zm, wz.t());
  } else {  // out[n] (Cout, P) = wa a[n] + wz z[n] + bias
    at::bmm_out(out_m, wa.expand({o.N, o.Cout, o.Ca}), am);
    out_m.baddbmm_(wz.expand({o.N, o.Cout, o.Cz}), zm);
    if (bias) out_m.add_(bias->view({1, o.Cout, 1}));
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> concat_reduce_backward(
    const at::Tensor& grad_out, const at::Tensor& a_in, const at::Tensor& z_in, const at::Tensor& weight,
    bool bias_grad) {
  const Operands o = check_operands("concat_reduce_backward", a_in, z_in, weight, nullptr);
  TORCH_CHECK(grad_out.dim() == 5 && grad_out.size(0) == o.N && grad_out.size(1) == o.Cout &&
                  grad_out.sizes().slice(2) == a_in.sizes().slice(2),
              "concat_reduce_backward: grad_out has shape ", grad_out.sizes(), ", expected (", o.N, ", ", o.Cout,
              ", ", a_in.sizes().slice(2), ")");
  const at::Tensor g = as_matrix(grad_out.contiguous(o.format), o);
  const at::Tensor w = weight.reshape({o.Cout, o.Ca + o.Cz});
  const at::Tensor wa = w.narrow(1, 0, o.Ca), wz = w.narrow(1, o.Ca, o.Cz);
  const at::Tensor am = as_matrix(o.a, o), zm = as_matrix(o.z, o);
  at::Tensor grad_a = at::empty(a_in.sizes(), a_in.options().memory_format(o.format));
  at::Tensor grad_z = at::empty(z_in.sizes(), z_in.options().memory_format(o.format));
  at::Tensor grad_w = at::empty({o.Cout, o.Ca + o.Cz}, weight.options());
  at::Tensor ga = as_matrix(grad_a, o), gz = as_matrix(grad_z, o);
  at::Tensor grad_b;
  if (channels_last(o)) {  // g (N*P, Cout)
    at::mm_out(ga, g, wa);
    at::mm_out(gz, g, wz);
    grad_w.narrow(1, 0, o.Ca).copy_(at::mm(g.t(), am));
    grad_w.narrow(1, o.Ca, o.Cz).copy_(at::mm(g.t(), zm));
    grad_b = bias_grad ? g.sum(0) : at::empty({0}, weight.options());
  } else {  // g (N, Cout, P)
    at::bmm_out(ga, wa.t().expand({o.N, o.Ca, o.Cout}), g);
    at::bmm_out(gz, wz.t().expand({o.N, o.Cz, o.Cout}), g);
    grad_w.narrow(1, 0, o.Ca).copy_(at::bmm(g, am.transpose(1, 2)).sum(0));
    grad_w.narrow(1, o.Ca, o.Cz).copy_(at::bmm(g, zm.transpose(1, 2)).sum(0));
    grad_b = bias_grad ? g.sum({0, 2}) : at::empty({0}, weight.options());
  }
  return {grad_a, grad_z, grad_w.view(weight.sizes()), grad_b};
}

TORCH_LIBRARY_IMPL(smartops, CPU, m) {
  m.impl("concat_reduce", &concat_reduce_forward);
  m.impl("concat_reduce_backward", &concat_reduce_backward);
}

}  // namespace smartops
