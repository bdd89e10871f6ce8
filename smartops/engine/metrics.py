"""Accuracy metrics and the per-epoch metrics log."""
import json
import os

import numpy as np
import torch

__all__ = ["topk_correct", "accuracy_report", "per_class_accuracy", "MetricsLog"]


def topk_correct(logits, labels, ks=(1, 5)):
    """{k: number of rows whose label is among the k highest scores}; k is
    capped at the number of classes."""
    out = {}
    maxk = min(max(ks), logits.shape[1])
    top = logits.topk(maxk, dim=1).indices
    hit = top.eq(labels.view(-1, 1))
    for k in ks:
        out[k] = int(hit[:, :min(k, maxk)].any(dim=1).sum())
    return out


def per_class_accuracy(pred, labels, num_classes):
    """(accuracy per class, with NaN for classes absent from `labels`;
    videos per class)."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    counts = np.bincount(labels, minlength=num_classes).astype(np.int64)
    correct = np.bincount(labels[pred == labels], minlength=num_classes).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(counts > 0, correct / np.maximum(counts, 1), np.nan)
    return acc, counts


def accuracy_report(scores, labels, num_classes):
    """top-1, top-5 and mean per-class accuracy (fractions) of (N, K) scores
    for the rows with a label (>= 0)."""
    scores = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    keep = labels >= 0
    scores, labels = scores[keep], labels[keep]
    n = int(labels.numel())
    if n == 0:
        return {"n": 0, "top1": float("nan"), "top5": float("nan"), "mean_class": float("nan")}
    hits = topk_correct(scores, labels, (1, 5))
    acc, _ = per_class_accuracy(scores.argmax(1).numpy(), labels.numpy(), num_classes)
    return {"n": n, "top1": hits[1] / n, "top5": hits[5] / n, "mean_class": float(np.nanmean(acc))}


def _clean(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


class MetricsLog:
    """One JSON line per epoch in `folder`/metrics.jsonl (and TensorBoard
    scalars under `folder`/tensorboard when torch.utils.tensorboard imports).
    Only the process that owns it (rank 0) writes."""

    def __init__(self, folder, enabled=True, tensorboard=True, resume_epoch=None):
        self.path = os.path.join(folder, "metrics.jsonl")
        self.enabled = enabled
        self.writer = None
        self.tensorboard_error = None
        if not enabled:
            return
        os.makedirs(folder, exist_ok=True)
        if resume_epoch is not None:
            self._truncate(resume_epoch)
        elif os.path.exists(self.path):
            os.remove(self.path)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception as err:  # noqa: BLE001 - tensorboard missing or broken: JSONL only
                self.tensorboard_error = "%s: %s" % (type(err).__name__, err)
            else:
                self.writer = SummaryWriter(os.path.join(folder, "tensorboard"))

    def _truncate(self, epoch):
        """Keeps the lines of epochs <= `epoch` (a resumed run rewrites later ones)."""
        if not os.path.exists(self.path):
            return
        with open(self.path) as f:
            lines = [ln for ln in f if ln.strip()]
        kept = []
        for ln in lines:
            try:
                if int(json.loads(ln).get("epoch", 0)) <= epoch:
                    kept.append(ln if ln.endswith("\n") else ln + "\n")
            except (ValueError, TypeError, AttributeError):
                continue
        with open(self.path, "w") as f:
            f.writelines(kept)

    def log(self, record):
        if not self.enabled:
            return
        record = {k: _clean(v) for k, v in record.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
        if self.writer is not None:
            step = record.get("epoch", 0)
            for k, v in record.items():
                if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.writer.add_scalar(k.replace("_", "/", 1), v, step)
            self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_metrics(path):
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]
