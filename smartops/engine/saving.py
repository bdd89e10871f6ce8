"""The training checkpoint of an epoch: last.pt (always), best.pt (a copy,
when validation improved)."""
import os

import torch

from smartops.engine import checkpoint as ckpt_io
from smartops.engine.cli import CLIError

__all__ = ["json_safe", "save"]


def json_safe(value):
    """Plain data (lists, dicts, numbers, strings) from argparse values."""
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def saved_args(args):
    return json_safe({k: v for k, v in vars(args).items() if k != "lr_note"})


def save(s, record, best, improved):
    """Writes last.pt atomically and copies it to best.pt when `improved`."""
    last_path = os.path.join(s.args.output, ckpt_io.LAST)
    best_path = os.path.join(s.args.output, ckpt_io.BEST)
    state = {"format": ckpt_io.FORMAT, "version": ckpt_io.VERSION, "epoch": record["epoch"],
             "model": s.model.state_dict(), "optimizer": s.optimizer.state_dict(),
             "scheduler": s.scheduler.state_dict(), "scaler": s.scaler.state_dict() if s.scaler else None,
             "model_config": s.config, "args": saved_args(s.args), "data": json_safe(s.sources),
             "metrics": record, "best": best, "torch_version": str(torch.__version__)}
    s.classes.save_to(state)
    try:
        ckpt_io.atomic_save(state, last_path)
        if improved:
            ckpt_io.atomic_copy(last_path, best_path)
    except OSError as err:    # e.g. ENOSPC: the atomic save left the previous files untouched
        kept = ("the previous %s survives intact" % last_path if os.path.exists(last_path)
                else "no checkpoint was written yet")
        raise CLIError("cannot save the checkpoint of epoch %d (%s); %s. Free space in (or fix) %s and run "
                       "again to resume" % (record["epoch"], err.strerror or err, kept, s.args.output)) from None
