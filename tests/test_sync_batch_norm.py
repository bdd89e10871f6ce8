"""convert_sync_batchnorm and SyncBatchNorm in one process. Across processes:
tests/test_sync_exactness.py."""
import pytest
import torch
import torch.nn as nn

from op_utils import requires_kernel
from smartops.models import get_model
from smartops.nn import SMART, RelationPool, SyncBatchNorm, convert_sync_batchnorm

pytestmark = requires_kernel("relation_pool")


def test_conversion_keeps_parameters_and_fused_relation_ops():
    model = nn.Sequential(nn.BatchNorm3d(4), RelationPool(4, fused=True), RelationPool(4, fused=False))
    weight = model[0].weight
    group = object()  # stands for a process group
    converted = convert_sync_batchnorm(model, process_group=group)
    assert isinstance(converted[0], SyncBatchNorm) and converted[0].weight is weight
    assert converted[1].process_group is group and converted[1].fused is True
    assert isinstance(converted[2].bn1, SyncBatchNorm) and converted[2].fused is False  # synchronised unfused


def test_conversion_synchronizes_every_batch_norm_of_artnet():
    """What `smartops-train --sync-bn` does to the model: every BN is a
    SyncBatchNorm or one of a fused RelationPool's two, which synchronizes
    them itself; every fused unit stays fused."""
    model = get_model("artnet_resnet18_d", num_classes=3, width=0.0625, fused=True)
    converted = convert_sync_batchnorm(model, process_group=object())  # stands for a group
    pools = [m for m in converted.modules() if isinstance(m, RelationPool)]
    assert len(pools) == 7 and all(p.process_group is not None and p.fused is True for p in pools)
    pool_bns = {id(bn) for p in pools for bn in (p.bn1, p.bn2)}
    others = [m for m in converted.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and
              id(m) not in pool_bns]
    assert others and all(isinstance(m, SyncBatchNorm) for m in others)
    assert all(m.fused is True for m in converted.modules() if isinstance(m, SMART))


def test_conversion_needs_a_group():
    with pytest.raises(RuntimeError, match="init_process_group first"):
        convert_sync_batchnorm(nn.BatchNorm3d(4))
    with pytest.raises(ValueError, match="affine=False"):
        convert_sync_batchnorm(nn.BatchNorm3d(4, affine=False), process_group=object())


def test_without_a_group_it_is_a_batch_norm():
    bn = SyncBatchNorm(3)
    x = torch.randn(4, 3, 2, 2, 2)
    torch.testing.assert_close(bn(x), nn.functional.batch_norm(x, None, None, training=True))
