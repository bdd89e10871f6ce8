"""The synchronized relation op across processes on the CUDA phase kernels:
emulated on the CPU (tests/cuda_emulation) over gloo on every run, and over
NCCL on real GPUs where there are any (2 processes given 2 GPUs, else 1)."""
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import cuda_sync_workers
from sync_workers import free_port
from cuda_emulation import backends, build
from smartops import _extension

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="needs torch.distributed")


def spawn(batches, backend_name):
    mp.spawn(cuda_sync_workers.run, args=(len(batches), free_port(), list(batches), backend_name),
             nprocs=len(batches), join=True)


def test_emulated_phases_over_gloo():
    """3 processes with uneven clips, one of them without any (about a minute:
    each process imports torch; 2 processes add nothing that
    tests/test_cuda_phases.py does not check in one)."""
    reason = backends.available("emulated") or (None if dist.is_gloo_available() else "needs gloo")
    if reason:
        pytest.skip(reason)
    build.load_extension()  # built here once, not raced by the processes
    spawn((3, 0, 2), "emulated")


@pytest.mark.skipif(not (torch.cuda.is_available() and _extension.built_with_cuda() and dist.is_nccl_available()),
                    reason="needs a CUDA GPU, smartops built with CUDA and NCCL")
def test_nccl():
    spawn((2, 3) if torch.cuda.device_count() >= 2 else (5,), "nccl")
