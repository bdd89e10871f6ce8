"""The CUDA kernels of relation_pool and concat_reduce (skipped without a GPU
and a CUDA build of smartops): every dtype and layout against a float64
reference, gradcheck, CPU parity, opcheck, torch.compile, robustness,
autocast and determinism."""
import copy

import pytest
import torch

from op_utils import channels_last, cuda_only, relation_params
from smartops.nn import RelationPool, SMART
from smartops.ops import concat_reduce, concat_reduce_reference, relation_pool, relation_pool_reference

pytestmark = cuda_only

PARAMS = ("weight1", "bias1", "weight2", "bias2")
STATS = ("running_mean1", "running_var1", "running_mean2", "running_var2")
# (output rtol, grad relative-norm bound) per input dtype, against float64.
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10, torch.float16: 2e-2, torch.bfloat16: 5e-2}


def kink_free_grad(pre_relu, seed=1):
    g = torch.randn(pre_relu.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.where(pre_relu.detach().double().cpu().abs() > 1e-2, g, 0)


def run(fn, x, p, training, relu=True, grad_out=None):
    x = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
    p = {k: v.detach().clone().requires_grad_(k in PARAMS) for k, v in p.items()}
    y = fn(x, p["weight1"], p["bias1"], p["running_mean1"], p["running_var1"], p["weight2"], p["bias2"],
           p["running_mean2"], p["running_var2"], training, 0.1, 1e-5, relu)
    if grad_out is not None:
        y.backward(grad_out.to(device=y.device, dtype=y.dtype))
    return y.detach(), [x.grad] + [p[k].grad for k in PARAMS], [p[k] for k in STATS]


def rel_err(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, 64, 4, 14, 14), (3, 6, 3, 5, 7), (16, 8, 1, 1, 1)], ids=str)
def test_against_float64_reference(dtype, layout, training, shape):
    gen = torch.Generator().manual_seed(0)
    x64 = torch.randn(shape, generator=gen, dtype=torch.float64) * 2 + 0.5
    p64 = relation_params(shape[1], dtype=torch.float64)
    pdt = torch.float64 if dtype == torch.float64 else torch.float32
    x = x64.to(device="cuda", dtype=dtype)
    if layout == "channels_last":
        x = channels_last(x)
    p = {k: v.to(device="cuda", dtype=pdt) for k, v in p64.items()}
    g = kink_free_grad(run(relation_pool_reference, x64, p64, training, relu=False)[0])
    y, grads, running = run(relation_pool, x, p, training, grad_out=g)
    y_ref, grads_ref, running_ref = run(relation_pool_reference, x64, p64, training, grad_out=g)
    tol = TOLERANCE[dtype]
    assert y.dtype == dtype and y.is_cuda
    fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    assert y.is_contiguous(memory_format=fmt)
    assert rel_err(y, y_ref) < tol
    for name, a, b in zip(("x",) + PARAMS, grads, grads_ref):
        assert rel_err(a, b) < 10 * tol, name
    for a, b in zip(running, running_ref):
        assert a.dtype == pdt
        assert rel_err(a, b) < 1e-4 if dtype != torch.float64 else 1e-10


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_gradcheck_float64_cuda(training, layout):
    x = torch.randn(2, 4, 3, 3, 5, dtype=torch.float64, device="cuda")
    if layout == "channels_last":
        x = channels_last(x)
    x.requires_grad_()
    p = relation_params(4, dtype=torch.float64, device="cuda", requires_grad=True)
    stats = [None if training else p[k] for k in STATS]

    def f(x, w1, b1, w2, b2):
        return relation_pool(x, w1, b1, stats[0], stats[1], w2, b2, stats[2], stats[3], training)

    assert torch.autograd.gradcheck(f, (x,) + tuple(p[k] for k in PARAMS))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_cpu_cuda_parity(dtype, layout):
    x = torch.randn(4, 32, 4, 9, 9, dtype=dtype)
    if layout == "channels_last":
        x = channels_last(x)
    p = relation_params(32, dtype=dtype)
    g = kink_free_grad(run(relation_pool_reference, x, p, True, relu=False)[0])
    y_cpu, grads_cpu, running_cpu = run(relation_pool, x, p, True, grad_out=g)
    y_gpu, grads_gpu, running_gpu = run(relation_pool, x.cuda(), {k: v.cuda() for k, v in p.items()}, True,
                                        grad_out=g)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip([y_cpu] + grads_cpu + running_cpu, [y_gpu] + grads_gpu + running_gpu):
        assert rel_err(b, a) < tol


def test_large_mean_robustness_cuda():
    x64 = 1000 + torch.randn(8, 16, 4, 16, 16, dtype=torch.float64)
    p64 = relation_params(16, dtype=torch.float64)
    g = kink_free_grad(run(relation_pool_reference, x64, p64, True, relu=False)[0])
    y, grads, _ = run(relation_pool, x64.float().cuda(), {k: v.float().cuda() for k, v in p64.items()}, True,
                      grad_out=g)
    y_ref, grads_ref, _ = run(relation_pool_reference, x64, p64, True, grad_out=g)
    assert rel_err(y, y_ref) < 1e-3
    for a, b in zip(grads, grads_ref):
        assert rel_err(a, b) < 1e-3


def test_deterministic():
    x = torch.randn(8, 64, 4, 28, 28, device="cuda")
    p = relation_params(64, device="cuda")
    g = torch.randn(8, 32, 4, 28, 28)
    first = run(relation_pool, x, p, True, grad_out=g)
    second = run(relation_pool, x, p, True, grad_out=g)
    for a, b in zip([first[0]] + first[1], [second[0]] + second[1]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_opcheck_cuda(training):
    x = torch.randn(2, 6, 3, 4, 5, device="cuda", requires_grad=True)
    p = relation_params(6, device="cuda", requires_grad=True)
    stats = [None] * 4 if training else [p[k] for k in STATS]
    torch.library.opcheck(torch.ops.smartops.relation_pool.default,
                          (x, p["weight1"], p["bias1"], p["weight2"], p["bias2"], *stats, 1e-5, True))
    a = torch.randn(2, 6, 3, 4, 5, device="cuda", requires_grad=True)
    z = torch.randn(2, 3, 3, 4, 5, device="cuda", requires_grad=True)
    w = torch.randn(5, 9, 1, 1, 1, device="cuda", requires_grad=True)
    torch.library.opcheck(torch.ops.smartops.concat_reduce.default, (a, z, w, None))


def test_compile_fullgraph_cuda():
    torch._dynamo.reset()
    eager = RelationPool(16, fused=True).cuda()
    compiled_module = copy.deepcopy(eager)
    compiled = torch.compile(compiled_module, fullgraph=True)
    x = torch.randn(4, 16, 4, 8, 8, device="cuda")
    torch.testing.assert_close(compiled(x), eager(x), rtol=1e-4, atol=1e-4)
    for a, b in zip(compiled_module.buffers(), eager.buffers()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_autocast(dtype):
    """Under autocast the ops run in the autocast dtype; BN parameters and
    running statistics stay float32."""
    pool = RelationPool(16, fused=True).cuda()
    block = SMART(8, 16, fused=True).cuda()
    x = torch.randn(2, 16, 3, 6, 6, device="cuda")
    reference = copy.deepcopy(pool).double()
    reference.fused = False
    with torch.autocast("cuda", dtype=dtype):
        y = pool(x)
        out = block(torch.randn(2, 8, 3, 6, 6, device="cuda"))
    assert y.dtype == dtype and out.dtype == dtype
    assert pool.bn1.running_mean.dtype == torch.float32 and pool.bn2.running_var.dtype == torch.float32
    y_ref = reference(x.to(dtype).double())
    assert rel_err(y, y_ref) < TOLERANCE[dtype]
    for a, b in zip(pool.buffers(), reference.buffers()):
        if a.is_floating_point():
            assert rel_err(a, b) < 1e-2
    (y.float().sum() + out.float().sum()).backward()
    assert block.relation_pool.bn1.weight.grad.dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_concat_reduce_cuda(dtype, layout):
    a = torch.randn(4, 64, 4, 14, 14, device="cuda", dtype=dtype)
    z = torch.randn(4, 32, 4, 14, 14, device="cuda", dtype=dtype)
    if layout == "channels_last":
        a, z = channels_last(a), channels_last(z)
    w = torch.randn(64, 96, 1, 1, 1, device="cuda", dtype=dtype) * 0.1
    b = torch.randn(64, device="cuda", dtype=dtype)
    args = [t.requires_grad_() for t in (a, z, w, b)]
    out = concat_reduce(*args)
    ref = concat_reduce_reference(*[t.detach().double().requires_grad_() for t in args])
    assert rel_err(out, ref) < TOLERANCE[dtype]
