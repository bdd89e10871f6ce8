"""Reading an nn.BatchNorm module the way its own forward does, for modules
that hand its parameters and buffers to a functional fused op."""


def batch_norm_mode(bn):
    """(use batch statistics?, running-average factor), incrementing
    num_batches_tracked as nn.BatchNorm's forward does.

    The factor is bn.momentum, or 1/num_batches_tracked (a 0-d tensor, so
    that torch.compile needs no graph break) for momentum=None.
    """
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            factor = 1.0 / bn.num_batches_tracked
    batch_stats = bn.training or (bn.running_mean is None and bn.running_var is None)
    return batch_stats, factor


def running_stats(bn, batch_stats):
    """The running buffers to read (evaluation) or update (training), as
    nn.BatchNorm passes them to F.batch_norm; (None, None) for neither."""
    if not batch_stats or bn.track_running_stats:
        return bn.running_mean, bn.running_var
    return None, None


def batch_norm_args(bn):
    """Arguments (weight, bias, running_mean, running_var, training, momentum,
    eps) of a functional batch-norm-like op standing in for bn(x)."""
    batch_stats, factor = batch_norm_mode(bn)
    mean, var = running_stats(bn, batch_stats)
    return bn.weight, bn.bias, mean, var, batch_stats, factor, bn.eps
