"""A SMART block (the ARTNet res2 shape: 64 channels, 8x28x28 at batch 8),
forward+backward in training mode: fused vs unfused vs torch.compile of the
unfused block.

    python -m pytest benchmarks/test_bench_smart.py
"""
import copy

import pytest
import torch

from smartops import _extension
from smartops.nn import SMART

pytestmark = pytest.mark.skipif(not _extension.has_kernel("concat_reduce", "cpu"), reason="extension not built")

SHAPE = (8, 64, 8, 28, 28)
_blocks = {}


def block(impl):
    if impl not in _blocks:
        torch.manual_seed(0)
        fused = SMART(64, 64, 3, fused=True)
        unfused = copy.deepcopy(fused)
        unfused.fused = False
        _blocks.update(fused=fused, eager=unfused, compiled=torch.compile(copy.deepcopy(unfused)))
    return _blocks[impl]


@pytest.mark.parametrize("impl", ["fused", "eager", "compiled"])
def test_smart_block_cpu(benchmark, impl):
    m = block(impl)
    x = torch.randn(SHAPE, requires_grad=True)
    grad = torch.randn(SHAPE)

    def forward_backward():
        return torch.autograd.grad(m(x), [x] + list(m.parameters()), grad)

    benchmark.group = "SMART(64, 64, 3) fwd+bwd %s f32 NCDHW cpu" % "x".join(map(str, SHAPE))
    benchmark.extra_info.update(impl=impl, shape=list(SHAPE))
    benchmark.pedantic(forward_backward, rounds=10, warmup_rounds=4, iterations=1)
