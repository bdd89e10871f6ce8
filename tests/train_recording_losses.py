"""smartops-train that also records every training step's loss, for
tests/test_sync_bn_training.py (the trainer itself logs epoch means and
rank 0's running average only):

    [torchrun --nproc_per_node=N] tests/train_recording_losses.py OUT <smartops-train arguments>

Each process writes OUT.rank<R>.json: per step, the mean loss over its
clips and their number.

With SMARTOPS_TEST_FLOAT64=1 the model trains in float64 (parameters and
inputs; the trainer still takes the loss of float32 logits), where rounding
is too small to tip the run's discrete choices (ReLU masks, max-pool
winners) one way in one run and the other way in another.
"""
import json
import os
import sys

import torch.nn.functional as F

from smartops import train
from smartops.engine import loop, train_setup


class _RecordingFunctional:
    """torch.nn.functional whose cross_entropy records the training losses
    (reduction "mean"; validation sums)."""

    def __init__(self, steps):
        self.steps = steps

    def __getattr__(self, name):
        return getattr(F, name)

    def cross_entropy(self, logits, target, *args, **kwargs):
        loss = F.cross_entropy(logits, target, *args, **kwargs)
        if kwargs.get("reduction", "mean") == "mean":
            self.steps.append({"loss": loss.item(), "clips": target.shape[0]})
        return loss


_build_model = train_setup.build_model


def _build_float64_model(config, fused="auto"):
    model = _build_model(config, fused).double()
    model.register_forward_pre_hook(lambda module, args: tuple(a.double() for a in args))
    return model


def main():
    out, argv = sys.argv[1], sys.argv[2:]
    steps = []
    loop.F = _RecordingFunctional(steps)
    if os.environ.get("SMARTOPS_TEST_FLOAT64") == "1":
        train_setup.build_model = _build_float64_model
    code = train.main(argv)
    with open("%s.rank%s.json" % (out, os.environ.get("RANK", "0")), "w") as f:
        json.dump(steps, f)
    return code


if __name__ == "__main__":
    sys.exit(main())
