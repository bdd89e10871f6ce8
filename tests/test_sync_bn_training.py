"""`torchrun --nproc_per_node=2 ... --sync-bn` for 2 epochs on a tiny
synthetic dataset takes the same steps as one process with the double batch:
in float64, the same loss per step and the same weights at the end to 1e-9;
in float32 (the real configuration), the same first loss to float32
rounding, and losses of the same training after it.

Why float64 for the weights: this tiny float32 network is chaotic. Rounding
differences of 1e-7 tip a discrete choice now and then (a ReLU mask, a
max-pool winner), and the next steps carry the change: BN biases, whose
gradients are sums that nearly cancel, then differ by up to 0.1-0.3 of
their size after 6 steps. That happens on about 1 dataset in 6 between two
*one-process* runs that differ only in rounding (fused against unfused
relation units), and it is the tipping that failed an earlier float32
weight check on another machine. In float64 the same runs agree to 2e-13.

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


def _train(folder, name, processes, batch_size, float64=False):
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
               PYTHONWARNINGS="ignore", SMARTOPS_TEST_FLOAT64="1" if float64 else "0")
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
    return {bits: (_train(folder, "one" + bits, 1, 4, bits == "64"), _train(folder, "two" + bits, 2, 2, bits == "64"))
            for bits in ("32", "64")}


def test_two_processes_take_the_steps_of_one_with_the_double_batch_in_float64(runs):
    (losses1, state1, _), (losses2, state2, log2) = runs["64"]
    assert "fused units stay fused" in log2
    assert len(losses1) == 6, losses1  # 2 epochs of 3 steps of 4 clips
    assert state1["stem.bn.bias"].dtype == torch.float64
    # The loss itself is computed in float32 (from logits.float(), for AMP).
    torch.testing.assert_close(torch.tensor(losses2), torch.tensor(losses1), rtol=1e-6, atol=0)
    assert state1.keys() == state2.keys()
    for name, value in state1.items():  # seen: 2.4e-13 of each tensor's largest value at most
        torch.testing.assert_close(state2[name], value, rtol=1e-9, atol=1e-9 * value.abs().max().item(),
                                   msg=lambda m: "%s: %s" % (name, m))


def test_two_processes_take_the_losses_of_one_in_float32(runs):
    (losses1, state1, _), (losses2, _, log2) = runs["32"]
    assert "fused units stay fused" in log2
    assert len(losses1) == 6 and state1["stem.bn.bias"].dtype == torch.float32
    # The first step's loss comes from the same weights: only the forward's
    # rounding differs (seen: 1.3e-7 at most, over about 40 datasets, and on
    # the test's data with three CPU instruction sets). From the second step on a tipped choice
    # can show (seen: 1.1e-5 at step 2 once, with oneDNN and torch limited
    # to SSE4.1, where an injected bug showed 4e-5), so later steps are only
    # checked to be the same training (seen: 2.4e-2 at most); the float64
    # test above is the exact one.
    torch.testing.assert_close(torch.tensor(losses2[:1]), torch.tensor(losses1[:1]), rtol=2e-6, atol=0)
    torch.testing.assert_close(torch.tensor(losses2), torch.tensor(losses1), rtol=0.1, atol=0)
