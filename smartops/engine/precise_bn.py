"""Precise BatchNorm statistics: every BatchNorm's running mean and variance
recomputed with the current weights over a number of training batches.

During training the running statistics are exponential averages of batch
statistics taken while the weights moved; in evaluation they can lag far
behind the weights, and ARTNet's relation units square and renormalise such
lagging values (a running variance off by r scales a unit's output by ~r).
As in fvcore / SlowFast's precise BN and torch.optim.swa_utils.update_bn,
the statistics are reset and rebuilt as the equal-weight average of the
batch statistics of `num_batches` forward passes in training mode, so they
describe what the network does with its present weights.

Every BatchNorm that trains is covered: nn.BatchNorm*, nn.SyncBatchNorm, and
those whose buffers a fused op updates (bn1 / bn2 of RelationPool, the BN of
SMART's fused BN+ReLU), because they all update their running statistics
with the module's momentum, set to 1/k for the k-th batch (a cumulative
average, as fvcore does; a Python float, so float64 statistics stay exact). Both BNs of a relation unit
are gathered in the same pass, in training-mode semantics: BN2's statistics
describe values normalised with BN1's batch statistics, as in training.
With several processes the averages are all-reduced, so every process ends
with the same statistics.
"""
import time

import torch
import torch.distributed as dist
import torch.nn as nn

__all__ = ["trained_batch_norms", "recompute_bn_stats"]


def trained_batch_norms(model):
    """The BatchNorms that update running statistics in training mode, as the
    model is now (call after setting its training mode: partial BN keeps the
    frozen ones in eval mode, and those keep their statistics)."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats]


def _average_over_processes(bns, num_batches):
    """Averages the statistics over processes, weighting each by its batches."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return
    flat = torch.cat([torch.cat([bn.running_mean, bn.running_var]).double() * num_batches for bn in bns] +
                     [torch.tensor([float(num_batches)], dtype=torch.float64, device=bns[0].running_mean.device)])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat = flat[:-1] / flat[-1]
    offset = 0
    for bn in bns:
        c = bn.running_mean.numel()
        bn.running_mean.copy_(flat[offset:offset + c])
        bn.running_var.copy_(flat[offset + c:offset + 2 * c])
        offset += 2 * c


@torch.no_grad()
def recompute_bn_stats(model, batches, num_batches, forward=None):
    """Replaces the running statistics of `trained_batch_norms(model)` by
    their average over the first `num_batches` batches of `batches` (fewer if
    it runs out). `model` must be in its training mode (model.train(), or
    partial BN's mode); only its BatchNorms run in training mode during the
    passes (dropout is off, so no random numbers are drawn). forward(model,
    batch) runs one batch (default: model(batch[0])). Momentum,
    num_batches_tracked and every module's mode are restored. Returns
    (batches used, seconds)."""
    t0 = time.perf_counter()
    bns = trained_batch_norms(model)
    if not bns or num_batches <= 0:
        return 0, 0.0
    forward = forward or (lambda m, batch: m(batch[0]))
    modes = {m: m.training for m in model.modules()}
    saved = [(bn.momentum, bn.num_batches_tracked.clone(), bn.running_mean.clone(), bn.running_var.clone())
             for bn in bns]
    model.eval()
    for bn in bns:
        bn.train()
        bn.reset_running_stats()
    used = 0
    try:
        for batch in batches:
            if used >= num_batches:
                break
            for bn in bns:  # a cumulative average: every batch weighs the same
                bn.momentum = 1.0 / (used + 1)
            forward(model, batch)
            used += 1
        _average_over_processes(bns, used)
    finally:
        for bn, (momentum, tracked, mean, var) in zip(bns, saved):
            bn.momentum = momentum
            bn.num_batches_tracked.copy_(tracked)
            if used == 0:  # nothing seen (or interrupted at once): keep the old statistics
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
        for m, training in modes.items():
            m.training = training
    return used, time.perf_counter() - t0
