"""concat_reduce vs cat + conv3d (eager and torch.compile), forward and
forward+backward, at the fusion layers of ARTNet-ResNet18 blocks.

    python -m pytest benchmarks/test_bench_concat_reduce.py
"""
import pytest
import torch

from smartops import _extension
from smartops.ops import concat_reduce, concat_reduce_reference

pytestmark = pytest.mark.skipif(not _extension.has_kernel("concat_reduce", "cpu"), reason="extension not built")

# (N, C, T, H, W) of the block output: a has C channels, z C/2, out C.
CPU_SHAPES = [(8, 64, 8, 28, 28), (8, 128, 4, 28, 28)]
_compiled = torch.compile(concat_reduce_reference)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("shape", CPU_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("pass_", ["forward", "forward+backward"])
@pytest.mark.parametrize("impl", ["fused", "eager", "compiled"])
def test_concat_reduce_cpu(benchmark, impl, pass_, shape, layout):
    torch.manual_seed(0)
    n, c, *size = shape
    fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    a = torch.randn(n, c, *size).contiguous(memory_format=fmt).requires_grad_()
    z = torch.randn(n, c // 2, *size).contiguous(memory_format=fmt).requires_grad_()
    w = torch.randn(c, c + c // 2, 1, 1, 1, requires_grad=True)
    grad = torch.randn(shape).contiguous(memory_format=fmt)
    fn = {"fused": concat_reduce, "eager": concat_reduce_reference, "compiled": _compiled}[impl]

    def run():
        out = fn(a, z, w)
        if pass_ == "forward":
            return out
        return torch.autograd.grad(out, (a, z, w), grad)

    benchmark.group = "concat_reduce %s %s f32 %s cpu" % (
        "fwd" if pass_ == "forward" else "fwd+bwd", "x".join(map(str, shape)),
        "NDHWC" if layout == "channels_last" else "NCDHW")
    benchmark.extra_info.update(impl=impl, shape=list(shape), layout=layout, pass_=pass_)
    benchmark.pedantic(run, rounds=15, warmup_rounds=5, iterations=1)
