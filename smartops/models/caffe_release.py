"""The two ResNet-18 networks as the ARTNet authors released them (Caffe,
Kinetics-400), which differ from the paper's Table 1:

- BN and ReLU come after each residual sum, and the identity path carries
  the pre-BN sum (so every unit boundary holds two tensors: the raw sum `s`
  and its activation `a = ReLU(BN(s))`);
- shortcuts that change the shape are 3x3x3 stride-2 convolutions with a
  bias and no BN, fed by `a`;
- every convolution of res3-res5 has a bias (C3D: every convolution);
- a SMART unit inside a residual unit has no BN after its 1x1x1 reduction.

Module names follow the roles (stem, layer1-4, fc); smartops.caffe.mapping
pairs them with the Caffe layer names. The pooling before fc is a global
average, which equals the release's 1x7x7 average pool on a 16x112x112 clip.
"""
import torch.nn as nn
import torch.nn.functional as F

from smartops.models.resnet3d import STAGE_CHANNELS, VideoClassifier, check_network_args, init_weights, \
    scaled_channels
from smartops.nn import SMART


def conv_bn_relu(in_channels, out_channels, stride, bias):
    """The first 3x3x3 convolution of a unit, with its BN and ReLU."""
    return nn.Sequential(nn.Conv3d(in_channels, out_channels, 3, stride, 1, bias=bias), nn.BatchNorm3d(out_channels),
                         nn.ReLU(inplace=True))


def second_conv(smart, channels, bias, fused):
    """The second convolution of a unit, before the sum: a SMART unit without
    its reduction BN, or a plain 3x3x3 convolution."""
    if smart:
        return SMART(channels, channels, 3, 1, bias=bias, relu=False, fused=fused, reduce_bn=False)
    return nn.Conv3d(channels, channels, 3, 1, 1, bias=bias)


class PostSumStem(nn.Module):
    """conv1: returns (raw output s, ReLU(BN(s))); the first residual unit adds s."""

    def __init__(self, conv, channels):
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm3d(channels)

    def forward(self, x):
        s = self.conv(x)
        return s, F.relu(self.bn(s))


class PostSumBlock(nn.Module):
    """(s, a) -> (s', ReLU(BN(s'))) with s' = conv2(conv1(a)) + (s, or downsample(a))."""

    def __init__(self, in_channels, channels, stride, smart, bias, fused):
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels, channels, stride, bias)
        self.conv2 = second_conv(smart, channels, bias, fused)
        reshapes = stride != (1, 1, 1) or in_channels != channels
        self.downsample = nn.Conv3d(in_channels, channels, 3, stride, 1, bias=True) if reshapes else None
        self.bn = nn.BatchNorm3d(channels)

    def forward(self, state):
        s, a = state
        shortcut = s if self.downsample is None else self.downsample(a)
        s = self.conv2(self.conv1(a)) + shortcut
        return s, F.relu(self.bn(s))


class ReleasedResNet18(VideoClassifier):
    """C3D-ResNet18 (smart=False) or ARTNet-ResNet18 (d) (smart=True) wired as
    released. ARTNet: SMART stem (7x7) and SMART as the second conv of every
    unit of res2-res4; res5 is plain 3x3x3. `biased_from`: the first stage
    (0 = res2) whose convolutions have biases."""

    def __init__(self, smart, biased_from, num_classes=400, dropout=0.2, in_channels=3, width=1.0, fused="auto",
                 zero_init_residual=False, temporal_stride=2):
        super().__init__()
        check_network_args(fused, num_classes, dropout, in_channels, width, temporal_stride)
        if zero_init_residual:
            raise ValueError("zero_init_residual: the released networks have no BN at the end of their residual "
                             "branches to zero; build them with zero_init_residual=False")
        self.num_classes, self.in_channels, self.width = int(num_classes), int(in_channels), width
        channels = [scaled_channels(c, width) for c in STAGE_CHANNELS]
        down = (temporal_stride, 2, 2)
        if smart:
            conv1 = SMART(self.in_channels, channels[0], (3, 7, 7), down, (1, 3, 3), bias=biased_from == 0,
                          relu=False, fused=fused, reduce_bn=False)
        else:
            conv1 = nn.Conv3d(self.in_channels, channels[0], (3, 7, 7), down, (1, 3, 3), bias=biased_from == 0)
        self.stem = PostSumStem(conv1, channels[0])
        prev = channels[0]
        for i, c in enumerate(channels):
            stride = down if i > 0 else (1, 1, 1)
            smart_here = smart and i < 3
            blocks = [PostSumBlock(prev, c, stride, smart_here, i >= biased_from, fused),
                      PostSumBlock(c, c, (1, 1, 1), smart_here, i >= biased_from, fused)]
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
            prev = c
        self._make_head(prev, self.num_classes, dropout)
        init_weights(self)

    def trunk(self, x):
        state = self.stem(x)
        state = self.layer4(self.layer3(self.layer2(self.layer1(state))))
        return state[1]


def c3d_resnet18_caffe(**kwargs):
    """C3D-ResNet18 as released by the ARTNet authors: 37,847,312 parameters."""
    return ReleasedResNet18(smart=False, biased_from=0, **kwargs)


def artnet_resnet18_caffe(**kwargs):
    """ARTNet-ResNet18 (d) as released by the ARTNet authors: 39,675,216
    parameters (the 960 fixed pair-mean weights of the release are not
    parameters here)."""
    return ReleasedResNet18(smart=True, biased_from=1, **kwargs)
