"""The relation op with its batch statistics synchronised across processes.

`relation_pool` split into its phases (schemas in csrc/smartops.cpp), as
torch splits its SyncBatchNorm: statistics pass -> per-pair moment records
-> all-gather -> exact float64 merge -> apply pass; in backward, gradient
sums -> all-reduce -> dx pass. One collective each way, O(channels) bytes;
autograd saves x and per-channel vectors only, as the single-process op.
The apply and backward phases take the global count of positions per
channel, which selects the same forms as the single-process op's own count
(two positions per channel: the closed forms of docs/relation-op-numerics.md,
section 6).
"""
import torch
import torch.distributed as dist

from smartops import _extension
from smartops.ops.relation_pool import memory_format_of
from smartops.ops.running_stats import update_running_stats

# Doubles per record: PairMoments (csrc/common/pair_moments.h) and
# PairGradSums (csrc/common/relation_coeffs.h); opcheck compares them with
# what the kernels return.
MOMENT_RECORD_WIDTH = 15
GRAD_SUM_WIDTH = 10

if _extension.is_built():

    @torch.library.register_fake("smartops::relation_pool_moments")
    def _moments_fake(x):
        return x.new_empty((x.shape[1] // 2, MOMENT_RECORD_WIDTH), dtype=torch.float64)

    @torch.library.register_fake("smartops::relation_pool_merge_stats")
    def _merge_stats_fake(moments, weight1, bias1, weight2, bias2, eps):
        return (torch.empty_like(weight1), torch.empty_like(weight1), torch.empty_like(weight2),
                torch.empty_like(weight2))

    @torch.library.register_fake("smartops::relation_pool_apply")
    def _apply_fake(x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, count, eps, relu):
        return torch.empty((x.shape[0], x.shape[1] // 2) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device,
                           memory_format=memory_format_of(x))

    @torch.library.register_fake("smartops::relation_pool_grad_sums")
    def _grad_sums_fake(grad_out, x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, count, eps, relu):
        return x.new_empty((x.shape[1] // 2, GRAD_SUM_WIDTH), dtype=torch.float64)

    @torch.library.register_fake("smartops::relation_pool_grad_input")
    def _grad_input_fake(grad_out, x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, grad_sums, count,
                         eps, relu):
        dx = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=memory_format_of(x))
        return dx, torch.empty_like(weight1), torch.empty_like(bias1), torch.empty_like(weight2), torch.empty_like(bias2)


def _all_gather_rows(records, group):
    """(processes, pairs, width): every process's records, in rank order."""
    parts = [torch.empty_like(records) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, records, group=group)
    return torch.stack(parts)


def _global_statistics(x, weight1, bias1, weight2, bias2, eps, group):
    """Forward phases 1-2: both BNs' batch statistics over all processes, and
    the number of positions per channel they cover."""
    ops = torch.ops.smartops
    with torch.no_grad():  # the apply pass's backward differentiates them
        moments = _all_gather_rows(ops.relation_pool_moments(x), group)
        stats = ops.relation_pool_merge_stats(moments, weight1, bias1, weight2, bias2, eps)
    count = int(moments[:, :, 0].sum().item()) // moments.shape[1]  # field 0 of a record: its positions
    return stats, count


class _SyncRelationPool(torch.autograd.Function):
    """Apply pass given the global statistics; backward: sums, all-reduce, dx."""

    @staticmethod
    def forward(ctx, x, weight1, bias1, weight2, bias2, mean1, var1, mean2, var2, count, eps, relu, group):
        stats = (mean1, var1, mean2, var2)
        # A process without clips gets an empty output and still takes part
        # in the collectives.
        out = torch.ops.smartops.relation_pool_apply(x, weight1, bias1, weight2, bias2, *stats, count, eps, relu)
        ctx.save_for_backward(x, weight1, bias1, weight2, bias2, *stats)
        ctx.eps, ctx.relu, ctx.group, ctx.count = eps, relu, group, count
        return out

    @staticmethod
    def backward(ctx, grad_out):
        ops = torch.ops.smartops
        saved = ctx.saved_tensors
        sums = ops.relation_pool_grad_sums(grad_out, *saved, ctx.count, ctx.eps, ctx.relu)
        dist.all_reduce(sums, group=ctx.group)
        dx, *param_grads = ops.relation_pool_grad_input(grad_out, *saved, sums, ctx.count, ctx.eps, ctx.relu)
        # The parameter gradients are already those of the whole batch; each
        # process returns its 1/world share, so that summing (or DDP's
        # averaging) over processes gives what SyncBatchNorm's per-process
        # contributions give.
        world = dist.get_world_size(ctx.group)
        return (dx,) + tuple(g / world for g in param_grads) + (None,) * 8


def _autocast_input(x):
    """x as relation_pool's autocast rule casts it (csrc/ops/autocast.cpp):
    float32 on CPU, the autocast dtype on CUDA; float64 is left alone. Done
    here once, so that the statistics, the apply pass and the backward
    phases all see the same x (a differentiable cast: x's gradient comes
    back in its own dtype)."""
    device = x.device.type
    if device not in ("cpu", "cuda") or not torch.is_autocast_enabled(device) or x.dtype == torch.float64:
        return x
    return x.to(torch.get_autocast_dtype(device) if device == "cuda" else torch.float32)


def sync_relation_pool(x, weight1, bias1, running_mean1, running_var1, weight2, bias2, running_mean2, running_var2,
                       momentum, eps, relu, group):
    """Training-mode `relation_pool` with batch statistics over every
    process of `group` (a torch.distributed process group, or None for the
    default one). Every process must call it, with the same shapes except
    x's batch size, which may be 0. Weights and biases are tensors here.
    Running statistics, when given, are updated from the global batch as
    nn.BatchNorm3d updates them for one process holding all clips."""
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("relation_pool: process_group given but torch.distributed is not initialised; call "
                           "torch.distributed.init_process_group first (or pass process_group=None)")
    _extension.require_kernel("relation_pool_moments", x.device)  # the phases: CPU and CUDA kernels
    x = _autocast_input(x)
    stats, count = _global_statistics(x, weight1, bias1, weight2, bias2, eps, group)
    out = _SyncRelationPool.apply(x, weight1, bias1, weight2, bias2, *stats, count, eps, relu, group)
    update_running_stats(running_mean1, running_var1, stats[0], stats[1], count, momentum)
    update_running_stats(running_mean2, running_var2, stats[2], stats[3], count, momentum)
    return out
