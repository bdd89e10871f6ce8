"""smartops.ops.concat_reduce against conv3d(cat([a, z])), and as a custom op."""
import pytest
import torch

from op_utils import channels_last, requires_kernel
from smartops.ops import concat_reduce, concat_reduce_reference

pytestmark = requires_kernel("concat_reduce")


def operands(n=2, ca=6, cz=3, cout=5, size=(3, 4, 5), dtype=torch.float32, layout="contiguous", bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, ca, *size, generator=g, dtype=dtype)
    z = torch.randn(n, cz, *size, generator=g, dtype=dtype)
    if layout == "channels_last":
        a, z = channels_last(a), channels_last(z)
    w = torch.randn(cout, ca + cz, 1, 1, 1, generator=g, dtype=dtype)
    b = torch.randn(cout, generator=g, dtype=dtype) if bias else None
    return [t.requires_grad_() if t is not None else None for t in (a, z, w, b)]


def grads(fn, args, seed=1):
    out = fn(*args)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    inputs = [t for t in args if t is not None]
    return out, torch.autograd.grad(out, inputs, g)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_conv3d_of_concatenation(layout, bias, dtype):
    args = operands(layout=layout, bias=bias, dtype=dtype)
    out, g = grads(concat_reduce, args)
    ref, g_ref = grads(concat_reduce_reference, args)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else {}
    torch.testing.assert_close(out, ref, **tol)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, **tol)
    fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    assert out.is_contiguous(memory_format=fmt)


def test_mixed_layouts_and_single_position():
    a, z, w, b = operands(layout="channels_last")
    z2 = z.detach().contiguous().requires_grad_()
    torch.testing.assert_close(concat_reduce(a, z2, w, b), concat_reduce_reference(a, z2, w, b), rtol=1e-5, atol=1e-5)
    a, z, w, b = operands(n=3, size=(1, 1, 1))
    torch.testing.assert_close(concat_reduce(a, z, w, b), concat_reduce_reference(a, z, w, b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_float64(layout, bias):
    args = operands(n=2, ca=3, cz=2, cout=4, size=(2, 3, 2), dtype=torch.float64, layout=layout, bias=bias)
    assert torch.autograd.gradcheck(concat_reduce, tuple(args))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_opcheck(layout):
    torch.library.opcheck(torch.ops.smartops.concat_reduce.default, tuple(operands(layout=layout)))
    a, z, w, _ = [t.detach() if t is not None else None for t in operands(bias=False)]
    torch.library.opcheck(torch.ops.smartops.concat_reduce.default, (a, z, w, None))
    g = torch.randn(2, 5, 3, 4, 5)
    for bias_grad in (True, False):
        torch.library.opcheck(torch.ops.smartops.concat_reduce_backward.default, (g, a, z, w, bias_grad))


def saved_storages(fn):
    ptrs = set()

    def pack(t):
        ptrs.add(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return ptrs


def test_saves_inputs_not_their_concatenation():
    """Autograd keeps a, z and the weight themselves (in a SMART block they
    are kept anyway by the layers around), where conv3d(cat(...)) keeps a new
    concatenated copy."""
    a, z, w, b = operands(n=4, ca=32, cz=16, cout=32, size=(4, 8, 8))
    inputs = {t.untyped_storage().data_ptr() for t in (a, z, w)}
    assert saved_storages(lambda: concat_reduce(a, z, w, b)) == inputs
    assert saved_storages(lambda: concat_reduce_reference(a, z, w, b)) - inputs  # a copy


def test_compile_fullgraph():
    torch._dynamo.reset()
    a, z, w, b = operands()
    compiled = torch.compile(concat_reduce, fullgraph=True)
    out, g = grads(compiled, [a, z, w, b])
    ref, g_ref = grads(concat_reduce_reference, [a, z, w, b])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for x, y in zip(g, g_ref):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)


class TestErrors:
    def test_weight_shape(self):
        a, z, w, b = operands()
        with pytest.raises(RuntimeError, match=r"weight must have shape \(Cout, 9, 1, 1, 1\)"):
            concat_reduce(a, z, w[:, :8], b)
        with pytest.raises(RuntimeError, match="weight must have shape"):
            concat_reduce(a, z, torch.randn(5, 9, 3, 1, 1), b)

    def test_mismatched_inputs(self):
        a, z, w, b = operands()
        with pytest.raises(RuntimeError, match="agree in every dimension but channels"):
            concat_reduce(a, z[:, :, :2], w, b)
        with pytest.raises(RuntimeError, match="must be 5-D"):
            concat_reduce(a[0], z[0], w, b)

    def test_dtype_and_device(self):
        a, z, w, b = operands()
        with pytest.raises(RuntimeError, match="share a dtype"):
            concat_reduce(a, z.double(), w, b)
        with pytest.raises(RuntimeError, match="z is on meta but a is on cpu"):
            concat_reduce(a, torch.empty(z.shape, device="meta"), w, b)

    def test_bias_shape(self):
        a, z, w, _ = operands()
        with pytest.raises(RuntimeError, match=r"bias must have shape \(5\)"):
            concat_reduce(a, z, w, torch.zeros(4))
