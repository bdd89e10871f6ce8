"""relation_pool: fused op vs the eager reference vs torch.compile of the
reference, forward and forward+backward (training mode).

    python -m pytest benchmarks/test_bench_relation_pool.py

The summary at the end prints the speed-ups measured in this run.
"""
import pytest
import torch

from smartops import _extension
from smartops.nn import RelationPool

pytestmark = pytest.mark.skipif(not _extension.has_kernel("relation_pool", "cpu"), reason="extension not built")

CPU_SHAPES = [(8, 64, 8, 28, 28), (8, 128, 4, 28, 28)]
_compiled = {}


def module(impl, channels):
    if impl == "compiled":
        # One compiled module per channel count, reused across rounds so
        # that compilation is not timed (warm-up rounds trigger it).
        if channels not in _compiled:
            _compiled[channels] = torch.compile(RelationPool(channels, fused=False))
        return _compiled[channels]
    return RelationPool(channels, fused=(impl == "fused"))


def shape_id(shape):
    return "x".join(map(str, shape))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("shape", CPU_SHAPES, ids=shape_id)
@pytest.mark.parametrize("pass_", ["forward", "forward+backward"])
@pytest.mark.parametrize("impl", ["fused", "eager", "compiled"])
def test_relation_pool_cpu(benchmark, impl, pass_, shape, layout):
    torch.manual_seed(0)
    fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    x = torch.randn(shape).contiguous(memory_format=fmt).requires_grad_()
    m = module(impl, shape[1])
    grad = torch.randn(shape[0], shape[1] // 2, *shape[2:]).contiguous(memory_format=fmt)

    def forward():
        return m(x)

    def forward_backward():
        return torch.autograd.grad(m(x), x, grad)

    benchmark.group = "relation_pool %s %s f32 %s cpu" % (
        "fwd" if pass_ == "forward" else "fwd+bwd", shape_id(shape), "NDHWC" if layout == "channels_last" else "NCDHW")
    benchmark.extra_info.update(impl=impl, shape=list(shape), layout=layout, pass_=pass_)
    fn = forward if pass_ == "forward" else forward_backward
    benchmark.pedantic(fn, rounds=20, warmup_rounds=10, iterations=1)
