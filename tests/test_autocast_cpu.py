"""torch.autocast("cpu", dtype=torch.bfloat16) with the fused ops: the
relation op upcasts to float32 (the CPU kernels are float32/float64),
concat_reduce runs in bfloat16 as a convolution would, and SMART blocks and
models train fused under autocast."""
import copy
import warnings

import torch
import torch.nn.functional as F

from op_utils import relation_params, requires_kernel
from smartops.models import artnet_resnet18
from smartops.nn import SMART
from smartops.ops import batch_norm_relu, concat_reduce, concat_reduce_reference, relation_pool

pytestmark = requires_kernel("relation_pool", "concat_reduce")


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def test_relation_pool_upcasts_to_float32():
    x = torch.randn(2, 8, 3, 5, 5).bfloat16()
    p = relation_params(8)
    args = (p["weight1"], p["bias1"], None, None, p["weight2"], p["bias2"], None, None, True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = relation_pool(x, *args)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, relation_pool(x.float(), *args))


def test_concat_reduce_runs_in_autocast_dtype():
    a, z, w = torch.randn(2, 6, 3, 4, 4), torch.randn(2, 3, 3, 4, 4), torch.randn(5, 9, 1, 1, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = concat_reduce(a, z, w)
        ref = concat_reduce_reference(a, z, w)
    assert out.dtype == ref.dtype == torch.bfloat16
    assert rel_err(out, ref) < 2e-2


def test_batch_norm_relu_mixed_dtypes():
    """bfloat16 input with float32 BN parameters, as under autocast."""
    x = torch.randn(2, 6, 3, 4, 4).bfloat16().requires_grad_()
    w, b = torch.rand(6).add(0.5).requires_grad_(), torch.randn(6).requires_grad_()
    rm, rv = torch.zeros(6), torch.ones(6)
    y = batch_norm_relu(x, w, b, rm, rv, True)
    assert y.dtype == torch.bfloat16
    x2, w2, b2 = (t.detach().clone().requires_grad_() for t in (x, w, b))
    rm2, rv2 = torch.zeros(6), torch.ones(6)
    y2 = F.relu(F.batch_norm(x2, rm2, rv2, w2, b2, True))
    assert rel_err(y, y2) < 2e-2
    g = torch.randn_like(y)
    y.backward(g)
    y2.backward(g)
    for a, c in ((x.grad, x2.grad), (w.grad, w2.grad), (b.grad, b2.grad)):
        assert rel_err(a, c) < 5e-2
    torch.testing.assert_close(rm, rm2, rtol=1e-2, atol=1e-3)


def test_smart_fused_auto_trains_under_autocast():
    # Seeded: in bfloat16 the input gradients of fused and unfused differ by 0.02-0.14 (relative)
    # over seeds 0-29 (rounding at ReLU kinks); 0.042 at seed 0.
    torch.manual_seed(0)
    fused = SMART(8, 8, fused="auto")
    unfused = copy.deepcopy(fused)
    unfused.fused = False
    x = torch.randn(2, 8, 4, 6, 6)
    outputs = []
    for module in (fused, unfused):
        xi = x.clone().requires_grad_()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "auto" takes the fused ops: no fallback warning
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = module(xi)
        y.float().sum().backward()
        outputs.append((y, xi.grad))
    assert outputs[0][0].dtype == torch.bfloat16
    assert rel_err(outputs[0][0], outputs[1][0]) < 5e-2
    assert rel_err(outputs[0][1], outputs[1][1]) < 1e-1


def test_model_step_under_autocast():
    model = artnet_resnet18("d", width=0.125, num_classes=5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(model(torch.randn(2, 3, 8, 32, 32)), torch.tensor([1, 2]))
    loss.backward()
    # torch 2.13's CPU bfloat16 conv3d weight gradient returns NaN at random when the temporal
    # size is 2 (about 1 call in 6 at (2, 16, 2, 8, 8), plain nn.Conv3d, no smartops op involved),
    # so the 3D convolutions' weight gradients are not ours to check; every other gradient is.
    torch_bug = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Conv3d)}
    assert torch.isfinite(loss)
    checked = [(n, p) for n, p in model.named_parameters() if id(p) not in torch_bug]
    assert len(checked) > 40 and any(".relation_pool." in n for n, _ in checked)
    assert all(torch.isfinite(p.grad).all() for _, p in checked), [n for n, p in checked if not torch.isfinite(p.grad).all()]
