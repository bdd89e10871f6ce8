"""Helpers shared by the operator tests."""
import pytest
import torch

from smartops import _extension


def requires_kernel(*ops, device="cpu"):
    missing = [op for op in ops if not _extension.has_kernel(op, device)]
    return pytest.mark.skipif(bool(missing), reason="smartops._C has no %s kernel for %s" % (missing, device))


cuda_only = pytest.mark.skipif(not (torch.cuda.is_available() and _extension.built_with_cuda()),
                               reason="needs a CUDA GPU and smartops built with CUDA")


def saved_bytes(fn):
    """Runs fn() and returns (its result, bytes autograd saved for backward),
    counting each storage once."""
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[(s.data_ptr(), t.device)] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())


def relation_params(channels, dtype=torch.float32, device="cpu", seed=0, requires_grad=False):
    """Non-trivial BN parameters and running statistics for a relation op of
    `channels` input channels: dict with weight1, bias1, running_mean1, ..."""
    g = torch.Generator().manual_seed(seed)
    c = channels // 2

    def t(*shape, lo=None, hi=None):
        v = torch.rand(*shape, generator=g, dtype=torch.float64) if lo is not None else \
            torch.randn(*shape, generator=g, dtype=torch.float64)
        if lo is not None:
            v = lo + (hi - lo) * v
        return v.to(dtype=dtype, device=device)

    p = dict(weight1=t(channels, lo=0.5, hi=1.5), bias1=t(channels), weight2=t(c, lo=0.5, hi=1.5), bias2=t(c),
             running_mean1=t(channels), running_var1=t(channels, lo=0.5, hi=2.0), running_mean2=t(c, lo=0.5, hi=2.0),
             running_var2=t(c, lo=0.5, hi=2.0))
    if requires_grad:
        for k in ("weight1", "bias1", "weight2", "bias2"):
            p[k].requires_grad_(True)
    return p


def channels_last(x):
    return x.contiguous(memory_format=torch.channels_last_3d)
