"""Convolution weights reordered once into oneDNN's own layout, for inference.

oneDNN convolves with a blocked weight layout; given a plain tensor it
reorders the weight on every call, which for the 512-channel 3x3x3
convolutions of a ResNet-18's last stage costs more than the convolution at
a small batch. `packed_weight(weight, ...)` returns the reordered weight (an
mkldnn tensor, for `torch.ops.mkldnn._convolution_pointwise`) and keeps it
while the weight is alive and unchanged (same storage, same version) and the
input shape is the same; a weight changed in place is repacked. The cache
holds the weights weakly, so it is not part of a module's state and goes
with the weight.
"""
import weakref

import torch

__all__ = ["packed_weight"]

_CACHE = {}  # id(weight) -> (weakref to weight, {part: (key, packed)}); dropped with the weight


def _parts_of(weight):
    entry = _CACHE.get(id(weight))
    if entry is None or entry[0]() is not weight:
        entry = (weakref.ref(weight), {})
        _CACHE[id(weight)] = entry
        weakref.finalize(weight, _CACHE.pop, id(weight), None)
    return entry[1]


def packed_weight(weight, padding, stride, dilation, groups, input_shape, part=None):
    """`weight` (or, with part=(start, stop), its input channels start:stop)
    reordered for a oneDNN convolution of an input of `input_shape`."""
    key = (weight.data_ptr(), weight._version, tuple(input_shape), tuple(padding), tuple(stride), tuple(dilation),
           groups)
    parts = _parts_of(weight)
    hit = parts.get(part)
    if hit is not None and hit[0] == key:
        return hit[1]
    w = weight.detach() if part is None else weight.detach()[:, part[0]:part[1]]
    packed = torch.ops.mkldnn._reorder_convolution_weight(w.contiguous(), list(padding), list(stride),
                                                          list(dilation), groups, list(input_shape))
    parts[part] = (key, packed)
    return packed
