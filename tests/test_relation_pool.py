"""The fused relation op (smartops.ops.relation_pool) against the pure-PyTorch
reference: forward, backward, running statistics, gradcheck, layouts,
robustness and errors."""
import copy

import pytest
import torch

from op_utils import channels_last, relation_params, requires_kernel
from smartops.ops import relation_pool, relation_pool_reference

pytestmark = requires_kernel("relation_pool")

PARAM_NAMES = ("weight1", "bias1", "weight2", "bias2")


def kink_free_grad(pre_relu, seed=1):
    """A random upstream gradient, zero where the reference's pre-ReLU value
    is within 1e-3 of 0: there a float32 rounding difference may flip the
    ReLU mask, which is no error of either implementation."""
    g = torch.randn(pre_relu.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.where(pre_relu.double().abs() > 1e-3, g, 0)


def run(fn, x, p, training, relu, momentum=0.1, grad_out=None):
    """Forward + backward of fn (fused or reference) on copies of the inputs;
    returns output, input/parameter gradients and the updated running stats."""
    x = x.detach().clone(memory_format=torch.preserve_format).requires_grad_(True)
    p = {k: v.detach().clone().requires_grad_(k in PARAM_NAMES) for k, v in p.items()}
    y = fn(x, p["weight1"], p["bias1"], p["running_mean1"], p["running_var1"], p["weight2"], p["bias2"],
           p["running_mean2"], p["running_var2"], training, momentum, 1e-5, relu)
    if grad_out is None:
        grad_out = kink_free_grad(y)
    y.backward(grad_out.to(y.dtype))
    grads = [x.grad] + [p[k].grad for k in PARAM_NAMES]
    running = [p[k] for k in ("running_mean1", "running_var1", "running_mean2", "running_var2")]
    return y.detach(), grads, running


def assert_matches_reference(x, p, training, relu, momentum=0.1, rtol=1e-4, atol=1e-4):
    q_ref, _, _ = run(relation_pool_reference, x, p, training, False, momentum)
    g = kink_free_grad(q_ref)
    y, grads, running = run(relation_pool, x, p, training, relu, momentum, grad_out=g)
    y_ref, grads_ref, running_ref = run(relation_pool_reference, x, p, training, relu, momentum, grad_out=g)
    torch.testing.assert_close(y, y_ref, rtol=rtol, atol=atol)
    for name, a, b in zip(("x",) + PARAM_NAMES, grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=lambda m: "grad %s: %s" % (name, m))
    for a, b in zip(running, running_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    return y


SHAPES = [
    (2, 4, 3, 5, 5),      # small, odd spatial sizes
    (1, 8, 4, 7, 9),      # N = 1
    (4, 6, 1, 6, 5),      # T = 1, odd number of pairs
    (64, 4, 1, 1, 1),     # H = W = T = 1: positions only from N
    (2, 16, 3, 11, 13),   # several planar chunks' worth of odd sizes
    (2, 34, 2, 3, 5),     # pair count not a multiple of the vector width
    (2, 512, 2, 4, 4),    # 2C = 512
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_matches_reference_float32(shape, layout, training):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 2 + 0.5
    if layout == "channels_last":
        x = channels_last(x)
    y = assert_matches_reference(x, relation_params(shape[1]), training, relu=True)
    expected_format = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    assert y.is_contiguous(memory_format=expected_format)


@pytest.mark.parametrize("relu", [True, False])
def test_relu_switch(relu):
    x = torch.randn(2, 8, 3, 6, 6)
    y = assert_matches_reference(x, relation_params(8), True, relu=relu)
    assert (y.min() < 0) == (not relu)


def test_long_runs_cross_chunks():
    # S = 4 * 33 * 33 = 4356 positions per sample: several 2048-position chunks.
    x = torch.randn(2, 4, 4, 33, 33) * 3 - 1
    assert_matches_reference(x, relation_params(4), True, relu=True)
    assert_matches_reference(channels_last(x), relation_params(4), True, relu=True)


@pytest.mark.parametrize("kind", ["strided", "permuted", "sliced"])
def test_non_contiguous_input(kind):
    base = torch.randn(2, 8, 6, 10, 12)
    x = {"strided": base[:, :, ::2, :, ::3], "permuted": base.permute(0, 1, 2, 4, 3),
         "sliced": base[:, 2:6]}[kind]
    assert not x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last_3d)
    y = assert_matches_reference(x, relation_params(x.shape[1]), True, relu=True)
    assert y.is_contiguous()


def test_momentum_none_cumulative_average():
    from smartops.nn import RelationPool

    fused = RelationPool(8, momentum=None, fused=True)
    ref = copy.deepcopy(fused)
    ref.fused = False
    for step in range(3):
        x = torch.randn(2, 8, 2, 5, 5) * (step + 1) + step
        fused(x)
        ref(x)
    for (name, a), (_, b) in zip(fused.state_dict().items(), ref.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert fused.bn1.num_batches_tracked.item() == 3 and fused.bn2.num_batches_tracked.item() == 3


def test_functional_momentum_tensor():
    x = torch.randn(2, 4, 2, 3, 3)
    p = relation_params(4)
    _, _, running = run(relation_pool, x, p, True, True, momentum=torch.tensor(0.25))
    _, _, running_ref = run(relation_pool_reference, x, p, True, True, momentum=0.25)
    for a, b in zip(running, running_ref):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_gradcheck_float64(training, relu, layout):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 3, 3, 5, generator=gen, dtype=torch.float64)
    if layout == "channels_last":
        x = channels_last(x)
    x.requires_grad_(True)
    p = relation_params(4, dtype=torch.float64, requires_grad=True)
    stats = [None if training else p[k] for k in ("running_mean1", "running_var1", "running_mean2", "running_var2")]

    def f(x, w1, b1, w2, b2):
        return relation_pool(x, w1, b1, stats[0], stats[1], w2, b2, stats[2], stats[3], training, relu=relu)

    assert torch.autograd.gradcheck(f, (x,) + tuple(p[k] for k in PARAM_NAMES))


def test_large_mean_robustness():
    """float32 x = 1000 + randn: the statistics are computed from centred
    moments, so outputs and gradients keep float64 accuracy to 1e-3."""
    gen = torch.Generator().manual_seed(5)
    x64 = 1000 + torch.randn(4, 8, 4, 9, 9, generator=gen, dtype=torch.float64)
    p64 = relation_params(8, dtype=torch.float64)
    p32 = {k: v.float() for k, v in p64.items()}
    g = kink_free_grad(run(relation_pool_reference, x64, p64, True, False)[0])
    y, grads, running = run(relation_pool, x64.float(), p32, True, True, grad_out=g)
    y_ref, grads_ref, running_ref = run(relation_pool_reference, x64, p64, True, True, grad_out=g)

    def rel_err(a, b):
        return ((a.double() - b).norm() / b.norm()).item()

    assert rel_err(y, y_ref) < 1e-3
    for name, a, b in zip(("x",) + PARAM_NAMES, grads, grads_ref):
        assert rel_err(a, b) < 1e-3, name
    for a, b in zip(running, running_ref):
        assert rel_err(a, b) < 1e-3
    # BN2's statistics are 4th moments of x: raw float32 power sums of
    # x ~ 1000 would lose them entirely. Same check for the other layout.
    y_cl, _, _ = run(relation_pool, channels_last(x64.float()), p32, True, True, grad_out=g)
    assert rel_err(y_cl, y_ref) < 1e-3


class TestErrors:
    def call(self, x, training=True, **overrides):
        p = relation_params(x.shape[1] if x.dim() > 1 and x.shape[1] % 2 == 0 else 4)
        p.update(overrides)
        return relation_pool(x, p["weight1"], p["bias1"], p["running_mean1"], p["running_var1"], p["weight2"],
                             p["bias2"], p["running_mean2"], p["running_var2"], training)

    def test_odd_channels(self):
        with pytest.raises(RuntimeError, match="even number of channels"):
            self.call(torch.randn(2, 5, 2, 3, 3))

    def test_wrong_rank(self):
        with pytest.raises(ValueError, match="5-D"):
            self.call(torch.randn(2, 4, 3, 3))

    def test_parameter_shape(self):
        with pytest.raises(RuntimeError, match="weight2 must have shape"):
            self.call(torch.randn(2, 4, 2, 3, 3), weight2=torch.ones(4))

    def test_statistics_shape(self):
        with pytest.raises(RuntimeError, match="mean2 must have shape"):
            self.call(torch.randn(2, 4, 2, 3, 3), training=False, running_mean2=torch.zeros(3))

    def test_dtype_mismatch(self):
        with pytest.raises(RuntimeError, match="weight1 has dtype Double"):
            self.call(torch.randn(2, 4, 2, 3, 3), weight1=torch.ones(4, dtype=torch.float64))

    def test_unsupported_dtype_on_cpu(self):
        with pytest.raises(RuntimeError, match="float32 or float64"):
            x = torch.randn(2, 4, 2, 3, 3, dtype=torch.bfloat16)
            p = {k: v.float() for k, v in relation_params(4).items()}
            relation_pool(x, p["weight1"], p["bias1"], None, None, p["weight2"], p["bias2"], None, None, True)

    def test_device_mismatch(self):
        with pytest.raises(RuntimeError, match="is on meta but x is on cpu"):
            self.call(torch.randn(2, 4, 2, 3, 3), bias1=torch.zeros(4, device="meta"))

    def test_single_value_per_channel_in_training(self):
        with pytest.raises(RuntimeError, match="more than 1 value per channel"):
            self.call(torch.randn(1, 4, 1, 1, 1))
        # ... which evaluation accepts, as nn.BatchNorm3d does.
        assert self.call(torch.randn(1, 4, 1, 1, 1), training=False).shape == (1, 2, 1, 1, 1)

    def test_missing_running_stats_in_eval(self):
        with pytest.raises(ValueError, match="required when training=False"):
            self.call(torch.randn(2, 4, 2, 3, 3), training=False, running_var1=None)

    def test_device_without_kernel(self):
        x = torch.randn(2, 4, 2, 3, 3, device="meta")
        with pytest.raises(RuntimeError, match="no kernel for device 'meta'.*pip install --no-build-isolation"):
            relation_pool(x, None, None, None, None, None, None, None, None, True)
