"""Worker processes of tests/test_relation_pool_sync.py (importable by the
children that torch.multiprocessing spawns)."""
import copy
import os

import torch
import torch.distributed as dist

from smartops.nn import RelationPool


def count_collectives(names):
    """Wraps torch.distributed's `names` to count their calls; returns the
    counter dict."""
    counts = dict.fromkeys(names, 0)
    for name in names:
        original = getattr(dist, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        setattr(dist, name, counted)
    return counts


def run(rank, world, port, batches, check):
    """One process of a gloo group: check(rank, batches) runs its test."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        check(rank, batches)
    finally:
        dist.destroy_process_group()


def relation_pool_matches_one_process(rank, batches):
    """The synchronized RelationPool on this rank's clips against one process
    with every rank's clips: outputs, input and weight gradients, running
    statistics; one collective each way."""
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 2e-5)):
        torch.manual_seed(0)
        x_all = (3 + 2 * torch.randn(sum(batches), 6, 3, 4, 4, dtype=torch.float64)).to(dtype)
        g_all = torch.randn(sum(batches), 3, 3, 4, 4, dtype=torch.float64).to(dtype)
        reference = RelationPool(6, fused=True).to(dtype)
        with torch.no_grad():
            for p in reference.parameters():
                p.uniform_(0.5, 1.5)
        synced = copy.deepcopy(reference)
        synced.process_group = dist.group.WORLD

        x_ref = x_all.clone().requires_grad_(True)
        y_ref = reference(x_ref)
        y_ref.backward(g_all)

        lo = sum(batches[:rank])
        x = x_all[lo:lo + batches[rank]].clone().requires_grad_(True)
        counts = count_collectives(["all_gather", "all_reduce"])
        y = synced(x)
        assert counts == {"all_gather": 1, "all_reduce": 0}, counts
        y.backward(g_all[lo:lo + batches[rank]])
        assert counts == {"all_gather": 1, "all_reduce": 1}, counts

        close = dict(rtol=tol, atol=tol)
        torch.testing.assert_close(y, y_ref[lo:lo + batches[rank]], **close)
        torch.testing.assert_close(x.grad, x_ref.grad[lo:lo + batches[rank]], **close)
        for (name, p), p_ref in zip(synced.named_parameters(), reference.parameters()):
            grad = p.grad.clone()
            dist.all_reduce(grad)  # the processes' shares add up to the batch's gradient
            torch.testing.assert_close(grad, p_ref.grad, **close, msg=lambda m: name + ": " + m)
        for name, b in synced.named_buffers():
            torch.testing.assert_close(b, dict(reference.named_buffers())[name], **close,
                                       msg=lambda m: name + ": " + m)
