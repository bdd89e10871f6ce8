"""RelationPool(process_group=): its errors, and evaluation without
synchronization. Its results across processes: tests/test_sync_exactness.py."""
import pytest
import torch
import torch.distributed as dist

from op_utils import requires_kernel
from smartops.nn import RelationPool

pytestmark = requires_kernel("relation_pool")


def test_process_group_needs_the_fused_op_and_an_initialised_group():
    with pytest.raises(ValueError, match="needs the fused op"):
        RelationPool(4, fused=False, process_group=object())
    assert not dist.is_initialized()
    pool = RelationPool(4, fused=True, process_group=object())  # stands for a group
    with pytest.raises(RuntimeError, match="init_process_group first"):
        pool(torch.randn(2, 4, 2, 2, 2))
    pool.eval()  # evaluation uses running statistics: nothing to synchronise
    assert pool(torch.randn(2, 4, 2, 2, 2)).shape == (2, 2, 2, 2, 2)
