"""What the processes of tests/test_sync_exactness.py check (importable by
the spawned children): a model converted with convert_sync_batchnorm on
each process's clips against the same model on every clip in one process,
and what the synchronization costs in collectives and saved memory."""
import copy

import torch
import torch.distributed as dist
from torch.nn.modules.batchnorm import _BatchNorm

from op_utils import saved_bytes
from smartops.models import get_model
from smartops.nn import SMART, RelationPool, convert_sync_batchnorm
from sync_workers import recorded_collectives


def _artnet():
    return get_model("artnet_resnet18_d", width=0.125, num_classes=4, dropout=0.0, fused=True)


# name: (model builder, shape of one clip, float32 tolerance relative to the
# largest value compared). The network's is that of tests/test_models.py's
# fused/unfused comparison: its BNs over 2-9 clips magnify rounding (seen:
# 1e-4 of the largest value); the op and the block stay near 1e-6.
CASES = {
    "relation op": (lambda: RelationPool(6, fused=True), (6, 3, 4, 4), 2e-5),
    # One position per clip: with 1 + 1 clips, two positions per channel over
    # all processes, where the op takes its closed forms (the phases must
    # learn the global count to take them too).
    "relation op, 1 position per clip": (lambda: RelationPool(6, fused=True), (6, 1, 1, 1), 2e-5),
    "SMART block": (lambda: SMART(3, 6, fused=True), (3, 3, 5, 5), 2e-5),
    "ARTNet (d) x0.125": (_artnet, (3, 4, 32, 32), 1e-3),
}
DTYPES = (torch.float64, torch.float32)


def _units(model):
    """Synchronized units: each RelationPool (its two BNs synchronize in one
    collective) and each other BatchNorm."""
    modules = list(model.modules())
    pools = sum(isinstance(m, RelationPool) for m in modules)
    return sum(isinstance(m, _BatchNorm) for m in modules) - pools


def _widest(model):
    return max(m.num_features for m in model.modules() if isinstance(m, _BatchNorm))


def _close(actual, expected, float32_tol, what):
    """float64: to 1e-10; float32: to float32_tol of the largest value."""
    if actual.dtype == torch.float64:
        rtol = atol = 1e-10
    else:
        rtol, atol = float32_tol, float32_tol * (expected.abs().max().item() if expected.numel() else 0.0)
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, msg=lambda m: "%s: %s" % (what, m))


def _compare(case, dtype, batches, rank, group):
    """One training step (forward, backward of a loss that adds per clip)
    of the model synchronized over `group` (ranks 0 .. len(batches) - 1) on
    this rank's clips against the model on all clips; returns (collectives
    in forward, in backward, synchronized units, widest BN)."""
    build, clip_shape, tol = CASES[case]
    torch.manual_seed(0)  # the same model and data on every process
    model = build().to(dtype).train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # BN weights/biases away from 1/0
    x_all = (3 + 2 * torch.randn((sum(batches),) + clip_shape, dtype=torch.float64)).to(dtype)
    reference, synced = copy.deepcopy(model), convert_sync_batchnorm(copy.deepcopy(model), group)

    x_ref = x_all.clone().requires_grad_(True)
    y_ref = reference(x_ref)
    weights = torch.randn(y_ref.shape, dtype=torch.float64).to(dtype)
    (y_ref * weights).sum().backward()

    lo = sum(batches[:rank])
    mine = slice(lo, lo + batches[rank])
    x = x_all[mine].clone().requires_grad_(True)
    with recorded_collectives() as forward:
        y = synced(x)
    with recorded_collectives() as backward:
        (y * weights[mine]).sum().backward()

    where = "%s, %s, batches %s, rank %d" % (case, dtype, batches, rank)
    _close(y, y_ref[mine], tol, where + ": output")
    _close(x.grad, x_ref.grad[mine], tol, where + ": input gradient")
    for (name, p), p_ref in zip(synced.named_parameters(), reference.parameters()):
        grad = p.grad.clone()
        dist.all_reduce(grad, group=group)  # the processes' shares add up to the batch's gradient
        _close(grad, p_ref.grad, tol, "%s: gradient of %s" % (where, name))
    reference_buffers = dict(reference.named_buffers())
    for name, b in synced.named_buffers():
        _close(b, reference_buffers[name], tol, "%s: buffer %s" % (where, name))
    return forward, backward, _units(model), _widest(model)


def _groups(world, batch_sets):
    """{processes: group of ranks 0 .. processes - 1}; every rank creates
    them, in the same order, as torch.distributed.new_group requires."""
    groups = {}
    for batches in batch_sets:
        if len(batches) not in groups:
            groups[len(batches)] = (dist.group.WORLD if len(batches) == world else
                                    dist.new_group(list(range(len(batches)))))
    return groups


def matches_one_process(rank, world, batch_sets):
    """Every case, in float64 and float32, for each split of a batch over
    the first processes in `batch_sets` (clips per rank; fewer ranks than
    `world` run on a subgroup, which saves spawning another group). Per
    step and synchronized unit: one all_gather in forward and one
    all_reduce in backward, whose sizes do not depend on the clips nor the
    processes (a rank with none sends as much as the others) and are at
    most 8 doubles per channel. Then the bytes saved for backward."""
    groups = _groups(world, batch_sets)
    for case in CASES:
        for dtype in DTYPES:
            sizes = set()
            for batches in batch_sets:
                if rank >= len(batches):
                    continue
                forward, backward, units, widest = _compare(case, dtype, batches, rank, groups[len(batches)])
                where = "%s, %s, batches %s: " % (case, dtype, batches)
                assert [name for name, _ in forward] == ["all_gather"] * units, where + str(forward)
                assert [name for name, _ in backward] == ["all_reduce"] * units, where + str(backward)
                assert max(n for _, n in forward + backward) <= 8 * widest, where + str(forward + backward)
                sizes.add(tuple(forward + backward))
            assert len(sizes) == 1, "%s, %s: payloads depend on the batch: %s" % (case, dtype, sizes)
    if rank < 2:
        _two_positions_take_the_op_forms(rank, groups[2])
    _saves_what_one_process_saves(rank)


def _two_positions_take_the_op_forms(rank, group):
    """One clip of one position on each of 2 processes: two positions per
    channel over all processes, where the single-process op takes its closed
    forms for BN2 (docs/relation-op-numerics.md, 6.). The synchronized op
    passes the global count to its phases, so it takes them too: in float32,
    its output and BN2's gradients are the op's on both clips bit for bit.
    (With the general forms they were not: bn2.weight's gradient was 5e-7
    off, relative to its largest value, on 3 of these 8 draws.)"""
    for seed in range(8):
        torch.manual_seed(seed)
        single = RelationPool(6, fused=True).train()
        with torch.no_grad():
            for p in single.parameters():
                p.add_(0.1 * torch.randn_like(p))
        synced = convert_sync_batchnorm(copy.deepcopy(single), group)
        x_all = 3 + 2 * torch.randn(2, 6, 1, 1, 1)
        weights = torch.randn(2, 3, 1, 1, 1)
        y_all = single(x_all)
        (y_all * weights).sum().backward()
        y = synced(x_all[rank:rank + 1])
        (y * weights[rank:rank + 1]).sum().backward()
        assert torch.equal(y, y_all[rank:rank + 1]), (seed, y, y_all)
        for name in ("weight", "bias"):
            grad = getattr(synced.bn2, name).grad.clone()
            dist.all_reduce(grad, group=group)
            assert torch.equal(grad, getattr(single.bn2, name).grad), (seed, name, grad, getattr(single.bn2, name).grad)


def _saved_bytes_synced_and_single(build, x):
    """Bytes autograd saves for the synchronized module and for the
    single-process one, on the same clips."""
    single = build()
    synced = convert_sync_batchnorm(copy.deepcopy(single))
    _, synced_bytes = saved_bytes(lambda: synced(x))
    _, single_bytes = saved_bytes(lambda: single(x))
    return synced_bytes, single_bytes


def _saves_what_one_process_saves(rank):
    """The synchronized relation op saves x and per-channel vectors only,
    as the single-process op (1.0x of x); a SMART block no more than
    without synchronization."""
    torch.manual_seed(rank)
    x = torch.randn(2, 64, 4, 14, 14, requires_grad=True)
    synced, single = _saved_bytes_synced_and_single(lambda: RelationPool(64, fused=True), x)
    x_bytes = x.numel() * x.element_size()
    assert synced <= single, (synced, single)  # seen: equal, 1.0038x of x
    assert synced <= 1.01 * x_bytes, synced / x_bytes
    synced, single = _saved_bytes_synced_and_single(lambda: SMART(16, 64, fused=True), torch.randn(2, 16, 4, 14, 14))
    assert synced <= single, (synced, single)
