"""Refusing scores that are not numbers: smartops-eval and smartops-predict
stop with an error naming the videos and the first module that went
non-finite, instead of reporting accuracies or probabilities of NaN logits."""
import torch

from smartops.engine.cli import CLIError
from smartops.engine.data import to_device
from smartops.engine.modeling import autocast
from smartops.engine.nonfinite import first_nonfinite_module

__all__ = ["nonfinite_rows", "refuse_nonfinite_logits"]

FIX = ("the checkpoint's weights or BN statistics do not fit this input (check that the videos get the "
       "preprocessing it was trained with), or its activations overflow: try --amp none if --amp fp16 was given, "
       "recompute its BN statistics (smartops-train --precise-bn) or use an earlier checkpoint")


def nonfinite_rows(logits):
    """Indices of the rows of logits (N, K) that hold NaN or inf."""
    return [int(i) for i in (~torch.isfinite(torch.as_tensor(logits))).any(1).nonzero().flatten()]


def _culprit(model, views, device, amp, channels_last):
    with autocast(amp, device):
        found = first_nonfinite_module(model, lambda m: m(to_device(views, device, channels_last)))
    return "; the first module with a non-finite output on it: %s (%s)" % found if found else ""


def refuse_nonfinite_logits(logits, videos, source, model=None, views_of=None, device="cpu", amp="none",
                            channels_last=False):
    """A CLIError when a row of logits is not finite: how many videos, the
    first one, the first module that went non-finite on its first views
    (when model and views_of(index) -> views are given) and what to do."""
    bad = nonfinite_rows(logits)
    if not bad:
        return
    where = ""
    if model is not None and views_of is not None:
        where = _culprit(model, views_of(bad[0]), device, amp, channels_last)
    raise CLIError("%s gives non-finite logits (NaN/inf) for %d of %d video(s), first %s%s: no scores are reported; "
                   "%s" % (source, len(bad), len(logits), videos[bad[0]], where, FIX))
