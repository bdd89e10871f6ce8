"""Gloo process groups for the synchronized-BatchNorm tests: spawning them,
and what their processes run (importable by the children that
torch.multiprocessing spawns)."""
import contextlib
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(check, world, *args):
    """check(rank, world, *args) in each of `world` spawned processes of a
    gloo group on the CPU."""
    mp.spawn(_run, args=(world, free_port(), check, args), nprocs=world, join=True)


def _run(rank, world, port, check, args):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        check(rank, world, *args)
    finally:
        dist.destroy_process_group()


def _sent(name, args, kwargs):
    """The tensor this process contributes to collective `name`."""
    if name == "all_gather":  # all_gather(tensor_list, tensor)
        return kwargs.get("tensor", args[1] if len(args) > 1 else None)
    return kwargs.get("tensor", args[0] if args else None)


@contextlib.contextmanager
def recorded_collectives(names=("all_gather", "all_reduce")):
    """Within the block, torch.distributed's `names` append (name, elements
    this process sends) to the yielded list on every call."""
    calls = []
    originals = {name: getattr(dist, name) for name in names}

    def recording(name, original):
        def collective(*args, **kwargs):
            calls.append((name, _sent(name, args, kwargs).numel()))
            return original(*args, **kwargs)
        return collective

    for name, original in originals.items():
        setattr(dist, name, recording(name, original))
    try:
        yield calls
    finally:
        for name, original in originals.items():
            setattr(dist, name, original)
