"""The CUDA kernels of the synchronized relation op's phases
(relation_pool_moments, relation_pool_merge_stats, relation_pool_apply,
relation_pool_grad_sums, relation_pool_grad_input) on a `backend` (the CPU emulation of
tests/cuda_emulation, and a real GPU where there is one): each phase against
its CPU kernel, and a synchronized step over uneven processes (one without
clips) against the single-process op and the float64 reference. The
collectives are stand-ins here (stack, sum); tests/test_cuda_sync.py runs
them through torch.distributed."""
import pytest
import torch

from cuda_emulation.backends import backend  # noqa: F401  (the fixture)
from op_utils import channels_last, relation_params
from smartops.ops import relation_pool_reference
from smartops.ops.relation_pool_sync import GRAD_SUM_WIDTH, MOMENT_RECORD_WIDTH
from test_cuda_ops import PARAMS, STATS, TOLERANCE, kink_free_grad, rel_err
from test_relation_pool_phases import assert_bad_counts_are_named

ops = torch.ops.smartops
EPS = 1e-5
# Kernel against kernel (relative norm): the same math in another order.
PARITY = {torch.float32: 1e-5, torch.float64: 1e-12}
# Clips per process: uneven, one process without clips.
SPLIT = (2, 0, 3)
# Plane sizes with partial tiles, both layouts; one position per sample.
SHAPES = [(5, 6, 3, 5, 7), (5, 20, 1, 3, 5), (5, 8, 1, 1, 1)]


def weights(channels, dtype, device):
    pdt = torch.float64 if dtype == torch.float64 else torch.float32
    p = relation_params(channels, dtype=pdt, device=device)
    return tuple(p[k] for k in PARAMS)


def on(device, tensors):
    return [t.to(device) for t in tensors]


def split(t, sizes=SPLIT):
    return list(torch.split(t, list(sizes)))


def inputs(shape, dtype, layout, device, seed=0):
    """x (2 + 0.5 randn) and a kink-free incoming gradient, in `dtype` on `device`."""
    x64 = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 + 0.5
    x = x64.to(device=device, dtype=dtype)
    if layout == "channels_last":
        x = channels_last(x)
    p64 = relation_params(shape[1], dtype=torch.float64)
    pre_relu = relation_pool_reference(x.double().cpu(), *(p64[k] for k in ("weight1", "bias1")), None, None,
                                       p64["weight2"], p64["bias2"], None, None, True, relu=False)
    g = kink_free_grad(pre_relu, seed + 1).to(device=device, dtype=dtype)
    return x, (channels_last(g) if layout == "channels_last" else g)


def sync_step(xs, gs, w, relu=True):
    """One synchronized training step of processes holding clips xs with
    incoming gradients gs, collectives replaced by stack (all_gather) and sum
    (all_reduce): (statistics, y, dx, parameter gradients of each process)."""
    moments = torch.stack([ops.relation_pool_moments(x) for x in xs])
    stats = ops.relation_pool_merge_stats(moments, *w, EPS)
    count = int(moments[:, :, 0].sum().item()) // moments.shape[1]
    y = torch.cat([ops.relation_pool_apply(x, *w, *stats, count, EPS, relu) for x in xs])
    sums = sum(ops.relation_pool_grad_sums(g, x, *w, *stats, count, EPS, relu) for x, g in zip(xs, gs))
    outs = [ops.relation_pool_grad_input(g, x, *w, *stats, sums, count, EPS, relu) for x, g in zip(xs, gs)]
    return stats, y, torch.cat([o[0] for o in outs]), [o[1:] for o in outs]


def single_process(x, g, w, relu=True):
    """The unsplit op on all clips: (statistics, y, dx, parameter gradients)."""
    y, *stats = ops.relation_pool(x, *w, None, None, None, None, EPS, relu)
    dx, *grads = ops.relation_pool_backward(g, x, *w, *stats, EPS, relu, True)
    return stats, y, dx, grads


def assert_close(got, expected, tol, what):
    assert rel_err(got, expected) < tol, "%s: relative error %.3g" % (what, rel_err(got, expected))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sync_step_matches_single_process(backend, dtype, layout, shape):
    """Processes with 2, 0 and 3 clips through the backend's phase kernels
    give what one process with all 5 clips gives: the CPU kernels' op, and
    the float64 reference."""
    x, g = inputs(shape, dtype, layout, backend.device)
    w = weights(shape[1], dtype, backend.device)
    stats, y, dx, grads = sync_step(split(x), split(g), w)
    assert y.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape
    for process_grads in grads[1:]:  # every process has the whole batch's parameter gradients
        for a, b in zip(process_grads, grads[0]):
            assert torch.equal(a, b)

    with backend.cpu_kernels():
        cpu = single_process(x.cpu(), g.cpu(), on("cpu", w))
    tol = PARITY[dtype] * (10 if dtype == torch.float32 else 1)
    for name, a, b in zip(STATS, stats, cpu[0]):
        assert_close(a, b, tol, name)
    assert_close(y, cpu[1], tol, "y")
    assert_close(dx, cpu[2], 10 * tol, "dx")
    for name, a, b in zip(PARAMS, grads[0], cpu[3]):
        assert_close(a, b, 10 * tol, name)

    x64 = x.detach().double().cpu().requires_grad_()
    w64 = [t.detach().double().cpu().requires_grad_() for t in w]
    y_ref = relation_pool_reference(x64, w64[0], w64[1], None, None, w64[2], w64[3], None, None, True, eps=EPS)
    y_ref.backward(g.double().cpu())
    assert_close(y, y_ref, TOLERANCE[dtype], "y against the reference")
    assert_close(dx, x64.grad, 10 * TOLERANCE[dtype], "dx against the reference")
    for name, a, b in zip(PARAMS, grads[0], w64):
        assert_close(a, b.grad, 10 * TOLERANCE[dtype], name + " against the reference")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_each_phase_against_its_cpu_kernel(backend, dtype, layout):
    """Phase by phase on the same inputs. The records of the statistics pass
    hold sums about reference points that depend on how a kernel cuts x into
    chunks, so they are compared through the statistics they give."""
    x, g = inputs((5, 6, 3, 5, 7), dtype, layout, backend.device, seed=3)
    w = weights(6, dtype, backend.device)
    xs, gs = split(x), split(g)
    w_cpu = on("cpu", w)
    records = [ops.relation_pool_moments(p) for p in xs]
    with backend.cpu_kernels():
        cpu_records = [ops.relation_pool_moments(p.cpu()) for p in xs]
        cpu_stats = ops.relation_pool_merge_stats(torch.stack(cpu_records), *w_cpu, EPS)
    for r, c, p in zip(records, cpu_records, xs):
        assert r.shape == (3, MOMENT_RECORD_WIDTH) and r.dtype == torch.float64
        assert torch.equal(r[:, 0].cpu(), c[:, 0])  # positions per pair
        if p.shape[0] == 0:
            assert not r.any()
    merged = ops.relation_pool_merge_stats(torch.stack(records), *w, EPS)
    for name, a, b in zip(STATS, merged, cpu_stats):
        assert_close(a, b, PARITY[dtype], name + " from the backend's records")
    # The merge alone, on the same records: the same float64 merge in the same order.
    merged = ops.relation_pool_merge_stats(torch.stack(cpu_records).to(backend.device), *w, EPS)
    for name, a, b in zip(STATS, merged, cpu_stats):
        assert_close(a, b, 1e-14 if dtype == torch.float64 else 1e-7, name + " merged")

    stats = on(backend.device, cpu_stats)  # both kernels from here on see the same statistics
    count = x.shape[0] * x[0, 0].numel()
    for p, q in zip(xs, gs):
        y = ops.relation_pool_apply(p, *w, *stats, count, EPS, True)
        sums = ops.relation_pool_grad_sums(q, p, *w, *stats, count, EPS, True)
        with backend.cpu_kernels():
            cpu_y = ops.relation_pool_apply(p.cpu(), *w_cpu, *cpu_stats, count, EPS, True)
            cpu_sums = ops.relation_pool_grad_sums(q.cpu(), p.cpu(), *w_cpu, *cpu_stats, count, EPS, True)
        assert y.shape == cpu_y.shape == (p.shape[0], 3) + p.shape[2:]
        assert sums.shape == (3, GRAD_SUM_WIDTH) and sums.dtype == torch.float64
        if p.shape[0] == 0:
            assert not sums.any()
        else:
            assert y.is_contiguous(memory_format=torch.channels_last_3d) == (layout == "channels_last")
            assert_close(y, cpu_y, PARITY[dtype], "apply")
            assert_close(sums, cpu_sums, PARITY[dtype], "grad_sums")
        total = 3 * cpu_sums  # stands for other processes' sums
        got = ops.relation_pool_grad_input(q, p, *w, *stats, total.to(backend.device), count, EPS, True)
        with backend.cpu_kernels():
            expected = ops.relation_pool_grad_input(q.cpu(), p.cpu(), *w_cpu, *cpu_stats, total, count, EPS, True)
        assert got[0].shape == p.shape
        if p.shape[0] > 0:
            assert got[0].is_contiguous(memory_format=torch.channels_last_3d) == (layout == "channels_last")
            assert_close(got[0], expected[0], PARITY[dtype], "dx")
        for name, a, b in zip(PARAMS, got[1:], expected[1:]):
            assert_close(a, b, PARITY[dtype], name)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("seed", [105, 107, 108])
def test_phases_take_the_two_position_forms_of_the_op(backend, seed, layout):
    """Two positions per channel over all processes (1 + 0 + 1 clips of one
    position): given the global count, the backend's phases take the closed
    forms its single-process op takes, and agree with it bit for bit."""
    x = torch.randn(2, 8, 1, 1, 1, generator=torch.Generator().manual_seed(seed)).to(backend.device)
    g = torch.randn(2, 4, 1, 1, 1, generator=torch.Generator().manual_seed(seed + 1)).to(backend.device)
    if layout == "channels_last":
        x, g = channels_last(x), channels_last(g)
    w = weights(8, torch.float32, backend.device)
    stats, y, dx, grads = sync_step(split(x, (1, 0, 1)), split(g, (1, 0, 1)), w, relu=False)
    single = single_process(x, g, w, relu=False)
    for name, a, b in zip(STATS + ("y", "dx") + PARAMS, list(stats) + [y, dx] + list(grads[0]),
                          list(single[0]) + [single[1], single[2]] + list(single[3])):
        if name in ("y", "weight2", "bias2", "running_mean2", "running_var2"):
            assert torch.equal(a, b), name  # BN2's closed forms, from the same statistics
        else:  # BN1's statistics merged from two records: rounding apart
            assert_close(a, b, PARITY[torch.float32], name)


@pytest.mark.parametrize("sm_count", [1, 64])
def test_grid_stride_and_block_merges(backend, sm_count):
    """Launches with many chunks per block (1 SM) and many partial results
    per pair (64 SMs) in the statistics and sums passes."""
    x, g = inputs((16, 4, 2, 16, 20), torch.float64, "contiguous", backend.device, seed=5)
    w = weights(4, torch.float64, backend.device)
    with backend.sm_count(sm_count):
        stats, y, dx, grads = sync_step(split(x, (7, 9)), split(g, (7, 9)), w)
    with backend.cpu_kernels():
        cpu = single_process(x.cpu(), g.cpu(), on("cpu", w))
    for name, a, b in zip(STATS + ("y", "dx") + PARAMS, list(stats) + [y, dx] + list(grads[0]),
                          list(cpu[0]) + [cpu[1], cpu[2]] + list(cpu[3])):
        assert_close(a, b, 1e-11, name)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision(backend, dtype):
    """Half-precision x (float32 parameters) through the phases against the
    float64 reference on the same rounded input."""
    x, g = inputs((5, 6, 3, 5, 7), dtype, "contiguous", backend.device, seed=7)
    w = weights(6, dtype, backend.device)
    _, y, dx, grads = sync_step(split(x), split(g), w)
    assert y.dtype == dtype and grads[0][0].dtype == torch.float32
    x64 = x.double().cpu().requires_grad_()
    w64 = [t.double().cpu().requires_grad_() for t in w]
    y_ref = relation_pool_reference(x64, w64[0], w64[1], None, None, w64[2], w64[3], None, None, True, eps=EPS)
    y_ref.backward(g.double().cpu())
    assert_close(y, y_ref, TOLERANCE[dtype], "y")
    assert_close(dx, x64.grad, 10 * TOLERANCE[dtype], "dx")
    for name, a, b in zip(PARAMS, grads[0], w64):
        assert_close(a, b.grad, 10 * TOLERANCE[dtype], name)


def test_opcheck_phases(backend):
    x = torch.randn(2, 6, 3, 2, 2, device=backend.device)
    w = weights(6, torch.float32, backend.device)
    y, *stats = ops.relation_pool(x, *w, None, None, None, None, EPS, True)
    g = torch.randn_like(y)
    m = ops.relation_pool_moments(x)
    sums = ops.relation_pool_grad_sums(g, x, *w, *stats, 24, EPS, True)
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    if backend.name == "cuda":
        utils += ("test_aot_dispatch_dynamic",)
    torch.library.opcheck(ops.relation_pool_moments.default, (x,), test_utils=utils)
    torch.library.opcheck(ops.relation_pool_merge_stats.default, (torch.stack([m, m]), *w, EPS), test_utils=utils)
    torch.library.opcheck(ops.relation_pool_apply.default, (x, *w, *stats, 24, EPS, True), test_utils=utils)
    torch.library.opcheck(ops.relation_pool_grad_sums.default, (g, x, *w, *stats, 24, EPS, True), test_utils=utils)
    torch.library.opcheck(ops.relation_pool_grad_input.default, (g, x, *w, *stats, sums, 24, EPS, False),
                          test_utils=utils)


def test_bad_records_and_counts_are_named(backend):
    x = torch.randn(2, 4, 2, 2, 2, device=backend.device)
    w = weights(4, torch.float32, backend.device)
    one = ops.relation_pool_moments(x[:1, :, :1, :1, :1])
    with pytest.raises(RuntimeError, match="more than 1 value per channel over all processes"):
        ops.relation_pool_merge_stats(one[None], *w, EPS)
    with pytest.raises(RuntimeError, match="moments must be a float64 tensor of shape"):
        ops.relation_pool_merge_stats(torch.zeros(1, 2, 3, dtype=torch.float64, device=backend.device), *w, EPS)
    stats, y, sums = assert_bad_counts_are_named(x, w)
    with pytest.raises(RuntimeError, match="grad_sums must be a float64 tensor of shape"):
        ops.relation_pool_grad_input(torch.randn_like(y), x, *w, *stats, sums.float(), 16, EPS, True)
