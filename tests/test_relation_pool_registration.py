"""relation_pool as a PyTorch custom op: opcheck, torch.compile, saved memory."""
import copy

import pytest
import torch

from op_utils import channels_last, relation_params, requires_kernel, saved_bytes
from smartops.nn import RelationPool
from smartops.ops import relation_pool_reference

pytestmark = requires_kernel("relation_pool")


def op_args(x, training, requires_grad=True):
    p = relation_params(x.shape[1], dtype=x.dtype, requires_grad=requires_grad)
    stats = [None] * 4 if training else [p["running_mean1"], p["running_var1"], p["running_mean2"], p["running_var2"]]
    return (x, p["weight1"], p["bias1"], p["weight2"], p["bias2"], *stats, 1e-5, True)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_opcheck_relation_pool(training, layout):
    x = torch.randn(2, 6, 3, 4, 5)
    if layout == "channels_last":
        x = channels_last(x)
    x.requires_grad_(True)
    torch.library.opcheck(torch.ops.smartops.relation_pool.default, op_args(x, training))


@pytest.mark.parametrize("batch_stats", [True, False])
def test_opcheck_relation_pool_backward(batch_stats):
    x = torch.randn(2, 4, 3, 4, 5)
    _, w1, b1, w2, b2, *_ = op_args(x, True, requires_grad=False)
    _, m1, v1, m2, v2 = torch.ops.smartops.relation_pool(x, w1, b1, w2, b2, None, None, None, None, 1e-5, True)
    grad = torch.randn(2, 2, 3, 4, 5)
    torch.library.opcheck(torch.ops.smartops.relation_pool_backward.default,
                          (grad, x, w1, b1, w2, b2, m1, v1, m2, v2, 1e-5, True, batch_stats))


def make_pair(channels=8, momentum=0.1):
    fused = RelationPool(channels, momentum=momentum, fused=True)
    with torch.no_grad():
        fused.bn1.weight.uniform_(0.5, 1.5)
        fused.bn1.bias.normal_()
        fused.bn2.bias.normal_()
    return fused, copy.deepcopy(fused)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_compile_fullgraph_matches_eager(momentum):
    torch._dynamo.reset()
    eager, compiled_module = make_pair(momentum=momentum)
    compiled = torch.compile(compiled_module, fullgraph=True)
    for step in range(2):  # training: output, grads and running statistics
        x = torch.randn(2, 8, 3, 6, 6) + step
        xe, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
        ye, yc = eager(xe), compiled(xc)
        torch.testing.assert_close(yc, ye)
        g = torch.randn_like(ye)
        ye.backward(g)
        yc.backward(g)
        torch.testing.assert_close(xc.grad, xe.grad)
    for (name, a), (_, b) in zip(eager.named_parameters(), compiled_module.named_parameters()):
        torch.testing.assert_close(b.grad, a.grad, msg=name)
    for (name, a), (_, b) in zip(eager.named_buffers(), compiled_module.named_buffers()):
        torch.testing.assert_close(b, a, msg=name)
    eager.eval()
    compiled_module.eval()
    x = torch.randn(2, 8, 3, 6, 6)
    torch.testing.assert_close(compiled(x), eager(x))


def test_saved_bytes_at_most_x():
    """Autograd keeps x and per-channel vectors only (<= 1.1x the bytes of x);
    the eager composition keeps 3x (x, BN1 output, pooled, output)."""
    x = torch.randn(4, 64, 4, 14, 14, requires_grad=True)
    x_bytes = x.numel() * x.element_size()
    fused = RelationPool(64, fused=True)
    ref = copy.deepcopy(fused)
    ref.fused = False
    _, fused_bytes = saved_bytes(lambda: fused(x))
    _, ref_bytes = saved_bytes(lambda: ref(x))
    assert fused_bytes <= 1.1 * x_bytes, fused_bytes / x_bytes
    assert ref_bytes >= 2.9 * x_bytes, ref_bytes / x_bytes  # the baseline the fused op saves against


def test_saved_bytes_channels_last():
    x = channels_last(torch.randn(2, 32, 4, 10, 10)).requires_grad_()
    _, fused_bytes = saved_bytes(lambda: RelationPool(32, fused=True)(x))
    assert fused_bytes <= 1.1 * x.numel() * x.element_size()


def test_unfused_module_is_the_reference():
    m = RelationPool(8, fused=False)
    x = torch.randn(2, 8, 2, 3, 3)
    bn1, bn2 = copy.deepcopy(m.bn1), copy.deepcopy(m.bn2)
    y_ref = relation_pool_reference(x, bn1.weight, bn1.bias, bn1.running_mean, bn1.running_var, bn2.weight,
                                    bn2.bias, bn2.running_mean, bn2.running_var, True)
    torch.testing.assert_close(m(x), y_ref)
    torch.testing.assert_close(m.bn2.running_var, bn2.running_var)
