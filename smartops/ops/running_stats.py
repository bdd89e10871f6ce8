"""Running-statistics updates of the functional ops, as nn.BatchNorm does them."""
import torch


def update_running_stats(running_mean, running_var, mean, var, count, momentum):
    """running = (1 - momentum) running + momentum batch, with the unbiased
    variance var * count / (count - 1). No-op when running_mean is None.
    momentum may be a 0-d tensor (1/num_batches_tracked for momentum=None),
    so torch.compile needs no graph break."""
    if running_mean is None:
        return
    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_(mean * momentum)
        running_var.mul_(1 - momentum).add_(var * (momentum * count / (count - 1)))


def check_running_pair(op, name, mean, var):
    if (mean is None) != (var is None):
        raise ValueError("%s: running_mean%s and running_var%s must be given together" % (op, name, name))
