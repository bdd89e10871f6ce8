"""RelationPool: the relation branch of a SMART block after its 3D conv."""
import torch.nn as nn
import torch.nn.functional as F

from smartops.nn.batch_norm_mode import batch_norm_mode, running_stats
from smartops.nn.fused_dispatch import check_fused_arg, use_fused
from smartops.ops.reference import pair_mean
from smartops.ops.relation_pool import relation_pool


class RelationPool(nn.Module):
    """BN -> square -> mean of adjacent channel pairs -> BN -> ReLU.

    Input (N, channels, T, H, W), output (N, channels // 2, T, H, W). Holds
    `bn1 = BatchNorm3d(channels)` and `bn2 = BatchNorm3d(channels // 2)`, so
    the state_dict is that of the unfused composition; the pair mean has
    fixed weights (0.5) and no parameters.

    fused: True runs the fused op `smartops.ops.relation_pool`, False the
    pure-PyTorch composition, "auto" the op when the extension has a kernel
    for the input's device and dtype (else the composition, with a warning
    once).

    process_group: a torch.distributed process group (e.g.
    torch.distributed.group.WORLD) over which the batch statistics are
    synchronised in training, as nn.SyncBatchNorm does, on any backend;
    needs the fused op. None: no synchronisation.
    """

    def __init__(self, channels, eps=1e-5, momentum=0.1, relu=True, fused="auto", process_group=None):
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError("RelationPool: channels must be even and >= 2 (adjacent pairs are pooled), got %d"
                             % channels)
        self.channels = channels
        self.relu = relu
        self.fused = check_fused_arg(fused)
        if process_group is not None and self.fused is False:
            raise ValueError("RelationPool: process_group (synchronised statistics) needs the fused op; "
                             "use fused=True or 'auto'")
        self.process_group = process_group
        self.bn1 = nn.BatchNorm3d(channels, eps=eps, momentum=momentum)
        self.bn2 = nn.BatchNorm3d(channels // 2, eps=eps, momentum=momentum)

    def extra_repr(self):
        return "channels=%d, relu=%s, fused=%r" % (self.channels, self.relu, self.fused)

    def forward(self, x):
        if use_fused(self.fused, "relation_pool", x, type(self).__name__):
            return self._forward_fused(x)
        if self.process_group is not None and self.training:
            raise RuntimeError("RelationPool: process_group is set but the fused op has no kernel for %s %s "
                               "input, so the statistics would not be synchronised" % (x.device, x.dtype))
        q = self.bn2(pair_mean(self.bn1(x).square()))
        return F.relu(q) if self.relu else q

    def _forward_fused(self, x):
        bn1, bn2 = self.bn1, self.bn2
        if bn1.eps != bn2.eps or bn1.momentum != bn2.momentum:
            raise ValueError("RelationPool: the fused op needs bn1 and bn2 to share eps and momentum; got "
                             "eps %g/%g, momentum %s/%s" % (bn1.eps, bn2.eps, bn1.momentum, bn2.momentum))
        # Both BNs count the batch; with momentum=None the shared factor is
        # 1/num_batches_tracked of bn1 (the two counters advance together).
        batch_stats, factor = batch_norm_mode(bn1)
        batch_stats2, _ = batch_norm_mode(bn2)
        if batch_stats != batch_stats2:
            raise ValueError("RelationPool: bn1 and bn2 must both use batch statistics or both running ones")
        rm1, rv1 = running_stats(bn1, batch_stats)
        rm2, rv2 = running_stats(bn2, batch_stats)
        return relation_pool(x, bn1.weight, bn1.bias, rm1, rv1, bn2.weight, bn2.bias, rm2, rv2, batch_stats,
                             momentum=factor, eps=bn1.eps, relu=self.relu, process_group=self.process_group)
