"""Where a training run starts: afresh, from --pretrained weights, or from a
checkpoint to resume (given with --resume or found in --output). Read before
any data or model work, so that a bad checkpoint is reported at once."""
import os
from dataclasses import dataclass
from typing import Optional

import torch

from smartops.engine import checkpoint as ckpt_io
from smartops.engine.cli import CLIError
from smartops.engine.modeling import check_arch
from smartops.models import list_models

__all__ = ["StartPoint", "find_start", "restore_training_state", "ARCH_KEYS"]

# Options that describe this invocation, not the run: never restored on resume.
RUNTIME_KEYS = {"resume", "auto_resume", "device", "workers", "log_every", "output", "pretrained", "tensorboard",
                "compile"}
# Options that fix the architecture: a resumed run must not change them.
ARCH_KEYS = ("arch", "width", "zero_init_residual", "temporal_stride")
ARCH_FLAGS = {"arch": "--arch", "width": "--width", "zero_init_residual": "--zero-init-residual",
              "temporal_stride": "--temporal-stride"}


@dataclass
class StartPoint:
    resume_path: Optional[str] = None   # the checkpoint resumed, if any
    ckpt: Optional[dict] = None         # its contents
    found_in_output: bool = False       # auto-resumed from --output/last.pt
    pretrained: Optional[dict] = None   # --pretrained weights of a fresh run


def _check_same_arch(args, explicit, config, path, what):
    for key in ARCH_KEYS:
        if key in explicit and key in config and getattr(args, key) != config[key]:
            raise CLIError("%s %s holds %s=%r but the command line gives %s %s; %s" % (
                what, path, key, config[key], ARCH_FLAGS[key], getattr(args, key),
                "use another --output or --no-auto-resume to start a new run" if what == "resumed checkpoint"
                else "drop the option to take the checkpoint's"))


def _restore_args(args, saved, explicit):
    """Options not given on this command line come from the checkpoint."""
    for key, value in saved.items():
        if key in RUNTIME_KEYS or key in explicit or not hasattr(args, key):
            continue
        setattr(args, key, value)


def _default_output(args, finetune):
    if args.resume is not None:
        return os.path.dirname(os.path.abspath(args.resume))
    arch = args.arch
    if arch is None and args.pretrained:
        arch = (ckpt_io.load_checkpoint(args.pretrained, allow_state_dict=True).get("model_config") or {}).get("arch")
    return os.path.join("runs", (arch or "model") + ("_finetune" if finetune else ""))


def _load_pretrained(args, explicit):
    pre = ckpt_io.load_checkpoint(args.pretrained, allow_state_dict=True)
    cfg = pre.get("model_config")
    if cfg:
        _check_same_arch(args, explicit, cfg, args.pretrained, "--pretrained checkpoint")
        for key in ARCH_KEYS:
            if key not in explicit and key in cfg:
                setattr(args, key, cfg[key])
    elif args.arch is None:
        raise CLIError("--pretrained %s is a bare state_dict: give --arch (and --width) of its network"
                       % args.pretrained)
    return pre


def find_start(args, explicit, finetune):
    """Sets args.output (default runs/<arch>) and, when resuming, the options
    the command line leaves out; returns the StartPoint."""
    if args.output is None:
        args.output = _default_output(args, finetune)
    start = StartPoint(resume_path=args.resume)
    if start.resume_path is None and args.auto_resume:
        start.resume_path = ckpt_io.latest_checkpoint(args.output)
        start.found_in_output = start.resume_path is not None
    if start.resume_path is not None:
        start.ckpt = ckpt_io.load_checkpoint(start.resume_path)
        if "model_config" not in start.ckpt or "args" not in start.ckpt:
            raise CLIError("%s cannot be resumed: it has no training state" % start.resume_path)
        _check_same_arch(args, explicit, start.ckpt["model_config"], start.resume_path, "resumed checkpoint")
        _restore_args(args, start.ckpt["args"], explicit)
    elif args.pretrained is not None:
        start.pretrained = _load_pretrained(args, explicit)
    if args.arch is None:
        raise CLIError("give --arch (one of %s)" % ", ".join(list_models()))
    check_arch(args.arch)
    return start


def restore_training_state(start, optimizer, scheduler, scaler, epochs):
    """Loads the optimizer / scheduler / scaler state of a resumed checkpoint;
    returns (completed epochs, best {"top1", "epoch"})."""
    best = {"top1": None, "epoch": None}
    ckpt = start.ckpt
    if ckpt is None:
        return 0, best
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise CLIError("cannot restore the optimizer/scheduler state of %s (%s); the run's options changed? "
                       "Start afresh with --no-auto-resume or another --output" % (start.resume_path, err)) from None
    if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
        scheduler.T_max = max(1, epochs)  # --epochs may have been raised to continue
    return int(ckpt["epoch"]), dict(ckpt.get("best") or best)
