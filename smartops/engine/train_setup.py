"""Everything a training run holds, built from the command line: data and
loaders, the model (fresh, pretrained or resumed) and its wrappers, the
optimizer, the schedule and the gradient scaler."""
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.distributed as dist

from smartops import _extension
from smartops.data import ClassIndex
from smartops.engine.cli import CLIError
from smartops.engine.data import (check_item, dataset_options, default_workers, eval_loader, make_dataset,
                                  resolve_sources, train_loader)
from smartops.engine.modeling import (build_model, check_amp, freeze_partial_bn, fused_arg,
                                      load_weights, make_scaler, model_config)
from smartops.engine.optim import build_optimizer, build_scheduler
from smartops.engine.train_options import resolve_defaults
from smartops.models import set_fused
from smartops.nn import convert_sync_batchnorm
from smartops.two_stream import cross_modality_state

__all__ = ["Session", "build_session"]


@dataclass
class Session:
    args: Any
    dist: Any                    # DistInfo
    sources: dict
    train_ds: Any
    val_ds: Any
    classes: ClassIndex
    config: dict                 # model_config saved in checkpoints
    model: torch.nn.Module       # the bare model (state_dict, evaluation)
    train_model: torch.nn.Module  # DDP / compiled wrapper used for training
    eval_model: torch.nn.Module
    optimizer: Any
    scheduler: Any
    scaler: Any
    loader: Any
    vloader: Any
    fused: Any                   # the models' fused= value actually used
    sync_note: str
    head_note: str = ""

    @property
    def device(self):
        return self.dist.device


def _check_devices(args, dist_info):
    check_amp(args.amp, dist_info.device)


def _datasets(args, dist_info, start, finetune, log):
    sources = resolve_sources(args, dist_info, log)
    resolve_defaults(args, sources, finetune, dist_info.world_size, sources["val"] is not None, log)
    options = dataset_options(args)
    class_names = start.ckpt.get(ClassIndex.KEY) if start.ckpt is not None else None
    train_ds = make_dataset(sources["train"], "train", options, args.segments, class_names, args.seed,
                            multiscale_crop=args.multiscale_crop, flip=args.flip)
    val_ds = None
    if sources["val"] is not None:
        val_ds = make_dataset(sources["val"], "val", options, args.segments, train_ds.class_index, args.seed,
                              return_info=True)
    check_item(train_ds, "--data")
    if val_ds is not None:
        check_item(val_ds, "--val-data")
    return sources, train_ds, val_ds


def _config(args, start, classes):
    if start.ckpt is None:
        return model_config(args.arch, len(classes), args.width, args.dropout, args.zero_init_residual,
                            args.temporal_stride, in_channels=2 if args.modality == "flow" else 3)
    config = dict(start.ckpt["model_config"], dropout=args.dropout)
    if config["num_classes"] != len(classes):
        raise CLIError("%s was trained on %d classes but the data has %d" % (
            start.resume_path, config["num_classes"], len(classes)))
    return config


def _load_start_weights(model, args, start, classes):
    """Resumed or pretrained weights; returns a note on the head ('' if none)."""
    if start.ckpt is not None:
        load_weights(model, start.ckpt["model"], start.resume_path)
        return ""
    pre = start.pretrained
    if pre is None:
        return ""
    pre_classes = pre.get(ClassIndex.KEY)
    w = pre["model"].get("fc.weight")
    same = (pre_classes == classes.names) if pre_classes is not None else (
        w is not None and w.shape[0] == len(classes))
    state = pre["model"]
    if args.cross_modality:
        if args.modality != "flow":
            raise CLIError("--cross-modality initialises a flow network: add --modality flow")
        try:
            state = cross_modality_state(state, in_channels=2)
        except ValueError as err:
            raise CLIError("--cross-modality: %s: %s" % (args.pretrained, err)) from None
    load_weights(model, state, args.pretrained, reset_head=not same)
    return ("kept the checkpoint's head (same classes)" if same else
            "new %d-way head (the checkpoint's has %s)" % (
                len(classes), "%d classes" % w.shape[0] if w is not None else "no head"))


def _sync_bn(model, args, dist_info, fused):
    if not args.sync_bn:
        return model, fused, "off"
    if not dist_info.distributed:
        return model, fused, "ignored (one process: nothing to synchronize)"
    device = dist_info.device.type
    if fused is not False and not _extension.has_kernel("relation_pool_moments", device):
        # The synchronized relation op's phases have no kernel here: the
        # relation units run their composition, whose BNs synchronize.
        set_fused(model, False)
        return convert_sync_batchnorm(model), False, (
            "on: every BatchNorm synchronized; relation units unfused (this build has no %s kernels for the "
            "synchronized relation op)" % device)
    return convert_sync_batchnorm(model), fused, ("on: every BatchNorm synchronized across processes (%s); fused "
                                                  "units stay fused" % dist.get_backend())


def _wrappers(model, args, dist_info):
    """(model used for training, model used for validation)."""
    train_model = model
    if dist_info.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        device = dist_info.device
        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    eval_model = model
    if args.compile:
        train_model = torch.compile(train_model)
        eval_model = train_model if not dist_info.distributed else model
    return train_model, eval_model


def build_session(args, dist_info, start, finetune, log):
    _check_devices(args, dist_info)
    if args.workers is None:
        args.workers = default_workers(dist_info.world_size)
    sources, train_ds, val_ds = _datasets(args, dist_info, start, finetune, log)
    classes = train_ds.class_index
    config = _config(args, start, classes)
    torch.manual_seed(args.seed)
    model = build_model(config, fused_arg(args.fused))
    model.arch_name = config["arch"]
    head_note = _load_start_weights(model, args, start, classes)
    if args.partial_bn:
        freeze_partial_bn(model)
    model, fused, sync_note = _sync_bn(model, args, dist_info, fused_arg(args.fused))
    model.to(dist_info.device)
    if args.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    optimizer = build_optimizer(model, args.lr, args.momentum, args.weight_decay, args.nesterov)
    scheduler = build_scheduler(optimizer, args.schedule, args.epochs, args.milestones, args.gamma, args.patience,
                                args.min_lr)
    train_model, eval_model = _wrappers(model, args, dist_info)
    loader = train_loader(train_ds, args.batch_size, args.workers, dist_info, args.seed)
    vloader = eval_loader(val_ds, args.batch_size, args.workers, dist_info) if val_ds is not None else None
    return Session(args=args, dist=dist_info, sources=sources, train_ds=train_ds, val_ds=val_ds, classes=classes,
                   config=config, model=model, train_model=train_model, eval_model=eval_model, optimizer=optimizer,
                   scheduler=scheduler, scaler=make_scaler(args.amp, dist_info.device), loader=loader,
                   vloader=vloader, fused=fused, sync_note=sync_note, head_note=head_note)
