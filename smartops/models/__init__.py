"""The paper's ResNet-18 network family (ARTNet Tables 1 and 2) on SMART blocks.

    from smartops.models import artnet_resnet18, get_model, list_models, count_macs
    model = artnet_resnet18("d", num_classes=400)        # 35.20 M parameters
    logits = model(torch.randn(2, 3, 16, 112, 112))      # (2, 400)
    small = get_model("c3d_resnet18", width=0.125, num_classes=10)   # 8/16/32/64 channels

Builders (keyword arguments of VideoResNet: num_classes=400, dropout=0.2,
in_channels=3 (2 for flow), width=1.0, fused="auto", zero_init_residual=False,
temporal_stride=2): c2d_resnet18, c3d_resnet18, c3d_resnet34,
relation_resnet18(variant="s" | "d"), artnet_resnet18(variant="s" | "d"); the
authors' released Caffe networks c3d_resnet18_caffe, artnet_resnet18_caffe.
"""
from smartops.models.builders import (MODELS, artnet_resnet18, c2d_resnet18, c3d_resnet18, c3d_resnet34,
                                      get_model, list_models, relation_resnet18)
from smartops.models.caffe_release import ReleasedResNet18, artnet_resnet18_caffe, c3d_resnet18_caffe
from smartops.models.flops import count_macs
from smartops.models.resnet3d import (UNIT_KINDS, BasicBlock, VideoResNet, init_weights, make_unit,
                                      scaled_channels, set_fused)

__all__ = ["c2d_resnet18", "c3d_resnet18", "c3d_resnet34", "relation_resnet18", "artnet_resnet18", "get_model",
           "list_models", "count_macs", "set_fused", "VideoResNet", "BasicBlock", "make_unit", "init_weights",
           "scaled_channels", "UNIT_KINDS", "MODELS", "c3d_resnet18_caffe", "artnet_resnet18_caffe",
           "ReleasedResNet18"]
