"""Multiply-add counts of a model's convolutions and linear layers."""
import copy
import functools

import torch
import torch.nn as nn

from smartops.models.resnet3d import set_fused

COUNTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _layer_macs(name, counts, module, inputs, output):
    if isinstance(module, nn.Linear):
        macs = output.numel() * module.in_features
    else:
        kernel = 1
        for k in module.kernel_size:
            kernel *= k
        macs = output.numel() * (module.in_channels // module.groups) * kernel
    counts[name] = counts.get(name, 0) + int(macs)


def count_macs(model, input_size, by_layer=False):
    """Multiply-adds of one forward pass of `model` on an input of shape
    `input_size`: (N, C, T, H, W), or (C, T, H, W) for a batch of 1.

    Counted: every nn.Conv1d/2d/3d (output elements x in_channels / groups x kernel
    volume) and nn.Linear (output elements x in_features), including the convs inside
    SMART blocks (appearance, relation and the 1x1x1 reduction, which the fused
    concat_reduce op computes with the same multiply-adds). Not counted: BN, ReLU, the
    relation branch's square and pair mean, pooling, dropout, residual additions and
    biases (elementwise: the BN outputs of the paper's networks on one 16 x 112 x 112
    clip total 11 to 25 M elements, about 0.1% of their multiply-adds).

    The count runs the model on the meta device (a copy, with fused=False so the
    reduction convs are called as modules): nothing is computed and `model` is left
    as it was. by_layer=True returns {module name: multiply-adds} instead of the total.
    """
    size = tuple(int(s) for s in input_size)
    if len(size) == 4:
        size = (1,) + size
    param = next(iter(model.parameters()), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    probe = copy.deepcopy(model)
    set_fused(probe, False)
    probe.to("meta").eval()
    counts = {}
    handles = [m.register_forward_hook(functools.partial(_layer_macs, name, counts))
               for name, m in probe.named_modules() if isinstance(m, COUNTED)]
    try:
        with torch.no_grad():
            probe(torch.empty(size, device="meta", dtype=dtype))
    finally:
        for h in handles:
            h.remove()
    return counts if by_layer else sum(counts.values())
