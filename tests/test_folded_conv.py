"""The folded model's convolutions with their ReLU and residual addition in
one oneDNN pass (smartops.nn.folded_conv, FoldedBasicBlock): the same
results as conv, +, relu in PyTorch; prepacked weights follow in-place
changes; the standard path wherever oneDNN does not apply; torch.compile
traces the folded model."""
import pytest
import torch
import torch.nn as nn

from op_utils import requires_kernel
from smartops.models import get_model
from smartops.nn import fold_for_inference
from smartops.nn.fold import FoldedBasicBlock, FoldedSMART
from smartops.nn.folded_conv import FusedConv3d, conv_add_relu, onednn_applies, onednn_fusion
from test_fold import clip, eval_model

onednn = pytest.mark.skipif(not (torch.backends.mkldnn.is_available()
                                 and hasattr(torch.ops.mkldnn, "_convolution_pointwise")),
                            reason="torch without oneDNN's fused convolution")


def conv(cin, cout, kernel, stride=1, seed=0):
    torch.manual_seed(seed)
    c = nn.Conv3d(cin, cout, kernel, stride, tuple(k // 2 for k in kernel)).eval()
    c.requires_grad_(False)
    return c


@onednn
@pytest.mark.parametrize("kernel,stride", [((3, 3, 3), 1), ((1, 3, 3), 1), ((1, 1, 1), 2), ((3, 7, 7), 2)])
@pytest.mark.parametrize("residual,relu", [(False, False), (False, True), (True, False), (True, True)])
def test_onednn_pass_equals_pytorch(kernel, stride, residual, relu):
    c = conv(6, 8, kernel, stride)
    x = torch.randn(2, 6, 4, 9, 9)
    r = torch.randn(conv_add_relu(c, x, fused=False).shape) if residual else None
    assert onednn_applies(c, x, r)
    ref = conv_add_relu(c, x, r, relu, fused=False)
    r_before = None if r is None else r.clone()
    with torch.no_grad():
        out = conv_add_relu(c, x, r, relu)
    assert out.is_contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    if r is not None:  # the residual is read, not written
        assert torch.equal(r, r_before)


@onednn
def test_prepacked_weight_follows_in_place_changes_and_shapes():
    c = conv(4, 4, (3, 3, 3))
    x = torch.randn(2, 4, 3, 6, 6)
    with torch.no_grad():
        first = conv_add_relu(c, x)
        c.weight.mul_(-2)
        torch.testing.assert_close(conv_add_relu(c, x), conv_add_relu(c, x, fused=False), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(conv_add_relu(c, x), first)
        x3 = torch.randn(3, 4, 2, 5, 5)
        torch.testing.assert_close(conv_add_relu(c, x3), conv_add_relu(c, x3, fused=False), rtol=1e-5, atol=1e-5)


def test_onednn_not_used_where_it_does_not_apply():
    c = conv(4, 4, (1, 3, 3))
    x = torch.randn(1, 4, 2, 5, 5)
    assert not onednn_applies(c.double(), x.double())
    c.float()
    assert not onednn_applies(c, x.requires_grad_())  # gradients: the PyTorch composition
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not onednn_applies(c, x.detach())
    assert not onednn_applies(c, x.detach(), torch.randn(1, 4, 2, 5, 4))  # residual of another shape
    with onednn_fusion(False):
        assert not onednn_applies(c, x.detach())
    y = conv_add_relu(c, x, relu=True)
    y.sum().backward()
    assert x.grad is not None


@requires_kernel("relation_tail", "concat_reduce")
def test_folded_structure_relu_and_residual_in_the_convolutions():
    model = eval_model("artnet_resnet18_d")
    folded = fold_for_inference(model)
    kinds = [type(m) for m in folded.modules()]
    assert nn.ReLU not in kinds
    assert kinds.count(FoldedBasicBlock) == 8
    in_smart = {id(c) for m in folded.modules() if isinstance(m, FoldedSMART) for c in m.modules()}
    plain = [m for m in folded.modules() if isinstance(m, nn.Conv3d) and id(m) not in in_smart]
    assert len(plain) == 13  # 8 first convs, 3 shortcuts, layer4's 2 second convs
    assert all(isinstance(m, FusedConv3d) for m in plain)
    standard = fold_for_inference(model, fused=False)  # what export writes: unchanged
    assert FusedConv3d not in [type(m) for m in standard.modules()]
    assert FoldedBasicBlock not in [type(m) for m in standard.modules()]
    assert folded.state_dict().keys() == standard.state_dict().keys()


@onednn
@pytest.mark.parametrize("residual", [False, True])
def test_onednn_pass_keeps_nan_and_inf_where_pytorch_does(residual):
    # oneDNN's ReLU post-op maps NaN to 0: a folded model would then hide a
    # diverged model's NaN from smartops-eval's non-finite check
    c = conv(4, 4, (1, 1, 1))
    x = torch.randn(1, 4, 2, 3, 3)
    x[0, 0, 0, 0, 0], x[0, 1, 1, 1, 1] = float("nan"), float("inf")
    r = torch.randn(1, 4, 2, 3, 3) if residual else None
    ref = conv_add_relu(c, x, r, True, fused=False)
    with torch.no_grad():
        out = conv_add_relu(c, x, r, True)
    assert ref.isnan().any() and torch.equal(out.isnan(), ref.isnan()) and torch.equal(out.isinf(), ref.isinf())


@onednn
@requires_kernel("relation_tail", "concat_reduce")
def test_folded_model_keeps_nan_where_unfolded_does():
    model = eval_model("artnet_resnet18_d", torch.float32, fused=True)
    x = clip(torch.float32)
    x[0, 0, 0, 0, 0] = float("nan")
    with torch.no_grad():
        ref = model(x)
        out = fold_for_inference(model)(x)
    assert ref[0].isnan().all() and torch.equal(out.isnan(), ref.isnan())


@requires_kernel("relation_tail", "concat_reduce")
@pytest.mark.parametrize("arch", ["artnet_resnet18_d", "c3d_resnet18", "relation_resnet18_s"])
def test_folded_float32_through_onednn_matches_unfolded(arch):
    model = eval_model(arch, torch.float32, fused=True)
    x = clip(torch.float32)
    with torch.inference_mode():
        ref = model(x)
        out = fold_for_inference(model)(x)
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-4 * float(ref.abs().max()))


@requires_kernel("relation_tail", "concat_reduce")
def test_compile_fullgraph_of_folded_model():
    torch._dynamo.reset()
    model = get_model("artnet_resnet18_d", width=0.125, num_classes=5, fused=True).eval()
    folded = fold_for_inference(model)
    x = clip(torch.float32)
    with torch.no_grad():
        ref = folded(x)
        out = torch.compile(folded, fullgraph=True)(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
