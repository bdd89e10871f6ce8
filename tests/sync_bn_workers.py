"""Worker processes of tests/test_sync_batch_norm.py (importable by the
children that torch.multiprocessing spawns)."""
import copy

import torch
import torch.distributed as dist

from smartops.models import get_model
from smartops.nn import SMART, convert_sync_batchnorm
from sync_workers import count_collectives


def _my_slice(rank, batches):
    lo = sum(batches[:rank])
    return slice(lo, lo + batches[rank])


def _step(model, x, weights):
    """A training step's forward and backward with a loss that adds per
    clip, so that the clips' gradients add across processes."""
    x = x.clone().requires_grad_(True)
    y = model(x)
    (y * weights).sum().backward()
    return x, y


def _assert_matches(synced, reference, x, y, x_ref, y_ref, mine):
    close = dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(y, y_ref[mine], **close)
    torch.testing.assert_close(x.grad, x_ref.grad[mine], **close)
    for (name, p), p_ref in zip(synced.named_parameters(), reference.parameters()):
        grad = p.grad.clone()
        dist.all_reduce(grad)  # the processes' shares add up to the batch's gradient
        torch.testing.assert_close(grad, p_ref.grad, **close, msg=lambda m: name + ": " + m)
    reference_buffers = dict(reference.named_buffers())
    for name, b in synced.named_buffers():
        torch.testing.assert_close(b, reference_buffers[name], **close, msg=lambda m: name + ": " + m)


def _compare(rank, batches, build, clip_shape, collectives):
    """build()'s model converted and run on this rank's clips against it on
    all clips in one process; `collectives` forward (all_gather) and
    backward (all_reduce)."""
    torch.manual_seed(0)  # the same model and data on every process
    model = build().double().train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # BN weights/biases away from 1/0
    x_all = torch.randn((sum(batches),) + clip_shape, dtype=torch.float64)
    reference = copy.deepcopy(model)
    synced = convert_sync_batchnorm(copy.deepcopy(model))
    with torch.no_grad():
        out_shape = copy.deepcopy(model)(x_all[:2]).shape[1:]  # a copy: its running stats change
    weights = torch.randn((sum(batches),) + tuple(out_shape), dtype=torch.float64)
    x_ref, y_ref = _step(reference, x_all, weights)
    mine = _my_slice(rank, batches)
    counts = count_collectives(["all_gather", "all_reduce"])
    x, y = _step(synced, x_all[mine], weights[mine])
    assert counts == {"all_gather": collectives, "all_reduce": collectives}, counts
    _assert_matches(synced, reference, x, y, x_ref, y_ref, mine)


def smart_block_matches_one_process(rank, batches):
    """Appearance BN, relation op, final fused BN+ReLU: 3 collectives each way."""
    _compare(rank, batches, lambda: SMART(3, 6, fused=True), (3, 3, 5, 5), collectives=3)


def artnet_matches_one_process(rank, batches):
    """A width-0.125 ARTNet (d): one collective each way per plain BN and per
    relation op (7 of them, 2 BNs each)."""
    def build():
        return get_model("artnet_resnet18_d", width=0.125, num_classes=4, dropout=0.0, fused=True)
    bns = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in build().modules())
    _compare(rank, batches, build, (3, 4, 32, 32), collectives=bns - 7)
