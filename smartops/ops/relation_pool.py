"""The fused relation op: fake (meta) and autograd registrations of
`smartops::relation_pool`, and the functional `relation_pool`.

The C++ op is functional: it returns the output and the statistics it used
and never writes running statistics; this module updates those, so that
`torch.compile` sees ordinary in-place buffer updates around an opaque op.
"""
import torch

from smartops import _extension
from smartops.ops.reference import relation_pool_reference
from smartops.ops.running_stats import check_running_pair, update_running_stats

_OP = "relation_pool"


def memory_format_of(x):
    """The layout rule of the C++ op (csrc/ops/relation_pool.cpp): outputs
    follow x if it is contiguous or channels_last_3d, else are contiguous."""
    if x.is_contiguous():
        return torch.contiguous_format
    if x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    return torch.contiguous_format


def param_dtype(x):
    """dtype of BN parameters and statistics for an input of x's dtype."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def check_same_device(op, x, **tensors):
    """The kernels' device rule, for the fake (meta) implementations too: a
    meta tensor among CPU ones would otherwise route the call to the fake
    implementation, which would hand back uninitialised memory."""
    for name, t in tensors.items():
        if t is not None and t.device != x.device:
            raise RuntimeError("%s: %s is on %s but x is on %s" % (op, name, t.device, x.device))


if _extension.is_built():

    @torch.library.register_fake("smartops::relation_pool")
    def _relation_pool_fake(x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps, relu):
        check_same_device(_OP, x, weight1=weight1, bias1=bias1, weight2=weight2, bias2=bias2, mean1=mean1,
                          var1=var1, mean2=mean2, var2=var2)
        n, c2 = x.shape[0], x.shape[1]
        out = torch.empty((n, c2 // 2) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device,
                          memory_format=memory_format_of(x))
        return (out, weight1.new_empty(c2), weight1.new_empty(c2), weight2.new_empty(c2 // 2),
                weight2.new_empty(c2 // 2))

    @torch.library.register_fake("smartops::relation_pool_backward")
    def _relation_pool_backward_fake(grad_out, x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, eps,
                                     relu, batch_stats):
        check_same_device("relation_pool_backward", x, grad_out=grad_out, weight1=weight1, bias1=bias1,
                          weight2=weight2, bias2=bias2, mean1=mean1, var1=var1, mean2=mean2, var2=var2)
        dx = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=memory_format_of(x))
        return dx, torch.empty_like(weight1), torch.empty_like(bias1), torch.empty_like(weight2), torch.empty_like(bias2)

    def _setup_context(ctx, inputs, output):
        x, weight1, bias1, weight2, bias2, mean1, _, _, _, eps, relu = inputs
        _, m1, v1, m2, v2 = output
        # x and per-channel vectors only: the backward recomputes the rest.
        ctx.save_for_backward(x, weight1, bias1, weight2, bias2, m1, v1, m2, v2)
        ctx.eps, ctx.relu, ctx.batch_stats = eps, relu, mean1 is None
        ctx.mark_non_differentiable(m1, v1, m2, v2)

    def _backward(ctx, grad_out, *_stat_grads):
        if torch.is_grad_enabled():  # backward(create_graph=True): the gradients must be differentiable
            grads = _differentiable_backward(ctx, grad_out)
        else:
            grads = torch.ops.smartops.relation_pool_backward(grad_out, *ctx.saved_tensors, ctx.eps, ctx.relu,
                                                              ctx.batch_stats)
        # x, weight1, bias1, weight2, bias2; the statistics and flags have none.
        return tuple(grads) + (None,) * 6

    def _differentiable_backward(ctx, grad_out):
        """Gradients for double backward: the eager reference recomputed from
        the saved inputs (the same function: batch statistics from x, or the
        frozen ones) and differentiated with create_graph=True, so that they
        are themselves functions of x, the parameters and grad_out."""
        x, weight1, bias1, weight2, bias2, m1, v1, m2, v2 = ctx.saved_tensors
        inputs = (x, weight1, bias1, weight2, bias2)
        stats = (None,) * 4 if ctx.batch_stats else (m1, v1, m2, v2)
        with torch.enable_grad():
            y = relation_pool_reference(x, weight1, bias1, stats[0], stats[1], weight2, bias2, stats[2], stats[3],
                                        ctx.batch_stats, eps=ctx.eps, relu=ctx.relu)
            wanted = [t for t in inputs if t.requires_grad]
            found = iter(torch.autograd.grad(y, wanted, grad_out, create_graph=True, allow_unused=True))
        return tuple(next(found) if t.requires_grad else None for t in inputs)

    torch.library.register_autograd("smartops::relation_pool", _backward, setup_context=_setup_context)


def relation_pool(x, weight1, bias1, running_mean1, running_var1, weight2, bias2, running_mean2, running_var2,
                  training, momentum=0.1, eps=1e-5, relu=True, process_group=None):
    """Fused relation branch of the SMART block, after its 3D convolution.

    BN1 over the 2C channels of x (N, 2C, T, H, W) -> elementwise square ->
    mean of adjacent channel pairs (2k, 2k+1) -> BN2 over C channels ->
    ReLU (if `relu`). Arguments follow `torch.nn.functional.batch_norm`:
    with `training` the batch statistics are used and the running
    statistics, when given, are updated in place with `momentum` (a float,
    or a 0-d tensor such as 1/num_batches_tracked for a cumulative average);
    without it the running statistics are used. Weights and biases may be
    None (1 and 0). The output is in x's memory format (contiguous or
    channels_last_3d).

    Autograd saves only x and per-channel vectors; the backward recomputes
    the rest.

    process_group: a torch.distributed process group (e.g.
    torch.distributed.group.WORLD) to synchronise the batch statistics over
    in training, as SyncBatchNorm does (smartops/ops/relation_pool_sync.py);
    None: this process's batch only.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError("relation_pool: x must be a tensor, got %s" % type(x).__name__)
    _extension.require_kernel(_OP, x.device)
    if x.dim() != 5:
        raise ValueError("relation_pool: x must be 5-D (N, 2C, T, H, W), got shape %s" % (tuple(x.shape),))
    c2 = x.shape[1]
    if momentum is None:
        raise ValueError("relation_pool: momentum=None (cumulative average) needs num_batches_tracked; pass "
                         "momentum=1/num_batches_tracked or use smartops.nn.RelationPool")
    pdt = param_dtype(x)
    ones = lambda n: torch.ones(n, dtype=pdt, device=x.device)  # noqa: E731
    zeros = lambda n: torch.zeros(n, dtype=pdt, device=x.device)  # noqa: E731
    weight1 = ones(c2) if weight1 is None else weight1
    bias1 = zeros(c2) if bias1 is None else bias1
    weight2 = ones(c2 // 2) if weight2 is None else weight2
    bias2 = zeros(c2 // 2) if bias2 is None else bias2
    # Checked here, before dispatch: a tensor on another device would route
    # the call to that device's kernel.
    check_same_device(_OP, x, weight1=weight1, bias1=bias1, weight2=weight2, bias2=bias2, running_mean1=running_mean1,
                      running_var1=running_var1, running_mean2=running_mean2, running_var2=running_var2)
    op = torch.ops.smartops.relation_pool

    if not training:
        stats = (running_mean1, running_var1, running_mean2, running_var2)
        if any(s is None for s in stats):
            raise ValueError("relation_pool: running_mean1, running_var1, running_mean2 and running_var2 are "
                             "required when training=False")
        if x.numel() == 0:  # an empty batch: the kernels need positions; eager BN passes it through
            return relation_pool_reference(x, weight1, bias1, running_mean1, running_var1, weight2, bias2,
                                           running_mean2, running_var2, False, eps=eps, relu=relu)
        return op(x, weight1, bias1, weight2, bias2, *stats, eps, relu)[0]

    check_running_pair("relation_pool", "1", running_mean1, running_var1)
    check_running_pair("relation_pool", "2", running_mean2, running_var2)
    if process_group is not None:
        from smartops.ops.relation_pool_sync import sync_relation_pool  # it imports this module

        return sync_relation_pool(x, weight1, bias1, running_mean1, running_var1, weight2, bias2, running_mean2,
                                  running_var2, momentum, eps, relu, process_group)
    out, mean1, var1, mean2, var2 = op(x, weight1, bias1, weight2, bias2, None, None, None, None, eps, relu)
    count = x.numel() // c2
    update_running_stats(running_mean1, running_var1, mean1, var1, count, momentum)
    update_running_stats(running_mean2, running_var2, mean2, var2, count, momentum)
    return out
