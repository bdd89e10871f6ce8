"""One generic video ResNet (paper Table 1) whose conv units are plain 3D
convs, 2D (1 x k x k) convs, SMART blocks or relation-only blocks.

Layout (torchvision's video ResNet names):

    stem      conv1 unit, kernel t x 7 x 7, stride 2 in T, H and W, then ReLU
              (no max-pool)
    layer1-4  stages of BasicBlocks, 64/128/256/512 channels (times `width`);
              the first block of layer2-4 downsamples by 2 x 2 x 2
    avgpool   global average pool
    dropout   nn.Dropout(dropout)
    fc        nn.Linear(512 * width, num_classes)

A BasicBlock is conv1 unit (ReLU) -> conv2 unit (no ReLU) -> + shortcut ->
ReLU; the shortcut is identity, or a 1x1x1 conv (strided) + BN when the shape
changes. Every unit includes its own BN, so the kinds are interchangeable:

    "conv3d"    nn.Sequential(Conv3d(t x k x k, bias=False), BatchNorm3d[, ReLU])
    "conv2d"    the same with kernel 1 x k x k
    "smart"     smartops.nn.SMART (its final BN is `.bn`)
    "relation"  smartops.nn.RelationBlock (its final BN is `.pool.bn2`)

so that a SMART unit replaces "3D conv + its BN" (and the ReLU after it, when
there is one), as in the paper's ARTNet.
"""
import torch.nn as nn

from smartops.nn import SMART, RelationBlock, RelationPool
from smartops.nn.fused_dispatch import check_fused_arg

UNIT_KINDS = ("conv3d", "conv2d", "smart", "relation")
STAGE_CHANNELS = (64, 128, 256, 512)


def scaled_channels(channels, width):
    """round(channels * width) to an even number >= 2 (SMART pools channel pairs)."""
    return max(2, 2 * int(round(channels * width / 2.0)))


def make_unit(kind, in_channels, out_channels, kernel_size, stride=1, relu=True, fused="auto"):
    """A conv unit of `kind` (see UNIT_KINDS) standing in for Conv3d + BN
    (+ ReLU when relu=True); kernel_size is a (t, k, k) triple, the padding
    keeps "same" sizes (k // 2) and "conv2d" uses a temporal kernel of 1."""
    kernel = tuple(kernel_size)
    if kind == "conv2d":
        kernel = (1,) + kernel[1:]
    padding = tuple(k // 2 for k in kernel)
    if kind in ("conv3d", "conv2d"):
        layers = [nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=False),
                  nn.BatchNorm3d(out_channels)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        return nn.Sequential(*layers)
    if kind == "smart":
        return SMART(in_channels, out_channels, kernel, stride, padding, bias=False, relu=relu, fused=fused)
    if kind == "relation":
        return RelationBlock(in_channels, out_channels, kernel, stride, padding, bias=False, relu=relu, fused=fused)
    raise ValueError("unknown unit kind %r; expected one of %s" % (kind, ", ".join(UNIT_KINDS)))


def last_bn(unit):
    """The BatchNorm3d that ends a unit made by make_unit."""
    if isinstance(unit, SMART):
        return unit.bn
    if isinstance(unit, RelationBlock):
        return unit.pool.bn2
    return unit[1]


class BasicBlock(nn.Module):
    """conv1 unit -> ReLU -> conv2 unit -> + shortcut -> ReLU."""

    expansion = 1

    def __init__(self, in_channels, channels, stride=1, kinds=("conv3d", "conv3d"), fused="auto"):
        super().__init__()
        self.conv1 = make_unit(kinds[0], in_channels, channels, (3, 3, 3), stride, relu=True, fused=fused)
        self.conv2 = make_unit(kinds[1], channels, channels, (3, 3, 3), 1, relu=False, fused=fused)
        if stride != (1, 1, 1) or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv3d(in_channels, channels, 1, stride, bias=False),
                                            nn.BatchNorm3d(channels))
        else:
            self.downsample = None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


def _stage_kinds(stage_kinds):
    kinds = tuple(tuple(k) for k in stage_kinds)
    if len(kinds) != 4 or any(len(k) != 2 for k in kinds):
        raise ValueError("stage_kinds must give 4 pairs (first conv, second conv) of unit kinds, got %r"
                         % (stage_kinds,))
    for k in sum(kinds, ()):
        if k not in UNIT_KINDS:
            raise ValueError("unknown unit kind %r; expected one of %s" % (k, ", ".join(UNIT_KINDS)))
    return kinds


def check_network_args(fused, num_classes, dropout, in_channels, width, temporal_stride):
    """Clear errors for the keyword arguments every network builder takes."""
    check_fused_arg(fused)
    if not width > 0:
        raise ValueError("width must be positive, got %r" % (width,))
    if temporal_stride not in (1, 2):
        raise ValueError("temporal_stride must be 1 or 2, got %r" % (temporal_stride,))
    if not 0.0 <= dropout < 1.0:
        raise ValueError("dropout must be in [0, 1), got %r" % (dropout,))
    if int(num_classes) < 1 or int(in_channels) < 1:
        raise ValueError("num_classes and in_channels must be positive, got %r and %r" % (num_classes, in_channels))


class VideoClassifier(nn.Module):
    """What every network here shares after its trunk: global average pool,
    dropout, fc; resetting the head; state-dict loading with a checked head.

    Subclasses build their trunk, call `_make_head(features, num_classes,
    dropout)` and define `trunk(x)` (the last feature map).
    """

    def _make_head(self, features, num_classes, dropout):
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(features, num_classes)
        self._register_load_state_dict_pre_hook(_check_head, with_module=True)

    def features(self, x):
        """(N, C, T, H, W) -> pooled features (N, 512 * width)."""
        return self.avgpool(self.trunk(x)).flatten(1)

    def forward(self, x):
        return self.fc(self.dropout(self.features(x)))

    def reset_head(self, num_classes):
        """Replaces fc with a freshly initialised one of `num_classes` outputs."""
        fc = nn.Linear(self.fc.in_features, int(num_classes)).to(self.fc.weight.device, self.fc.weight.dtype)
        _init_linear(fc)
        self.fc, self.num_classes = fc, int(num_classes)
        return self

    def load_state_dict(self, state_dict, strict=True, assign=False, reset_head=False):
        """nn.Module.load_state_dict, plus `reset_head`: when True, the checkpoint's
        fc.weight / fc.bias are ignored and the model keeps its own (new) head, so that
        a Kinetics-400 checkpoint loads into a model of another num_classes. `strict`
        then applies to every other key. Without it, a head of another size raises a
        ValueError that names both class counts."""
        if not reset_head:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        head = {"fc.weight", "fc.bias"}
        body = type(state_dict)((k, v) for k, v in state_dict.items() if k not in head)
        if hasattr(state_dict, "_metadata"):
            body._metadata = state_dict._metadata
        result = super().load_state_dict(body, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if k not in head]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError("Error(s) in loading state_dict for %s (reset_head=True): missing keys %s, "
                               "unexpected keys %s" % (type(self).__name__, missing, result.unexpected_keys))
        return result


class VideoResNet(VideoClassifier):
    """The paper's ResNet family (Table 1) on a 16 x 112 x 112 clip.

    Args:
        layers: basic blocks per stage, (2, 2, 2, 2) for ResNet-18, (3, 4, 6, 3) for ResNet-34.
        stem_kind: unit kind of conv1 (kernel 3 x 7 x 7, or 1 x 7 x 7 for "conv2d").
        stage_kinds: for each of the 4 stages, (kind of the first conv, kind of the second
            conv) of its blocks.
        num_classes: outputs of fc (400 for Kinetics).
        dropout: dropout probability before fc (0.2 in the paper).
        in_channels: 3 for RGB, 2 for optical flow (x, y).
        width: channel multiplier: stages get round(64 * width), ... channels, rounded to
            even numbers (width=0.125 gives 8, 16, 32, 64: small enough for a CPU).
        fused: True / False / "auto", passed to every SMART and RelationBlock; flip it
            later with `smartops.models.set_fused(model, value)`.
        zero_init_residual: zero the weight of the last BN of every residual branch, so
            that each block starts as the identity.
        temporal_stride: the stride in T of conv1 and of the downsampling blocks (2, as in
            Table 1; 1 keeps every frame up to the pooling).

    State dicts: `load_state_dict(..., reset_head=True)` loads everything but fc (kept as
    initialised), for fine-tuning on another number of classes; without it, a checkpoint
    whose fc has another number of classes raises a ValueError naming both counts.
    """

    def __init__(self, layers=(2, 2, 2, 2), stem_kind="conv3d", stage_kinds=(("conv3d", "conv3d"),) * 4,
                 num_classes=400, dropout=0.2, in_channels=3, width=1.0, fused="auto", zero_init_residual=False,
                 temporal_stride=2):
        super().__init__()
        check_network_args(fused, num_classes, dropout, in_channels, width, temporal_stride)
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError("layers must give 4 positive block counts, got %r" % (layers,))
        if stem_kind not in UNIT_KINDS:
            raise ValueError("unknown unit kind %r; expected one of %s" % (stem_kind, ", ".join(UNIT_KINDS)))
        stage_kinds = _stage_kinds(stage_kinds)
        self.num_classes, self.in_channels, self.width = int(num_classes), int(in_channels), width
        self.layers, self.stem_kind, self.stage_kinds = tuple(int(n) for n in layers), stem_kind, stage_kinds
        channels = [scaled_channels(c, width) for c in STAGE_CHANNELS]
        down = (temporal_stride, 2, 2)

        self.stem = make_unit(stem_kind, self.in_channels, channels[0], (3, 7, 7), down, relu=True, fused=fused)
        prev = channels[0]
        for i, (n, c, kinds) in enumerate(zip(self.layers, channels, stage_kinds)):
            blocks = []
            for j in range(n):
                stride = down if (i > 0 and j == 0) else (1, 1, 1)
                blocks.append(BasicBlock(prev, c, stride, kinds, fused))
                prev = c
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self._make_head(prev, self.num_classes, dropout)
        init_weights(self, zero_init_residual)

    def trunk(self, x):
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))


def _check_head(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    w = state_dict.get(prefix + "fc.weight")
    if w is not None and w.dim() == 2 and w.shape[0] != module.fc.out_features:
        raise ValueError(
            "%s: the checkpoint's head %sfc has %d classes but this model has num_classes=%d. Build the model "
            "with num_classes=%d to load it as is, or pass reset_head=True to load_state_dict to keep this "
            "model's new %d-way head and load everything else." % (
                type(module).__name__, prefix, w.shape[0], module.fc.out_features, w.shape[0],
                module.fc.out_features))


def _init_linear(fc):
    nn.init.normal_(fc.weight, 0, 0.01)
    nn.init.zeros_(fc.bias)


def init_weights(model, zero_init_residual=False):
    """Kaiming normal (fan_out, ReLU) for every Conv3d, including those inside
    SMART / RelationBlock units; BN weight 1 and bias 0; fc normal(0, 0.01),
    bias 0. zero_init_residual: zero the last BN weight of each residual branch."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            _init_linear(m)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(last_bn(m.conv2).weight)
    return model


def set_fused(model, fused):
    """Sets `fused` (True / False / "auto") on every SMART, RelationBlock and
    RelationPool in `model`; returns the model. State dicts do not change."""
    check_fused_arg(fused)
    for m in model.modules():
        if isinstance(m, (SMART, RelationBlock, RelationPool)):
            m.fused = fused
    return model
