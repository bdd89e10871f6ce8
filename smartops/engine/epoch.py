"""One epoch of smartops-train: training, validation, and the metrics record
that the log line, metrics.jsonl and the checkpoint share."""
import math
import time

import torch

from smartops.engine.loop import train_one_epoch, validate
from smartops.engine.optim import current_lr

__all__ = ["run_epoch", "validate_epoch", "epoch_record", "improves"]


def run_epoch(s, epoch):
    """Trains one epoch; returns train_one_epoch's summary plus the lr used."""
    args = s.args
    s.loader.sampler.set_epoch(epoch)
    s.train_ds.set_epoch(epoch)
    torch.manual_seed(args.seed * 1000003 + epoch * 1009 + s.dist.rank)  # dropout: resumable
    lr = current_lr(s.optimizer)
    tr = train_one_epoch(s.train_model, s.loader, s.optimizer, s.device, scaler=s.scaler, amp=args.amp,
                         channels_last=args.channels_last, clip_grad=args.clip_grad, partial_bn=args.partial_bn,
                         epoch=epoch, epochs=args.epochs, show=s.dist.is_main, log_every=args.log_every)
    return dict(tr, lr=lr)


def validate_epoch(s):
    """Centre-clip validation (None without validation data)."""
    if s.vloader is None:
        return None
    args = s.args
    return validate(s.eval_model, s.vloader, s.device, len(s.classes), amp=args.amp,
                    channels_last=args.channels_last, show=s.dist.is_main, log_every=args.log_every)


def epoch_record(epoch, tr, va, t0, run_start):
    now = time.perf_counter()
    record = {"epoch": epoch + 1, "train_loss": tr["loss"], "train_acc": tr["acc"], "lr": tr["lr"],
              "clips_per_s": tr["clips_per_s"], "time_s": now - t0, "elapsed_s": now - run_start}
    if va is not None:
        record.update(val_loss=va["loss"], val_top1=va["top1"], val_top5=va["top5"], val_mean_class=va["mean_class"],
                      val_videos=va["n"], val_skipped=va["skipped"])
    return record


def improves(va, best):
    """Is this validation's top-1 better than the best so far?"""
    return va is not None and not math.isnan(va["top1"]) and (best["top1"] is None or va["top1"] > best["top1"])
