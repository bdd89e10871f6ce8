"""Builders of the paper's networks (Tables 1 and 2), torchvision style, and
a registry for get_model / list_models.

Every builder takes the keyword arguments of VideoResNet: num_classes=400,
dropout=0.2, in_channels=3 (2 for optical flow), width=1.0 (channel
multiplier), fused="auto", zero_init_residual=False, temporal_stride=2.
"""
from smartops.models.caffe_release import artnet_resnet18_caffe, c3d_resnet18_caffe
from smartops.models.resnet3d import VideoResNet

C3D = ("conv3d", "conv3d")
C2D = ("conv2d", "conv2d")
VARIANTS = {"s": "conv1 only", "d": "conv1 and the second conv of every block of conv2_x to conv4_x"}


def _variant(variant, builder):
    if variant not in VARIANTS:
        raise ValueError("%s: variant must be 's' (%s) or 'd' (%s), got %r"
                         % (builder, VARIANTS["s"], VARIANTS["d"], variant))
    return variant


def _placed(kind, variant, builder):
    """stem kind and stage kinds with `kind` at the (s) or (d) positions."""
    if _variant(variant, builder) == "s":
        return kind, (C3D,) * 4
    return kind, (("conv3d", kind),) * 3 + (C3D,)


def c2d_resnet18(**kwargs):
    """C2D-ResNet18: C3D-ResNet18 with every 3D conv replaced by a 2D conv
    (1 x 7 x 7 in conv1, 1 x 3 x 3 in the blocks).

    The strides are those of C3D-ResNet18 (2 in T at conv1, conv3_1, conv4_1 and
    conv5_1), so the output sizes are those of Table 1; with temporal kernels of 1
    this means a 16-frame clip is subsampled to frames 0, 2, ..., 14 by conv1 and
    conv5_x sees frame 0 only. temporal_stride=1 keeps every frame to the pooling
    (more multiply-adds)."""
    return VideoResNet((2, 2, 2, 2), "conv2d", (C2D,) * 4, **kwargs)


def c3d_resnet18(**kwargs):
    """C3D-ResNet18 (Table 1): 33.37 M parameters with 400 classes."""
    return VideoResNet((2, 2, 2, 2), "conv3d", (C3D,) * 4, **kwargs)


def c3d_resnet34(**kwargs):
    """C3D-ResNet34: blocks (3, 4, 6, 3)."""
    return VideoResNet((3, 4, 6, 3), "conv3d", (C3D,) * 4, **kwargs)


def relation_resnet18(variant="d", **kwargs):
    """Relation-ResNet18 (s) / (d): ARTNet-ResNet18 with each SMART block
    replaced by the relation branch alone (smartops.nn.RelationBlock)."""
    stem, stages = _placed("relation", variant, "relation_resnet18")
    return VideoResNet((2, 2, 2, 2), stem, stages, **kwargs)


def artnet_resnet18(variant="d", **kwargs):
    """ARTNet-ResNet18 (Table 1). variant "s": SMART in conv1 only (33.39 M
    parameters); "d" (default): SMART in conv1 and in place of the second 3D conv
    (with its BN) of every block of conv2_x to conv4_x, 7 SMART units (35.20 M)."""
    stem, stages = _placed("smart", variant, "artnet_resnet18")
    return VideoResNet((2, 2, 2, 2), stem, stages, **kwargs)


def _with_variant(builder, variant):
    def build(**kwargs):
        if "variant" in kwargs:
            raise TypeError("%s_%s fixes variant=%r; use %s(variant=...) to choose it"
                            % (builder.__name__, variant, variant, builder.__name__))
        return builder(variant=variant, **kwargs)
    build.__name__ = "%s_%s" % (builder.__name__, variant)
    build.__doc__ = "%s(variant=%r, **kwargs)." % (builder.__name__, variant)
    return build


# name -> builder; the names of Table 2, in its order, then the released networks.
MODELS = {
    "c2d_resnet18": c2d_resnet18,
    "c3d_resnet18": c3d_resnet18,
    "c3d_resnet34": c3d_resnet34,
    "relation_resnet18_s": _with_variant(relation_resnet18, "s"),
    "relation_resnet18_d": _with_variant(relation_resnet18, "d"),
    "artnet_resnet18_s": _with_variant(artnet_resnet18, "s"),
    "artnet_resnet18_d": _with_variant(artnet_resnet18, "d"),
    # the authors' released Kinetics networks (smartops-convert-caffe loads their weights)
    "c3d_resnet18_caffe": c3d_resnet18_caffe,
    "artnet_resnet18_caffe": artnet_resnet18_caffe,
}
# Also accepted by get_model (with an optional variant= keyword); not listed.
ALIASES = {"relation_resnet18": relation_resnet18, "artnet_resnet18": artnet_resnet18}


def list_models():
    """Names get_model accepts: the seven networks of the paper's Table 2 and the
    two released ones (c3d_resnet18_caffe, artnet_resnet18_caffe)."""
    return list(MODELS)


def get_model(name, **kwargs):
    """Builds a model by name (see list_models(); "artnet_resnet18" and
    "relation_resnet18" also take variant=...), passing kwargs to its builder."""
    builder = (MODELS.get(name) or ALIASES.get(name)) if isinstance(name, str) else None
    if builder is None:
        raise ValueError("unknown model %r; known models: %s" % (name, ", ".join(list_models())))
    return builder(**kwargs)
