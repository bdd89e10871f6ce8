"""The folded relation tail for inference: fake and autograd registrations
of `smartops::relation_tail`, the functional `relation_tail` and its
pure-PyTorch reference (standard operators only, what export writes).

With BN1 folded into the relation conv (u its output) and BN2 and the pair
mean's 0.5 folded into per-pair `scale` and `shift` (smartops.nn.fold), the
relation branch after its conv is

    y_k = relu(scale_k * (u_2k^2 + u_2k+1^2) + shift_k)

read once and written once by the kernel. It is an inference op; its
autograd formula is the reference's, in PyTorch ops (for gradcheck and for
anyone fine-tuning a folded model), not a fused kernel.
"""
import torch

from smartops import _extension
from smartops.ops.relation_pool import memory_format_of

_OP = "relation_tail"


def _per_pair(v):
    return v.view(1, -1, 1, 1, 1)


def pair_square_sum(u):
    """u_2k^2 + u_2k+1^2: (N, 2C, T, H, W) -> (N, C, T, H, W), as a reshape and a sum."""
    return u.unflatten(1, (-1, 2)).square().sum(2)


def relation_tail_reference(u, scale, shift, relu=True):
    """relu(scale_k * (u_2k^2 + u_2k+1^2) + shift_k) in standard PyTorch ops."""
    q = torch.addcmul(_per_pair(shift), pair_square_sum(u), _per_pair(scale))
    return torch.relu(q) if relu else q


# An extension built before this op existed loads without it: the op is then
# reported as missing (with the build command) instead of failing the import.
if _extension.is_built() and hasattr(torch.ops.smartops, _OP):

    @torch.library.register_fake("smartops::relation_tail")
    def _relation_tail_fake(u, scale, shift, relu):
        shape = (u.shape[0], u.shape[1] // 2) + tuple(u.shape[2:])
        return torch.empty(shape, dtype=u.dtype, device=u.device, memory_format=memory_format_of(u))

    def _setup_context(ctx, inputs, output):
        u, scale, shift, relu = inputs
        ctx.save_for_backward(u, scale, output if relu else None)
        ctx.relu = relu

    def _backward(ctx, grad_y):
        u, scale, y = ctx.saved_tensors
        # relu'(q) from the output, as torch.relu's backward takes it.
        grad_q = torch.ops.aten.threshold_backward(grad_y, y, 0) if ctx.relu else grad_y
        dims = (0, 2, 3, 4)
        grad_scale = (grad_q * pair_square_sum(u)).sum(dims).to(scale.dtype)
        grad_shift = grad_q.sum(dims).to(scale.dtype)
        grad_u = (2 * grad_q * _per_pair(scale)).unsqueeze(2) * u.unflatten(1, (-1, 2))
        return grad_u.flatten(1, 2).to(u.dtype), grad_scale, grad_shift, None

    torch.library.register_autograd("smartops::relation_tail", _backward, setup_context=_setup_context)


def relation_tail(u, scale, shift, relu=True):
    """Fused `relation_tail_reference`: u (N, 2C, T, H, W), contiguous or
    channels_last_3d (the output keeps the layout); scale and shift (C), in
    u's dtype (float32 for half-precision u). NaN propagates like torch.relu."""
    if not isinstance(u, torch.Tensor):
        raise TypeError("relation_tail: u must be a tensor, got %s" % type(u).__name__)
    _extension.require_kernel(_OP, u.device)
    for name, t in (("scale", scale), ("shift", shift)):
        if not isinstance(t, torch.Tensor):
            raise TypeError("relation_tail: %s must be a tensor, got %s" % (name, type(t).__name__))
        if t.device != u.device:  # checked before dispatch, which would pick t's device
            raise RuntimeError("relation_tail: %s is on %s but u is on %s" % (name, t.device, u.device))
    return torch.ops.smartops.relation_tail(u, scale, shift, relu)
