"""smartops::relation_tail (the folded relation tail): values against the
standard-operator reference in both layouts, NaN, gradcheck, opcheck,
torch.compile, autocast and argument errors."""
import pytest
import torch

from op_utils import channels_last, requires_kernel
from smartops.ops import relation_tail, relation_tail_reference

pytestmark = requires_kernel("relation_tail")


def coeffs(pairs, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    scale = torch.randn(pairs, generator=g, dtype=torch.float64)  # both signs: the ReLU cuts both ways
    shift = torch.randn(pairs, generator=g, dtype=torch.float64)
    return scale.to(dtype), shift.to(dtype)


# Shapes that reach every code path: planar vector loops and tails (S not a
# multiple of the lanes, S > one 2048-position chunk), interleaved full and
# partial pair blocks (C of 3, 16, 21 pairs), one position per sample.
SHAPES = [(2, 6, 3, 5, 7), (1, 32, 2, 33, 40), (3, 42, 1, 4, 4), (2, 8, 1, 1, 1)]


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference(shape, dtype, layout, relu):
    u = torch.randn(shape, dtype=dtype)
    if layout == "channels_last":
        u = channels_last(u)
    scale, shift = coeffs(shape[1] // 2, dtype)
    y = relation_tail(u, scale, shift, relu)
    ref = relation_tail_reference(u, scale, shift, relu)
    tol = dict(rtol=1e-13, atol=1e-13) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y, ref, **tol)
    expected_format = torch.channels_last_3d if layout == "channels_last" and shape[2:] != (1, 1, 1) \
        else torch.contiguous_format
    assert y.is_contiguous(memory_format=expected_format)


def test_non_contiguous_input_is_made_contiguous():
    u = torch.randn(2, 3, 8, 5, 4).transpose(1, 2)  # (2, 8, 3, 5, 4), neither layout
    scale, shift = coeffs(4)
    torch.testing.assert_close(relation_tail(u, scale, shift), relation_tail_reference(u, scale, shift))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_nan_propagates_like_torch_relu(layout):
    u = torch.randn(2, 4, 2, 8, 8)
    u[0, 1, 0, 3, 3] = float("nan")  # pair 0 of sample 0
    u[1, 2, 1, 0, 0] = float("nan")  # pair 1 of sample 1
    if layout == "channels_last":
        u = channels_last(u)
    scale, shift = coeffs(2)
    scale.fill_(-1.0)  # every finite q is negative, so only NaN survives the ReLU
    shift.fill_(-1.0)
    y = relation_tail(u, scale, shift, True)
    assert y[0, 0, 0, 3, 3].isnan() and y[1, 1, 1, 0, 0].isnan()
    assert int(y.isnan().sum()) == 2
    assert (y.nan_to_num() == 0).all()
    torch.testing.assert_close(y, relation_tail_reference(u, scale, shift, True), equal_nan=True)


@pytest.mark.parametrize("relu", [True, False])
def test_gradcheck_float64(relu):
    u = torch.randn(2, 4, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    scale, shift = (t.requires_grad_() for t in coeffs(2, torch.float64))
    assert torch.autograd.gradcheck(lambda *a: relation_tail(*a, relu), (u, scale, shift))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_opcheck(layout):
    u = torch.randn(2, 6, 3, 4, 5)
    if layout == "channels_last":
        u = channels_last(u)
    scale, shift = coeffs(3)
    torch.library.opcheck(torch.ops.smartops.relation_tail.default,
                          (u.requires_grad_(), scale.requires_grad_(), shift, True))


def test_compile_fullgraph_matches_eager():
    torch._dynamo.reset()
    scale, shift = coeffs(4)

    def block(u):
        return relation_tail(u, scale, shift, True) * 2 + 1

    compiled = torch.compile(block, fullgraph=True)
    for shape in [(2, 8, 3, 6, 6), (3, 8, 2, 5, 5)]:
        u = torch.randn(shape)
        torch.testing.assert_close(compiled(u), block(u))


def test_autocast_cpu_runs_in_float32():
    u = torch.randn(2, 4, 2, 5, 5, dtype=torch.bfloat16)
    scale, shift = coeffs(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = relation_tail(u, scale, shift)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, relation_tail_reference(u.float(), scale, shift))


@pytest.mark.parametrize("bad, message", [
    (dict(u=torch.randn(2, 5, 2, 3, 3)), "even number of channels"),
    (dict(u=torch.randn(2, 4, 3, 3)), "must be 5-D"),
    (dict(scale=torch.ones(3)), r"scale must have shape \(2\)"),
    (dict(shift=torch.ones(2, dtype=torch.float64)), "shift has dtype Double, expected Float"),
    (dict(u=torch.randn(2, 4, 2, 3, 3).half(), scale=torch.ones(2), shift=torch.ones(2)),
     "on CPU u must be float32 or float64"),
])
def test_errors_name_the_problem(bad, message):
    args = dict(u=torch.randn(2, 4, 2, 3, 3), scale=torch.ones(2), shift=torch.zeros(2))
    args.update(bad)
    with pytest.raises(RuntimeError, match=message):
        relation_tail(args["u"], args["scale"], args["shift"])
