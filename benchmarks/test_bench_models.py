"""ARTNet-ResNet18 (d), full width, one training step (forward + backward) on
a 1 x 3 x 16 x 112 x 112 clip: fused SMART blocks vs the same model with
fused=False (pure-PyTorch composition).

    python -m pytest benchmarks/test_bench_models.py
"""
import copy

import pytest
import torch

from smartops import _extension
from smartops.models import artnet_resnet18, set_fused

pytestmark = pytest.mark.skipif(not _extension.has_kernel("concat_reduce", "cpu"), reason="extension not built")

SHAPE = (1, 3, 16, 112, 112)
_models = {}


def model(impl):
    if impl not in _models:
        torch.manual_seed(0)
        fused = artnet_resnet18("d", fused=True)
        _models.update(fused=fused, eager=set_fused(copy.deepcopy(fused), False))
    return _models[impl]


@pytest.mark.parametrize("impl", ["fused", "eager"])
def test_artnet_resnet18_d_train_step_cpu(benchmark, impl):
    m = model(impl).train()
    x = torch.randn(SHAPE)
    params = list(m.parameters())

    def step():
        return torch.autograd.grad(m(x).logsumexp(1).sum(), params)

    benchmark.group = "ARTNet-R18 (d) fwd+bwd %s f32 cpu" % "x".join(map(str, SHAPE))
    benchmark.extra_info.update(impl=impl, shape=list(SHAPE))
    benchmark.pedantic(step, rounds=3, warmup_rounds=1, iterations=1)
