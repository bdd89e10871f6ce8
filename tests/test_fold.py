"""fold_for_inference: folded models equal the unfolded eval models in
float64 for every architecture (the released Caffe networks included), keep
no BatchNorm that follows a convolution, leave the original alone, and
refuse what they cannot fold."""
import pytest
import torch
import torch.nn as nn

from op_utils import channels_last, requires_kernel
from smartops.models import get_model, list_models
from smartops.nn import SMART, fold_for_inference
from smartops.nn.fold import FoldedRelationTail, FoldedSMART, unfolded_batch_norms

pytestmark = requires_kernel("relation_pool", "relation_tail", "concat_reduce")


def randomize_bns(model, seed=0):
    """Running statistics and affine parameters far from the identity, and a
    head with visible logits, so that a wrong fold cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(torch.randn(n, generator=g) * 0.3)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0, 0.3, generator=g)
            elif isinstance(m, nn.Conv3d) and m.bias is not None:  # the Caffe networks' biases
                m.bias.normal_(0, 0.1, generator=g)
    return model


def eval_model(arch, dtype=torch.float64, fused=False):
    torch.manual_seed(0)
    model = get_model(arch, width=0.125, num_classes=5, fused=fused).to(dtype)
    return randomize_bns(model).eval()


def clip(dtype=torch.float64, batch=2):
    return torch.randn(batch, 3, 8, 24, 24, generator=torch.Generator().manual_seed(1), dtype=dtype)


@pytest.mark.parametrize("arch", list_models())
def test_folded_equals_unfolded_float64(arch):
    model = eval_model(arch)  # fused=False: the pure-PyTorch definition
    x = clip()
    with torch.no_grad():
        ref = model(x)
        assert ref.abs().max() > 0.1  # the comparison below is not between near-zero logits
        for fused in (True, False):
            out = fold_for_inference(model, fused=fused)(x)
            torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10, msg="fused=%s" % fused)


def test_folded_channels_last_and_float32():
    model = eval_model("artnet_resnet18_d", torch.float32, fused=True)
    folded = fold_for_inference(model)
    x = clip(torch.float32)
    with torch.no_grad():
        ref = model(x)
        # float32 rounding differs between the two graphs; the random BNs
        # make logits large, so the tolerance scales with them.
        tol = dict(rtol=1e-3, atol=1e-4 * float(ref.abs().max()))
        torch.testing.assert_close(folded(x), ref, **tol)
        torch.testing.assert_close(folded(channels_last(x)), ref, **tol)


def test_structure_no_batchnorm_and_original_untouched():
    model = eval_model("artnet_resnet18_d")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_for_inference(model)
    kinds = [type(m) for m in folded.modules()]
    assert unfolded_batch_norms(folded) == []
    assert kinds.count(FoldedSMART) == sum(isinstance(m, SMART) for m in model.modules()) == 7
    assert kinds.count(FoldedRelationTail) == 7
    assert folded.fc.weight.data_ptr() != model.fc.weight.data_ptr()
    torch.testing.assert_close(folded.fc.weight, model.fc.weight)  # the head is unchanged
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_fused_setting_is_kept_or_overridden():
    model = eval_model("relation_resnet18_s", fused="auto")
    assert {m.fused for m in fold_for_inference(model).modules() if isinstance(m, FoldedRelationTail)} == {"auto"}
    assert {m.fused for m in fold_for_inference(model, fused=False).modules()
            if isinstance(m, FoldedRelationTail)} == {False}


def test_training_mode_is_refused():
    with pytest.raises(ValueError, match=r"training mode.*model.eval\(\)"):
        fold_for_inference(get_model("c3d_resnet18", width=0.125))


def test_caffe_post_sum_batchnorms_are_kept():
    """Only the BNs after a residual sum (whose input the identity path also
    carries) stay: the stem's and one per residual unit."""
    folded = fold_for_inference(eval_model("artnet_resnet18_caffe"))
    assert sorted(unfolded_batch_norms(folded)) == sorted(
        ["stem.bn"] + ["layer%d.%d.bn" % (i, j) for i in range(1, 5) for j in range(2)])


def test_batchnorm_without_conv_is_kept():
    model = randomize_bns(nn.Sequential(nn.Conv3d(3, 4, 1), nn.ReLU(), nn.BatchNorm3d(4))).eval()
    folded = fold_for_inference(model)
    assert unfolded_batch_norms(folded) == ["2"]
    x = torch.randn(2, 3, 2, 3, 3)
    torch.testing.assert_close(folded(x), model(x))


def test_batchnorm_without_running_stats_is_refused():
    model = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4, track_running_stats=False)).eval()
    with pytest.raises(ValueError, match=r"1 has no running statistics"):
        fold_for_inference(model)
