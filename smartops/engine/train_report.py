"""What smartops-train prints: the run summary before the first epoch, one
line per epoch, and the closing lines."""
import math
import os

from smartops.engine import checkpoint as ckpt_io
from smartops.engine.modeling import count_parameters
from smartops.engine.progress import format_duration
from smartops.engine.train_options import lr_text

__all__ = ["pct", "log_summary", "epoch_line", "log_done"]


def pct(x):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.1f%%" % (100.0 * x)


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


def _data_lines(s):
    args, train_ds, val_ds, classes = s.args, s.train_ds, s.val_ds, s.classes
    if s.sources["synthetic"] is not None:
        yield "data: synthetic motion dataset (no --data) in %s" % os.path.dirname(s.sources["train"]["annotations"])
    else:
        yield "data: %s (%s)" % (s.sources["train"]["annotations"], s.sources["train"]["format"])
    yield "  %d training videos%s; classes: %s" % (
        len(train_ds), ", %d validation videos" % len(val_ds) if val_ds is not None else ", no validation",
        ", ".join(classes.names[:8]) + (", ..." if len(classes) > 8 else ""))
    yield "  clips %dx%dx%dx%d%s (%s, frame stride %d, frames %s, %s)" % (
        train_ds.channels, args.clip_len, args.crop_size, args.crop_size,
        ", %d TSN segments" % args.segments if args.segments > 1 else "", args.modality, args.frame_stride,
        "kept" if args.frame_size == "keep" else args.frame_size, "random flips" if args.flip else "no flips")


def log_summary(prog, s, start, first_epoch, log):
    args, config, dist_info = s.args, s.config, s.dist
    log("%s: %s, width %g: %.2f M parameters, %d classes, dropout %g" % (
        prog, config["arch"], config["width"], count_parameters(s.model) / 1e6, len(s.classes), config["dropout"]))
    for line in _data_lines(s):
        log(line)
    note = getattr(args, "lr_note", None)
    log("optimizer: SGD lr %g%s, momentum %g, weight decay %g (none on BN/biases), schedule %s%s" % (
        args.lr, " (%s)" % note if note else "", args.momentum, args.weight_decay, lr_text(args),
        ", gradient norm clipped at %g" % args.clip_grad if args.clip_grad else ""))
    log("device: %s, %d process%s%s, batch %d per process, %d workers; amp %s%s%s; fused: %s; sync-bn: %s" % (
        s.device, dist_info.world_size, "es" if dist_info.world_size > 1 else "",
        " (%s)" % dist_info.backend if dist_info.backend else "", args.batch_size, args.workers, args.amp,
        ", channels-last" if args.channels_last else "", ", compiled" if args.compile else "",
        _fused_text(s.fused, s.device, args.amp), s.sync_note))
    n_bn = min(args.precise_bn, len(s.loader))
    log("precise BN: %s" % ("BatchNorm statistics recomputed over %d training batches before each validation and "
                            "checkpoint" % n_bn if n_bn else "off (the running averages of training are kept)"))
    if s.head_note:
        log("pretrained: %s: %s" % (args.pretrained, s.head_note))
    if args.partial_bn:
        log("partial BN: BatchNorms outside the stem frozen (eval mode, no gradient)")
    if start.ckpt is not None:
        log("resuming %sfrom %s: %d epochs done" % ("(found in --output) " if start.found_in_output else "",
                                                     start.resume_path, first_epoch))
    log("output: %s" % os.path.abspath(args.output))


def epoch_line(record, epochs):
    """'epoch e/E  train loss ... val loss ... lr ... clips/s time' from an epoch's metrics record."""
    text = "epoch %d/%d  train loss %.4f acc %s" % (record["epoch"], epochs, record["train_loss"],
                                                     pct(record["train_acc"]))
    if "val_loss" in record:
        text += "  val loss %.4g top-1 %s top-5 %s" % (record["val_loss"], pct(record["val_top1"]),
                                                        pct(record["val_top5"]))
        if record["val_skipped"]:
            text += " (%d bad videos skipped)" % record["val_skipped"]
    if record["precise_bn_batches"]:
        text += "  (precise BN: %d batches, %.1f s)" % (record["precise_bn_batches"], record["precise_bn_s"])
    return text + "  lr %.3g  %.1f clips/s  %s" % (record["lr"], record["clips_per_s"],
                                                    format_duration(record["time_s"]))


def log_done(record, best, total_s, num_classes, output, log):
    if "val_top1" in record:
        log("done in %s: validation top-1 %s, top-5 %s, mean class %s (best top-1 %s at epoch %s; chance %.1f%%)"
            % (format_duration(total_s), pct(record["val_top1"]), pct(record["val_top5"]),
               pct(record["val_mean_class"]), pct(best["top1"]), best["epoch"], 100.0 / num_classes))
    else:
        log("done in %s: training accuracy %s (no validation data)" % (format_duration(total_s),
                                                                      pct(record.get("train_acc"))))
    last_path, best_path = (os.path.abspath(os.path.join(output, name)) for name in (ckpt_io.LAST, ckpt_io.BEST))
    log("checkpoint: %s%s" % (last_path, "  (best: %s)" % best_path if best["epoch"] is not None else ""))
    log("metrics: %s" % os.path.abspath(os.path.join(output, "metrics.jsonl")))
