"""smartops-train: train any of the paper's networks on video data.

    smartops-train --arch artnet_resnet18_d --data train.txt --val-data val.txt --output runs/x
    torchrun --nproc_per_node=8 -m smartops.train --arch artnet_resnet18_d --data ... --sync-bn

Without --data the synthetic motion dataset is generated into the cache
(~/.cache/smartops, or $SMARTOPS_CACHE) and its train/val splits are used.
See ``smartops-train --help`` for every option and :mod:`smartops.engine` for
the pieces (checkpoints, schedules, metrics, distributed setup).
"""
import argparse
import math
import os
import sys
import time

import torch

from smartops.data import FORMATS, ClassIndex
from smartops.engine import checkpoint as ckpt_io
from smartops.engine.cli import (CLIError, frame_size, given_args, int_list, nonneg_float, nonneg_int, positive_float,
                                 positive_int, probability, run_main, triple)
from smartops.engine.data import (SYNTHETIC_DEFAULTS, check_item, dataset_options, default_workers, eval_loader,
                                  make_dataset, resolve_sources, train_loader)
from smartops.engine.distributed import cleanup, setup
from smartops.engine.loop import train_one_epoch, validate
from smartops.engine.metrics import MetricsLog
from smartops.engine.modeling import (apply_sync_bn, build_model, check_amp, check_arch, count_parameters,
                                      freeze_partial_bn, fused_arg, load_weights, make_scaler,
                                      model_config)
from smartops.engine.optim import (SCHEDULES, build_optimizer, build_scheduler, current_lr, default_lr,
                                   step_scheduler)
from smartops.engine.progress import format_duration
from smartops.models import list_models

__all__ = ["main", "run", "build_parser"]

# Options that describe this invocation, not the run: never restored on resume.
RUNTIME_KEYS = {"resume", "auto_resume", "device", "workers", "log_every", "output", "pretrained", "tensorboard",
                "compile"}
# Options that fix the architecture: a resumed run must not change them.
ARCH_KEYS = ("arch", "width", "zero_init_residual", "temporal_stride")

SYNC_BN_HELP = (
    "synchronize BatchNorm statistics over all processes (torchrun, GPUs): every BatchNorm becomes an "
    "nn.SyncBatchNorm and, because the fused relation op and the fused BN+ReLU of SMART compute per-process "
    "statistics, every SMART / RelationBlock / RelationPool then runs its unfused PyTorch composition "
    "(set_fused(model, False)), so that bn1/bn2 of the relation pooling and the BN ending each SMART block are "
    "synchronized too (at the cost of the fused ops' speed and memory). torch's SyncBatchNorm only synchronizes "
    "CUDA tensors, so several CPU (gloo) processes reject --sync-bn; with one process it is ignored.")

EPILOG = """\
defaults follow the paper: SGD, momentum 0.9, weight decay 5e-4 (none on BN
parameters and biases), lr 0.1 at batch 256 scaled linearly to the global
batch (batch size x processes), divided by 10 when the validation loss stops
improving (--schedule plateau; auto picks it when there is validation data,
multistep at 50%%/75%% of the epochs otherwise), dropout 0.2.

outputs (in --output): last.pt (every epoch, written atomically), best.pt
(best validation top-1), metrics.jsonl (one line per epoch), tensorboard/
(when tensorboard is installed). A run whose --output holds last.pt resumes
from it (options not given again are taken from the checkpoint).

several processes / machines:
  torchrun --nproc_per_node=N -m smartops.train ...            (one machine)
  torchrun --nnodes=M --node_rank=R --master_addr=HOST --master_port=PORT \\
           --nproc_per_node=N -m smartops.train ...             (M machines)
--batch-size is per process; NCCL is used on GPUs, gloo on CPUs; logging and
checkpoints on rank 0 only.
"""

FINETUNE_EPILOG = """\
fine-tuning recipe of the original release (defaults): a new head for the new
classes (when they differ from the checkpoint's), TSN with 2 segments (their
scores averaged before the loss), lr 0.001 (not scaled with the batch),
dropout 0.5, gradient norm clipped at 40, momentum 0.9, weight decay 5e-4.
--partial-bn additionally freezes every BatchNorm outside the stem (TSN's
partial BN; off by default).
"""


def build_parser(prog="smartops-train", finetune=False):
    p = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=("Fine-tune a trained network on new video classes." if finetune else
                     "Train an ARTNet-family network on videos (or on the synthetic motion dataset)."),
        epilog=(FINETUNE_EPILOG if finetune else "") + EPILOG)
    g = p.add_argument_group("model")
    g.add_argument("--arch", default=None, metavar="NAME",
                   help="network: %s (default: from --pretrained or the resumed checkpoint)" % ", ".join(list_models()))
    g.add_argument("--width", type=positive_float, default=1.0, help="channel multiplier (default 1.0: the paper's "
                   "64..512 channels; 0.25 gives 16..128)")
    g.add_argument("--dropout", type=probability, default=0.5 if finetune else 0.2,
                   help="dropout before the classifier (default %s)" % ("0.5" if finetune else "0.2"))
    g.add_argument("--zero-init-residual", action="store_true", help="zero the last BN of every residual branch")
    g.add_argument("--temporal-stride", type=int, choices=(1, 2), default=2,
                   help="stride in time of conv1 and the downsampling blocks (default 2, as in Table 1)")
    g.add_argument("--fused", action=argparse.BooleanOptionalAction, default=None,
                   help="--fused: always the fused C++/CUDA ops; --no-fused: the pure-PyTorch composition; "
                        "default: the fused ops where the extension has a kernel for the device and dtype")
    g.add_argument("--pretrained", metavar="CKPT", default=None, required=finetune,
                   help="start from these weights (a smartops checkpoint or a bare state_dict); the classifier "
                        "is replaced when the classes differ")
    g = p.add_argument_group("data")
    g.add_argument("--data", metavar="PATH", default=None,
                   help="training annotations: a 'path label' list, a Kinetics CSV, UCF101/HMDB51 split files or "
                        "folder, or a folder per class (default: the synthetic motion dataset)")
    g.add_argument("--root", metavar="DIR", default=None, help="folder the video paths are relative to "
                   "(default: beside the annotations)")
    g.add_argument("--format", choices=("auto",) + FORMATS, default="auto", help="annotation format (auto)")
    g.add_argument("--split", type=positive_int, default=1, help="official split for UCF101/HMDB51 (1)")
    g.add_argument("--val-data", metavar="PATH", default=None,
                   help="validation annotations ('none': no validation; default: the test list of a UCF101/HMDB51 "
                        "split, the synthetic val split, else none)")
    g.add_argument("--val-root", metavar="DIR", default=None, help="root of --val-data (default: --root)")
    g.add_argument("--val-format", choices=("auto",) + FORMATS, default="auto")
    g.add_argument("--clip-len", type=positive_int, default=16, help="frames per clip (16)")
    g.add_argument("--frame-stride", type=positive_int, default=1, help="take every k-th frame (1)")
    g.add_argument("--frame-size", type=frame_size, default="auto",
                   help="resize frames to HxW or to a short side while decoding, or 'keep' (default 128x170; "
                        "'keep' for the synthetic data)")
    g.add_argument("--crop-size", type=positive_int, default=None, help="square crop side (112; 64 for the "
                   "synthetic data)")
    g.add_argument("--multiscale-crop", action="store_true", help="TSN multi-scale corner cropping in training")
    g.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="random horizontal flip in training (default: on; off for the synthetic data, whose classes "
                        "are directions of motion: a flip turns 'right' into 'left')")
    g.add_argument("--mean", type=triple, default=[123.0, 117.0, 104.0], metavar="R,G,B",
                   help="per-channel mean subtracted (0..255 scale; default 123,117,104)")
    g.add_argument("--std", type=triple, default=None, metavar="R,G,B", help="per-channel std (default: none)")
    g.add_argument("--segments", type=positive_int, default=2 if finetune else 1,
                   help="TSN segments: one clip each, scores averaged before the loss (default %d)"
                        % (2 if finetune else 1))
    g.add_argument("--synthetic-classes", type=positive_int, default=SYNTHETIC_DEFAULTS["classes"],
                   help="without --data: motion directions (4)")
    g.add_argument("--synthetic-videos", type=positive_int, default=SYNTHETIC_DEFAULTS["videos_per_class"],
                   help="without --data: videos per class, 75%% train / 25%% val (40)")
    g.add_argument("--synthetic-frames", type=positive_int, default=SYNTHETIC_DEFAULTS["frames"],
                   help="without --data: frames per video (24)")
    g.add_argument("--synthetic-size", type=frame_size, default=tuple(SYNTHETIC_DEFAULTS["size"]), metavar="HxW",
                   help="without --data: frame size (72x96)")
    g.add_argument("--synthetic-seed", type=nonneg_int, default=SYNTHETIC_DEFAULTS["seed"])
    g = p.add_argument_group("optimization")
    g.add_argument("--epochs", type=positive_int, default=30, help="total epochs (30)")
    g.add_argument("--batch-size", type=positive_int, default=16, help="videos per batch and process (16)")
    g.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default %s)" % ("0.001" if finetune else
                                                        "0.1 x global batch / 256, the paper's 0.1 at 256"))
    g.add_argument("--momentum", type=nonneg_float, default=0.9)
    g.add_argument("--weight-decay", type=nonneg_float, default=5e-4, help="on conv/fc weights only (5e-4)")
    g.add_argument("--nesterov", action="store_true")
    g.add_argument("--schedule", choices=SCHEDULES, default="auto",
                   help="plateau: lr / 10 when the validation loss stalls (the paper); multistep: x gamma at "
                        "--milestones; cosine; constant; auto (default): plateau with validation data, else "
                        "multistep")
    g.add_argument("--milestones", type=int_list, default=None, metavar="E1,E2",
                   help="epochs of the multistep schedule (default 50%%,75%% of --epochs)")
    g.add_argument("--gamma", type=probability, default=0.1, help="lr factor of multistep/plateau (0.1)")
    g.add_argument("--patience", type=nonneg_int, default=2,
                   help="plateau: epochs without improvement of the validation loss before dividing (2)")
    g.add_argument("--min-lr", type=nonneg_float, default=0.0)
    g.add_argument("--clip-grad", type=positive_float, default=40.0 if finetune else None, metavar="NORM",
                   help="clip the gradient norm (default %s)" % ("40" if finetune else "off"))
    g.add_argument("--partial-bn", action="store_true",
                   help="freeze every BatchNorm outside the stem (statistics and affine parameters; TSN)")
    g = p.add_argument_group("speed")
    g.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none",
                   help="autocast: bf16 (CPU or GPU, no scaler) or fp16 (GPU, with a GradScaler)")
    g.add_argument("--channels-last", action="store_true", help="channels_last_3d model and inputs")
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    g.add_argument("--workers", type=nonneg_int, default=None,
                   help="DataLoader worker processes per training process (default: cores - 1, at most 8)")
    g.add_argument("--device", default="auto", help="auto (the local GPU if any, else cpu), cpu, cuda, cuda:N")
    g.add_argument("--sync-bn", action="store_true", help=SYNC_BN_HELP)
    g = p.add_argument_group("run")
    g.add_argument("--output", metavar="DIR", default=None, help="output folder (default runs/<arch>)")
    g.add_argument("--resume", metavar="CKPT", default=None, help="resume from this checkpoint (default: "
                   "--output/last.pt when it exists)")
    g.add_argument("--no-auto-resume", dest="auto_resume", action="store_false",
                   help="start afresh even if --output holds last.pt (it is overwritten)")
    g.add_argument("--seed", type=nonneg_int, default=0)
    g.add_argument("--log-every", type=positive_int, default=None, metavar="STEPS",
                   help="progress line every STEPS steps when not on a terminal (default: 10 per epoch)")
    g.add_argument("--no-tensorboard", dest="tensorboard", action="store_false")
    return p


def _json_safe(value):
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _restore_args(args, saved, explicit, path):
    """Options not given on this command line come from the checkpoint."""
    for key, value in saved.items():
        if key in RUNTIME_KEYS or key in explicit or not hasattr(args, key):
            continue
        setattr(args, key, value)


def _check_same_arch(args, explicit, config, path, what):
    names = {"arch": "--arch", "width": "--width", "zero_init_residual": "--zero-init-residual",
             "temporal_stride": "--temporal-stride"}
    for key in ARCH_KEYS:
        if key in explicit and key in config and getattr(args, key) != config[key]:
            raise CLIError("%s %s holds %s=%r but the command line gives %s %s; %s" % (
                what, path, key, config[key], names[key], getattr(args, key),
                "use another --output or --no-auto-resume to start a new run" if what == "resumed checkpoint"
                else "drop the option to take the checkpoint's"))


def _resolve_defaults(args, sources, finetune, world_size, has_val, log):
    synthetic = sources["synthetic"] is not None
    if args.frame_size == "auto":
        args.frame_size = "keep" if synthetic else [128, 170]
    if args.crop_size is None:
        args.crop_size = 64 if synthetic else 112
    if args.flip is None:
        args.flip = not synthetic
    fs = args.frame_size
    if fs != "keep":
        short = fs if isinstance(fs, int) else min(fs)
        if args.crop_size > short:
            raise CLIError("--crop-size %d is larger than the frames (--frame-size %s)" % (args.crop_size, fs))
    elif synthetic and args.crop_size > min(sources["synthetic"]["size"]):
        raise CLIError("--crop-size %d is larger than the synthetic frames (%dx%d)" % (
            (args.crop_size,) + tuple(sources["synthetic"]["size"])))
    if args.lr is None:
        global_batch = args.batch_size * world_size
        if finetune:
            args.lr = 0.001
            args.lr_note = "0.001, the original fine-tuning recipe"
        else:
            args.lr = default_lr(global_batch)
            args.lr_note = "= 0.1 x %d / 256, the paper's 0.1 at batch 256 scaled linearly" % global_batch
    if args.schedule == "auto":
        args.schedule = "plateau" if has_val else "multistep"
    if args.schedule == "plateau" and not has_val:
        raise CLIError("--schedule plateau divides the lr when the validation loss stalls, and there is no "
                       "validation data: give --val-data or choose --schedule multistep/cosine/constant")
    if args.schedule == "multistep" and not args.milestones:
        args.milestones = sorted({max(1, int(round(args.epochs * f))) for f in (0.5, 0.75)})
    if args.milestones and args.schedule != "multistep":
        log("note: --milestones is ignored with --schedule %s" % args.schedule)


def _lr_text(args):
    s = {"plateau": "plateau (x%g after %d epochs without a lower val loss)" % (args.gamma, args.patience),
         "multistep": "multistep (x%g at epochs %s)" % (args.gamma, ",".join(map(str, args.milestones or []))),
         "cosine": "cosine to %g over %d epochs" % (args.min_lr, args.epochs),
         "constant": "constant"}[args.schedule]
    return s


def _fused_text(fused, device, amp):
    from smartops import _extension

    if fused is False:
        return "off (pure-PyTorch composition)"
    if fused is True:
        return "on (fused ops forced)"
    if not _extension.has_kernel("relation_pool", device.type):
        return "auto: no fused kernel for %s, the pure-PyTorch composition runs" % device.type
    under_amp = "" if amp in (None, "none") else " (their autocast kernels cast inputs under --amp %s)" % amp
    return "auto: fused ops on %s%s" % (device.type, under_amp)


def _pct(x):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.1f%%" % (100.0 * x)


def run(argv=None, prog="smartops-train", finetune=False):
    parser = build_parser(prog, finetune)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    explicit = given_args(parser, argv)
    if args.arch is not None and args.arch not in list_models():
        parser.error("unknown architecture %r for --arch; known: %s" % (args.arch, ", ".join(list_models())))
    if args.data is not None and not os.path.exists(args.data):
        parser.error("--data %s does not exist" % args.data)
    if args.val_data not in (None, "none") and not os.path.exists(args.val_data):
        parser.error("--val-data %s does not exist" % args.val_data)
    for opt in ("pretrained", "resume"):
        value = getattr(args, opt)
        if value is not None and not os.path.exists(value):
            parser.error("--%s %s does not exist" % (opt, value))
    if args.milestones and args.milestones[-1] > args.epochs and "milestones" in explicit:
        parser.error("--milestones %s: beyond --epochs %d" % (",".join(map(str, args.milestones)), args.epochs))
    if args.output is None and args.resume is None and args.arch is None and args.pretrained is None:
        parser.error("give --arch (one of %s), or --output/--resume of a run to resume" % ", ".join(list_models()))
    for opt in ("data", "val_data", "root", "val_root"):  # saved in checkpoints: independent of the cwd
        value = getattr(args, opt)
        if value not in (None, "none"):
            setattr(args, opt, os.path.abspath(value))
    dist_info = setup(args.device)
    try:
        return _train(args, explicit, dist_info, prog, finetune)
    finally:
        cleanup()


def _train(args, explicit, dist_info, prog, finetune):
    main_proc = dist_info.is_main
    device = dist_info.device

    def log(msg):
        if main_proc:
            print(msg, flush=True)

    # ---- what to resume or start from (cheap: before any data or model work)
    if args.output is None:
        if args.resume is not None:
            args.output = os.path.dirname(os.path.abspath(args.resume))
        else:
            arch = args.arch
            if arch is None and args.pretrained:
                arch = (ckpt_io.load_checkpoint(args.pretrained, allow_state_dict=True).get("model_config") or
                        {}).get("arch")
            args.output = os.path.join("runs", (arch or "model") + ("_finetune" if finetune else ""))
    output = args.output
    resume_path = args.resume
    auto = False
    if resume_path is None and args.auto_resume:
        resume_path = ckpt_io.latest_checkpoint(output)
        auto = resume_path is not None
    ckpt = None
    if resume_path is not None:
        ckpt = ckpt_io.load_checkpoint(resume_path)
        if "model_config" not in ckpt or "args" not in ckpt:
            raise CLIError("%s cannot be resumed: it has no training state" % resume_path)
        _check_same_arch(args, explicit, ckpt["model_config"], resume_path, "resumed checkpoint")
        _restore_args(args, ckpt["args"], explicit, resume_path)
    pre = None
    if ckpt is None and args.pretrained is not None:
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
    if args.arch is None:
        raise CLIError("give --arch (one of %s)" % ", ".join(list_models()))
    check_arch(args.arch)
    check_amp(args.amp, device)
    if args.sync_bn and dist_info.distributed and device.type != "cuda":
        raise CLIError("--sync-bn with %d processes on %s: torch's nn.SyncBatchNorm only synchronizes CUDA "
                       "tensors (it raises for CPU input), so CPU/gloo runs cannot synchronize batch statistics; "
                       "drop --sync-bn (each process then normalizes with its own batch)"
                       % (dist_info.world_size, device.type))
    if args.workers is None:
        args.workers = default_workers(dist_info.world_size)

    # ---- data
    sources = resolve_sources(args, dist_info, log)
    _resolve_defaults(args, sources, finetune, dist_info.world_size, sources["val"] is not None, log)
    options = dataset_options(args)
    class_names = ckpt.get(ClassIndex.KEY) if ckpt is not None else None
    train_ds = make_dataset(sources["train"], "train", options, args.segments, class_names, args.seed,
                            multiscale_crop=args.multiscale_crop, flip=args.flip)
    classes = train_ds.class_index
    val_ds = None
    if sources["val"] is not None:
        val_ds = make_dataset(sources["val"], "val", options, args.segments, classes, args.seed, return_info=True)
    check_item(train_ds, "--data")
    if val_ds is not None:
        check_item(val_ds, "--val-data")

    # ---- model, optimizer, schedule
    if ckpt is not None:
        config = dict(ckpt["model_config"], dropout=args.dropout)
        if config["num_classes"] != len(classes):
            raise CLIError("%s was trained on %d classes but the data has %d" % (
                resume_path, config["num_classes"], len(classes)))
    else:
        config = model_config(args.arch, len(classes), args.width, args.dropout, args.zero_init_residual,
                              args.temporal_stride)
    torch.manual_seed(args.seed)
    fused = fused_arg(args.fused)
    model = build_model(config, fused)
    model.arch_name = config["arch"]
    head_note = ""
    if ckpt is not None:
        load_weights(model, ckpt["model"], resume_path)
    elif pre is not None:
        pre_classes = pre.get(ClassIndex.KEY)
        w = pre["model"].get("fc.weight")
        same = (pre_classes == classes.names) if pre_classes is not None else (
            w is not None and w.shape[0] == len(classes))
        load_weights(model, pre["model"], args.pretrained, reset_head=not same)
        head_note = ("kept the checkpoint's head (same classes)" if same else
                     "new %d-way head (the checkpoint's has %s)" % (
                         len(classes), "%d classes" % w.shape[0] if w is not None else "no head"))
    if args.partial_bn:
        freeze_partial_bn(model)
    sync_note = "off"
    if args.sync_bn:
        if dist_info.distributed:
            model = apply_sync_bn(model)
            sync_note = ("on: every BatchNorm is an nn.SyncBatchNorm; SMART/relation units run unfused so that "
                         "their BNs are synchronized too")
            fused = False
        else:
            sync_note = "ignored (one process: nothing to synchronize)"
    model.to(device)
    if args.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    optimizer = build_optimizer(model, args.lr, args.momentum, args.weight_decay, args.nesterov)
    scheduler = build_scheduler(optimizer, args.schedule, args.epochs, args.milestones, args.gamma, args.patience,
                                args.min_lr)
    scaler = make_scaler(args.amp, device)
    start_epoch, best = 0, {"top1": None, "epoch": None}
    if ckpt is not None:
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
        except (KeyError, ValueError, RuntimeError) as err:
            raise CLIError("cannot restore the optimizer/scheduler state of %s (%s); the run's options changed? "
                           "Start afresh with --no-auto-resume or another --output" % (resume_path, err)) from None
        start_epoch = int(ckpt["epoch"])
        best = dict(ckpt.get("best") or best)
        if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
            scheduler.T_max = max(1, args.epochs)  # --epochs may have been raised to continue

    train_model = model
    if dist_info.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    eval_model = model
    if args.compile:
        train_model = torch.compile(train_model)
        eval_model = train_model if not dist_info.distributed else model
    loader = train_loader(train_ds, args.batch_size, args.workers, dist_info, args.seed)
    vloader = eval_loader(val_ds, args.batch_size, args.workers, dist_info) if val_ds is not None else None

    # ---- summary
    log("%s: %s, width %g: %.2f M parameters, %d classes, dropout %g" % (
        prog, config["arch"], config["width"], count_parameters(model) / 1e6, len(classes), config["dropout"]))
    if sources["synthetic"] is not None:
        log("data: synthetic motion dataset (no --data) in %s" % os.path.dirname(sources["train"]["annotations"]))
    else:
        log("data: %s (%s)" % (sources["train"]["annotations"], sources["train"]["format"]))
    log("  %d training videos%s; classes: %s" % (
        len(train_ds), ", %d validation videos" % len(val_ds) if val_ds is not None else ", no validation",
        ", ".join(classes.names[:8]) + (", ..." if len(classes) > 8 else "")))
    log("  clips 3x%dx%dx%d%s (frame stride %d, frames %s, %s)" % (
        args.clip_len, args.crop_size, args.crop_size,
        ", %d TSN segments" % args.segments if args.segments > 1 else "", args.frame_stride,
        "kept" if args.frame_size == "keep" else args.frame_size,
        "random flips" if args.flip else "no flips"))
    note = getattr(args, "lr_note", None)
    log("optimizer: SGD lr %g%s, momentum %g, weight decay %g (none on BN/biases), schedule %s%s" % (
        args.lr, " (%s)" % note if note else "", args.momentum, args.weight_decay, _lr_text(args),
        ", gradient norm clipped at %g" % args.clip_grad if args.clip_grad else ""))
    log("device: %s, %d process%s%s, batch %d per process, %d workers; amp %s%s%s; fused: %s; sync-bn: %s" % (
        device, dist_info.world_size, "es" if dist_info.world_size > 1 else "",
        " (%s)" % dist_info.backend if dist_info.backend else "", args.batch_size, args.workers, args.amp,
        ", channels-last" if args.channels_last else "", ", compiled" if args.compile else "",
        _fused_text(fused, device, args.amp), sync_note))
    if head_note:
        log("pretrained: %s: %s" % (args.pretrained, head_note))
    if args.partial_bn:
        log("partial BN: BatchNorms outside the stem frozen (eval mode, no gradient)")
    if ckpt is not None:
        log("resuming %sfrom %s: %d epochs done" % ("(found in --output) " if auto else "", resume_path,
                                                     start_epoch))
    log("output: %s" % os.path.abspath(output))

    metrics = None
    if main_proc:
        os.makedirs(output, exist_ok=True)
        stale = ckpt_io.remove_stale_temp(output)
        if stale:
            log("removed %d unfinished checkpoint file(s) of an interrupted save" % len(stale))
        metrics = MetricsLog(output, enabled=True, tensorboard=args.tensorboard,
                             resume_epoch=start_epoch if ckpt is not None else None)

    if start_epoch >= args.epochs:
        last = (ckpt or {}).get("metrics") or {}
        log("already trained %d of %d epochs: nothing to do (raise --epochs to continue). Last val top-1 %s; "
            "checkpoint: %s" % (start_epoch, args.epochs, _pct(last.get("val_top1")), os.path.abspath(resume_path)))
        if metrics:
            metrics.close()
        return 0

    saved_args = _json_safe({k: v for k, v in vars(args).items() if k != "lr_note"})
    last_path = os.path.join(output, ckpt_io.LAST)
    best_path = os.path.join(output, ckpt_io.BEST)
    run_start = time.perf_counter()
    record = {}
    for epoch in range(start_epoch, args.epochs):
        loader.sampler.set_epoch(epoch)
        train_ds.set_epoch(epoch)
        torch.manual_seed(args.seed * 1000003 + epoch * 1009 + dist_info.rank)  # dropout: resumable
        lr = current_lr(optimizer)
        t0 = time.perf_counter()
        tr = train_one_epoch(train_model, loader, optimizer, device, scaler=scaler, amp=args.amp,
                             channels_last=args.channels_last, clip_grad=args.clip_grad,
                             partial_bn=args.partial_bn, epoch=epoch, epochs=args.epochs, show=main_proc,
                             log_every=args.log_every)
        va = None
        if vloader is not None:
            va = validate(eval_model, vloader, device, len(classes), amp=args.amp, channels_last=args.channels_last,
                          show=main_proc, log_every=args.log_every)
        step_scheduler(scheduler, va["loss"] if va is not None else None)
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "train_loss": tr["loss"], "train_acc": tr["acc"], "lr": lr,
                  "clips_per_s": tr["clips_per_s"], "time_s": seconds,
                  "elapsed_s": time.perf_counter() - run_start}
        if va is not None:
            record.update(val_loss=va["loss"], val_top1=va["top1"], val_top5=va["top5"],
                          val_mean_class=va["mean_class"], val_videos=va["n"], val_skipped=va["skipped"])
        improved = va is not None and not math.isnan(va["top1"]) and (best["top1"] is None or
                                                                      va["top1"] > best["top1"])
        if improved:
            best = {"top1": va["top1"], "epoch": epoch + 1}
        if main_proc:
            state = {"format": ckpt_io.FORMAT, "version": ckpt_io.VERSION, "epoch": epoch + 1,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else None,
                     "model_config": config, "args": saved_args, "data": _json_safe(sources),
                     "metrics": record, "best": best, "torch_version": str(torch.__version__)}
            classes.save_to(state)
            ckpt_io.atomic_save(state, last_path)
            if improved:
                ckpt_io.atomic_copy(last_path, best_path)
            metrics.log(record)
            text = "epoch %d/%d  train loss %.4f acc %s" % (epoch + 1, args.epochs, tr["loss"], _pct(tr["acc"]))
            if va is not None:
                text += "  val loss %.4g top-1 %s top-5 %s" % (va["loss"], _pct(va["top1"]), _pct(va["top5"]))
                if va["skipped"]:
                    text += " (%d bad videos skipped)" % va["skipped"]
            text += "  lr %.3g  %.1f clips/s  %s" % (lr, tr["clips_per_s"], format_duration(seconds))
            log(text)
    if metrics:
        metrics.close()
    total = time.perf_counter() - run_start
    if "val_top1" in record:
        log("done in %s: validation top-1 %s, top-5 %s, mean class %s (best top-1 %s at epoch %s; chance %.1f%%)"
            % (format_duration(total), _pct(record["val_top1"]), _pct(record["val_top5"]),
               _pct(record["val_mean_class"]), _pct(best["top1"]), best["epoch"], 100.0 / len(classes)))
    else:
        log("done in %s: training accuracy %s (no validation data)" % (format_duration(total),
                                                                      _pct(record.get("train_acc"))))
    log("checkpoint: %s%s" % (os.path.abspath(last_path), "  (best: %s)" % os.path.abspath(best_path)
                              if best["epoch"] is not None else ""))
    log("metrics: %s" % os.path.abspath(os.path.join(output, "metrics.jsonl")))
    return 0


def main(argv=None):
    return run_main("smartops-train", lambda a: run(a, "smartops-train", finetune=False), argv)


if __name__ == "__main__":
    sys.exit(main())
