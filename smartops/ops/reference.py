"""Pure-PyTorch reference compositions of the fused ops.

These are the definitions the fused kernels are tested against and the
fallback that `fused=False` (or "auto" without a kernel) modules run. They
are plain eager code: every intermediate is materialised.
"""
import torch
import torch.nn.functional as F


def pair_mean(u):
    """Mean of adjacent channel pairs (2k, 2k+1): (N, 2C, ...) -> (N, C, ...).

    The SMART block's cross-channel pooling: a fixed weight of 0.5 on each
    channel of a pair, nothing learned.
    """
    return u.unflatten(1, (-1, 2)).mean(2)


def relation_pool_reference(x, weight1, bias1, running_mean1, running_var1, weight2, bias2, running_mean2,
                            running_var2, training, momentum=0.1, eps=1e-5, relu=True):
    """BN1 -> square -> adjacent-pair mean -> BN2 -> optional ReLU, with
    `F.batch_norm` semantics (running statistics updated in place when
    training and given)."""
    u = F.batch_norm(x, running_mean1, running_var1, weight1, bias1, training, momentum, eps)
    q = F.batch_norm(pair_mean(u.square()), running_mean2, running_var2, weight2, bias2, training, momentum, eps)
    return F.relu(q) if relu else q


def concat_reduce_reference(a, z, weight, bias=None):
    """1x1x1 convolution of the channel concatenation [a, z]."""
    return F.conv3d(torch.cat([a, z], dim=1), weight, bias)
