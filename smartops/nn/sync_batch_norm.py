"""SyncBatchNorm on every backend, and the conversion of a model to it."""
import torch.distributed as dist
import torch.nn as nn

from smartops.nn.batch_norm_mode import batch_norm_args
from smartops.nn.relation_pool import RelationPool
from smartops.ops.batch_norm_relu import batch_norm_relu
from smartops.ops.sync_batch_norm import sync_batch_norm


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A BatchNorm (any input of 2 or more dims) whose training statistics
    are synchronised across `process_group` (None: the default group) with
    smartops.ops.sync_batch_norm, on any device and torch.distributed
    backend (gloo on the CPU too). Not an nn.SyncBatchNorm subclass: DDP
    refuses those on the CPU. Same parameters, buffers and state_dict as
    nn.BatchNorm3d; without an initialised group of several processes it is
    a plain BatchNorm."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError("SyncBatchNorm: expected at least 2-D input (N, C, ...), got %d-D" % x.dim())

    def forward(self, x):
        self._check_input_dim(x)
        return self.forward_relu(x, relu=False)

    def forward_relu(self, x, relu):
        """relu(self(x)) when relu, saving only x for backward (SMART's
        fused BN+ReLU); self(x) otherwise."""
        weight, bias, mean, var, batch_stats, factor, eps = batch_norm_args(self)
        if batch_stats and self._synchronised():
            return sync_batch_norm(x, weight, bias, mean, var, factor, eps, relu, self.process_group)
        if relu:
            return batch_norm_relu(x, weight, bias, mean, var, batch_stats, factor, eps)
        return nn.functional.batch_norm(x, mean, var, weight, bias, batch_stats, factor, eps)

    def _synchronised(self):
        return (dist.is_available() and dist.is_initialized()
                and dist.get_world_size(self.process_group or dist.group.WORLD) > 1)


def convert_sync_batchnorm(module, process_group=None):
    """Every BatchNorm of `module` synchronised across `process_group`
    (None: the default group, which must then be initialised): plain BNs
    become SyncBatchNorm (SMART's last BN keeps its fused ReLU), and each
    RelationPool that runs the fused op gets process_group=, so that it
    stays fused. `fused` settings are left as they were. Returns the
    converted module (the same object unless `module` is itself a BN)."""
    group = process_group
    if group is None:
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("convert_sync_batchnorm: torch.distributed is not initialised; call "
                               "torch.distributed.init_process_group first, or pass process_group=")
        group = dist.group.WORLD
    return _convert(module, process_group, group)


def _convert(module, process_group, group):
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, SyncBatchNorm):
        return _sync_copy(module, process_group)
    if isinstance(module, RelationPool) and module.fused is not False:
        module.process_group = group  # the fused op reads bn1/bn2 itself
        return module
    for name, child in module.named_children():
        module.add_module(name, _convert(child, process_group, group))
    return module


def _sync_copy(bn, process_group):
    if not bn.affine:
        raise ValueError("convert_sync_batchnorm: %r has no weight and bias (affine=False); the synchronised "
                         "BatchNorm needs them" % bn)
    sync = SyncBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, process_group)
    sync.weight, sync.bias = bn.weight, bn.bias  # the same Parameters: optimisers keep working
    sync.running_mean, sync.running_var = bn.running_mean, bn.running_var
    sync.num_batches_tracked = bn.num_batches_tracked
    sync.train(bn.training)
    return sync
