"""Convolutions of a folded model with their residual addition in the same
pass and their ReLU right after: relu(conv(x) + residual).

On a CPU with oneDNN (PyTorch's mkldnn backend), float32 and no autograd,
this runs oneDNN's convolution with the residual addition as a post-op
(`torch.ops.mkldnn._convolution_pointwise`, the op torch.compile's CPU
backend emits for conv + add), on prepacked weights and channels_last_3d
activations, which stay in the layout oneDNN convolves without reordering
them. The ReLU is torch's, in place, after it: oneDNN's ReLU post-op maps
NaN to 0, and a folded model must carry NaN where the unfolded one does.
Everywhere else (CUDA, float64, half precision under autocast, gradients,
torch.compile, which fuses and packs convolutions itself) it is the
standard composition conv, +, relu, with the same result up to float
rounding.
"""
import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from smartops.nn.packed_weights import packed_weight

__all__ = ["FusedConv3d", "conv_add_relu", "onednn_applies", "onednn_conv", "onednn_fusion", "output_shape"]


def _onednn_op_available():
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


_ONEDNN = _onednn_op_available()
_enabled = True


@contextlib.contextmanager
def onednn_fusion(enabled):
    """Within the block, folded models use (True) or do not use (False)
    the oneDNN fused convolutions: to compare the two paths."""
    global _enabled
    before, _enabled = _enabled, bool(enabled)
    try:
        yield
    finally:
        _enabled = before


def onednn_applies(conv, x, residual=None):
    """Whether relu(conv(x) + residual) runs as one oneDNN convolution (with
    the addition) and an in-place ReLU."""
    if not (_ONEDNN and _enabled and torch.backends.mkldnn.enabled):
        return False
    if torch.compiler.is_compiling():
        return False  # the ops have no fake kernels; torch.compile fuses and packs convolutions itself
    if x.device.type != "cpu" or x.dtype != torch.float32 or conv.weight.dtype != torch.float32:
        return False
    if not isinstance(conv, nn.Conv3d) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return False
    if x.dim() != 5:
        return False
    if torch.is_autocast_enabled("cpu"):
        return False
    tensors = (x, conv.weight) + ((conv.bias,) if conv.bias is not None else ()) + \
        ((residual,) if residual is not None else ())
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False  # the oneDNN op has no autograd formula
    return residual is None or (residual.dtype == torch.float32 and residual.device.type == "cpu"
                                and tuple(residual.shape) == output_shape(conv, x))


def output_shape(conv, x):
    """The shape of conv(x)."""
    size = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in
            zip(x.shape[2:], conv.padding, conv.dilation, conv.kernel_size, conv.stride)]
    return (x.shape[0], conv.out_channels) + tuple(size)


def _weight_for_onednn(weight, padding, stride, dilation, groups, x, part):
    """The weight (its input channels part[0]:part[1] if part) prepacked in
    oneDNN's layout, or plain for inference tensors, which have no version
    counter to notice an in-place change."""
    if weight.is_inference():
        return weight if part is None else weight[:, part[0]:part[1]].contiguous()
    return packed_weight(weight, padding, stride, dilation, groups, x.shape, part)


def onednn_conv(x, weight, bias, residual=None, relu=False, padding=(0, 0, 0), stride=(1, 1, 1),
                dilation=(1, 1, 1), groups=1, part=None):
    """relu(conv3d(x, w, bias) + residual) as one oneDNN convolution and an
    in-place ReLU, w =
    weight or its input channels part[0]:part[1]; channels_last_3d out. For
    float32 CPU tensors without autograd (the caller checks, as
    `onednn_applies` does)."""
    x = x.contiguous(memory_format=torch.channels_last_3d)  # a no-op after the first convolution
    w = _weight_for_onednn(weight, padding, stride, dilation, groups, x, part)
    args = (w, bias, list(padding), list(stride), list(dilation), groups)
    if residual is None:
        out = torch.ops.mkldnn._convolution_pointwise(x, *args, "none", [], "")
    else:
        residual = residual.contiguous(memory_format=torch.channels_last_3d)
        # Out of place: the residual (often the block's input) is left as it was.
        out = torch.ops.mkldnn._convolution_pointwise.binary(x, residual, *args, "add", None, None, [], "")
    # Not oneDNN's ReLU post-op: it maps NaN to 0 (every eltwise post-op does), which would hide a
    # diverged model's NaN from smartops-eval's check; torch's ReLU keeps NaN, as the unfolded model.
    return out.relu_() if relu else out


def conv_add_relu(conv, x, residual=None, relu=False, fused=True):
    """relu(conv(x) + residual) (no addition when residual is None, no ReLU
    when relu is False); one oneDNN convolution where `onednn_applies` and fused is
    not False, else conv, add and relu in PyTorch."""
    if fused is not False and onednn_applies(conv, x, residual):
        return onednn_conv(x, conv.weight, conv.bias, residual, relu, conv.padding, conv.stride, conv.dilation,
                           conv.groups)
    out = nn.Conv3d.forward(conv, x) if isinstance(conv, nn.Conv3d) else conv(x)
    if residual is not None:
        out = out + residual
    return F.relu(out, inplace=True) if relu else out


class FusedConv3d(nn.Conv3d):
    """A folded Conv3d (BatchNorm already in its weight and bias) followed
    by an optional ReLU, run by `conv_add_relu`. forward(x,
    residual=None) computes relu(conv(x) + residual). Same parameters and
    state-dict keys as the nn.Conv3d it replaces."""

    def __init__(self, *args, relu=False, fused="auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.relu = relu
        self.fused = fused

    @classmethod
    def from_conv(cls, conv, relu, fused):
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  conv.groups, conv.bias is not None, conv.padding_mode, relu=relu, fused=fused,
                  device=conv.weight.device, dtype=conv.weight.dtype)
        new.weight, new.bias = conv.weight, conv.bias
        return new

    def extra_repr(self):
        return super().extra_repr() + ", relu=%s, fused=%r" % (self.relu, self.fused)

    def forward(self, x, residual=None, relu=None):
        return conv_add_relu(self, x, residual, self.relu if relu is None else relu, self.fused)
