"""Worker processes of tests/test_cuda_sync.py (importable by the children
that torch.multiprocessing spawns): the synchronized RelationPool running the
CUDA phase kernels, emulated on the CPU over gloo or on GPUs over NCCL."""
import contextlib
import copy
import os

import torch
import torch.distributed as dist

from smartops.nn import RelationPool
from sync_checks import _close
from sync_workers import recorded_collectives


def run(rank, world, port, batches, backend_name):
    """One process: backend_name "emulated" (the CUDA kernels emulated on the
    CPU, gloo) or "nccl" (GPU `rank`)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    if backend_name == "emulated":
        from cuda_emulation import backends

        device, kernels = "cpu", backends.Emulated().active()
    else:
        torch.cuda.set_device(rank)
        device, kernels = "cuda:%d" % rank, contextlib.nullcontext()
    dist.init_process_group("gloo" if device == "cpu" else "nccl", rank=rank, world_size=world)
    try:
        with kernels:
            matches_one_process(rank, batches, device)
    finally:
        dist.destroy_process_group()


def matches_one_process(rank, batches, device):
    """This rank's clips through the synchronized RelationPool against the
    single-process RelationPool on every rank's clips (both on the same
    kernels), in float64 to 1e-10: output, input and parameter gradients,
    running statistics; one collective each way (float32:
    tests/test_cuda_phases.py)."""
    gen = torch.Generator().manual_seed(0)
    x_all = (0.5 + 2 * torch.randn(sum(batches), 6, 3, 4, 5, generator=gen, dtype=torch.float64)).to(device)
    g_all = torch.randn(sum(batches), 3, 3, 4, 5, generator=gen, dtype=torch.float64).to(device)
    reference = RelationPool(6, fused=True).to(device, torch.float64)
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(0.5 + torch.rand(p.shape, generator=gen, dtype=torch.float64))
    synced = copy.deepcopy(reference)
    synced.process_group = dist.group.WORLD

    x_ref = x_all.clone().requires_grad_(True)
    y_ref = reference(x_ref)
    y_ref.backward(g_all)

    mine = slice(sum(batches[:rank]), sum(batches[:rank + 1]))
    x = x_all[mine].clone().requires_grad_(True)
    with recorded_collectives() as calls:
        y = synced(x)
        y.backward(g_all[mine])
    assert [name for name, _ in calls] == ["all_gather", "all_reduce"], calls
    _close(y, y_ref[mine], 0.0, "output")
    _close(x.grad, x_ref.grad[mine], 0.0, "input gradient")
    for (name, p), p_ref in zip(synced.named_parameters(), reference.parameters()):
        grad = p.grad.clone()
        dist.all_reduce(grad)  # the processes' shares add up to the batch's gradient
        _close(grad, p_ref.grad, 0.0, name + " gradient")
    reference_buffers = dict(reference.named_buffers())
    for name, b in synced.named_buffers():
        _close(b, reference_buffers[name], 0.0, name)  # float64 to 1e-10; the batch counter exactly
