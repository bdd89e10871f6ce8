"""Precise BN (smartops.engine.precise_bn) against a direct float64
computation: every BatchNorm's statistics, the fused relation op's four
among them, equal the equal-weight average of the batch statistics of its
input over the batches, in training-mode semantics."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from smartops.engine.modeling import freeze_partial_bn, set_train_mode
from smartops.engine.precise_bn import recompute_bn_stats, trained_batch_norms
from smartops.models import get_model, set_fused
from smartops.nn import RelationPool
from smartops.ops.reference import pair_mean

BN = nn.modules.batchnorm._BatchNorm


def batch_stats(x):
    """(mean, unbiased variance) per channel of (N, C, ...)."""
    dims = [0] + list(range(2, x.dim()))
    return x.mean(dims), x.var(dims, unbiased=True)


def average(stats):
    return tuple(torch.stack(s).mean(0) for s in zip(*stats))


def test_relation_pool_four_statistics_equal_the_direct_formulas():
    torch.manual_seed(0)
    pool = RelationPool(8, fused=True).double()
    nn.init.uniform_(pool.bn1.weight, 0.5, 1.5)
    nn.init.uniform_(pool.bn1.bias, -0.5, 0.5)
    batches = [3.0 + 2.0 * torch.randn(2, 8, 3, 5, 4, dtype=torch.float64) for _ in range(3)]
    pool.bn1.running_var.fill_(100.0)  # lagging statistics, to be replaced
    pool.train()
    used, _ = recompute_bn_stats(pool, [(x,) for x in batches], num_batches=10)
    assert used == 3
    s1, s2 = [], []
    for x in batches:
        m, v = batch_stats(x)
        s1.append((m, v))
        xn = F.batch_norm(x, None, None, pool.bn1.weight, pool.bn1.bias, training=True, eps=pool.bn1.eps)
        s2.append(batch_stats(pair_mean(xn.square())))
    for bn, (mean, var) in ((pool.bn1, average(s1)), (pool.bn2, average(s2))):
        torch.testing.assert_close(bn.running_mean, mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(bn.running_var, var, rtol=1e-12, atol=1e-12)


def _tiny_model(fused):
    torch.manual_seed(1)
    model = get_model("artnet_resnet18_d", num_classes=4, width=0.0625, fused=fused).double()
    for m in model.modules():  # weights away from the initial 1/0 so that every layer matters
        if isinstance(m, BN):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.3, 0.3)
    return model


def _direct_stats(model, batches, partial_bn=False):
    """Each trained BN's input captured by hooks on the unfused composition
    in training mode, averaged over the batches: {name: (mean, var)}."""
    ref = copy.deepcopy(model)
    set_fused(ref, False)
    set_train_mode(ref, partial_bn)
    seen = {}
    hooks = [m.register_forward_pre_hook(lambda m, inp, name=name: seen.setdefault(name, []).append(
        batch_stats(inp[0]))) for name, m in ref.named_modules() if isinstance(m, BN) and m.training]
    with torch.no_grad():
        for x in batches:
            ref(x)
    for h in hooks:
        h.remove()
    return {name: average(stats) for name, stats in seen.items()}


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
def test_every_batchnorm_equals_a_direct_float64_pass(fused):
    model = _tiny_model(fused)
    batches = [10 * torch.randn(2, 3, 4, 16, 16, dtype=torch.float64) for _ in range(3)]
    expected = _direct_stats(model, batches)
    model.train()
    tracked = {n: m.num_batches_tracked.clone() for n, m in model.named_modules() if isinstance(m, BN)}
    used, _ = recompute_bn_stats(model, [(x,) for x in batches], num_batches=3)
    assert used == 3
    bns = dict((n, m) for n, m in model.named_modules() if isinstance(m, BN))
    assert set(expected) == set(bns) and any(n.endswith("relation_pool.bn2") for n in bns)
    for name, (mean, var) in expected.items():
        torch.testing.assert_close(bns[name].running_mean, mean, rtol=1e-10, atol=1e-10, msg=name)
        torch.testing.assert_close(bns[name].running_var, var, rtol=1e-10, atol=1e-10, msg=name)
        assert torch.equal(bns[name].num_batches_tracked, tracked[name]) and bns[name].momentum == 0.1
    assert all(m.training for m in model.modules())  # modes restored


def test_partial_bn_keeps_frozen_statistics_and_uses_num_batches():
    model = _tiny_model(True)
    freeze_partial_bn(model)
    set_train_mode(model, partial_bn=True)
    frozen = {n: m.running_var.clone() for n, m in model.named_modules()
              if isinstance(m, BN) and not n.startswith("stem")}
    assert trained_batch_norms(model) and all(n.startswith("stem") for n, m in model.named_modules()
                                              if isinstance(m, BN) and m in trained_batch_norms(model))
    batches = [10 * torch.randn(2, 3, 4, 16, 16, dtype=torch.float64) for _ in range(3)]
    expected = _direct_stats(model, batches[:2], partial_bn=True)
    used, _ = recompute_bn_stats(model, [(x,) for x in batches], num_batches=2)
    assert used == 2
    for name, m in model.named_modules():
        if name in frozen:
            assert torch.equal(m.running_var, frozen[name]) and not m.training, name
        elif name in expected:
            torch.testing.assert_close(m.running_var, expected[name][1], rtol=1e-10, atol=1e-10, msg=name)


def test_no_batches_keeps_the_statistics():
    pool = RelationPool(4, fused=True)
    before = copy.deepcopy(pool.state_dict())
    assert recompute_bn_stats(pool.train(), [], num_batches=5)[0] == 0
    for k, v in pool.state_dict().items():
        assert torch.equal(v, before[k]), k


def _rank_main(rank, port, batches, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank, world_size=2)
    try:
        pool = RelationPool(4, fused=True).double().train()
        mine = batches[rank::2]
        recompute_bn_stats(pool, [(x,) for x in mine], num_batches=len(mine))
        torch.save(pool.state_dict(), out % rank)
    finally:
        dist.destroy_process_group()


def test_two_processes_end_with_the_average_over_all_their_batches(tmp_path):
    import socket

    import torch.multiprocessing as mp

    torch.manual_seed(3)
    batches = [1.0 + torch.randn(2, 4, 2, 3, 3, dtype=torch.float64) * (i + 1) for i in range(4)]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = str(tmp_path / "rank%d.pt")
    mp.spawn(_rank_main, args=(port, batches, out), nprocs=2, join=True)
    single = RelationPool(4, fused=True).double().train()
    recompute_bn_stats(single, [(x,) for x in batches], num_batches=4)
    for rank in range(2):
        state = torch.load(out % rank, weights_only=True)
        for key in ("bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"):
            torch.testing.assert_close(state[key], single.state_dict()[key], rtol=1e-12, atol=1e-12, msg=key)
