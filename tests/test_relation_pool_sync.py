"""Synchronized relation op across gloo processes on the CPU (spawned)."""
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import sync_workers
from op_utils import requires_kernel
from smartops.nn import RelationPool

pytestmark = [requires_kernel("relation_pool"),
              pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                 reason="torch.distributed with gloo is needed")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(check, batches):
    mp.spawn(sync_workers.run, args=(len(batches), free_port(), batches, check), nprocs=len(batches), join=True)


# 2 processes with uneven clips; 3 processes, one of them without clips.
@pytest.mark.parametrize("batches", [(2, 3), (3, 0, 2)], ids=["2procs", "3procs-one-empty"])
def test_relation_pool_matches_one_process(batches):
    spawn(sync_workers.relation_pool_matches_one_process, list(batches))


def test_process_group_needs_the_fused_op_and_an_initialised_group():
    with pytest.raises(ValueError, match="needs the fused op"):
        RelationPool(4, fused=False, process_group=object())
    assert not dist.is_initialized()
    pool = RelationPool(4, fused=True, process_group=object())  # stands for a group
    with pytest.raises(RuntimeError, match="init_process_group first"):
        pool(torch.randn(2, 4, 2, 2, 2))
    pool.eval()  # evaluation uses running statistics: nothing to synchronise
    assert pool(torch.randn(2, 4, 2, 2, 2)).shape == (2, 2, 2, 2, 2)
