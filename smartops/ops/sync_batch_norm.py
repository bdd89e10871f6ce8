"""Training-mode BatchNorm (optionally + ReLU) with its batch statistics
synchronised across processes, on any torch.distributed backend (gloo on
the CPU included), where nn.SyncBatchNorm needs CUDA.

Forward: one all_gather of each process's (count, mean, sum of squared
deviations) per channel in float64, merged exactly (Chan's pairwise
formula, no sum-of-squares cancellation). Backward: one all_reduce of
(sum dy, sum dy * (x - mean)) per channel. Autograd saves x and per-channel
vectors only, so with relu=True it keeps batch_norm_relu's memory saving.
"""
import torch
import torch.distributed as dist

from smartops.ops.batch_norm_relu import _affine, _batch_stats
from smartops.ops.running_stats import update_running_stats


def _reduced_dims(x):
    return [d for d in range(x.dim()) if d != 1]


def _local_moments(x, weight):
    """(channels, 3) float64: this process's count, mean and sum of squared
    deviations per channel (zeros for a process without data)."""
    count = x.numel() // x.shape[1]
    if count == 0:
        return torch.zeros(x.shape[1], 3, dtype=torch.float64, device=x.device)
    mean, var = _batch_stats(x.to(weight.dtype))
    mean, var = mean.double(), var.double()
    return torch.stack([torch.full_like(mean, count), mean, var * count], dim=1)


def _global_mean_var(x, weight, group):
    """Mean and biased variance over every process's batch (in weight's
    dtype) and the global count per channel."""
    local = _local_moments(x, weight)
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, local, group=group)
    counts, means, m2s = torch.stack(parts).unbind(dim=2)  # each (processes, channels)
    total = counts.sum(0)
    mean = (counts * means).sum(0) / total
    m2 = (m2s + counts * (means - mean).square()).sum(0)
    count = int(total[0].item())
    return mean.to(weight.dtype), (m2 / total).to(weight.dtype), count


class _SyncBatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, mean, invstd, count, relu, group):
        out = _affine(x, weight, bias, mean, invstd)
        if relu:
            out = out.relu_()
        ctx.save_for_backward(x, weight, bias, mean, invstd)
        ctx.count, ctx.relu, ctx.group = count, relu, group
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, bias, mean, invstd = ctx.saved_tensors
        grad_q = grad_out.to(x.dtype)
        if ctx.relu:  # the ReLU mask, recomputed from x bit for bit
            grad_q = torch.ops.aten.threshold_backward(grad_q, _affine(x, weight, bias, mean, invstd), 0)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        centred = x.to(weight.dtype) - mean.view(shape)
        dims = _reduced_dims(x)
        local = torch.stack([grad_q.sum(dims, dtype=weight.dtype), (grad_q * centred).sum(dims, dtype=weight.dtype)])
        # Parameter gradients from this process's data only: summed (or
        # averaged by DDP) over processes they give the batch's, as
        # nn.SyncBatchNorm's do.
        grad_weight, grad_bias = local[1] * invstd, local[0].clone()
        sums = local.clone()
        dist.all_reduce(sums, group=ctx.group)
        mean_dy, mean_dy_xmu = (sums / ctx.count).unbind(0)
        scale = (invstd * weight).view(shape)
        grad_x = (grad_q - mean_dy.view(shape) - centred * (invstd.square() * mean_dy_xmu).view(shape)) * scale
        return grad_x.to(x.dtype), grad_weight, grad_bias, None, None, None, None, None


def sync_batch_norm(x, weight, bias, running_mean, running_var, momentum, eps, relu, group):
    """F.batch_norm(x, running_mean, running_var, weight, bias, True,
    momentum, eps) (then a ReLU when relu=True) with the batch statistics of
    every process of `group` (None: the default group). Every process must
    call it, with the same channels; x's batch size may differ, even be 0.
    Running statistics follow nn.BatchNorm for one process holding every
    process's data (unbiased variance over the global batch)."""
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("sync_batch_norm: torch.distributed is not initialised; call "
                           "torch.distributed.init_process_group first")
    if weight is None or bias is None:
        raise ValueError("sync_batch_norm: needs an affine BatchNorm (weight and bias)")
    with torch.no_grad():
        mean, var, count = _global_mean_var(x, weight, group)
    if count < 2:
        raise ValueError("sync_batch_norm: expected more than 1 value per channel over all processes, got %d"
                         % count)
    update_running_stats(running_mean, running_var, mean, var, count, momentum)
    invstd = torch.rsqrt(var + eps)
    return _SyncBatchNorm.apply(x, weight, bias, mean, invstd, count, relu, group)
