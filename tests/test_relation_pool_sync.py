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


def _autocast_matches_unsynchronized(rank, world):
    """A SMART block synchronized over a group of one, under CPU bfloat16
    autocast, takes the step of the unsynchronized fused block (x is cast to
    float32 once, as relation_pool's autocast rule casts it, so the
    statistics, apply and backward phases agree on its dtype)."""
    import copy

    from smartops.nn import SMART
    from smartops.nn.sync_batch_norm import convert_sync_batchnorm

    torch.manual_seed(0)
    single = SMART(8, 8, fused=True).train()
    synced = convert_sync_batchnorm(copy.deepcopy(single), dist.group.WORLD)
    x = torch.randn(2, 8, 4, 6, 6)
    results = []
    for model in (single, synced):
        xr = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = model(xr)
        y.float().square().sum().backward()
        results.append((y.float(), xr.grad, model.relation_pool.bn2.running_var.clone()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2 * float(b.abs().max()))


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()), reason="needs gloo")
def test_synchronized_op_under_cpu_autocast():
    from sync_workers import spawn

    spawn(_autocast_matches_unsynchronized, 1)
