"""Checks made when a checkpoint is loaded for evaluation, prediction or
export, so that they do not report numbers made of NaN or crash on a class
index: finite weights, non-negative BN running variances, and as many class
names as the head has outputs."""
import torch

from smartops.engine.cli import CLIError

__all__ = ["check_weights", "check_class_names"]


def _problem(name, tensor):
    """What is wrong with one state_dict entry ('' when nothing)."""
    if not torch.is_tensor(tensor) or not tensor.is_floating_point():
        return ""
    bad = int((~torch.isfinite(tensor)).sum())
    if bad:
        return "%d non-finite value(s) (NaN/inf)" % bad
    if name.endswith("running_var"):
        negative = int((tensor < 0).sum())
        if negative:
            return "%d negative running variance(s) (min %g)" % (negative, float(tensor.min()))
    return ""


def check_weights(state, source):
    """A CLIError naming the first tensor of `state` that is non-finite, or
    a running variance that is negative (a corrupted or diverged run)."""
    for name, tensor in state.items():
        problem = _problem(name, tensor)
        if problem:
            raise CLIError("%s cannot be used: its tensor %r has %s; the run that wrote it diverged or the file is "
                           "corrupted: use an earlier checkpoint (e.g. best.pt)" % (source, name, problem))


def check_class_names(names, num_classes, source):
    if names is not None and len(names) != num_classes:
        raise CLIError("%s has %d class names for a %d-way head: the checkpoint is inconsistent (convert or save "
                       "it again with the right class list)" % (source, len(names), num_classes))

