"""Process-group setup for ``torchrun`` (single- or multi-node).

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; with WORLD_SIZE > 1 the
default process group is started with NCCL when training on GPUs and gloo on
CPUs. Without torchrun (or with one process) nothing is initialised and the
helpers below are no-ops.
"""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from smartops.engine.cli import CLIError

__all__ = ["DistInfo", "setup", "cleanup", "all_reduce_sum", "barrier", "broadcast_object"]


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str = ""

    @property
    def distributed(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0


def _env_int(name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise CLIError("environment variable %s=%r is not an integer" % (name, value)) from None


def pick_device(device="auto", local_rank=0):
    """'auto': the local GPU when CUDA is available, else the CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise CLIError("bad --device %r: %s" % (device, err)) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CLIError("--device %s: CUDA is not available in this torch/machine" % device)
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    return dev


def setup(device="auto"):
    """Reads torchrun's environment, picks the device and starts the default
    process group when there is more than one process."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", 0)
    dev = pick_device(device, local)
    info = DistInfo(rank, world, local, dev, "")
    if world > 1 and not dist.is_initialized():
        info.backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend=info.backend, **kwargs)
    elif dist.is_initialized():
        info.backend = dist.get_backend()
    return info


def cleanup():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values, device):
    """Sums a list of numbers over all processes (float64); returns a list."""
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def barrier():
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def broadcast_object(obj, src=0):
    """obj of rank `src` on every process."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]
    return obj
