"""smartops.nn.RelationPool: fused/unfused choice, state dicts, errors."""
import copy
import warnings

import pytest
import torch

from op_utils import requires_kernel, saved_bytes
from smartops.nn import RelationPool
from smartops.nn import fused_dispatch


def test_odd_channels_rejected():
    with pytest.raises(ValueError, match="channels must be even"):
        RelationPool(7)


def test_fused_argument_validated():
    with pytest.raises(ValueError, match="fused must be True, False or 'auto'"):
        RelationPool(8, fused="yes")


def test_state_dict_same_as_unfused_composition():
    fused, unfused = RelationPool(8, fused=True), RelationPool(8, fused=False)
    assert list(fused.state_dict()) == list(unfused.state_dict()) == [
        "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
        "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked"]
    # the fixed pair-mean weights are not parameters
    assert sum(p.numel() for p in fused.parameters()) == 2 * 8 + 2 * 4


@requires_kernel("relation_pool")
@pytest.mark.parametrize("training", [True, False])
def test_fused_and_unfused_modules_agree(training):
    fused = RelationPool(16, fused=True)
    with torch.no_grad():
        fused.bn1.bias.normal_()
        fused.bn1.running_var.uniform_(0.5, 2)
    unfused = copy.deepcopy(fused)
    unfused.fused = False
    fused.train(training)
    unfused.train(training)
    x = torch.randn(2, 16, 3, 5, 5)
    torch.testing.assert_close(fused(x), unfused(x), rtol=1e-4, atol=1e-5)
    for (name, a), (_, b) in zip(fused.state_dict().items(), unfused.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


@requires_kernel("relation_pool")
def test_auto_uses_the_fused_op_on_cpu():
    x = torch.randn(2, 16, 3, 6, 6, requires_grad=True)
    _, nbytes = saved_bytes(lambda: RelationPool(16)(x))
    assert nbytes <= 1.1 * x.numel() * x.element_size()


def test_auto_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setattr(fused_dispatch, "_warned", set())
    m = RelationPool(8)
    x = torch.randn(2, 8, 2, 3, 3, device="meta")
    with pytest.warns(UserWarning, match="no compiled smartops.relation_pool kernel for meta"):
        y = m.to("meta")(x)
    assert y.shape == (2, 4, 2, 3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m(x)  # warned once already


def test_fused_true_without_kernel_says_how_to_build():
    m = RelationPool(8, fused=True).to("meta")
    with pytest.raises(RuntimeError, match="pip install --no-build-isolation"):
        m(torch.randn(2, 8, 2, 3, 3, device="meta"))
