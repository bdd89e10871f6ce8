"""The fused ops behave as the eager composition / torch on edge inputs:
NaN and Inf, eps, double backward, empty batches, integer and meta inputs."""
import copy

import pytest
import torch

from op_utils import relation_params, requires_kernel
from smartops.nn import RelationPool
from smartops.ops import batch_norm_relu, relation_pool, relation_pool_reference

pytestmark = requires_kernel("relation_pool")


def pools(training, channels=8):
    torch.manual_seed(0)
    fused = RelationPool(channels, fused=True)
    with torch.no_grad():
        for bn in (fused.bn1, fused.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    unfused = copy.deepcopy(fused)
    unfused.fused = False
    return fused.train(training), unfused.train(training)


def step(module, x, g):
    x = x.clone().requires_grad_()
    y = module(x)
    y.backward(g)
    return [y.detach(), x.grad] + [p.grad for p in module.parameters()] + list(module.buffers())


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_input_propagates_as_in_eager(training, value):
    """One bad pixel: outputs, every gradient and the running statistics are
    non-finite exactly where the eager composition's are, and equal elsewhere.
    (Training with batch statistics: the bad channel's pair, in all of them.)"""
    fused, unfused = pools(training)
    x = torch.randn(2, 8, 3, 5, 5)
    x[1, 2, 1, 2, 3] = value  # channel 2 = channel a of pair 1
    g = torch.randn(2, 4, 3, 5, 5)
    for name, a, b in zip(["out", "dx", "w1", "b1", "w2", "b2", "rm1", "rv1", "nbt1", "rm2", "rv2", "nbt2"],
                          step(fused, x, g), step(unfused, x, g)):
        assert torch.equal(a.isfinite(), b.isfinite()), name
        if value != value:  # NaN in: NaN exactly where eager has NaN (Inf in may give NaN for eager's inf)
            assert torch.equal(a.isnan(), b.isnan()), name
        torch.testing.assert_close(a[b.isfinite()], b[b.isfinite()], rtol=1e-4, atol=1e-4, msg=name)
    if training:
        assert not step(fused, x, g)[0][:, 1].isfinite().any()  # the whole pooled channel, as eager BN2


def test_nan_is_not_hidden_by_relu():
    """relu(NaN) = NaN in torch: a NaN must not come out as 0 (and a finite
    loss) from the fused op."""
    x = torch.randn(2, 4, 2, 3, 3)
    x[0, 0, 0, 0, 0] = float("nan")
    p = relation_params(4)
    y = relation_pool(x, p["weight1"], p["bias1"], None, None, p["weight2"], p["bias2"], None, None, True)
    assert y[:, 0].isnan().all() and y[:, 1].isfinite().all()


class TestEps:
    def call(self, eps, training, fn=relation_pool):
        p = relation_params(4)
        x = torch.randn(2, 4, 2, 3, 3, generator=torch.Generator().manual_seed(0))
        return fn(x, p["weight1"], p["bias1"], p["running_mean1"], p["running_var1"], p["weight2"], p["bias2"],
                  p["running_mean2"], p["running_var2"], training, eps=eps)

    @pytest.mark.parametrize("eps", [0.0, -1e-5])
    def test_not_positive_raises_in_training(self, eps):
        with pytest.raises(RuntimeError, match="eps must be positive when training"):
            self.call(eps, True)

    def test_zero_is_accepted_in_eval_and_negative_is_not(self):
        # torch.batch_norm: eps >= 0 with running statistics
        torch.testing.assert_close(self.call(0.0, False), self.call(0.0, False, relation_pool_reference))
        with pytest.raises(RuntimeError, match="eps must be non-negative"):
            self.call(-1e-5, False)

    @pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
    @pytest.mark.parametrize("eps", [float("nan"), float("inf")])
    def test_non_finite_raises(self, eps, training):
        with pytest.raises(RuntimeError, match="eps must be finite"):
            self.call(eps, training)

    def test_module_raises_too(self):
        pool = RelationPool(4, eps=0.0, fused=True)
        with pytest.raises(RuntimeError, match="eps must be positive"):
            pool(torch.randn(2, 4, 2, 3, 3))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_double_backward_matches_reference(training):
    """backward(create_graph=True) gives differentiable gradients: second
    derivatives agree with the eager composition's, and gradgradcheck passes."""
    p = relation_params(4, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 4, 1, 2, 3, dtype=torch.float64, requires_grad=True)
    names = ("weight1", "bias1", "running_mean1", "running_var1", "weight2", "bias2", "running_mean2",
             "running_var2")

    def second(fn):
        args = [p[k] if training is False or "running" not in k else None for k in names]
        y = fn(x, *args, training, relu=False)
        gx, gw = torch.autograd.grad((y * y).sum(), [x, p["weight1"]], create_graph=True)
        return torch.autograd.grad(gx.square().sum() + gw.sum(), [x, p["weight1"], p["bias2"]])

    for a, b in zip(second(relation_pool), second(relation_pool_reference)):
        torch.testing.assert_close(a, b)
    stats = [None] * 4 if training else [p[k].detach() for k in names if "running" in k]
    fn = lambda x, w1, b2: relation_pool(x, w1, p["bias1"], stats[0], stats[1], p["weight2"], b2,  # noqa: E731
                                         stats[2], stats[3], training, relu=False)
    small = x[:1, :, :, :, :2].detach().clone().requires_grad_()  # gradgradcheck perturbs every element
    assert torch.autograd.gradgradcheck(fn, (small, p["weight1"], p["bias2"]))


def test_empty_batch_in_eval_like_unfused():
    fused, unfused = pools(False)
    x = torch.randn(0, 8, 3, 4, 4, requires_grad=True)
    y, y_ref = fused(x), unfused(x)
    assert y.shape == y_ref.shape == (0, 4, 3, 4, 4)
    y.sum().backward()
    assert x.grad.shape == x.shape
    with pytest.raises(RuntimeError, match="x has no positions"):
        fused.train()(x)  # nn.BatchNorm3d raises in training too


def test_smart_empty_batch_backward_in_eval_like_unfused():
    # batch_norm_relu's backward on 0 clips: torch 2.13's native_batch_norm_backward divides by zero
    # (SIGFPE, the process dies); nn.BatchNorm3d's own backward gives zero gradients
    from smartops.nn import SMART

    torch.manual_seed(0)
    fused = SMART(6, 6, fused=True).double().eval()
    unfused = SMART(6, 6, fused=False).double().eval()
    unfused.load_state_dict(fused.state_dict())
    grads = []
    for model in (fused, unfused):
        x = torch.randn(0, 6, 3, 4, 4, dtype=torch.float64, requires_grad=True)
        model.zero_grad()
        model(x).sum().backward()
        grads.append([x.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_batch_norm_relu_rejects_integers_like_torch():
    x = torch.randint(0, 5, (2, 3, 4), dtype=torch.int32)
    stats = (torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3))
    with pytest.raises(NotImplementedError, match="not implemented for 'Int'"):
        torch.nn.functional.batch_norm(x, stats[2], stats[3], stats[0], stats[1], True)
    with pytest.raises(NotImplementedError, match="batch_norm_relu: not implemented for torch.int32"):
        batch_norm_relu(x, *stats, True)


class TestMetaTensors:
    """Direct calls of the registered op: meta in, meta out (shapes only);
    meta mixed with CPU raises as the CPU kernel does, instead of the fake
    implementation handing back uninitialised CPU tensors."""

    def args(self, x_device, param_device):
        p = relation_params(4)
        x = torch.randn(2, 4, 2, 3, 3, device=x_device)
        return [x] + [p[k].to(param_device) for k in ("weight1", "bias1", "weight2", "bias2")]

    def test_meta_gives_meta(self):
        out = torch.ops.smartops.relation_pool(*self.args("meta", "meta"), None, None, None, None, 1e-5, True)
        assert all(t.device.type == "meta" for t in out) and out[0].shape == (2, 2, 2, 3, 3)

    @pytest.mark.parametrize("x_device,param_device", [("cpu", "meta"), ("meta", "cpu")])
    def test_mixed_raises(self, x_device, param_device):
        with pytest.raises(RuntimeError, match="is on (meta|cpu) but x is on"):
            torch.ops.smartops.relation_pool(*self.args(x_device, param_device), None, None, None, None, 1e-5, True)
