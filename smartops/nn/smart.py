"""The SMART block (paper section 3.2, Figure 2c) and its relation-only variant."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from smartops.nn.batch_norm_mode import batch_norm_args
from smartops.nn.fused_dispatch import check_fused_arg, use_fused
from smartops.nn.relation_pool import RelationPool
from smartops.nn.sync_batch_norm import SyncBatchNorm
from smartops.ops.batch_norm_relu import batch_norm_relu
from smartops.ops.concat_reduce import concat_reduce


def _triple(value, name):
    t = (value,) * 3 if isinstance(value, int) else tuple(value)
    if len(t) != 3 or not all(isinstance(v, int) and v >= 0 for v in t):
        raise ValueError("%s must be an int or a triple of non-negative ints, got %r" % (name, value))
    return t


def conv_geometry(kernel_size, stride, padding):
    """(kernel, stride, padding) triples; padding defaults to k // 2 per
    dimension ("same" for stride 1)."""
    kernel = _triple(kernel_size, "kernel_size")
    if min(kernel) < 1:
        raise ValueError("kernel_size must be positive, got %r" % (kernel_size,))
    stride = _triple(stride, "stride")
    if min(stride) < 1:
        raise ValueError("stride must be positive, got %r" % (stride,))
    padding = tuple(k // 2 for k in kernel) if padding is None else _triple(padding, "padding")
    return kernel, stride, padding


def check_input(module, x, in_channels, kernel, padding):
    """A clear error for an input the block cannot take."""
    name = type(module).__name__
    if x.dim() != 5:
        raise ValueError("%s: expected a 5-D input (N, C, T, H, W), got shape %s" % (name, tuple(x.shape)))
    if x.shape[1] != in_channels:
        raise ValueError("%s: expected %d input channels, got %d (input shape %s)"
                         % (name, in_channels, x.shape[1], tuple(x.shape)))
    for dim, size, k, p in zip("THW", x.shape[2:], kernel, padding):
        if size + 2 * p < k:
            raise ValueError("%s: input %s=%d (padding %d) is smaller than the kernel (%d) in that dimension; "
                             "input shape %s" % (name, dim, size, p, k, tuple(x.shape)))


class SMART(nn.Module):
    """Simultaneously Model Appearance and RelaTion: a drop-in replacement for
    nn.Conv3d(in_channels, out_channels, kernel_size, stride, padding).

    appearance: Conv3d(in, out, (1, k, k), stride) -> BN -> ReLU
    relation:   Conv3d(in, out, (t, k, k), stride, padding) -> BN -> square
                -> mean of adjacent channel pairs -> BN -> ReLU   (out / 2 channels)
    fusion:     concat -> 1x1x1 Conv3d(out + out / 2, out) -> BN -> ReLU
                (reduce_bn=False: no BN there, `.bn` is None, as in the
                authors' released Caffe networks)

    The appearance conv sees the frame at the centre of each relation window
    (its temporal padding is the relation's minus (t - 1) / 2; frames are
    cropped when that is negative), so both branches have the output size of
    the equivalent nn.Conv3d. `relu=False` leaves the last ReLU out, for use
    inside a residual block (the ReLU comes after the addition).

    fused: True runs the fused ops (relation_pool, concat_reduce without a
    concatenated tensor, a BN+ReLU that saves only its input); False the
    pure-PyTorch composition; "auto" the fused ops where the extension has
    kernels for the input. The state_dict is the same either way, and the
    fixed pair-mean weights are not parameters.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None, bias=False, relu=True,
                 fused="auto", reduce_bn=True):
        super().__init__()
        if out_channels < 2 or out_channels % 2:
            raise ValueError("SMART: out_channels must be even and >= 2 (the relation branch pools adjacent "
                             "channel pairs), got %d" % out_channels)
        kernel, stride, padding = conv_geometry(kernel_size, stride, padding)
        if kernel[0] % 2 == 0:
            raise ValueError("SMART: the temporal kernel size must be odd, so that the appearance branch can "
                             "take the centre frame of each relation window; got %d" % kernel[0])
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel, stride, padding
        self.relu = relu
        self._fused = check_fused_arg(fused)
        shift = padding[0] - (kernel[0] - 1) // 2  # appearance's temporal padding (< 0: crop)
        self.appearance_crop = max(0, -shift)
        self.appearance_conv = nn.Conv3d(in_channels, out_channels, (1,) + kernel[1:], stride,
                                         (max(0, shift),) + padding[1:], bias=bias)
        self.appearance_bn = nn.BatchNorm3d(out_channels)
        self.relation_conv = nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=bias)
        self.relation_pool = RelationPool(out_channels, relu=True, fused=fused)
        self.reduce = nn.Conv3d(out_channels + out_channels // 2, out_channels, 1, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels) if reduce_bn else None

    @property
    def fused(self):
        return self._fused

    @fused.setter
    def fused(self, value):
        self._fused = check_fused_arg(value)
        self.relation_pool.fused = value

    def extra_repr(self):
        return "%d, %d, kernel_size=%s, stride=%s, padding=%s, relu=%s, fused=%r" % (
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, self.relu, self.fused)

    def forward(self, x):
        check_input(self, x, self.in_channels, self.kernel_size, self.padding)
        c = self.appearance_crop
        x_app = x[:, :, c:x.shape[2] - c] if c else x
        appearance = F.relu(self.appearance_bn(self.appearance_conv(x_app)))
        relation = self.relation_pool(self.relation_conv(x))
        fused = use_fused(self.fused, "concat_reduce", x, type(self).__name__)
        if fused:
            out = concat_reduce(appearance, relation, self.reduce.weight, self.reduce.bias)
        else:
            out = self.reduce(torch.cat([appearance, relation], dim=1))
        if self.bn is not None:
            if fused and self.relu and isinstance(self.bn, SyncBatchNorm):  # synchronised, still fused
                return self.bn.forward_relu(out, relu=True)
            if fused and self.relu:  # keeps only its input for backward
                return batch_norm_relu(out, *batch_norm_args(self.bn))
            out = self.bn(out)
        return F.relu(out) if self.relu else out


class RelationBlock(nn.Module):
    """The relation branch of SMART alone, for the paper's Relation-ResNet18:
    Conv3d(in, 2 * out, (t, k, k), stride, padding) -> BN -> square -> mean of
    adjacent channel pairs -> BN -> ReLU, giving `out_channels`.

    The paper does not give the width of the relation-only unit; this uses
    2 x out_channels conv outputs pooled to out_channels, so that the block
    is a drop-in replacement for nn.Conv3d(in, out, ...).
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=None, bias=False, relu=True,
                 fused="auto"):
        super().__init__()
        kernel, stride, padding = conv_geometry(kernel_size, stride, padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel, stride, padding
        self.conv = nn.Conv3d(in_channels, 2 * out_channels, kernel, stride, padding, bias=bias)
        self.pool = RelationPool(2 * out_channels, relu=relu, fused=check_fused_arg(fused))

    @property
    def fused(self):
        return self.pool.fused

    @fused.setter
    def fused(self, value):
        self.pool.fused = check_fused_arg(value)

    @property
    def relu(self):  # the pool's final ReLU
        return self.pool.relu

    @relu.setter
    def relu(self, value):
        self.pool.relu = value

    def extra_repr(self):
        return "%d, %d, kernel_size=%s, stride=%s, padding=%s, relu=%s, fused=%r" % (
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, self.relu, self.fused)

    def forward(self, x):
        check_input(self, x, self.in_channels, self.kernel_size, self.padding)
        return self.pool(self.conv(x))
