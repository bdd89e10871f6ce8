"""The CUDA op path of relation_pool (host code and kernels), checked against
a `backend`: the CPU emulation of tests/cuda_emulation on every run, and a
real GPU where there is one. Every dtype and layout against a float64
reference (forward, backward, running statistics), gradcheck, CPU parity,
1000 + randn, determinism, partial tiles and pairs, grid-stride launches,
opcheck. torch.compile, autocast and concat_reduce need the real GPU.

Shapes are small: the emulation runs every thread of every block (as fibers)."""
import copy

import pytest
import torch

from cuda_emulation.backends import backend  # noqa: F401  (the fixture)
from op_utils import channels_last, cuda_only, relation_params
from smartops.nn import RelationPool, SMART
from smartops.ops import (concat_reduce, concat_reduce_reference, relation_pool, relation_pool_reference,
                          relation_tail, relation_tail_reference)

PARAMS = ("weight1", "bias1", "weight2", "bias2")
STATS = ("running_mean1", "running_var1", "running_mean2", "running_var2")
# Output tolerance (relative norm) per input dtype, against float64.
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10, torch.float16: 2e-2, torch.bfloat16: 5e-2}
# Seeds of test_two_positions_output_within_10x_of_eager (see there).
TWO_POSITION_SEEDS = [100, 111, 115, 129, 132]
# Shapes (N, 2C, T, H, W) whose launches leave partial tiles (both layouts),
# a block with fewer pairs than slots (contiguous; test_many_pairs_interleaved
# for channels_last) and one position per sample (see cuda/launch_geometry.h).
SHAPES = [(3, 6, 3, 5, 7), (2, 20, 1, 3, 5), (16, 8, 1, 1, 1)]


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


def check_against_reference(backend, x64, training, dtype=torch.float32, layout="contiguous", tol=None):
    """relation_pool on `backend` in `dtype` against the float64 reference:
    output, the gradients of x and the parameters, the running statistics."""
    p64 = relation_params(x64.shape[1], dtype=torch.float64)
    pdt = torch.float64 if dtype == torch.float64 else torch.float32
    x = x64.to(device=backend.device, dtype=dtype)
    x64 = x.double().cpu()  # the reference sees the same (rounded) input
    if layout == "channels_last":
        x = channels_last(x)
    p = {k: v.to(device=backend.device, dtype=pdt) for k, v in p64.items()}
    g = kink_free_grad(run(relation_pool_reference, x64, p64, training, relu=False)[0])
    y, grads, running = run(relation_pool, x, p, training, grad_out=g)
    y_ref, grads_ref, running_ref = run(relation_pool_reference, x64, p64, training, grad_out=g)
    tol = TOLERANCE[dtype] if tol is None else tol
    assert y.dtype == dtype and y.device.type == torch.device(backend.device).type
    fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    assert y.is_contiguous(memory_format=fmt)
    assert rel_err(y, y_ref) < tol
    for name, a, b in zip(("x",) + PARAMS, grads, grads_ref):
        assert rel_err(a, b) < 10 * tol, name
    for name, a, b in zip(STATS, running, running_ref):
        assert a.dtype == pdt
        assert rel_err(a, b) < (1e-10 if dtype == torch.float64 else 1e-4), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_against_float64_reference(backend, dtype, layout, training, shape):
    x64 = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 + 0.5
    check_against_reference(backend, x64, training, dtype, layout)


# (shape, SM count) and what the launches do (csrc/cuda/launch_geometry.h;
# 8 blocks per SM in all).
GRID_CASES = [
    # 16 (contiguous) / 10 (channels_last) chunks per pair on 8 blocks: grid-stride loops
    ((16, 4, 2, 16, 20), 1),
    # a block per chunk: 16 / 10 partial results merged per pair
    ((16, 4, 2, 16, 20), 64),
    # contiguous: 200 partial results, more than the merging block's 128 threads
    ((200, 2, 1, 2, 2), 64),
]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("shape, sm_count", GRID_CASES, ids=str)
def test_grid_stride_and_block_merges(backend, layout, shape, sm_count):
    x64 = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with backend.sm_count(sm_count):
        for training in (True, False):
            check_against_reference(backend, x64, training, torch.float64, layout)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_two_positions_per_channel(backend, layout):
    """N = T = H = 1, W = 2 in float32: the backward's two-position formulas
    (common/relation_coeffs.h); the general ones leave dx as rounding noise."""
    x64 = torch.randn(1, 8, 1, 1, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    check_against_reference(backend, x64, True, torch.float32, layout)


def normwise_error(a, ref):
    a, ref = a.double().cpu(), ref.double().cpu()
    return ((a - ref).abs().max() / ref.abs().max()).item()


# Draws of N = T = H = 1, W = 2 where, before the two-position forward of
# common/relation_coeffs.h, the CPU kernels' output or dw2 was more than 10x
# eager float32's error in at least one layout (tests/
# test_relation_pool_numerics.py sweeps 40); 6 of these 10 cases failed on
# the emulated CUDA kernels too.
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("seed", TWO_POSITION_SEEDS)
def test_two_positions_output_within_10x_of_eager(backend, layout, seed):
    """BN2 over two values is self-normalising (+-sqrt(var / (var + eps))):
    the kernels' output and dw2 stay within 10x of eager float32's error
    (both against float64 on the same float32 inputs)."""
    channels = 8 if layout == "contiguous" else 36  # as in the CPU sweep, which draws the same x
    x64 = torch.randn(1, channels, 1, 1, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x64.float().to(backend.device)
    x64 = x.double().cpu()  # the reference sees the same (rounded) input
    if layout == "channels_last":
        x = channels_last(x)
    p = relation_params(channels)
    p64 = {k: v.double() for k, v in p.items()}
    g = kink_free_grad(run(relation_pool_reference, x64, p64, True, relu=False)[0])
    fused = run(relation_pool, x, {k: v.to(backend.device) for k, v in p.items()}, True, grad_out=g)
    eager = run(relation_pool_reference, x.cpu(), p, True, grad_out=g)
    exact = run(relation_pool_reference, x64, p64, True, grad_out=g)
    for name, pick in (("out", lambda r: r[0]), ("dw2", lambda r: r[1][3])):
        err, eager_err = normwise_error(pick(fused), pick(exact)), normwise_error(pick(eager), pick(exact))
        assert err <= max(10 * eager_err, 1e-6), (name, err, eager_err)


def test_many_pairs_interleaved(backend):
    """channels_last with more pairs than a block's threads: the second block
    of pairs is partly empty."""
    x64 = torch.randn(1, 600, 1, 1, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    check_against_reference(backend, x64, True, torch.float64, "channels_last")


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_gradcheck_float64(backend, training, layout):
    x = torch.randn(2, 4, 2, 2, 3, dtype=torch.float64, device=backend.device)
    if layout == "channels_last":
        x = channels_last(x)
    x.requires_grad_()
    p = relation_params(4, dtype=torch.float64, device=backend.device, requires_grad=True)
    stats = [None if training else p[k] for k in STATS]

    def f(x, w1, b1, w2, b2):
        return relation_pool(x, w1, b1, stats[0], stats[1], w2, b2, stats[2], stats[3], training)

    # Fast mode (random projections): a few op calls instead of one per element.
    assert torch.autograd.gradcheck(f, (x,) + tuple(p[k] for k in PARAMS), fast_mode=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_parity_with_cpu_kernels(backend, dtype, layout):
    x = torch.randn(4, 12, 3, 5, 6, dtype=dtype, generator=torch.Generator().manual_seed(4))
    if layout == "channels_last":
        x = channels_last(x)
    p = relation_params(12, dtype=dtype)
    g = kink_free_grad(run(relation_pool_reference, x, p, True, relu=False)[0])
    with backend.cpu_kernels():
        expected = run(relation_pool, x, p, True, grad_out=g)
    got = run(relation_pool, x.to(backend.device), {k: v.to(backend.device) for k, v in p.items()}, True,
              grad_out=g)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip([got[0]] + got[1] + got[2], [expected[0]] + expected[1] + expected[2]):
        assert rel_err(a, b) < tol


def test_large_mean_robustness(backend):
    """x = 1000 + randn in float32: the moments are merged about each chunk's
    own mean, so the statistics keep their accuracy."""
    x64 = 1000 + torch.randn(4, 8, 2, 8, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    check_against_reference(backend, x64, True, torch.float32, tol=1e-3)


def test_deterministic(backend):
    x = torch.randn(4, 16, 3, 7, 9, generator=torch.Generator().manual_seed(6)).to(backend.device)
    p = relation_params(16, device=backend.device)
    g = torch.randn(4, 8, 3, 7, 9, generator=torch.Generator().manual_seed(7))
    first = run(relation_pool, x, p, True, grad_out=g)
    second = run(relation_pool, x, p, True, grad_out=g)
    for a, b in zip([first[0]] + first[1], [second[0]] + second[1]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_opcheck(backend, training):
    x = torch.randn(2, 6, 3, 4, 5, device=backend.device, requires_grad=True)
    p = relation_params(6, device=backend.device, requires_grad=True)
    stats = [None] * 4 if training else [p[k] for k in STATS]
    # Does each kernel agree with its fake (meta) implementation and schema?
    # The ahead-of-time dispatch check is about the Python registrations
    # alone and slow to emulate: tests/test_relation_pool_registration.py
    # runs it on the CPU kernels.
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    if backend.name == "cuda":
        utils += ("test_aot_dispatch_dynamic",)
    args = (x, p["weight1"], p["bias1"], p["weight2"], p["bias2"])
    torch.library.opcheck(torch.ops.smartops.relation_pool.default, args + (*stats, 1e-5, True), test_utils=utils)
    _, m1, v1, m2, v2 = torch.ops.smartops.relation_pool(*args, *stats, 1e-5, True)
    grad = torch.randn(2, 3, 3, 4, 5, device=backend.device)
    torch.library.opcheck(torch.ops.smartops.relation_pool_backward.default,
                          (grad, x.detach()) + args[1:] + (m1, v1, m2, v2, 1e-5, True, training), test_utils=utils)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("shape", [(2, 6, 3, 5, 7), (3, 42, 1, 4, 4), (2, 8, 1, 1, 1)], ids=str)
def test_relation_tail_half_precision(backend, dtype, layout, shape):
    """The folded relation tail's kernel in float16 and bfloat16 against its
    float64 reference on the same rounded input (float32 and float64:
    tests/test_relation_tail_cuda.py)."""
    gen = torch.Generator().manual_seed(8)
    u = torch.randn(shape, generator=gen, dtype=torch.float64).to(device=backend.device, dtype=dtype)
    if layout == "channels_last":
        u = channels_last(u)
    pdt = torch.float64 if dtype == torch.float64 else torch.float32
    scale, shift = (torch.randn(shape[1] // 2, generator=gen, dtype=torch.float64) for _ in range(2))
    y = relation_tail(u, scale.to(backend.device, pdt), shift.to(backend.device, pdt))
    ref = relation_tail_reference(u.double().cpu(), scale, shift)
    assert y.dtype == dtype and rel_err(y, ref) < TOLERANCE[dtype]


# ------------------------------------------------------ real GPU only

@cuda_only
def test_opcheck_concat_reduce_cuda():
    a = torch.randn(2, 6, 3, 4, 5, device="cuda", requires_grad=True)
    z = torch.randn(2, 3, 3, 4, 5, device="cuda", requires_grad=True)
    w = torch.randn(5, 9, 1, 1, 1, device="cuda", requires_grad=True)
    torch.library.opcheck(torch.ops.smartops.concat_reduce.default, (a, z, w, None))


@cuda_only
def test_deterministic_at_layer_shape_cuda():
    x = torch.randn(8, 64, 4, 28, 28, device="cuda")
    p = relation_params(64, device="cuda")
    g = torch.randn(8, 32, 4, 28, 28)
    first = run(relation_pool, x, p, True, grad_out=g)
    second = run(relation_pool, x, p, True, grad_out=g)
    for a, b in zip([first[0]] + first[1], [second[0]] + second[1]):
        assert torch.equal(a, b)


@cuda_only
def test_compile_fullgraph_cuda():
    torch._dynamo.reset()
    eager = RelationPool(16, fused=True).cuda()
    compiled_module = copy.deepcopy(eager)
    compiled = torch.compile(compiled_module, fullgraph=True)
    x = torch.randn(4, 16, 4, 8, 8, device="cuda")
    torch.testing.assert_close(compiled(x), eager(x), rtol=1e-4, atol=1e-4)
    for a, b in zip(compiled_module.buffers(), eager.buffers()):
        torch.testing.assert_close(a, b)


@cuda_only
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


@cuda_only
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
