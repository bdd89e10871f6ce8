"""Locating the first module whose output is not finite, and keeping a
non-finite validation loss from the lr schedule and the best checkpoint."""
import math
from types import SimpleNamespace

import torch
import torch.nn as nn

from smartops.engine.epoch import improves, usable_val_loss
from smartops.engine.nonfinite import first_nonfinite_module


class Blowup(nn.Module):
    def forward(self, x):
        return x / 0.0


def _net():
    return nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), Blowup(), nn.Linear(4, 2)))


def test_names_the_innermost_first_culprit():
    net = _net()
    assert first_nonfinite_module(net, lambda m: m(torch.ones(2, 3))) == ("1.1", "Blowup")
    fine = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    assert first_nonfinite_module(fine, lambda m: m(torch.ones(2, 3))) is None
    assert not any(m._forward_hooks for m in net.modules())  # hooks removed


def _session(net):
    batch = (torch.ones(2, 3), torch.zeros(2, dtype=torch.long))
    args = SimpleNamespace(amp="none", channels_last=False, precise_bn=0)
    fake_device = torch.device("cpu")
    return SimpleNamespace(args=args, model=net, vloader=[batch], device=fake_device,
                           dist=SimpleNamespace(is_main=True))


def test_nonfinite_validation_is_withheld_and_reported(monkeypatch):
    import smartops.engine.epoch as epoch

    # segment_logits moves the batch to the device and calls the model: a plain call here
    monkeypatch.setattr(epoch, "segment_logits", lambda model, x, device, cl: (model(x), x.shape[0]))
    lines = []
    s = _session(_net())
    va = {"loss": math.nan, "top1": 0.5}
    assert usable_val_loss(s, va, 2, lines.append) is None
    assert len(lines) == 1 and "epoch 3" in lines[0] and "1.1 (Blowup)" in lines[0] and "--precise-bn" in lines[0]
    assert not improves(va, {"top1": None, "epoch": None})
    assert not improves({"loss": math.inf, "top1": 0.9}, {"top1": 0.1, "epoch": 1})
    finite = {"loss": 1.2, "top1": 0.5}
    assert usable_val_loss(s, finite, 0, lines.append) == 1.2 and len(lines) == 1
    assert improves(finite, {"top1": None, "epoch": None}) and not improves(finite, {"top1": 0.6, "epoch": 1})
    assert usable_val_loss(s, None, 0, lines.append) is None
