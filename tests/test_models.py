"""smartops.models: the paper's ResNet-18 family (Tables 1 and 2): parameter
counts, multiply-adds, shapes, fused vs unfused, torch.compile / export,
convert_to_smart, state dicts, registry and errors.

Full-width models are only built on the meta device (no memory, no compute);
forward/backward tests use width 1/8 (8, 16, 32, 64 channels) and small clips.
"""
import copy
import io
import re

import pytest
import torch
import torch.nn as nn

from op_utils import requires_kernel
from smartops.models import (BasicBlock, VideoResNet, artnet_resnet18, c2d_resnet18, c3d_resnet18, count_macs,
                             get_model, list_models, relation_resnet18, set_fused)
from smartops.nn import SMART, RelationBlock, RelationPool, convert_to_smart

needs_ops = requires_kernel("relation_pool", "concat_reduce")

NAMES = ["c2d_resnet18", "c3d_resnet18", "c3d_resnet34", "relation_resnet18_s", "relation_resnet18_d",
         "artnet_resnet18_s", "artnet_resnet18_d"]
WITH_BLOCKS = [n for n in NAMES if "artnet" in n or "relation" in n]
SMALL = dict(width=0.125, num_classes=5)
CLIP = (2, 3, 8, 32, 32)

# Full width, num_classes=400: exact learnable parameter counts and multiply-adds
# at 1 x 3 x 16 x 112 x 112 (conv and fc only, see count_macs).
PARAMS = {"c2d_resnet18": 11381712, "c3d_resnet18": 33371472, "c3d_resnet34": 63681104,
          "relation_resnet18_s": 33399952, "relation_resnet18_d": 38048400,
          "artnet_resnet18_s": 33387344, "artnet_resnet18_d": 35198160}
MACS = {"c2d_resnet18": 6812901376, "c3d_resnet18": 20348379136, "c3d_resnet34": 37689204736,
        "relation_resnet18_s": 21056462848, "relation_resnet18_d": 30767325184,
        "artnet_resnet18_s": 20738547712, "artnet_resnet18_d": 24514994176}
TABLE1 = {"c3d_resnet18": (33.37, 19.58), "artnet_resnet18_s": (33.39, 19.97), "artnet_resnet18_d": (35.20, 23.70)}


def meta_model(name, **kwargs):
    with torch.device("meta"):
        return get_model(name, **kwargs)


def n_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def small(name, seed=0, **kwargs):
    torch.manual_seed(seed)
    return get_model(name, **dict(SMALL, **kwargs))


def clip(shape=CLIP, seed=1, dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)


def smart_positions(model):
    return sorted(n for n, m in model.named_modules() if isinstance(m, SMART))


# ---------------------------------------------------------------- Table 1

@pytest.mark.parametrize("name", list(TABLE1))
def test_parameter_counts_match_table1(name):
    model = meta_model(name)
    assert round(n_params(model) / 1e6, 2) == TABLE1[name][0]


def test_parameter_counts_of_every_model():
    assert {name: n_params(meta_model(name)) for name in NAMES} == PARAMS
    # The fixed pair-mean weights are not parameters (nor buffers).
    model = meta_model("artnet_resnet18_d")
    assert all(p.requires_grad for p in model.parameters())
    # SMART(c, c) adds 10.5 c^2 + 5 c over conv 3x3x3 + BN (the lead's check).
    extra = sum(10.5 * c * c + 5 * c for c in (64, 128, 256) for _ in range(2))
    conv1 = (3 * 64 * 49 + 2 * 64 + 3 * 64 * 147 + 3 * 64 + 96 * 64 + 2 * 64) - (3 * 64 * 147 + 2 * 64)
    assert PARAMS["artnet_resnet18_d"] - PARAMS["c3d_resnet18"] == extra + conv1
    assert PARAMS["artnet_resnet18_s"] - PARAMS["c3d_resnet18"] == conv1


def test_macs_of_every_model_and_table1():
    for name in NAMES:
        assert count_macs(meta_model(name), (1, 3, 16, 112, 112)) == MACS[name], name
    for name, (_, gflops) in TABLE1.items():
        # A plain multiply-add count is a few percent above the paper's (see README).
        assert 1.0 < MACS[name] / 1e9 / gflops < 1.05
    # ... but the differences between the models agree with the paper's.
    assert abs((MACS["artnet_resnet18_s"] - MACS["c3d_resnet18"]) / 1e9 - (19.97 - 19.58)) < 0.01
    assert abs((MACS["artnet_resnet18_d"] - MACS["c3d_resnet18"]) / 1e9 - (23.70 - 19.58)) < 0.06


def test_count_macs_formula_and_options():
    net = nn.Sequential(nn.Conv3d(3, 8, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2)),
                        nn.Conv3d(8, 8, 3, padding=1, groups=2), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                        nn.Linear(8, 7))
    out1 = 2 * 8 * 4 * 5 * 5  # output elements of the first conv on (2, 3, 4, 10, 10)
    expected = {"0": out1 * 3 * 75, "1": out1 * 4 * 27, "4": 2 * 7 * 8}
    assert count_macs(net, (2, 3, 4, 10, 10), by_layer=True) == expected
    assert count_macs(net, (3, 4, 10, 10)) == sum(expected.values()) // 2  # no batch dimension: batch 1
    # The model is left as it was; fused does not change the count (the reduction
    # convs are counted even where concat_reduce replaces them).
    model = artnet_resnet18("d", width=0.125, fused=True)
    macs = count_macs(model, (1, 3, 16, 112, 112))
    assert model.fc.weight.device.type == "cpu" and all(m.fused is True for m in model.modules()
                                                         if isinstance(m, SMART))
    assert macs == count_macs(set_fused(copy.deepcopy(model), False), (1, 3, 16, 112, 112))
    assert "layer1.0.conv2.reduce" in count_macs(model, (1, 3, 8, 32, 32), by_layer=True)


@pytest.mark.filterwarnings("ignore:.*no compiled smartops")
@pytest.mark.parametrize("name", ["c2d_resnet18", "c3d_resnet18", "artnet_resnet18_d", "relation_resnet18_d"])
def test_output_sizes_of_table1(name):
    """conv1 8x56x56, conv2_x 8x56x56, conv3_x 4x28x28, conv4_x 2x14x14, conv5_x 1x7x7
    (full width, on the meta device)."""
    model = set_fused(meta_model(name), False).eval()
    sizes = {}
    for layer in ("stem", "layer1", "layer2", "layer3", "layer4"):
        getattr(model, layer).register_forward_hook(lambda m, i, o, layer=layer: sizes.update({layer: o.shape}))
    out = model(torch.empty(1, 3, 16, 112, 112, device="meta"))
    assert out.shape == (1, 400)
    assert sizes == {"stem": (1, 64, 8, 56, 56), "layer1": (1, 64, 8, 56, 56), "layer2": (1, 128, 4, 28, 28),
                     "layer3": (1, 256, 2, 14, 14), "layer4": (1, 512, 1, 7, 7)}


# ---------------------------------------------------------------- architecture

def test_unit_placement():
    kinds = {SMART: "smart", RelationBlock: "relation"}

    def layout(model):
        return {n: kinds[type(m)] for n, m in model.named_modules() if type(m) in kinds}

    d_positions = {"stem"} | {"layer%d.%d.conv2" % (i, j) for i in (1, 2, 3) for j in (0, 1)}
    assert layout(meta_model("artnet_resnet18_d")) == {n: "smart" for n in d_positions}
    assert layout(meta_model("artnet_resnet18_s")) == {"stem": "smart"}
    assert layout(meta_model("relation_resnet18_d")) == {n: "relation" for n in d_positions}
    assert layout(meta_model("relation_resnet18_s")) == {"stem": "relation"}
    assert layout(meta_model("c3d_resnet18")) == {}
    model = meta_model("artnet_resnet18_d")
    assert model.stem.relu and model.stem.kernel_size == (3, 7, 7) and model.stem.stride == (2, 2, 2)
    assert not any(m.relu for n, m in model.named_modules() if isinstance(m, SMART) and n != "stem")
    assert [len(getattr(meta_model("c3d_resnet34"), "layer%d" % i)) for i in (1, 2, 3, 4)] == [3, 4, 6, 3]
    # Shortcuts: 1x1x1 conv, stride 2, + BN at conv3_1, conv4_1, conv5_1 only.
    for name, m in model.named_modules():
        if isinstance(m, BasicBlock):
            assert (m.downsample is not None) == bool(re.fullmatch(r"layer[234]\.0", name)), name
            if m.downsample is not None:
                conv, bn = m.downsample
                assert conv.kernel_size == (1, 1, 1) and conv.stride == (2, 2, 2) and conv.bias is None
                assert isinstance(bn, nn.BatchNorm3d)
    # conv5_x stays plain 3D conv; no conv has a bias; fc has one.
    assert not any(isinstance(m, (SMART, RelationBlock)) for m in model.layer4.modules())
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv3d))
    assert model.fc.bias is not None and model.dropout.p == 0.2


def test_c2d_uses_2d_kernels_only():
    model = meta_model("c2d_resnet18")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert all(c.kernel_size[0] == 1 and c.padding[0] == 0 for c in convs)
    assert model.stem[0].kernel_size == (1, 7, 7) and model.stem[0].stride == (2, 2, 2)
    # temporal_stride=1 keeps every frame to the pooling.
    model = c2d_resnet18(temporal_stride=1, **SMALL)
    sizes = []
    model.layer4.register_forward_hook(lambda m, i, o: sizes.append(o.shape))
    assert model(clip()).shape == (2, 5) and sizes[0][2:] == (8, 2, 2)


def test_width_channels_are_even():
    model = c3d_resnet18(width=0.125)
    assert [getattr(model, "layer%d" % i)[0].conv2[0].out_channels for i in (1, 2, 3, 4)] == [8, 16, 32, 64]
    with torch.device("meta"):
        for width in (0.1, 0.3, 0.77):
            model = artnet_resnet18("d", width=width)
            assert all(m.out_channels % 2 == 0 for m in model.modules() if isinstance(m, nn.Conv3d))


@pytest.mark.filterwarnings("ignore:.*no compiled smartops")
@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_small(name):
    model = small(name)
    x = clip().requires_grad_()
    y = model(x)
    assert y.shape == (2, 5) and torch.isfinite(y).all()
    y.square().sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    # Optical flow input (2 channels), other clip lengths and sizes, eval mode.
    flow = small(name, in_channels=2, num_classes=7).eval()
    with torch.no_grad():
        assert flow(clip((1, 2, 5, 40, 36))).shape == (1, 7)


def test_initialisation():
    model = c3d_resnet18(width=0.5)
    conv = model.layer4[1].conv1[0]
    fan_out = conv.out_channels * 27
    assert abs(conv.weight.std().item() / (2.0 / fan_out) ** 0.5 - 1) < 0.02
    assert all((m.weight == 1).all() and (m.bias == 0).all() for m in model.modules() if isinstance(m, nn.BatchNorm3d))
    for name in ("c3d_resnet18", "artnet_resnet18_d", "relation_resnet18_d"):
        model = get_model(name, zero_init_residual=True, **SMALL)
        blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
        for block in blocks:
            unit = block.conv2
            bn = unit.bn if isinstance(unit, SMART) else unit.pool.bn2 if isinstance(unit, RelationBlock) else unit[1]
            assert (bn.weight == 0).all()
        zeroed = sum(int((m.weight == 0).all()) for m in model.modules() if isinstance(m, nn.BatchNorm3d))
        assert zeroed == len(blocks) == 8
        # Each block starts as its shortcut (+ ReLU).
        model.eval()
        x = torch.relu(clip((1, 8, 4, 8, 8)))
        assert torch.equal(model.layer1[0](x), x)


# ---------------------------------------------------------------- fused vs unfused

def pair(name, dtype=torch.float64):
    fused = small(name, fused=True).to(dtype)
    with torch.no_grad():  # non-trivial BN parameters
        for m in fused.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.5)
    unfused = set_fused(copy.deepcopy(fused), False)
    return fused, unfused


def run(model, x, seed=3):
    x = x.detach().clone().requires_grad_()
    torch.manual_seed(seed)  # the same dropout mask
    y = model(x)
    y.backward(torch.randn(y.shape, generator=torch.Generator().manual_seed(4), dtype=y.dtype))
    return y.detach(), [x.grad] + [p.grad for p in model.parameters()]


@needs_ops
@pytest.mark.parametrize("name", WITH_BLOCKS)
def test_fused_matches_unfused(name):
    fused, unfused = pair(name)
    assert list(fused.state_dict()) == list(unfused.state_dict())
    assert all(m.fused is True for m in fused.modules() if isinstance(m, (SMART, RelationBlock, RelationPool)))
    assert all(m.fused is False for m in unfused.modules() if isinstance(m, (SMART, RelationBlock, RelationPool)))
    x = clip(dtype=torch.float64)
    for _ in range(2):  # the second step runs on updated running statistics
        y_f, g_f = run(fused, x)
        y_u, g_u = run(unfused, x)
        torch.testing.assert_close(y_f, y_u)
        names = ["x"] + [n for n, _ in fused.named_parameters()]
        for n, a, b in zip(names, g_f, g_u):
            torch.testing.assert_close(a, b, msg=lambda m: "grad of %s: %s" % (n, m))
    for (n, a), b in zip(fused.named_buffers(), unfused.buffers()):
        torch.testing.assert_close(a, b, msg=n)
    # float32 logits, training and evaluation.
    fused, unfused = fused.float(), unfused.float()
    for training in (True, False):
        fused.train(training)
        unfused.train(training)
        with torch.no_grad():
            torch.manual_seed(0)
            y_f = fused(clip())
            torch.manual_seed(0)
            y_u = unfused(clip())
        torch.testing.assert_close(y_f, y_u, rtol=1e-3, atol=1e-3 * y_u.abs().max().item())


def test_set_fused_and_state_dict_keys_of_every_model():
    for name in NAMES:
        model = meta_model(name, fused=True)
        keys = list(model.state_dict())
        assert set_fused(model, "auto") is model and list(model.state_dict()) == keys
        assert all(m.fused == "auto" for m in model.modules() if isinstance(m, (SMART, RelationBlock, RelationPool)))
    with pytest.raises(ValueError, match="fused must be True, False or 'auto'"):
        set_fused(model, "yes")
    with pytest.raises(ValueError, match="fused must be True, False or 'auto'"):
        c3d_resnet18(fused=1.5)


# ---------------------------------------------------------------- compile / export

@needs_ops
@pytest.mark.slow
def test_compile_fullgraph_artnet_d_matches_eager():
    torch._dynamo.reset()
    eager = small("artnet_resnet18_d", dropout=0.0, fused=True)
    compiled_module = copy.deepcopy(eager)
    compiled = torch.compile(compiled_module, fullgraph=True)
    x = clip()
    y_e, g_e = run(eager, x)
    y_c, g_c = run(compiled, x)
    torch.testing.assert_close(y_c, y_e, rtol=1e-4, atol=1e-4 * y_e.abs().max().item())
    names = ["x"] + [n for n, _ in eager.named_parameters()]
    for n, a, b in zip(names, g_c, g_e):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3 * b.abs().max().item(),
                                   msg=lambda m: "grad of %s: %s" % (n, m))
    for (n, a), b in zip(compiled_module.named_buffers(), eager.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=n)


@needs_ops
def test_export_eval():
    model = small("artnet_resnet18_d", fused=True).eval()
    exported = torch.export.export(model, (clip((1, 3, 8, 32, 32)),))
    targets = {str(node.target) for node in exported.graph.nodes}
    assert "smartops.relation_pool.default" in targets and "smartops.concat_reduce.default" in targets
    x = clip((1, 3, 8, 32, 32), seed=5)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x))


# ---------------------------------------------------------------- convert_to_smart

def artnet_d_predicate(name, conv):
    return name == "stem.0" or re.fullmatch(r"layer[123]\.\d\.conv2\.0", name) is not None


def test_convert_c3d_reproduces_artnet_d():
    model = c3d_resnet18(**SMALL)
    offered = []
    converted = convert_to_smart(model, lambda n, c: offered.append(n) or artnet_d_predicate(n, c), fused=False)
    reference = artnet_resnet18("d", **SMALL)
    assert converted is model
    assert smart_positions(converted) == smart_positions(reference)
    assert list(converted.state_dict()) == list(reference.state_dict())
    assert {k: v.shape for k, v in converted.state_dict().items()} == \
        {k: v.shape for k, v in reference.state_dict().items()}
    assert {n: m.relu for n, m in converted.named_modules() if isinstance(m, SMART)} == \
        {n: m.relu for n, m in reference.named_modules() if isinstance(m, SMART)}
    assert all(m.fused is False for m in converted.modules() if isinstance(m, SMART))
    assert len(offered) == 20  # conv1, 16 block convs, 3 shortcuts (offered before conversion)
    # Convs inside existing SMART blocks are never offered.
    offered.clear()
    convert_to_smart(reference, lambda n, c: offered.append(n) or False)
    assert not any("appearance" in n or "relation" in n or "reduce" in n for n in offered)
    converted.load_state_dict(reference.state_dict())
    converted.eval()
    reference.eval()
    set_fused(reference, False)
    with torch.no_grad():
        torch.testing.assert_close(converted(clip()), reference(clip()))


def test_convert_full_width_parameter_count():
    with torch.device("meta"):
        model = convert_to_smart(c3d_resnet18(), artnet_d_predicate)
    assert n_params(model) == PARAMS["artnet_resnet18_d"]


class Plain(nn.Module):
    """conv and BN as attributes (order unknown to convert_to_smart)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 6, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm3d(6)
        self.head = nn.Sequential(nn.Conv3d(6, 4, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(4), nn.ReLU(),
                                  nn.Conv3d(4, 4, 3, padding=1))

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))))


def test_convert_other_layouts():
    model = convert_to_smart(Plain(), lambda n, c: n in ("conv", "head.0"), fused=False)
    # Not in a Sequential: replaced alone (relu=False), the model's BN is kept.
    assert isinstance(model.conv, SMART) and not model.conv.relu and isinstance(model.bn, nn.BatchNorm3d)
    assert model.conv.relation_conv.bias is None
    # In a Sequential with more layers: conv + BN + ReLU -> SMART(relu=True), indices kept.
    assert [type(m) for m in model.head] == [SMART, nn.Identity, nn.Identity, nn.Conv3d]
    assert model.head[0].relu and model.head[0].kernel_size == (1, 3, 3)
    assert model(clip((2, 3, 4, 6, 6))).shape == (2, 4, 4, 6, 6)
    # relu=True for a conv replaced alone; absorb_bn=False keeps BN and ReLU.
    model = convert_to_smart(Plain(), lambda n, c: n in ("conv", "head.0"), relu=True, absorb_bn=False)
    assert model.conv.relu and model.head[0].relu and [type(m) for m in model.head] == \
        [SMART, nn.BatchNorm3d, nn.ReLU, nn.Conv3d]
    # The model itself: a Conv3d, or a Sequential conv + BN (+ ReLU).
    assert isinstance(convert_to_smart(nn.Conv3d(2, 4, 3), lambda n, c: True), SMART)
    root = convert_to_smart(nn.Sequential(nn.Conv3d(2, 4, 3), nn.BatchNorm3d(4, eps=1e-3)), lambda n, c: True)
    assert isinstance(root, SMART) and not root.relu and root.bn.eps == 1e-3
    # dtype, training mode and geometry (stride, padding) follow the conv.
    conv = nn.Conv3d(2, 4, (3, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)).double().eval()
    block = convert_to_smart(conv, lambda n, c: True)
    assert block.relation_conv.weight.dtype == torch.float64 and not block.training
    assert (block.stride, block.padding) == ((1, 2, 2), (0, 1, 1))
    x = clip((1, 2, 5, 9, 9), dtype=torch.float64)
    assert block(x).shape == conv(x).shape


@pytest.mark.parametrize("conv, reason", [
    (nn.Conv3d(4, 7, 3), "out_channels=7 is odd"),
    (nn.Conv3d(4, 8, (2, 3, 3)), "temporal kernel size 2 is even"),
    (nn.Conv3d(4, 8, 3, groups=2), "groups=2"),
    (nn.Conv3d(4, 8, 3, dilation=2), "dilation"),
    (nn.Conv3d(4, 8, 3, padding=1, padding_mode="reflect"), "padding_mode"),
])
def test_convert_errors(conv, reason):
    model = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), conv)
    with pytest.raises(ValueError, match=r"cannot convert '1'.*" + reason):
        convert_to_smart(model, lambda n, c: True)
    assert isinstance(model[0], nn.Conv3d)  # checked before anything changed
    with pytest.raises(TypeError, match="predicate must be a callable"):
        convert_to_smart(model, "layer1")


# ---------------------------------------------------------------- state dicts

def test_state_dict_round_trip():
    model = small("artnet_resnet18_d", seed=0)
    model.train()
    model(clip())  # non-trivial running statistics
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    other = small("artnet_resnet18_d", seed=1, fused=False)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), k
    model.eval()
    other.eval()
    with torch.no_grad():
        torch.testing.assert_close(other(clip()), model(clip()))


def test_wrong_number_of_classes():
    state = small("c3d_resnet18", num_classes=400).state_dict()
    model = small("c3d_resnet18", num_classes=10)
    message = r"head fc has 400 classes but this model has num_classes=10.*reset_head=True"
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(state)
    # The same clear error when the model is inside another module.
    wrapper = nn.Sequential(model)
    with pytest.raises(ValueError, match=r"head 0\.fc has 400 classes but this model has num_classes=10"):
        wrapper.load_state_dict({"0." + k: v for k, v in state.items()})
    # reset_head=True: everything but the head is loaded, the new head is kept.
    head = copy.deepcopy(model.fc.state_dict())
    result = model.load_state_dict(state, reset_head=True)
    assert set(result.missing_keys) == {"fc.weight", "fc.bias"} and not result.unexpected_keys
    assert torch.equal(model.layer2[0].conv1[0].weight, state["layer2.0.conv1.0.weight"])
    assert all(torch.equal(v, model.fc.state_dict()[k]) for k, v in head.items())
    # ... and strict still applies to the other keys.
    del state["layer1.0.conv1.0.weight"]
    with pytest.raises(RuntimeError, match="missing keys.*layer1.0.conv1.0.weight"):
        model.load_state_dict(state, reset_head=True)
    assert model.reset_head(3).fc.out_features == 3 and model.num_classes == 3


# ---------------------------------------------------------------- registry and errors

def test_registry():
    assert list_models() == NAMES + ["c3d_resnet18_caffe", "artnet_resnet18_caffe"]  # Table 2, then the released nets
    assert isinstance(get_model("artnet_resnet18", variant="s", **SMALL).stem, SMART)
    assert isinstance(get_model("relation_resnet18", **SMALL).layer1[0].conv2, RelationBlock)  # default "d"
    assert isinstance(relation_resnet18("s", **SMALL).layer1[0].conv2, nn.Sequential)
    assert isinstance(get_model("c3d_resnet18", num_classes=3), VideoResNet)
    with pytest.raises(ValueError, match=r"unknown model 'resnet50'; known models: c2d_resnet18, .*artnet_resnet18_d"):
        get_model("resnet50")
    with pytest.raises(TypeError, match="fixes variant='s'"):
        get_model("artnet_resnet18_s", variant="d")
    for bad in ("m", "S", None):
        with pytest.raises(ValueError, match=r"variant must be 's' \(.*\) or 'd' \(.*\), got"):
            artnet_resnet18(bad)
    with pytest.raises(ValueError, match="variant must be"):
        relation_resnet18(variant="dd")


def test_constructor_errors():
    with pytest.raises(ValueError, match="unknown unit kind 'conv4d'"):
        VideoResNet(stem_kind="conv4d")
    with pytest.raises(ValueError, match="stage_kinds must give 4 pairs"):
        VideoResNet(stage_kinds=(("conv3d", "conv3d"),) * 3)
    with pytest.raises(ValueError, match="width must be positive"):
        c3d_resnet18(width=0)
    with pytest.raises(ValueError, match="temporal_stride must be 1 or 2"):
        c3d_resnet18(temporal_stride=3)
    with pytest.raises(TypeError):
        c3d_resnet18(num_clases=10)
