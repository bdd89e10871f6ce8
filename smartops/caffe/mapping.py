"""Which Caffe layer of the released deploy nets holds which smartops
parameters, with the blob shapes Caffe stores.

The table is derived from the smartops model itself (its modules, in Caffe's
layer order), so every parameter and running statistic of the model has
exactly one source blob. Caffe names: stem `conv1` (ARTNet: the SMART unit
conv1 / conv1_t / pooling1 / redu1), then per unit `res<stage><a|b>_1`,
`_2` (ARTNet res2-res4: a SMART unit `_2`, `_2_t`, `pooling<k>`, `redu<k>`),
`_down` and `res<stage><a|b>_bn` after the sum, and `fc8`.
"""
from smartops.nn import SMART

# The fixed pair-mean weight of a relation branch: Caffe stores it as a
# grouped 1x1x1 convolution of constant 0.5; smartops has no parameter for it.
PAIR_MEAN = None
PAIR_MEAN_VALUE = 0.5


class Target:
    """One Caffe layer: `name`, `type`, and per blob in Caffe's order the
    smartops state-dict key (PAIR_MEAN for the fixed weight) and the shape
    Caffe stores. `input_layer`: its weight reads the image (BGR in Caffe)."""

    def __init__(self, name, type, blobs, input_layer=False):
        self.name, self.type, self.blobs, self.input_layer = name, type, blobs, input_layer

    def describe(self):
        return "%s (%s): %s" % (self.name, self.type, shapes_text([shape for _, shape in self.blobs]))


def shapes_text(shapes):
    """[(64,3,1,7,7), (64)]: blob shapes as in error messages."""
    return "[%s]" % ", ".join("(%s)" % ",".join(str(d) for d in s) for s in shapes) if shapes else "no blobs"


def _conv(name, prefix, conv, input_layer=False):
    blobs = [(prefix + "weight", tuple(conv.weight.shape))]
    if conv.bias is not None:
        blobs.append((prefix + "bias", tuple(conv.bias.shape)))
    return Target(name, "Convolution", blobs, input_layer)


def _bn(name, prefix, bn):
    c = (1, bn.num_features)  # the fork's BN keeps its 4 blobs as (1, C)
    return Target(name, "BN", [(prefix + k, c) for k in ("weight", "bias", "running_mean", "running_var")])


def _smart(name, k, prefix, smart, input_layer=False):
    half = smart.out_channels // 2
    return [_conv(name, prefix + "appearance_conv.", smart.appearance_conv, input_layer),
            _bn(name + "_bn", prefix + "appearance_bn.", smart.appearance_bn),
            _conv(name + "_t", prefix + "relation_conv.", smart.relation_conv, input_layer),
            _bn(name + "_t_bn", prefix + "relation_pool.bn1.", smart.relation_pool.bn1),
            Target("pooling%d" % k, "Convolution", [(PAIR_MEAN, (half, 2, 1, 1, 1))]),
            _bn("pooling%d_bn" % k, prefix + "relation_pool.bn2.", smart.relation_pool.bn2),
            _conv("redu%d" % k, prefix + "reduce.", smart.reduce)]


def _unit(name, prefix, conv, smart_index, input_layer=False):
    """A conv (plain or SMART) and the index of the next SMART unit."""
    if isinstance(conv, SMART):
        return _smart(name, smart_index, prefix, conv, input_layer), smart_index + 1
    return [_conv(name, prefix, conv, input_layer)], smart_index


def caffe_targets(model):
    """[Target] of a smartops.models.ReleasedResNet18, in Caffe's layer order."""
    targets, k = _unit("conv1", "stem.conv.", model.stem.conv, 1, input_layer=True)
    # the stem's BN: conv1_bn (C3D) or redu1_bn (ARTNet, after its SMART unit)
    targets.append(_bn("redu1_bn" if k > 1 else "conv1_bn", "stem.bn.", model.stem.bn))
    for i in range(4):
        for j, block in enumerate(getattr(model, "layer%d" % (i + 1))):
            name, prefix = "res%d%s" % (i + 2, "ab"[j]), "layer%d.%d." % (i + 1, j)
            targets += [_conv(name + "_1", prefix + "conv1.0.", block.conv1[0]),
                        _bn(name + "_1_bn", prefix + "conv1.1.", block.conv1[1])]
            second, k = _unit(name + "_2", prefix + "conv2.", block.conv2, k)
            targets += second
            if block.downsample is not None:
                targets.append(_conv(name + "_down", prefix + "downsample.", block.downsample))
            targets.append(_bn(name + "_bn", prefix + "bn.", block.bn))
    fc = model.fc
    targets.append(Target("fc8", "InnerProduct", [("fc.weight", tuple(fc.weight.shape)),
                                                  ("fc.bias", tuple(fc.bias.shape))]))
    return targets
