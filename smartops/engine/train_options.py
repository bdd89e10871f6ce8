"""Command-line options of smartops-train / smartops-finetune: the parser,
the checks made before any work, and the defaults that depend on the data."""
import argparse
import os

from smartops.data import FORMATS
from smartops.engine.cli import (CLIError, frame_size, int_list, nonneg_float, nonneg_int, positive_float,
                                 positive_int, probability, triple)
from smartops.engine.data import SYNTHETIC_DEFAULTS
from smartops.engine.optim import SCHEDULES, default_lr
from smartops.models import list_models

__all__ = ["build_parser", "check_args", "resolve_defaults", "lr_text", "MAX_WIDTH"]

# Width 8 already means 512..4096 channels: ~64x the parameters of width 1 (about 2 billion for the 18-layer
# networks, 8 GB of float32 weights, ~4x that with gradients and momentum). Anything larger is a typo.
MAX_WIDTH = 8.0

SYNC_BN_HELP = (
    "synchronize BatchNorm statistics over all processes (torchrun; any backend, gloo on CPUs too): every "
    "BatchNorm becomes a smartops.nn.SyncBatchNorm and the fused relation op synchronizes its own, so fused units "
    "stay fused (smartops.nn.convert_sync_batchnorm); with one process it is ignored.")

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
                   "64..512 channels; 0.25 gives 16..128; at most %g)" % MAX_WIDTH)
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
    g.add_argument("--cross-modality", action="store_true",
                   help="with --modality flow and an RGB --pretrained: its first conv averaged over R, G, B and "
                        "repeated over the 2 flow channels (TSN's cross-modality initialisation)")
    g = p.add_argument_group("data")
    g.add_argument("--data", metavar="PATH", default=None,
                   help="training annotations: a 'path label' list, a Kinetics CSV, UCF101/HMDB51 split files or "
                        "folder, or a folder per class (default: the synthetic motion dataset)")
    g.add_argument("--root", metavar="DIR", default=None, help="folder the video paths are relative to "
                   "(default: beside the annotations)")
    g.add_argument("--format", choices=("auto",) + FORMATS, default="auto", help="annotation format (auto)")
    g.add_argument("--modality", choices=("rgb", "flow"), default="rgb",
                   help="rgb (default): videos or RGB frame folders; flow: optical flow frame folders written by "
                        "smartops-extract (2-channel network, flow in pixels per frame; --mean/--std unused)")
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
    g.add_argument("--precise-bn", type=nonneg_int, default=200, metavar="N",
                   help="before each validation and checkpoint, recompute every BatchNorm's running statistics "
                        "(the relation units' bn1/bn2 included) with the current weights as the average over N "
                        "training batches, at most one epoch's (default 200; 0: off, keep the running averages "
                        "of training, which lag behind the weights)")
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



def check_args(parser, args, explicit):
    """Errors that need no file reading, reported by the parser (exit 2);
    paths saved in checkpoints are made absolute (independent of the cwd)."""
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
    if args.width > MAX_WIDTH:
        parser.error("--width %g is absurdly large (at most %g: already 512..4096 channels and about 64x the "
                     "parameters and memory of width 1)" % (args.width, MAX_WIDTH))
    if args.milestones and args.milestones[-1] > args.epochs and "milestones" in explicit:
        parser.error("--milestones %s: beyond --epochs %d" % (",".join(map(str, args.milestones)), args.epochs))
    if args.output is None and args.resume is None and args.arch is None and args.pretrained is None:
        parser.error("give --arch (one of %s), or --output/--resume of a run to resume" % ", ".join(list_models()))
    for opt in ("data", "val_data", "root", "val_root"):
        value = getattr(args, opt)
        if value not in (None, "none"):
            setattr(args, opt, os.path.abspath(value))


def resolve_defaults(args, sources, finetune, world_size, has_val, log):
    """Defaults that depend on the data (synthetic or not) and the world size."""
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


def lr_text(args):
    return {"plateau": "plateau (x%g after %d epochs without a lower val loss)" % (args.gamma, args.patience),
            "multistep": "multistep (x%g at epochs %s)" % (args.gamma, ",".join(map(str, args.milestones or []))),
            "cosine": "cosine to %g over %d epochs" % (args.min_lr, args.epochs),
            "constant": "constant"}[args.schedule]
