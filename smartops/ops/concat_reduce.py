"""The fused concat + 1x1x1 reduction: fake and autograd registrations of
`smartops::concat_reduce`, and the functional `concat_reduce`."""
import torch

from smartops import _extension
from smartops.ops.relation_pool import memory_format_of

_OP = "concat_reduce"

if _extension.is_built():

    @torch.library.register_fake("smartops::concat_reduce")
    def _concat_reduce_fake(a, z, weight, bias):
        shape = (a.shape[0], weight.shape[0]) + tuple(a.shape[2:])
        return torch.empty(shape, dtype=a.dtype, device=a.device, memory_format=memory_format_of(a))

    @torch.library.register_fake("smartops::concat_reduce_backward")
    def _concat_reduce_backward_fake(grad_out, a, z, weight, bias_grad):
        fmt = memory_format_of(a)
        grad_b = weight.new_empty(weight.shape[0] if bias_grad else 0)
        return (torch.empty(a.shape, dtype=a.dtype, device=a.device, memory_format=fmt),
                torch.empty(z.shape, dtype=z.dtype, device=z.device, memory_format=fmt),
                torch.empty_like(weight, memory_format=torch.contiguous_format), grad_b)

    def _setup_context(ctx, inputs, output):
        a, z, weight, bias = inputs
        ctx.save_for_backward(a, z, weight)  # a and z as they are: no concatenated copy
        ctx.has_bias = bias is not None

    def _backward(ctx, grad_out):
        a, z, weight = ctx.saved_tensors
        grad_a, grad_z, grad_w, grad_b = torch.ops.smartops.concat_reduce_backward(grad_out, a, z, weight,
                                                                                  ctx.has_bias)
        return grad_a, grad_z, grad_w, (grad_b if ctx.has_bias else None)

    torch.library.register_autograd("smartops::concat_reduce", _backward, setup_context=_setup_context)


def concat_reduce(a, z, weight, bias=None):
    """conv3d(cat([a, z], dim=1), weight, bias) for a 1x1x1 `weight` of shape
    (Cout, Ca + Cz, 1, 1, 1) (nn.Conv3d's layout), computed as two GEMMs
    into one output: the concatenation is never formed, in the forward or in
    what autograd saves. a and z: (N, Ca, T, H, W) and (N, Cz, T, H, W),
    contiguous or channels_last_3d (the output follows a's layout)."""
    if not isinstance(a, torch.Tensor):
        raise TypeError("concat_reduce: a must be a tensor, got %s" % type(a).__name__)
    _extension.require_kernel(_OP, a.device)
    for name, t in (("z", z), ("weight", weight), ("bias", bias)):
        if t is not None and t.device != a.device:
            raise RuntimeError("concat_reduce: %s is on %s but a is on %s" % (name, t.device, a.device))
    return torch.ops.smartops.concat_reduce(a, z, weight, bias)
