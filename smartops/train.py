"""smartops-train: train any of the paper's networks on video data.

    smartops-train --arch artnet_resnet18_d --data train.txt --val-data val.txt --output runs/x
    torchrun --nproc_per_node=8 -m smartops.train --arch artnet_resnet18_d --data ... --sync-bn

Without --data the synthetic motion dataset is generated into the cache
(~/.cache/smartops, or $SMARTOPS_CACHE) and its train/val splits are used.
See ``smartops-train --help`` for every option. `train` below is the recipe;
its steps live in :mod:`smartops.engine` (options, resume, train_setup, epoch,
saving, train_report).
"""
import os
import sys
import time

from smartops.engine import checkpoint as ckpt_io
from smartops.engine.cli import given_args, run_main
from smartops.engine.distributed import cleanup, setup
from smartops.engine.epoch import epoch_record, improves, precise_bn, run_epoch, usable_val_loss, validate_epoch
from smartops.engine.metrics import MetricsLog
from smartops.engine.optim import step_scheduler
from smartops.engine.output_lock import OutputLock, check_output_folder
from smartops.engine.resume import find_start, restore_training_state
from smartops.engine.saving import save
from smartops.engine.train_options import build_parser, check_args
from smartops.engine.train_report import epoch_line, log_done, log_summary, pct
from smartops.engine.train_setup import build_session

__all__ = ["main", "run", "train", "build_parser"]


def run(argv=None, prog="smartops-train", finetune=False):
    parser = build_parser(prog, finetune)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    explicit = given_args(parser, argv)
    check_args(parser, args, explicit)
    dist_info = setup(args.device)
    try:
        return train(args, explicit, dist_info, prog, finetune)
    finally:
        cleanup()


def _open_output(output, resumed_epoch, tensorboard, log):
    """The output folder and its metrics log (rank 0 only)."""
    os.makedirs(output, exist_ok=True)
    stale = ckpt_io.remove_stale_temp(output)
    if stale:
        log("removed %d unfinished checkpoint file(s) of an interrupted save" % len(stale))
    return MetricsLog(output, enabled=True, tensorboard=tensorboard, resume_epoch=resumed_epoch)


def train(args, explicit, dist_info, prog="smartops-train", finetune=False):
    """The recipe: where to start, what to build, then epochs of training,
    precise BN, validation, scheduling and checkpointing."""
    main_proc = dist_info.is_main
    log = (lambda msg: print(msg, flush=True)) if main_proc else (lambda msg: None)
    start = find_start(args, explicit, finetune)              # cheap: before any data or model work
    if not main_proc:                                         # rank 0 alone owns the output folder
        return _train_from(start, args, dist_info, prog, finetune, log)
    check_output_folder(args.output)
    with OutputLock(args.output, log):                        # a second run into --output is refused
        return _train_from(start, args, dist_info, prog, finetune, log)


def _train_from(start, args, dist_info, prog, finetune, log):
    main_proc = dist_info.is_main
    s = build_session(args, dist_info, start, finetune, log)
    first_epoch, best = restore_training_state(start, s.optimizer, s.scheduler, s.scaler, args.epochs)
    log_summary(prog, s, start, first_epoch, log)
    metrics = _open_output(args.output, first_epoch if start.ckpt else None, args.tensorboard, log) \
        if main_proc else None
    if first_epoch >= args.epochs:
        last = (start.ckpt or {}).get("metrics") or {}
        log("already trained %d of %d epochs: nothing to do (raise --epochs to continue). Last val top-1 %s; "
            "checkpoint: %s" % (first_epoch, args.epochs, pct(last.get("val_top1")),
                                os.path.abspath(start.resume_path)))
        if metrics:
            metrics.close()
        return 0

    run_start = time.perf_counter()
    record = {}
    for epoch in range(first_epoch, args.epochs):
        t0 = time.perf_counter()
        tr = run_epoch(s, epoch)
        bn = precise_bn(s)
        va = validate_epoch(s)
        step_scheduler(s.scheduler, usable_val_loss(s, va, epoch, log))
        record = epoch_record(epoch, tr, va, bn, t0, run_start)
        improved = improves(va, best)
        if improved:
            best = {"top1": va["top1"], "epoch": epoch + 1}
        if main_proc:
            save(s, record, best, improved)
            metrics.log(record)
            log(epoch_line(record, args.epochs))
    if metrics:
        metrics.close()
    log_done(record, best, time.perf_counter() - run_start, len(s.classes), args.output, log)
    return 0


def main(argv=None):
    return run_main("smartops-train", lambda a: run(a, "smartops-train", finetune=False), argv)


if __name__ == "__main__":
    sys.exit(main())
