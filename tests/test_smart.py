"""smartops.nn.SMART and RelationBlock: shapes, fused vs unfused agreement,
state dicts, memory, torch.compile and errors."""
import copy

import pytest
import torch
import torch.nn as nn

from op_utils import channels_last, requires_kernel, saved_bytes
from smartops.nn import SMART, RelationBlock

needs_ops = requires_kernel("relation_pool", "concat_reduce")

# (in, out, kernel, stride, padding, input T x H x W)
CONFIGS = [
    (4, 8, 3, 1, None, (5, 7, 6)),
    (3, 8, (3, 7, 7), 2, None, (8, 20, 18)),          # the paper's conv1 (3x7x7, stride 2)
    (6, 10, 3, (1, 2, 2), None, (4, 9, 9)),
    (4, 6, (3, 3, 3), 1, 0, (5, 6, 6)),              # no padding: the appearance branch is cropped
    (4, 6, (5, 3, 3), 2, (1, 1, 1), (9, 8, 8)),      # temporal padding < (t-1)/2
    (5, 4, (1, 3, 3), 1, None, (3, 6, 6)),           # t = 1
]


def config_id(c):
    return "in%d-out%d-k%s-s%s-p%s" % (c[0], c[1], c[2], c[3], c[4])


def pair(cin, cout, kernel, stride, padding, relu=True, dtype=torch.float32):
    torch.manual_seed(0)
    fused = SMART(cin, cout, kernel, stride, padding, relu=relu, fused=True).to(dtype)
    with torch.no_grad():  # non-trivial BN parameters
        for m in fused.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.5)
    unfused = copy.deepcopy(fused)
    unfused.fused = False
    return fused, unfused


def step(module, x, grad):
    x = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
    y = module(x)
    y.backward(grad)
    return y.detach(), [x.grad] + [p.grad for p in module.parameters()]


def kink_free_grad(module, x, seed=1):
    """Upstream gradient that is zero where the block's pre-ReLU output is
    within 1e-3 of 0 (where float32 rounding may flip the ReLU mask)."""
    probe = copy.deepcopy(module)
    probe.relu = False
    with torch.no_grad():
        pre = probe(x)
    g = torch.randn(pre.shape, generator=torch.Generator().manual_seed(seed), dtype=pre.dtype)
    return torch.where(pre.abs() > 1e-3, g, 0) if module.relu else g


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_output_shape_is_conv3d_shape(config):
    cin, cout, kernel, stride, padding, size = config
    x = torch.randn(2, cin, *size)
    conv = nn.Conv3d(cin, cout, kernel, stride, padding if padding is not None else
                     tuple(k // 2 for k in ((kernel,) * 3 if isinstance(kernel, int) else kernel)))
    assert SMART(cin, cout, kernel, stride, padding, fused="auto")(x).shape == conv(x).shape
    assert SMART(cin, cout, kernel, stride, padding, fused=False)(x).shape == conv(x).shape
    assert RelationBlock(cin, cout, kernel, stride, padding, fused=False)(x).shape == conv(x).shape


@needs_ops
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_fused_matches_unfused_float32(config, layout, training):
    cin, cout, kernel, stride, padding, size = config
    fused, unfused = pair(cin, cout, kernel, stride, padding, relu=(config != CONFIGS[2]))
    fused.train(training)
    unfused.train(training)
    x = torch.randn(2, cin, *size, generator=torch.Generator().manual_seed(2))
    if layout == "channels_last":
        x = channels_last(x)
    g = kink_free_grad(unfused, x)
    y_f, grads_f = step(fused, x, g)
    y_u, grads_u = step(unfused, x, g)
    torch.testing.assert_close(y_f, y_u, rtol=1e-4, atol=1e-4)
    names = ["x"] + [n for n, _ in fused.named_parameters()]
    for name, a, b in zip(names, grads_f, grads_u):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=lambda m: "grad of %s: %s" % (name, m))
    for (name, a), (_, b) in zip(fused.named_buffers(), unfused.named_buffers()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)


@needs_ops
@pytest.mark.parametrize("relu", [True, False])
def test_fused_matches_unfused_float64(relu):
    fused, unfused = pair(4, 8, (3, 5, 5), 2, None, relu=relu, dtype=torch.float64)
    x = torch.randn(3, 4, 6, 9, 9, dtype=torch.float64)
    g = torch.randn(3, 8, 3, 5, 5, dtype=torch.float64)
    for _ in range(2):
        y_f, grads_f = step(fused, x, g)
        y_u, grads_u = step(unfused, x, g)
        torch.testing.assert_close(y_f, y_u)
        for a, b in zip(grads_f, grads_u):
            torch.testing.assert_close(a, b)
    for a, b in zip(fused.buffers(), unfused.buffers()):
        torch.testing.assert_close(a, b)


@needs_ops
def test_gradcheck_fused_block():
    block, _ = pair(2, 4, 3, 1, None, dtype=torch.float64)
    x = torch.randn(2, 2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    # Eval mode: the running statistics stay fixed across gradcheck's calls.
    block.eval()
    assert torch.autograd.gradcheck(block, (x,))


def test_state_dicts_interchangeable():
    fused = SMART(4, 8, fused=True)
    unfused = SMART(4, 8, fused=False)
    assert list(fused.state_dict()) == list(unfused.state_dict())
    unfused.load_state_dict(fused.state_dict())
    # The pair mean has fixed weights: no parameter of its own.
    expected = (8 * 4 * 9 + 2 * 8) + (8 * 4 * 27 + 2 * 8 + 2 * 4) + 8 * 12 + 2 * 8
    assert sum(p.numel() for p in fused.parameters()) == expected
    assert not any("pool" in n and "weight" in n and "bn" not in n for n, _ in fused.named_parameters())


@needs_ops
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_saved_bytes_fused_at_most_0_6_of_unfused(layout):
    """The res2 shape of ARTNet at batch 2 (64 channels, 8x28x28)."""
    fused, unfused = pair(64, 64, 3, 1, None)
    x = torch.randn(2, 64, 8, 28, 28)
    if layout == "channels_last":
        x = channels_last(x)
        fused, unfused = fused.to(memory_format=torch.channels_last_3d), unfused.to(memory_format=torch.channels_last_3d)
    x.requires_grad_()
    _, b_fused = saved_bytes(lambda: fused(x))
    _, b_unfused = saved_bytes(lambda: unfused(x))
    assert b_fused <= 0.6 * b_unfused, b_fused / b_unfused


@needs_ops
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_compile_fullgraph_matches_eager(dynamic):
    """Training and eval; with dynamic=True two batch sizes share one graph
    (BN statistics must trace with symbolic shapes)."""
    torch._dynamo.reset()
    eager, _ = pair(4, 8, 3, 1, None)
    compiled_module = copy.deepcopy(eager)
    compiled = torch.compile(compiled_module, fullgraph=True, dynamic=dynamic)
    for n in ((2, 3) if dynamic else (2,)):
        x = torch.randn(n, 4, 4, 6, 6)
        g = kink_free_grad(eager, x)
        y_e, grads_e = step(eager, x, g)
        y_c, grads_c = step(compiled, x, g)
        torch.testing.assert_close(y_c, y_e, rtol=1e-4, atol=1e-4)
        for a, b in zip(grads_c, grads_e):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    for a, b in zip(compiled_module.buffers(), eager.buffers()):
        torch.testing.assert_close(a, b)
    eager.eval()
    compiled_module.eval()
    torch.testing.assert_close(compiled(x), eager(x), rtol=1e-4, atol=1e-4)


class TestRelationBlock:
    def test_width_and_parameters(self):
        block = RelationBlock(4, 6, 3)
        assert block.conv.out_channels == 12 and block.pool.channels == 12
        assert sum(p.numel() for p in block.parameters()) == 12 * 4 * 27 + 2 * 12 + 2 * 6

    @needs_ops
    def test_fused_matches_unfused(self):
        torch.manual_seed(0)
        fused = RelationBlock(4, 6, 3, relu=False, fused=True).double()
        unfused = copy.deepcopy(fused)
        unfused.fused = False
        x = torch.randn(2, 4, 3, 5, 5, dtype=torch.float64)
        g = torch.randn(2, 6, 3, 5, 5, dtype=torch.float64)
        for a, b in zip(step(fused, x, g)[1], step(unfused, x, g)[1]):
            torch.testing.assert_close(a, b)


class TestErrors:
    def test_odd_out_channels(self):
        with pytest.raises(ValueError, match="out_channels must be even"):
            SMART(4, 7)

    def test_even_temporal_kernel(self):
        with pytest.raises(ValueError, match="temporal kernel size must be odd"):
            SMART(4, 8, (2, 3, 3))

    def test_bad_geometry_arguments(self):
        with pytest.raises(ValueError, match="kernel_size must be an int or a triple"):
            SMART(4, 8, (3, 3))
        with pytest.raises(ValueError, match="stride must be positive"):
            SMART(4, 8, 3, stride=0)

    def test_wrong_channels(self):
        with pytest.raises(ValueError, match="expected 4 input channels, got 3"):
            SMART(4, 8, fused=False)(torch.randn(2, 3, 4, 5, 5))

    def test_wrong_rank(self):
        with pytest.raises(ValueError, match="expected a 5-D input"):
            SMART(4, 8, fused=False)(torch.randn(2, 4, 5, 5))

    def test_kernel_does_not_fit(self):
        with pytest.raises(ValueError, match=r"input T=2 \(padding 0\) is smaller than the kernel \(3\)"):
            SMART(4, 8, 3, padding=0, fused=False)(torch.randn(2, 4, 2, 8, 8))
        with pytest.raises(ValueError, match="input W=3 .* smaller than the kernel"):
            RelationBlock(4, 8, (1, 7, 7), padding=(0, 1, 1), fused=False)(torch.randn(2, 4, 2, 8, 3))
