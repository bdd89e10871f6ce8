"""Models from command-line arguments or checkpoints; AMP, channels-last,
synchronized BN and partial BN."""
import contextlib

import torch
import torch.nn as nn

from smartops.data import ClassIndex
from smartops.engine.checkpoint_checks import check_class_names, check_weights
from smartops.engine.cli import CLIError
from smartops.models import get_model, list_models

__all__ = ["MODEL_KEYS", "check_arch", "model_config", "build_model", "load_weights", "model_from_checkpoint",
           "autocast", "make_scaler", "set_train_mode", "count_parameters", "fused_arg"]

# The entries of a checkpoint's "model_config" that fix the architecture.
MODEL_KEYS = ("arch", "num_classes", "width", "dropout", "in_channels", "zero_init_residual", "temporal_stride")


def check_arch(name):
    if name not in list_models():
        raise CLIError("unknown architecture %r; known: %s" % (name, ", ".join(list_models())))
    return name


def fused_arg(value):
    """--fused/--no-fused (None: not given) -> the models' fused= value."""
    return "auto" if value is None else bool(value)


def model_config(arch, num_classes, width, dropout, zero_init_residual=False, temporal_stride=2, in_channels=3):
    return {"arch": arch, "num_classes": int(num_classes), "width": float(width), "dropout": float(dropout),
            "in_channels": int(in_channels), "zero_init_residual": bool(zero_init_residual),
            "temporal_stride": int(temporal_stride)}


def build_model(config, fused="auto"):
    check_arch(config["arch"])
    kwargs = {k: v for k, v in config.items() if k != "arch"}
    try:
        return get_model(config["arch"], fused=fused, **kwargs)
    except (ValueError, TypeError) as err:
        raise CLIError("cannot build %s with %s: %s" % (config["arch"], kwargs, err)) from None


def load_weights(model, state, source, reset_head=False):
    """Loads a state_dict; a mismatch becomes a CLIError naming the file."""
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    state = {k[len("_orig_mod."):] if k.startswith("_orig_mod.") else k: v for k, v in state.items()}
    try:
        model.load_state_dict(state, reset_head=reset_head)
    except (RuntimeError, ValueError) as err:
        msg = str(err).strip().splitlines()
        raise CLIError("the weights in %s do not fit %s: %s" % (
            source, getattr(model, "arch_name", type(model).__name__), " ".join(m.strip() for m in msg[:6])))\
            from None


def model_from_checkpoint(ckpt, fused="auto", dropout=None):
    """(model with the checkpoint's weights, its model_config)."""
    config = ckpt.get("model_config")
    if not config:
        raise CLIError("%s has no model_config (not written by smartops-train)" % ckpt.get("path", "checkpoint"))
    config = dict(config)
    if dropout is not None:
        config["dropout"] = dropout
    source = ckpt.get("path", "checkpoint")
    check_weights(ckpt["model"], source)
    check_class_names(ckpt.get(ClassIndex.KEY), config["num_classes"], source)
    model = build_model(config, fused)
    model.arch_name = config["arch"]
    load_weights(model, ckpt["model"], source)
    return model, config


def autocast(amp, device):
    """torch.autocast for --amp bf16|fp16 (a null context for 'none')."""
    if amp in (None, "none"):
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_scaler(amp, device):
    """A GradScaler for fp16 (needed against underflow); None otherwise."""
    if amp == "fp16":
        return torch.amp.GradScaler(device.type)
    return None


def check_amp(amp, device):
    if amp == "fp16" and device.type != "cuda":
        raise CLIError("--amp fp16 needs a CUDA device (fp16 with a GradScaler); on %s use --amp bf16" % device.type)
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise CLIError("--amp bf16: this GPU does not support bfloat16; use --amp fp16")


def set_train_mode(model, partial_bn=False):
    """model.train(); with partial_bn every BatchNorm outside the stem stays
    in eval mode (running statistics frozen), as TSN's partial BN."""
    model.train()
    if partial_bn:
        for name, m in model.named_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not name.startswith("stem"):
                m.eval()
    return model


def freeze_partial_bn(model):
    """Freezes the affine parameters of the BNs that partial BN keeps in eval mode."""
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not name.startswith("stem"):
            for p in m.parameters(recurse=False):
                p.requires_grad_(False)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
