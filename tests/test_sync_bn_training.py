"""`torchrun --nproc_per_node=2 ... --sync-bn` for 2 epochs on a tiny
synthetic dataset takes the same steps as one process with the double batch:
the same loss per step and the same weights at the end, to float32 rounding.

What makes the runs comparable: DistributedSampler hands step k of rank r
the clips perm[4k + r::2] of the one-process step k (perm[4k:4k + 4]), the
augmentation of a clip depends on (seed, epoch, index) only, the lr is set
(the default scales with the global batch, which is equal anyway), dropout
is off, no precise BN, no validation."""
import json
import os
import subprocess
import sys

import pytest
import torch

from op_utils import requires_kernel
from sync_workers import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCHER = os.path.join(ROOT, "tests", "train_recording_losses.py")
ARGS = ["--arch", "artnet_resnet18_d", "--width", "0.0625", "--clip-len", "4", "--crop-size", "32",
        "--frame-size", "keep", "--workers", "0", "--no-tensorboard", "--epochs", "2", "--lr", "0.01",
        "--schedule", "constant", "--dropout", "0", "--precise-bn", "0", "--val-data", "none"]

pytestmark = requires_kernel("relation_pool_moments")


def _train(folder, name, processes, batch_size):
    """(per-step losses over all processes, final state_dict, stdout)."""
    launch = [sys.executable, LAUNCHER] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=%d" % processes,
        "--master_port=%d" % free_port(), LAUNCHER]
    cmd = launch + [str(folder / name), "--data", str(folder / "data" / "train.txt"), "--output",
                    str(folder / name), "--batch-size", str(batch_size), *ARGS]
    if processes > 1:
        cmd.append("--sync-bn")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                             "MASTER_PORT")}
    env.update(PYTHONPATH=os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1",
               PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, "exit %d\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr)
    ranks = []
    for r in range(processes):
        with open("%s.rank%d.json" % (folder / name, r)) as f:
            ranks.append(json.load(f))
    assert len({len(steps) for steps in ranks}) == 1, [len(steps) for steps in ranks]
    losses = [sum(s["loss"] * s["clips"] for s in step) / sum(s["clips"] for s in step) for step in zip(*ranks)]
    state = torch.load(folder / name / "last.pt", map_location="cpu", weights_only=True)["model"]
    return losses, state, proc.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from smartops.data import generate_synthetic

    folder = tmp_path_factory.mktemp("syncbn")
    generate_synthetic(folder / "data", classes=4, videos_per_class=4, frames=8, size=(32, 40), seed=3)  # 12 train
    return _train(folder, "one", 1, 4), _train(folder, "two", 2, 2)


def test_two_processes_take_the_steps_of_one_with_the_double_batch(runs):
    (losses1, state1, _), (losses2, state2, log2) = runs
    assert "fused units stay fused" in log2
    assert len(losses1) == 6, losses1  # 2 epochs of 3 steps of 4 clips
    torch.testing.assert_close(torch.tensor(losses2), torch.tensor(losses1), rtol=1e-5, atol=1e-6)
    assert state1.keys() == state2.keys()
    for name, value in state1.items():
        torch.testing.assert_close(state2[name], value, rtol=1e-3, atol=1e-3 * value.abs().max().item(),
                                   msg=lambda m: "%s: %s" % (name, m))
