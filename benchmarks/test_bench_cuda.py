"""CUDA benchmarks of the fused ops at ARTNet-ResNet18 layer shapes (batch
32: res2 64x8x56x56, res3 128x4x28x28, res4 256x2x14x14), float32 and
bfloat16: fused vs eager reference vs torch.compile of the reference, and
the fused op's effective bandwidth against a device-to-device copy.

    python -m pytest benchmarks/test_bench_cuda.py

Each round flushes L2 first (pytest-benchmark's setup, untimed) and ends
with torch.cuda.synchronize(). Skipped without a GPU.
"""
import copy

import pytest
import torch

from cuda_timing import copy_bandwidth_gbs, flush_l2
from smartops import _extension
from smartops.nn import RelationPool
from smartops.ops import concat_reduce, concat_reduce_reference

pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() and _extension.has_kernel("relation_pool", "cuda")),
                                reason="needs a CUDA GPU and smartops built with CUDA")

SHAPES = [(32, 64, 8, 56, 56), (32, 128, 4, 28, 28), (32, 256, 2, 14, 14)]
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}
_modules = {}
_copy_gbs = {}


def shape_id(shape):
    return "x".join(map(str, shape))


def relation_module(impl, channels):
    key = (impl, channels)
    if key not in _modules:
        fused = RelationPool(channels, fused=True).cuda()
        unfused = copy.deepcopy(fused)
        unfused.fused = False
        _modules[("fused", channels)] = fused
        _modules[("eager", channels)] = unfused
        _modules[("compiled", channels)] = torch.compile(copy.deepcopy(unfused))
    return _modules[key]


def modeled_bytes(x, pass_):
    """Minimum traffic of the two-pass design (notes): training forward reads
    x twice and writes y (2.5 |x|), backward reads x and dy twice and writes
    dx (4 |x|)."""
    nbytes = x.numel() * x.element_size()
    return {"forward": 2.5, "forward+backward": 6.5}[pass_] * nbytes


def run_rounds(benchmark, fn):
    def timed():
        fn()
        torch.cuda.synchronize()

    benchmark.pedantic(timed, setup=flush_l2, rounds=50, warmup_rounds=5, iterations=1)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("pass_", ["forward", "forward+backward"])
@pytest.mark.parametrize("impl", ["fused", "eager", "compiled"])
def test_relation_pool_cuda(benchmark, impl, pass_, shape, dtype):
    torch.manual_seed(0)
    dt = DTYPES[dtype]
    x = torch.randn(shape, device="cuda", dtype=dt).requires_grad_()
    grad = torch.randn(shape[0], shape[1] // 2, *shape[2:], device="cuda", dtype=dt)
    m = relation_module(impl, shape[1])

    def fn():  # bf16 x with float32 BN parameters, as under autocast
        y = m(x)
        if pass_ != "forward":
            torch.autograd.grad(y, x, grad)

    benchmark.group = "relation_pool %s %s %s cuda" % ("fwd" if pass_ == "forward" else "fwd+bwd", shape_id(shape),
                                                        dtype)
    benchmark.extra_info.update(impl=impl, shape=list(shape), dtype=dtype, pass_=pass_,
                                device=torch.cuda.get_device_name(), modeled_bytes=modeled_bytes(x, pass_))
    if "copy_gbs" not in _copy_gbs:
        _copy_gbs["copy_gbs"] = copy_bandwidth_gbs()
    benchmark.extra_info["copy_gbs"] = _copy_gbs["copy_gbs"]
    run_rounds(benchmark, fn)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("impl", ["fused", "eager", "compiled"])
def test_concat_reduce_cuda(benchmark, impl, shape, dtype):
    dt = DTYPES[dtype]
    n, c, *size = shape
    a = torch.randn(n, c, *size, device="cuda", dtype=dt, requires_grad=True)
    z = torch.randn(n, c // 2, *size, device="cuda", dtype=dt, requires_grad=True)
    w = torch.randn(c, c + c // 2, 1, 1, 1, device="cuda", dtype=dt, requires_grad=True)
    grad = torch.randn(shape, device="cuda", dtype=dt)
    op = {"fused": concat_reduce, "eager": concat_reduce_reference}.get(impl)
    if op is None:
        op = _modules.setdefault(("concat_compiled",), torch.compile(concat_reduce_reference))

    def fn():
        torch.autograd.grad(op(a, z, w), (a, z, w), grad)

    benchmark.group = "concat_reduce fwd+bwd %s %s cuda" % (shape_id(shape), dtype)
    benchmark.extra_info.update(impl=impl, shape=list(shape), dtype=dtype, device=torch.cuda.get_device_name())
    run_rounds(benchmark, fn)
