"""One training epoch, validation, and the view-averaged scores of a video."""
import math
import time

import torch
import torch.nn.functional as F

from smartops.engine.cli import CLIError
from smartops.engine.data import to_device
from smartops.engine.distributed import all_reduce_sum
from smartops.engine.metrics import topk_correct
from smartops.engine.modeling import autocast, set_train_mode
from smartops.engine.progress import Progress

__all__ = ["segment_logits", "train_one_epoch", "validate", "view_scores"]


def segment_logits(model, x, device, channels_last=False):
    """Logits of a batch: (N, 3, T, H, W), or TSN (N, S, 3, T, H, W) whose S
    segments go through the model as N * S clips and whose logits are
    averaged over the segments (segment consensus, before the loss)."""
    n = x.shape[0]
    segments = x.shape[1] if x.dim() == 6 else 1
    if segments > 1 or x.dim() == 6:
        x = x.flatten(0, 1)
    logits = model(to_device(x, device, channels_last))
    if segments > 1 or logits.shape[0] != n:
        logits = logits.view(n, segments, -1).mean(1)
    return logits, n * segments


def train_one_epoch(model, loader, optimizer, device, *, scaler=None, amp="none", channels_last=False,
                    clip_grad=None, partial_bn=False, epoch=0, epochs=1, show=True, log_every=None):
    """Returns {"loss", "acc", "clips", "seconds", "steps"} over all processes."""
    model.train()  # also the module inside DDP / torch.compile wrappers
    if partial_bn:
        set_train_mode(_unwrap(model), True)
    loss_sum = correct = seen = clips = 0.0
    progress = Progress(len(loader), "epoch %d/%d" % (epoch + 1, epochs), enabled=show, every=log_every)
    t0 = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        y = y.to(device, non_blocking=True)
        with autocast(amp, device):
            logits, n_clips = segment_logits(model, x, device, channels_last)
        loss = F.cross_entropy(logits.float(), y)
        if not torch.isfinite(loss):
            if scaler is None:
                raise CLIError("the training loss became %s at epoch %d, step %d; lower --lr (now %g) or use "
                               "--clip-grad" % (loss.item(), epoch + 1, step + 1, optimizer.param_groups[0]["lr"]))
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip_grad:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip_grad:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
        b = y.shape[0]
        loss_value = loss.item()
        hits = int((logits.detach().argmax(1) == y).sum())
        loss_sum += loss_value * b
        correct += hits
        seen += b
        clips += n_clips
        progress.update(n_clips, loss=loss_sum / seen, acc="%.1f%%" % (100.0 * correct / seen))
    progress.close()
    seconds = time.perf_counter() - t0
    loss_sum, correct, seen, clips = all_reduce_sum([loss_sum, correct, seen, clips], device)
    return {"loss": loss_sum / max(seen, 1), "acc": correct / max(seen, 1), "clips": clips, "seconds": seconds,
            "steps": len(loader), "clips_per_s": clips / seconds if seconds > 0 else 0.0}


def _unwrap(model):
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


@torch.no_grad()
def validate(model, loader, device, num_classes, *, amp="none", channels_last=False, show=True, log_every=None,
             desc="val"):
    """Centre-clip validation over all processes (each reads its shard; sums
    are all-reduced). Items marked invalid (bad videos) are left out.
    Returns {"loss", "top1", "top5", "mean_class", "n", "skipped"}."""
    model.eval()
    loss_sum = top1 = top5 = n = skipped = 0.0
    per_correct = torch.zeros(num_classes, dtype=torch.float64)
    per_count = torch.zeros(num_classes, dtype=torch.float64)
    progress = Progress(len(loader), desc, enabled=show, every=log_every)
    for batch in loader:
        x, y = batch[0], batch[1]
        valid = batch[2]["valid"] if len(batch) > 2 else torch.ones(y.shape[0], dtype=torch.bool)
        skipped += int((~valid).sum())
        if not bool(valid.any()):
            progress.update(0)
            continue
        x, y = x[valid], y[valid]
        with autocast(amp, device):
            logits, n_clips = segment_logits(model, x, device, channels_last)
        logits = logits.float()
        y = y.to(device)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        hits = topk_correct(logits, y, (1, 5))
        top1 += hits[1]
        top5 += hits[5]
        n += y.shape[0]
        pred = logits.argmax(1).cpu()
        yc = y.cpu()
        per_count += torch.bincount(yc, minlength=num_classes).double()
        per_correct += torch.bincount(yc[pred == yc], minlength=num_classes).double()
        progress.update(n_clips)
    progress.close()
    totals = all_reduce_sum([loss_sum, top1, top5, n, skipped] + per_correct.tolist() + per_count.tolist(), device)
    loss_sum, top1, top5, n, skipped = totals[:5]
    per_correct = torch.tensor(totals[5:5 + num_classes])
    per_count = torch.tensor(totals[5 + num_classes:])
    present = per_count > 0
    mean_class = float((per_correct[present] / per_count[present]).mean()) if bool(present.any()) else math.nan
    if n == 0:
        return {"loss": math.nan, "top1": math.nan, "top5": math.nan, "mean_class": math.nan, "n": 0,
                "skipped": int(skipped)}
    return {"loss": loss_sum / n, "top1": top1 / n, "top5": top5 / n, "mean_class": mean_class, "n": int(n),
            "skipped": int(skipped)}


@torch.no_grad()
def view_scores(model, chunks, device, *, amp="none", channels_last=False):
    """Logits averaged over all views of one video (chunks: an iterable of
    (v, 3, T, H, W) tensors); float32 (K,)."""
    total, count = None, 0
    for views in chunks:
        with autocast(amp, device):
            logits = model(to_device(views, device, channels_last)).float()
        s = logits.sum(0)
        total = s if total is None else total + s
        count += logits.shape[0]
    if total is None:
        raise ValueError("no views")
    return (total / count).cpu()
