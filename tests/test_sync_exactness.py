"""Synchronized BatchNorms across 2 and 3 gloo processes on the CPU (spawned):
the relation op, a SMART block and a width-0.125 ARTNet (d) training step
match one process with the concatenated batch (outputs, input and weight
gradients, running statistics; float64 to 1e-10, float32), with even and
uneven batches and a process without clips; one collective per unit each
way, of O(channels); the memory saved for backward unchanged."""
import pytest
import torch.distributed as dist

import sync_checks
from op_utils import requires_kernel
from sync_workers import spawn

pytestmark = [requires_kernel("relation_pool_moments"),
              pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                 reason="torch.distributed with gloo is needed")]

# Clips per process, on 2 and on 3 processes: 2 and 3 each, uneven, a
# process with none, and 1 + 1 clips (two positions per channel over all
# processes for the 1-position case). One spawned group of 3; the 2-process
# splits run on a subgroup of ranks 0 and 1.
BATCH_SETS = [(2, 2), (2, 3), (3, 0), (1, 1), (3, 3, 3), (3, 0, 2), (1, 0, 1)]


def test_matches_one_process():
    spawn(sync_checks.matches_one_process, 3, BATCH_SETS)
