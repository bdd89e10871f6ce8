"""Folding BatchNorm into the convolutions for inference.

`fold_for_inference(model)` returns a copy of an eval-mode model in which
every BatchNorm is folded into the convolution before it (exact algebra on
the running statistics):

- Conv -> BN (-> ReLU) units, downsampling shortcuts, stems: one conv with a bias;
- SMART: the appearance conv and its BN, the relation conv and BN1, the
  1x1x1 reduction and its BN; the relation tail after the conv becomes
  relu(scale_k (u_2k^2 + u_2k+1^2) + shift_k), with BN2 and the pair mean's
  0.5 in scale and shift (`FoldedRelationTail`);
- RelationBlock (and any conv followed by a RelationPool): conv + tail;
- everything else (pooling, dropout, the fc head) unchanged. A BatchNorm
  that does not directly follow a convolution stays as it is (in eval mode
  a per-channel affine): the released Caffe networks' post-sum BNs, whose
  input the identity path also carries, and the 1x1x1 reduction of their
  SMART units has no BN to fold.

A folded SMART block is conv, conv, tail, concat_reduce, ReLU. With
`fused=False` every folded module runs standard PyTorch operators only
(square, reshape-sum, affine, ReLU, concat, conv): that is what
`smartops-export` writes. Otherwise (smartops.nn.folded_conv) a conv unit
carries its ReLU (FusedConv3d), a residual block's last convolution its
addition and ReLU (FoldedBasicBlock), and on a CPU in float32 the
convolutions run in oneDNN with the addition as a post-op (the ReLU right
after, in place, as torch's: oneDNN's maps NaN to 0), prepacked weights and
channels_last_3d activations; a SMART block's reduction is then
two 1x1x1 convolutions (appearance, then relation adding the first), so
the block is conv+ReLU, conv, tail, conv, conv+add+ReLU.
"""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from smartops.nn.folded_conv import FusedConv3d, conv_add_relu, onednn_applies, onednn_conv
from smartops.nn.fused_dispatch import check_fused_arg, use_fused
from smartops.nn.relation_pool import RelationPool
from smartops.nn.smart import SMART, RelationBlock, check_input
from smartops.ops.concat_reduce import concat_reduce
from smartops.ops.relation_tail import relation_tail, relation_tail_reference

__all__ = ["fold_for_inference", "unfolded_batch_norms", "fold_conv_bn", "FoldedRelationTail", "FoldedSMART",
           "FoldedRelationBlock", "FoldedBasicBlock"]


def _bn_affine(bn, where):
    """BN in eval mode as y = scale * x + shift per channel, in float64."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fold_for_inference: %s has no running statistics (track_running_stats=False), so it "
                         "normalises with batch statistics even in eval mode and cannot be folded" % where)
    mean, var = bn.running_mean.double(), bn.running_var.double()
    gamma = torch.ones_like(mean) if bn.weight is None else bn.weight.detach().double()
    beta = torch.zeros_like(mean) if bn.bias is None else bn.bias.detach().double()
    scale = gamma * torch.rsqrt(var + bn.eps)
    return scale, beta - mean * scale


def fold_conv_bn(conv, bn, where="a BatchNorm"):
    """A copy of `conv` (not transposed) with `bn` (eval mode) folded in:
    conv'(x) = bn(conv(x)). Computed in float64, stored in conv's dtype."""
    scale, shift = _bn_affine(bn, where)
    if conv.out_channels != scale.numel():
        raise ValueError("fold_for_inference: %s has %d channels but the conv before it has %d outputs"
                         % (where, scale.numel(), conv.out_channels))
    folded = copy.deepcopy(conv)
    w = conv.weight.detach()
    weight = w.double() * scale.view((-1,) + (1,) * (w.dim() - 1))
    bias = shift if conv.bias is None else shift + conv.bias.detach().double() * scale
    folded.weight = nn.Parameter(weight.to(w.dtype), requires_grad=False)
    folded.bias = nn.Parameter(bias.to(w.dtype), requires_grad=False)
    return folded


class FoldedRelationTail(nn.Module):
    """relu(scale_k * (u_2k^2 + u_2k+1^2) + shift_k): a RelationPool whose
    BN1 is folded into the conv that produces u. fused: True runs the
    kernel smartops.ops.relation_tail, False the standard-operator
    reference, "auto" the kernel where the build has one for u."""

    def __init__(self, scale, shift, relu=True, fused="auto"):
        super().__init__()
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)
        self.relu = relu
        self.fused = check_fused_arg(fused)

    @classmethod
    def from_pool(cls, pool, fused, where):
        """The tail of `pool` (a RelationPool whose bn1 is folded elsewhere)."""
        scale2, shift2 = _bn_affine(pool.bn2, where + ".bn2")
        dtype = pool.bn2.running_mean.dtype
        return cls((0.5 * scale2).to(dtype), shift2.to(dtype), pool.relu, pool.fused if fused is None else fused)

    def extra_repr(self):
        return "pairs=%d, relu=%s, fused=%r" % (self.scale.numel(), self.relu, self.fused)

    def forward(self, u):
        if use_fused(self.fused, "relation_tail", u, type(self).__name__):
            return relation_tail(u, self.scale, self.shift, self.relu)
        return relation_tail_reference(u, self.scale, self.shift, self.relu)


class FoldedRelationBlock(nn.Module):
    """A RelationBlock after folding: conv (BN1 in it) -> FoldedRelationTail."""

    def __init__(self, block, fused, where):
        super().__init__()
        self.in_channels, self.kernel_size, self.padding = block.in_channels, block.kernel_size, block.padding
        self.conv = fold_conv_bn(block.conv, block.pool.bn1, where + ".pool.bn1")
        self.tail = FoldedRelationTail.from_pool(block.pool, fused, where + ".pool")

    def forward(self, x):
        check_input(self, x, self.in_channels, self.kernel_size, self.padding)
        return self.tail(conv_add_relu(self.conv, x, fused=self.tail.fused))


class FoldedSMART(nn.Module):
    """A SMART block after folding: relu(appearance conv), relation conv ->
    FoldedRelationTail, then the 1x1x1 reduction (its BN in it) of the two
    without a concatenation (concat_reduce; torch.cat + conv when not fused),
    then the ReLU unless the block had relu=False."""

    def __init__(self, block, fused, where):
        super().__init__()
        self.in_channels, self.kernel_size, self.padding = block.in_channels, block.kernel_size, block.padding
        self.appearance_crop, self.relu = block.appearance_crop, block.relu
        self.fused = check_fused_arg(block.fused if fused is None else fused)
        self.appearance_conv = fold_conv_bn(block.appearance_conv, block.appearance_bn, where + ".appearance_bn")
        self.relation_conv = fold_conv_bn(block.relation_conv, block.relation_pool.bn1, where + ".relation_pool.bn1")
        self.tail = FoldedRelationTail.from_pool(block.relation_pool, fused, where + ".relation_pool")
        self.reduce = copy.deepcopy(block.reduce) if block.bn is None else fold_conv_bn(block.reduce, block.bn,
                                                                                       where + ".bn")

    def forward(self, x, residual=None, relu=None):
        """relu(block(x) + residual); relu defaults to the block's own setting."""
        check_input(self, x, self.in_channels, self.kernel_size, self.padding)
        relu = self.relu if relu is None else relu
        c = self.appearance_crop
        x_app = x[:, :, c:x.shape[2] - c] if c else x
        appearance = conv_add_relu(self.appearance_conv, x_app, relu=True, fused=self.fused)
        relation = self.tail(conv_add_relu(self.relation_conv, x, fused=self.fused))
        if self.fused is not False and onednn_applies(self.reduce, appearance, residual):
            # The reduction as two 1x1x1 convolutions, one per input, the
            # second adding the first's output (and the residual) in its pass.
            ca, w = appearance.shape[1], self.reduce.weight
            out = onednn_conv(appearance, w, self.reduce.bias, residual, part=(0, ca))
            return onednn_conv(relation, w, None, out, relu, part=(ca, w.shape[1]))
        if use_fused(self.fused, "concat_reduce", x, type(self).__name__):
            out = concat_reduce(appearance, relation, self.reduce.weight, self.reduce.bias)
        else:
            out = self.reduce(torch.cat([appearance, relation], dim=1))
        if residual is not None:
            out = out + residual
        return F.relu(out, inplace=True) if relu else out


class FoldedBasicBlock(nn.Module):
    """A residual BasicBlock after folding: relu(conv2(conv1(x)) + shortcut),
    with the addition and the ReLU done by conv2's last convolution where it
    is a FoldedSMART or a FusedConv3d (one oneDNN convolution on a CPU)."""

    def __init__(self, block):
        super().__init__()
        self.conv1, self.conv2, self.downsample = block.conv1, block.conv2, block.downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        h = self.conv1(x)
        last = self.conv2
        if isinstance(last, nn.Sequential) and len(last) == 1:
            last = last[0]
        if isinstance(last, (FoldedSMART, FusedConv3d)):
            return last(h, residual=identity, relu=True)
        return F.relu(self.conv2(h) + identity, inplace=True)


def _conv_fusion(fused):
    """The `fused` setting of folded plain convolutions: fold_for_inference's
    argument, "auto" for None; False keeps nn.Conv3d and nn.ReLU."""
    return "auto" if fused is None else fused


def _fused_conv(conv, relu, fused):
    """conv (folded) with the ReLU after it as a FusedConv3d, where it can be."""
    if _conv_fusion(fused) is False or type(conv) is not nn.Conv3d:
        return None
    return FusedConv3d.from_conv(conv, relu, _conv_fusion(fused))


def _fold_sequential(seq, fused, where):
    """A Sequential with every conv -> BN (or conv -> RelationPool) pair
    folded; a ReLU after a folded Conv3d goes into it (FusedConv3d) unless
    fused is False."""
    items = list(seq._modules.items())
    out, i = [], 0
    while i < len(items):
        key, m = items[i]
        nxt = items[i + 1][1] if i + 1 < len(items) else None
        name = "%s.%s" % (where, key) if where else key
        if isinstance(m, _ConvNd) and not m.transposed and isinstance(nxt, (_BatchNorm, RelationPool)):
            bn_name = "%s.%s" % (where, items[i + 1][0]) if where else items[i + 1][0]
            if isinstance(nxt, RelationPool):
                out.append(fold_conv_bn(m, nxt.bn1, bn_name + ".bn1"))
                out.append(FoldedRelationTail.from_pool(nxt, fused, bn_name))
                i += 2
                continue
            conv = fold_conv_bn(m, nxt, bn_name)
            relu_next = i + 2 < len(items) and type(items[i + 2][1]) is nn.ReLU
            fused_conv = _fused_conv(conv, relu_next, fused)
            out.append(conv if fused_conv is None else fused_conv)
            i += 3 if fused_conv is not None and relu_next else 2
            continue
        out.append(_fold_module(m, fused, name))
        i += 1
    return nn.Sequential(*out)


def _fold_module(module, fused, where):
    """`module` folded: replaced when it is a unit we fold, else its children."""
    if isinstance(module, SMART):
        return FoldedSMART(module, fused, where)
    if isinstance(module, RelationBlock):
        return FoldedRelationBlock(module, fused, where)
    if isinstance(module, nn.Sequential):
        return _fold_sequential(module, fused, where)
    for key, child in list(module._modules.items()):
        if child is not None:
            module._modules[key] = _fold_module(child, fused, "%s.%s" % (where, key) if where else key)
    from smartops.models.resnet3d import BasicBlock  # here: smartops.models imports smartops.nn
    if type(module) is BasicBlock and _conv_fusion(fused) is not False:
        return FoldedBasicBlock(module)
    return module


def fold_for_inference(model, fused=None):
    """A copy of `model` (in eval mode; the model itself is not changed)
    with every BatchNorm folded into the convolution before it; its outputs
    equal the model's up to rounding (float64: ~1e-15 relative).

    fused: None keeps each SMART / RelationBlock's own `fused` setting for
    its folded form; True / False / "auto" sets it for all (False: standard
    PyTorch operators only, for export). Plain convolutions and residual
    blocks take the ReLU and the addition into the convolution unless
    fused is False (None: "auto"). BatchNorms that do not directly
    follow a convolution (in an nn.Sequential, a SMART or a RelationBlock)
    are kept; `unfolded_batch_norms(folded)` names them.
    """
    if fused is not None:
        check_fused_arg(fused)
    if model.training:
        raise ValueError("fold_for_inference: the model is in training mode; folding uses the BatchNorms' running "
                         "statistics, which only eval mode uses. Call model.eval() first.")
    return _fold_module(copy.deepcopy(model), fused, "").eval()


def unfolded_batch_norms(model):
    """Names of the BatchNorms (and RelationPools) left in a folded model."""
    return [name for name, m in model.named_modules() if isinstance(m, (_BatchNorm, RelationPool))]
