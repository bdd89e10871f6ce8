"""End-to-end training-step throughput: ARTNet-ResNet18 (d) fused, the same
model unfused (fused=False), and C3D-ResNet18, on synthetic clips (no data
loading): forward, cross-entropy, backward and an SGD step.

    python -m pytest benchmarks/test_bench_models.py

CPU: width 0.25 (16/32/64/128 channels), batch 8, 16x112x112 clips. GPU
(skipped without one): full width, batch 8 and 32, float32 and bf16
autocast; the peak memory of a step is recorded in extra_info.
"""
import copy

import pytest
import torch
import torch.nn.functional as F

from smartops import _extension
from smartops.models import artnet_resnet18, c3d_resnet18, set_fused

IMPLS = ["fused", "eager", "c3d"]  # ARTNet (d) fused, ARTNet (d) unfused, C3D-ResNet18
_models = {}


def build(impl, width, device):
    key = (impl, width, device)
    if key not in _models:
        torch.manual_seed(0)
        if impl == "c3d":
            model = c3d_resnet18(width=width, num_classes=400)
        else:
            model = set_fused(artnet_resnet18("d", width=width, num_classes=400), impl == "fused")
        _models[key] = model.to(device)
    return copy.deepcopy(_models[key])


def train_step_bench(benchmark, impl, device, width, batch, dtype, rounds):
    model = build(impl, width, device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    clips = torch.randn(batch, 3, 16, 112, 112, device=device)
    labels = torch.randint(0, 400, (batch,), device=device)
    cuda = device == "cuda"

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32):
            loss = F.cross_entropy(model(clips), labels)
        loss.backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()

    dname = "bf16" if dtype == torch.bfloat16 else "f32"
    benchmark.group = "train step %s width %g batch %d %s %s" % ("ARTNet(d)/C3D-R18", width, batch, dname, device)
    benchmark.extra_info.update(impl=impl, batch=batch, width=width, dtype=dname)
    if cuda:
        step()
        torch.cuda.reset_peak_memory_stats()
        step()
        benchmark.extra_info["peak_bytes"] = torch.cuda.max_memory_allocated()
        benchmark.extra_info["device"] = torch.cuda.get_device_name()
    benchmark.pedantic(step, rounds=rounds, warmup_rounds=3, iterations=1)
    benchmark.extra_info["clips_per_s"] = batch / benchmark.stats.stats.median


@pytest.mark.skipif(not _extension.has_kernel("concat_reduce", "cpu"), reason="extension not built")
@pytest.mark.parametrize("impl", IMPLS)
def test_train_step_cpu(benchmark, impl):
    train_step_bench(benchmark, impl, "cpu", width=0.25, batch=8, dtype=torch.float32, rounds=15)


@pytest.mark.skipif(not (torch.cuda.is_available() and _extension.has_kernel("relation_pool", "cuda")),
                    reason="needs a CUDA GPU and smartops built with CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("batch", [8, 32])
@pytest.mark.parametrize("impl", IMPLS)
def test_train_step_cuda(benchmark, impl, batch, dtype):
    train_step_bench(benchmark, impl, "cuda", width=1.0, batch=batch, dtype=dtype, rounds=20)
