"""smartops-eval: the paper's test protocol for a trained checkpoint.

    smartops-eval --checkpoint runs/x/best.pt --data val.txt            # 25 clips x 10 crops
    smartops-eval --checkpoint flow/best.pt --data val.txt --fuse runs/x/eval/scores.npz --fuse-weights 1 1.5

Every video is read as ``--clips`` clips spread uniformly over it times
``--crops`` crops (4 corners + centre and their flips for 10); the logits of
all views are averaged, then softmaxed. Prints top-1, top-5 and mean
per-class accuracy, and writes into --output: scores.npz (view-averaged
logits, probabilities, labels, video paths and ids, class names),
per_class.csv and metrics.json. ``--fuse`` adds saved score files (e.g. the
other stream of a two-stream model): the weighted average of the sources'
probabilities is evaluated and saved as fused.npz. Without --checkpoint,
the --fuse files are fused among themselves.
"""
import argparse
import csv
import json
import os
import sys
import time

import numpy as np
import torch

from smartops.data import FORMATS, ClassIndex, DecodeError
from smartops.engine import checkpoint as ckpt_io
from smartops.engine.cli import CLIError, frame_size, nonneg_int, positive_float, positive_int, run_main
from smartops.engine.data import dataset_options, default_workers, make_dataset, synthetic_data
from smartops.engine.distributed import pick_device
from smartops.engine.finite_scores import nonfinite_rows, refuse_nonfinite_logits
from smartops.engine.loop import view_scores
from smartops.engine.metrics import accuracy_report, per_class_accuracy
from smartops.engine.inference import add_fold_argument, inference_model
from smartops.engine.modeling import check_amp, fused_arg, model_from_checkpoint
from smartops.engine.progress import Progress, format_duration
from smartops.two_stream import run_two_stream

__all__ = ["main", "build_parser", "evaluate", "load_scores", "fuse_scores"]


def build_parser(prog="smartops-eval"):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--checkpoint", metavar="CKPT", help="a checkpoint of smartops-train (or its folder: last.pt)")
    p.add_argument("--data", metavar="PATH", help="test annotations (default: the checkpoint's validation data)")
    p.add_argument("--root", metavar="DIR")
    p.add_argument("--format", choices=("auto",) + FORMATS, default="auto")
    p.add_argument("--split", type=positive_int, default=1, help="official split for UCF101/HMDB51 (1)")
    p.add_argument("--clips", type=positive_int, default=25, help="clips per video, uniformly spread (25)")
    p.add_argument("--crops", type=int, choices=(1, 2, 3, 5, 10), default=None,
                   help="crops per clip: 1 centre, 2 centre + flip, 3 along the long side, 5 corners + centre, 10 "
                        "those 5 and their flips (default 10, the paper's; 5 for a model trained without flips, "
                        "e.g. on the synthetic direction classes)")
    p.add_argument("--chunk", type=positive_int, default=25, help="views per forward pass (25)")
    p.add_argument("--clip-len", type=positive_int, default=None, help="default: the checkpoint's")
    p.add_argument("--frame-size", type=frame_size, default=None, help="default: the checkpoint's")
    p.add_argument("--crop-size", type=positive_int, default=None, help="default: the checkpoint's")
    p.add_argument("--limit", type=positive_int, default=None, help="evaluate the first N videos only")
    p.add_argument("--output", metavar="DIR", help="where to write the scores (default: <checkpoint folder>/eval)")
    p.add_argument("--fuse", nargs="+", metavar="SCORES", default=[],
                   help="score files (scores.npz of earlier runs) to fuse with this evaluation")
    p.add_argument("--two-stream", nargs=2, metavar=("RGB_CKPT", "FLOW_CKPT"), default=None,
                   help="evaluate an RGB and a flow checkpoint on the same clips x crops and fuse them "
                        "(--fuse-weights, default 1 1.5); --data is the RGB data, --flow-data the flow data "
                        "(default: each checkpoint's validation data)")
    p.add_argument("--flow-data", metavar="PATH", help="with --two-stream: the flow stream's frame list")
    p.add_argument("--fuse-weights", nargs="+", type=positive_float, metavar="W", default=None,
                   help="one weight per source (this checkpoint first, then the --fuse files); default all 1")
    p.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=None)
    add_fold_argument(p)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=nonneg_int, default=None,
                   help="decoding processes (default: cores - 1); 0 decodes in this process, one chunk of views "
                        "at a time (least memory)")
    return p


# ---------------------------------------------------------------- scores
def _video_id(path, root):
    rel = os.path.relpath(path, root) if root and os.path.isabs(path) else path
    return os.path.splitext(rel)[0].replace(os.sep, "/")


def save_scores(path, logits, labels, videos, ids, classes, meta):
    logits = np.asarray(logits, dtype=np.float32).reshape(len(videos), len(classes))
    probs = torch.softmax(torch.from_numpy(logits), 1).numpy() if len(videos) else logits
    np.savez(path, logits=logits, probs=probs, labels=np.asarray(labels, dtype=np.int64),
             videos=np.asarray(videos, dtype=str), ids=np.asarray(ids, dtype=str),
             classes=np.asarray(classes, dtype=str), meta=np.asarray(json.dumps(meta)))
    return path


def load_scores(path):
    if not os.path.exists(path):
        raise CLIError("score file not found: %s" % path)
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("probs", "labels", "ids", "classes")}
            out["logits"] = z["logits"] if "logits" in z else None
    except (OSError, ValueError, KeyError) as err:
        raise CLIError("%s is not a score file of smartops-eval (%s)" % (path, err)) from None
    bad = nonfinite_rows(out["probs"])
    if bad:
        raise CLIError("%s holds non-finite scores (NaN/inf) for %d of %d video(s), first %s: it cannot be fused; "
                       "evaluate its checkpoint again" % (path, len(bad), len(out["probs"]), out["ids"][bad[0]]))
    out["path"] = path
    return out


def fuse_scores(sources, weights):
    """Weighted average of the sources' probabilities, aligned by video id
    (or by position when the ids differ but the labels agree)."""
    ref = sources[0]
    for s in sources[1:]:
        if list(s["classes"]) != list(ref["classes"]):
            raise CLIError("cannot fuse %s and %s: different classes" % (ref["path"], s["path"]))
    ids = [str(i) for i in ref["ids"]]
    common = set(ids)
    for s in sources[1:]:
        common &= set(str(i) for i in s["ids"])
    notes = []
    if len(common) >= max(1, len(ids) // 2):
        order = [i for i in ids if i in common]
        aligned = []
        for s in sources:
            pos = {str(v): k for k, v in enumerate(s["ids"])}
            aligned.append([pos[i] for i in order])
        if len(order) < max(len(s["ids"]) for s in sources):
            notes.append("fused the %d videos present in every source" % len(order))
    else:
        n = len(ids)
        if any(len(s["ids"]) != n or not np.array_equal(s["labels"], ref["labels"]) for s in sources):
            raise CLIError("cannot fuse: the score files hold different videos (ids and labels differ)")
        order = ids
        aligned = [list(range(n))] * len(sources)
        notes.append("video ids differ between the sources; aligned by position (same labels)")
    w = np.asarray(weights, dtype=np.float64)
    probs = sum(wi * s["probs"][idx].astype(np.float64) for wi, s, idx in zip(w, sources, aligned)) / w.sum()
    labels = ref["labels"][aligned[0]]
    return probs.astype(np.float32), labels, order, notes


# ---------------------------------------------------------------- evaluation
def _open_test_data(args, ckpt):
    saved = ckpt.get("args", {})
    classes = ckpt.get(ClassIndex.KEY)
    if classes is None:
        raise CLIError("%s has no class names" % ckpt["path"])
    if args.data is not None:
        source = {"annotations": os.path.abspath(args.data), "root": args.root and os.path.abspath(args.root),
                  "format": args.format, "split": args.split}
        if not os.path.exists(args.data):
            raise CLIError("--data %s does not exist" % args.data)
    else:
        data = ckpt.get("data") or {}
        source = data.get("val")
        if not source:
            raise CLIError("%s was trained without validation data: give --data" % ckpt["path"])
        if data.get("synthetic") and not os.path.exists(source["annotations"]):
            synthetic_data(data["synthetic"], log=lambda m: print(m, flush=True))
        if not os.path.exists(source["annotations"]):
            raise CLIError("the checkpoint's validation data %s is gone: give --data" % source["annotations"])

    class A:  # the data options: the checkpoint's, overridden by this command line
        pass

    a = A()
    a.clip_len = args.clip_len or saved.get("clip_len", 16)
    a.frame_stride = saved.get("frame_stride", 1)
    fs = args.frame_size if args.frame_size is not None else saved.get("frame_size", [128, 170])
    a.frame_size = "keep" if fs in ("keep", None) else fs
    a.crop_size = args.crop_size or saved.get("crop_size", 112)
    a.mean = saved.get("mean", [123.0, 117.0, 104.0])
    a.modality = saved.get("modality", "rgb")
    a.std = saved.get("std")
    ds = make_dataset(source, "test", dataset_options(a), 1, classes, saved.get("seed", 0), return_info=True,
                      num_clips=args.clips, num_crops=args.crops)
    return ds, source


def evaluate(model, ds, device, *, chunk=25, workers=0, amp="none", channels_last=False, limit=None, show=True):
    """(logits (N, K) float32, labels, indices, skipped indices) over the
    videos of a test-mode dataset, one video at a time."""
    n = len(ds) if limit is None else min(limit, len(ds))
    logits, labels, kept, skipped = [], [], [], []
    progress = Progress(n, "eval", enabled=show, unit="videos", every=max(1, n // 20))
    model.eval()
    if workers == 0:
        for i in range(n):
            try:
                scores = view_scores(model, ds.iter_test_views(i, chunk), device, amp=amp,
                                     channels_last=channels_last)
            except DecodeError:
                skipped.append(i)
            else:
                logits.append(scores)
                labels.append(ds.records[i].label)
                kept.append(i)
            progress.update(1)
    else:
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(n)), batch_size=None,
                                             num_workers=workers, prefetch_factor=1)
        for views, label, info in loader:
            i = int(info["index"])
            if not info["valid"]:
                skipped.append(i)
            else:
                logits.append(view_scores(model, views.split(chunk), device, amp=amp, channels_last=channels_last))
                labels.append(int(label))
                kept.append(i)
            progress.update(1)
    progress.close()
    k = ds.num_classes
    out = torch.stack(logits).numpy() if logits else np.zeros((0, k), np.float32)
    return out, np.asarray(labels, dtype=np.int64), kept, skipped


def _print_report(title, rep, k):
    if rep["n"] == 0:
        print("%s: no labelled videos: no accuracy" % title, flush=True)
        return
    print("%s: top-1 %.2f%%  top-5 %.2f%%%s  mean class %.2f%%  (%d videos)" % (
        title, 100 * rep["top1"], 100 * rep["top5"], " (all %d classes)" % k if k <= 5 else "",
        100 * rep["mean_class"], rep["n"]), flush=True)


def _write_per_class(path, probs, labels, classes):
    pred = np.asarray(probs).argmax(1) if len(labels) else np.zeros(0, np.int64)
    keep = labels >= 0
    acc, counts = per_class_accuracy(pred[keep], labels[keep], len(classes))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class_index", "class", "videos", "correct", "accuracy"])
        for c, name in enumerate(classes):
            correct = int(round(acc[c] * counts[c])) if counts[c] else 0
            w.writerow([c, name, int(counts[c]), correct, "" if np.isnan(acc[c]) else "%.6f" % acc[c]])
    return path


def run(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.two_stream:
        if args.checkpoint or args.fuse:
            parser.error("--two-stream takes the two checkpoints itself: drop --checkpoint/--fuse")
        if args.fuse_weights is not None and len(args.fuse_weights) != 2:
            parser.error("--fuse-weights with --two-stream: 2 weights (RGB, flow)")
        return run_two_stream(args, lambda one: _run_args(parser, one))
    return _run_args(parser, args)


def _run_args(parser, args):
    if args.checkpoint is None and not args.fuse:
        parser.error("give --checkpoint (and --data), or --fuse SCORES... to fuse saved scores")
    if args.checkpoint is None and len(args.fuse) < 2:
        parser.error("fusing without --checkpoint needs at least two score files")
    n_sources = (1 if args.checkpoint else 0) + len(args.fuse)
    if args.fuse_weights is not None and len(args.fuse_weights) != n_sources:
        parser.error("--fuse-weights: %d weights for %d sources (%s)" % (
            len(args.fuse_weights), n_sources, "this checkpoint + --fuse files" if args.checkpoint else "--fuse files"))
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise CLIError("smartops-eval runs in one process (it was started with WORLD_SIZE=%s)"
                       % os.environ["WORLD_SIZE"])
    fused_sources = [load_scores(p) for p in args.fuse]  # errors before the long work
    weights = args.fuse_weights or [1.0] * n_sources
    sources = []
    if args.checkpoint:
        ckpt = ckpt_io.load_checkpoint(args.checkpoint)
        device = pick_device(args.device)
        check_amp(args.amp, device)
        model, config = model_from_checkpoint(ckpt, fused_arg(args.fused))
        model = inference_model(model, args.fold)
        model.to(device)
        if args.channels_last:
            model.to(memory_format=torch.channels_last_3d)
        if args.crops is None:
            trained_with_flips = ckpt.get("args", {}).get("flip", True)
            args.crops = 10 if trained_with_flips else 5
            if not trained_with_flips:
                print("note: the checkpoint was trained without flips: 5 unflipped crops per clip (--crops 10 adds "
                      "the flipped ones)", flush=True)
        ds, source = _open_test_data(args, ckpt)
        classes = ds.classes
        workers = default_workers() if args.workers is None else args.workers
        output = args.output or os.path.join(os.path.dirname(os.path.abspath(ckpt["path"])), "eval")
        os.makedirs(output, exist_ok=True)
        n = len(ds) if args.limit is None else min(args.limit, len(ds))
        print("smartops-eval: %s (%s, width %g, %d classes) on %s: %d videos x %d clips x %d crops = %d views "
              "each (clips of %d frames, %dx%d crops), %s" % (
                  ckpt["path"], config["arch"], config["width"], len(classes), source["annotations"], n, args.clips,
                  args.crops, args.clips * args.crops, ds.clip_len, ds.crop_size, ds.crop_size, device), flush=True)
        t0 = time.perf_counter()
        logits, labels, kept, skipped = evaluate(model, ds, device, chunk=args.chunk, workers=workers, amp=args.amp,
                                                 channels_last=args.channels_last, limit=args.limit)
        seconds = time.perf_counter() - t0
        videos = [ds.records[i].path for i in kept]
        refuse_nonfinite_logits(logits, videos, ckpt["path"], model, lambda row: next(iter(ds.iter_test_views(
            kept[row], args.chunk))), device, args.amp, args.channels_last)
        root = source["root"] or os.path.dirname(source["annotations"])
        ids = [_video_id(v, root) for v in videos]
        meta = {"checkpoint": ckpt["path"], "data": source, "clips": args.clips, "crops": args.crops,
                "skipped": [ds.records[i].path for i in skipped]}
        scores_path = save_scores(os.path.join(output, "scores.npz"), logits, labels, videos, ids, classes, meta)
        probs = torch.softmax(torch.from_numpy(logits), 1).numpy() if len(kept) else logits
        rep = accuracy_report(logits, labels, len(classes))
        per_class = _write_per_class(os.path.join(output, "per_class.csv"), probs, labels, classes)
        print("views: %d clips x %d crops = %d per video; logits averaged over views, then softmax; %s (%.2f s per "
              "video)" % (args.clips, args.crops, args.clips * args.crops, format_duration(seconds),
                          seconds / max(1, n)), flush=True)
        _print_report("accuracy", rep, len(classes))
        if skipped:
            print("skipped %d bad video(s) (not counted): %s%s" % (
                len(skipped), ", ".join(ds.records[i].path for i in skipped[:10]),
                ", ..." if len(skipped) > 10 else ""), flush=True)
        result = dict(rep, views=args.clips * args.crops, clips=args.clips, crops=args.crops, skipped=len(skipped),
                      skipped_videos=meta["skipped"], checkpoint=ckpt["path"], data=source["annotations"],
                      seconds=seconds)
        with open(os.path.join(output, "metrics.json"), "w") as f:
            json.dump({k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in result.items()}, f,
                      indent=1)
        print("scores: %s\nper-class accuracy: %s" % (scores_path, per_class), flush=True)
        sources.append(load_scores(scores_path))
    else:
        output = args.output or os.path.dirname(os.path.abspath(args.fuse[0]))
        os.makedirs(output, exist_ok=True)
    if fused_sources:
        sources += fused_sources
        for s in sources:
            _print_report("%s" % s["path"], accuracy_report(s["probs"], s["labels"],
                                                            len(s["classes"])), len(s["classes"]))
        probs, labels, ids, notes = fuse_scores(sources, weights)
        for note in notes:
            print("note: " + note, flush=True)
        classes = [str(c) for c in sources[0]["classes"]]
        rep = accuracy_report(probs, labels, len(classes))
        _print_report("fused (weights %s)" % ", ".join("%g" % w for w in weights), rep, len(classes))
        path = os.path.join(output, "fused.npz")
        np.savez(path, probs=probs, labels=labels, ids=np.asarray(ids, dtype=str),
                 classes=np.asarray(classes, dtype=str), weights=np.asarray(weights),
                 sources=np.asarray([s["path"] for s in sources], dtype=str))
        _write_per_class(os.path.join(output, "fused_per_class.csv"), probs, labels, classes)
        print("fused scores: %s" % path, flush=True)
    return 0


def main(argv=None):
    return run_main("smartops-eval", run, argv)


if __name__ == "__main__":
    sys.exit(main())
