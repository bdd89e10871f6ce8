"""The phases of relation_pool used by the synchronized op (one process)."""
import pytest
import torch

from op_utils import channels_last, relation_params, requires_kernel
from smartops.ops.relation_pool_sync import GRAD_SUM_WIDTH, MOMENT_RECORD_WIDTH

pytestmark = requires_kernel("relation_pool")
ops = torch.ops.smartops
EPS = 1e-5


def params(x):
    p = relation_params(x.shape[1], dtype=x.dtype)
    return p["weight1"], p["bias1"], p["weight2"], p["bias2"]


def phase_forward(parts, w, relu=True):
    """Statistics of the concatenation of `parts` from their merged records,
    then the apply pass over each part."""
    moments = torch.stack([ops.relation_pool_moments(x) for x in parts])
    stats = ops.relation_pool_merge_stats(moments, *w, EPS)
    return stats, int(moments[:, 0, 0].sum())


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_phases_without_communication_are_the_op(layout):
    x = torch.randn(3, 6, 2, 3, 4, dtype=torch.float64) * 2 + 1
    if layout == "channels_last":
        x = channels_last(x)
    w = params(x)
    y, *stats = ops.relation_pool(x, *w, None, None, None, None, EPS, True)
    got_stats, count = phase_forward([x], w)
    assert count == 3 * 2 * 3 * 4
    for a, b in zip(got_stats, stats):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)
    y_apply = ops.relation_pool_apply(x, *w, *got_stats, count, EPS, True)
    torch.testing.assert_close(y_apply, y, rtol=1e-13, atol=1e-13)

    g = torch.randn_like(y)
    expected = ops.relation_pool_backward(g, x, *w, *stats, EPS, True, True)
    sums = ops.relation_pool_grad_sums(g, x, *w, *stats, count, EPS, True)
    assert sums.shape == (3, GRAD_SUM_WIDTH) and sums.dtype == torch.float64
    got = ops.relation_pool_grad_input(g, x, *w, *stats, sums, count, EPS, True)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert got[0].is_contiguous(memory_format=torch.channels_last_3d) == (layout == "channels_last")


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("seed", [105, 107, 108])
def test_phases_take_the_two_position_forms_of_the_op(seed, layout):
    """Two positions per channel over the whole batch: given the count, the
    apply and backward phases select the closed forms the single-process op
    uses, and agree with it bit for bit in float32. (With the merged
    statistics applied as frozen ones, out was 1e-5 and dw2 9e-4 off
    float64 on these draws, where the op is at 6e-7 at most.)"""
    x = torch.randn(1, 8, 1, 1, 2, generator=torch.Generator().manual_seed(seed))
    if layout == "channels_last":
        x = channels_last(x)
    w = params(x)
    y, *stats = ops.relation_pool(x, *w, None, None, None, None, EPS, False)
    got_stats, count = phase_forward([x], w)
    assert count == 2
    for a, b in zip(got_stats, stats):
        assert torch.equal(a, b)
    assert torch.equal(ops.relation_pool_apply(x, *w, *got_stats, count, EPS, False), y)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed + 1))
    expected = ops.relation_pool_backward(g, x, *w, *stats, EPS, False, True)
    sums = ops.relation_pool_grad_sums(g, x, *w, *stats, count, EPS, False)
    got = ops.relation_pool_grad_input(g, x, *w, *stats, sums, count, EPS, False)
    for a, b in zip(got, expected):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_merged_records_of_parts_give_the_whole_batch_statistics(dtype):
    # Large mean against the spread: the merge must re-centre, not add raw sums.
    x = (1000 + torch.randn(5, 4, 3, 4, 4, dtype=torch.float64)).to(dtype)
    w = params(x)
    whole = ops.relation_pool(x, *w, None, None, None, None, EPS, True)[1:]
    parts = [x[:2], x[2:2], x[2:5]]  # the empty part is a process without clips
    merged, count = phase_forward(parts, w)
    assert count == x.numel() // x.shape[1]
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for a, b in zip(merged, whole):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_split_backward_sums_add_up():
    x = torch.randn(4, 4, 2, 3, 3, dtype=torch.float64)
    w = params(x)
    y, *stats = ops.relation_pool(x, *w, None, None, None, None, EPS, True)
    g = torch.randn_like(y)
    count = x.numel() // x.shape[1]
    whole = ops.relation_pool_grad_sums(g, x, *w, *stats, count, EPS, True)
    split = ops.relation_pool_grad_sums(g[:1], x[:1], *w, *stats, count, EPS, True) + \
        ops.relation_pool_grad_sums(g[1:], x[1:], *w, *stats, count, EPS, True)
    torch.testing.assert_close(split, whole, rtol=1e-12, atol=1e-12)
    dx = torch.cat([ops.relation_pool_grad_input(g[i:i + 2], x[i:i + 2], *w, *stats, whole, count, EPS, True)[0]
                    for i in (0, 2)])
    torch.testing.assert_close(dx, ops.relation_pool_backward(g, x, *w, *stats, EPS, True, True)[0],
                               rtol=1e-12, atol=1e-12)


def test_empty_batch_phases():
    x = torch.randn(0, 4, 2, 2, 2)
    w = params(x)
    m = ops.relation_pool_moments(x)
    assert m.shape == (2, MOMENT_RECORD_WIDTH) and not m.any()
    with pytest.raises(RuntimeError, match="more than 1 value per channel over all processes"):
        ops.relation_pool_merge_stats(m[None], *w, EPS)
    stats = [torch.ones(4), torch.ones(4), torch.ones(2), torch.ones(2)]
    y = ops.relation_pool_apply(x, *w, *stats, 16, EPS, True)
    assert y.shape == (0, 2, 2, 2, 2)
    g = torch.randn(0, 2, 2, 2, 2)
    sums = ops.relation_pool_grad_sums(g, x, *w, *stats, 16, EPS, True)
    assert sums.shape == (2, GRAD_SUM_WIDTH) and not sums.any()
    dx, *_ = ops.relation_pool_grad_input(g, x, *w, *stats, torch.randn_like(sums), 16, EPS, True)
    assert dx.shape == x.shape


def assert_bad_counts_are_named(x, w):
    """x of 16 positions per channel: the phases that take the global count
    refuse one below x's own (or below 2), naming themselves; returns the
    statistics, y and the sums of x."""
    y, *stats = ops.relation_pool(x, *w, None, None, None, None, EPS, True)
    sums = ops.relation_pool_grad_sums(torch.randn_like(y), x, *w, *stats, 16, EPS, True)
    for op, call in [("relation_pool_grad_input", lambda: ops.relation_pool_grad_input(
                         torch.randn_like(y), x, *w, *stats, sums, 3, EPS, True)),
                     ("relation_pool_grad_sums", lambda: ops.relation_pool_grad_sums(
                         torch.randn_like(y), x, *w, *stats, 15, EPS, True)),
                     ("relation_pool_apply", lambda: ops.relation_pool_apply(x, *w, *stats, 1, EPS, True))]:
        with pytest.raises(RuntimeError, match=op + ": count must be the number of positions"):
            call()
    with pytest.raises(RuntimeError, match="relation_pool_apply: eps must be positive"):
        ops.relation_pool_apply(x, *w, *stats, 16, 0.0, True)
    return stats, y, sums


def test_bad_records_and_counts_are_named():
    x = torch.randn(2, 4, 2, 2, 2)
    w = params(x)
    with pytest.raises(RuntimeError, match="moments must be a float64 tensor of shape"):
        ops.relation_pool_merge_stats(torch.zeros(1, 2, 3, dtype=torch.float64), *w, EPS)
    assert_bad_counts_are_named(x, w)


def test_opcheck_phases():
    x = torch.randn(2, 6, 3, 2, 2)
    w = params(x)
    y, *stats = ops.relation_pool(x, *w, None, None, None, None, EPS, True)
    g = torch.randn_like(y)
    m = ops.relation_pool_moments(x)
    sums = ops.relation_pool_grad_sums(g, x, *w, *stats, 24, EPS, True)
    torch.library.opcheck(ops.relation_pool_moments.default, (x,))
    torch.library.opcheck(ops.relation_pool_merge_stats.default, (torch.stack([m, m]), *w, EPS))
    torch.library.opcheck(ops.relation_pool_apply.default, (x, *w, *stats, 24, EPS, True))
    torch.library.opcheck(ops.relation_pool_apply.default, (channels_last(x), *w, *stats, 48, EPS, False))
    torch.library.opcheck(ops.relation_pool_grad_sums.default, (g, x, *w, *stats, 24, EPS, True))
    torch.library.opcheck(ops.relation_pool_grad_input.default, (g, x, *w, *stats, sums, 24, EPS, False))
