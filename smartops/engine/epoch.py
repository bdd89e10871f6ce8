"""One epoch of smartops-train: training, precise BN, validation (whose loss
is used only when finite), and the metrics record that the log line,
metrics.jsonl and the checkpoint share."""
import math
import time

import torch

from smartops.engine.loop import segment_logits, train_one_epoch, validate
from smartops.engine.modeling import autocast, set_train_mode
from smartops.engine.nonfinite import first_nonfinite_module
from smartops.engine.optim import current_lr
from smartops.engine.precise_bn import recompute_bn_stats

__all__ = ["run_epoch", "precise_bn", "validate_epoch", "usable_val_loss", "epoch_record", "improves"]


def _forward(s):
    """forward(model, batch) of a training or validation batch, as in training."""
    args = s.args

    def forward(model, batch):
        with autocast(args.amp, s.device):
            return segment_logits(model, batch[0], s.device, args.channels_last)[0]

    return forward


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


def precise_bn(s):
    """--precise-bn: BatchNorm statistics recomputed over this epoch's first
    training batches (see smartops.engine.precise_bn); (batches, seconds)."""
    n = min(s.args.precise_bn, len(s.loader))
    if n <= 0:
        return 0, 0.0
    set_train_mode(s.model, s.args.partial_bn)  # the BNs that train are the ones recomputed
    return recompute_bn_stats(s.model, s.loader, n, _forward(s))


def validate_epoch(s):
    """Centre-clip validation (None without validation data)."""
    if s.vloader is None:
        return None
    args = s.args
    return validate(s.eval_model, s.vloader, s.device, len(s.classes), amp=args.amp,
                    channels_last=args.channels_last, show=s.dist.is_main, log_every=args.log_every)


def usable_val_loss(s, va, epoch, log):
    """The validation loss for the plateau schedule: None without validation
    or when it is not finite; then a warning names the first module whose
    evaluation output is not finite on the first validation batch."""
    if va is None or math.isfinite(va["loss"]):
        return None if va is None else va["loss"]
    if s.dist.is_main:
        s.model.eval()
        culprit = first_nonfinite_module(s.model, lambda m: _forward(s)(m, next(iter(s.vloader))))
        where = ("the first module with a non-finite output on the first validation batch: %s (%s)" % culprit
                 if culprit else "every module's output is finite on the first validation batch")
        log("warning: epoch %d: the validation loss is %s; it is not given to the lr schedule nor used to choose "
            "best.pt; %s.%s" % (epoch + 1, va["loss"], where, "" if s.args.precise_bn else
                                " Recomputing BN statistics (--precise-bn 200) usually cures this."))
    return None


def epoch_record(epoch, tr, va, bn, t0, run_start):
    """bn: (batches, seconds) of precise BN."""
    now = time.perf_counter()
    record = {"epoch": epoch + 1, "train_loss": tr["loss"], "train_acc": tr["acc"], "lr": tr["lr"],
              "clips_per_s": tr["clips_per_s"], "time_s": now - t0, "elapsed_s": now - run_start,
              "precise_bn_batches": bn[0], "precise_bn_s": bn[1]}
    if va is not None:
        record.update(val_loss=va["loss"], val_top1=va["top1"], val_top5=va["top5"], val_mean_class=va["mean_class"],
                      val_videos=va["n"], val_skipped=va["skipped"])
    return record


def improves(va, best):
    """Is this validation better than the best so far? Only a validation
    with a finite loss counts."""
    return (va is not None and math.isfinite(va["loss"]) and not math.isnan(va["top1"]) and
            (best["top1"] is None or va["top1"] > best["top1"]))
