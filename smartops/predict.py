"""smartops-predict: classify videos with a trained checkpoint.

    smartops-predict clip.mp4 other.avi --checkpoint runs/artnet/best.pt
    smartops-predict clip.mp4 --checkpoint runs/artnet/best.pt --json

Each video is read with the test protocol of smartops-eval (--clips clips
spread uniformly over it x --crops crops, logits averaged over the views, then
softmax; fewer views than the paper's 25 x 10 by default, for speed) and the
top classes are printed with their probabilities. Exit status 1 when a video
could not be read (the others are still classified).
"""
import argparse
import json
import os
import sys
import tempfile
import warnings

import torch

from smartops.data import BadVideoWarning, ClassIndex, DecodeError
from smartops.data.rawframes import DEFAULT_TEMPLATES, count_frames
from smartops.engine import checkpoint as ckpt_io
from smartops.engine.cli import CLIError, positive_int, run_main
from smartops.engine.data import dataset_options, make_dataset
from smartops.engine.distributed import pick_device
from smartops.engine.finite_scores import refuse_nonfinite_logits
from smartops.engine.loop import view_scores
from smartops.engine.inference import add_fold_argument, inference_model
from smartops.engine.modeling import check_amp, fused_arg, model_from_checkpoint

__all__ = ["main", "build_parser", "predict"]


def build_parser(prog="smartops-predict"):
    p = argparse.ArgumentParser(prog=prog, description="Classify videos with a trained checkpoint.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("videos", nargs="+", metavar="VIDEO",
                   help="video files, or frame folders of smartops-extract (a flow checkpoint reads flow ones)")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a checkpoint of smartops-train")
    p.add_argument("--clips", type=positive_int, default=10, help="clips per video (10; the paper: 25)")
    p.add_argument("--crops", type=int, choices=(1, 2, 3, 5, 10), default=3,
                   help="crops per clip (3; the paper: 10)")
    p.add_argument("--chunk", type=positive_int, default=25, help="views per forward pass (25)")
    p.add_argument("--topk", type=positive_int, default=5, help="classes shown per video (5)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none")
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=None)
    add_fold_argument(p)
    p.add_argument("--device", default="auto")
    return p


def _dataset(videos, ckpt, clips, crops, folder):
    """A test-mode VideoDataset over `videos` (a list file in `folder`), with
    the checkpoint's clip length, frame size, crop and normalization."""
    saved = ckpt.get("args", {})
    names = ckpt[ClassIndex.KEY]
    modality = saved.get("modality", "rgb")
    listing = os.path.join(folder, "videos.txt")
    with open(listing, "w") as f:
        for v in videos:
            if os.path.isdir(v):  # a frame folder: 'frame_dir total_frames label'
                f.write("%s %d 0\n" % (os.path.abspath(v), count_frames(v, DEFAULT_TEMPLATES[modality][0])))
            else:
                f.write("%s 0\n" % os.path.abspath(v))

    class A:
        pass

    a = A()
    a.clip_len = saved.get("clip_len", 16)
    a.frame_stride = saved.get("frame_stride", 1)
    fs = saved.get("frame_size", [128, 170])
    a.frame_size = "keep" if fs in ("keep", None) else fs
    a.crop_size = saved.get("crop_size", 112)
    a.mean = saved.get("mean", [123.0, 117.0, 104.0])
    a.std = saved.get("std")
    a.modality = modality
    source = {"annotations": listing, "root": folder, "format": "list", "split": 1}
    return make_dataset(source, "test", dataset_options(a), 1, names, saved.get("seed", 0), num_clips=clips,
                        num_crops=crops)


def predict(model, ds, device, topk=5, chunk=25, amp="none", source="the model"):
    """[(probabilities (K,) or None, error or None)] for the videos of `ds`;
    a CLIError when the logits of a video are not finite."""
    out = []
    model.eval()
    for i in range(len(ds)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BadVideoWarning)
                logits = view_scores(model, ds.iter_test_views(i, chunk), device, amp=amp)
        except DecodeError as err:
            reason = ds.bad_files[0].split(": ", 1)[-1] if ds.bad_files else str(err)
            out.append((None, str(err) or reason))
            continue
        except RuntimeError as err:  # e.g. a video shorter than the model's kernels after sampling
            out.append((None, "%s: %s" % (type(err).__name__, err)))
            continue
        refuse_nonfinite_logits(logits[None], [ds.records[i].path], source, model,
                                lambda _: next(iter(ds.iter_test_views(i, chunk))), device, amp)
        out.append((torch.softmax(logits.float(), 0), None))
    return out


def run(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = [v for v in args.videos if not os.path.exists(v)]
    if missing:
        parser.error("video not found: %s" % ", ".join(missing))
    if len({os.path.isdir(v) for v in args.videos}) > 1:
        parser.error("give either video files or frame folders, not both")
    ckpt = ckpt_io.load_checkpoint(args.checkpoint)
    if ClassIndex.KEY not in ckpt:
        raise CLIError("%s has no class names" % ckpt["path"])
    device = pick_device(args.device)
    check_amp(args.amp, device)
    model, config = model_from_checkpoint(ckpt, fused_arg(args.fused))
    model = inference_model(model, args.fold)
    model.to(device)
    names = ckpt[ClassIndex.KEY]
    if ckpt.get("class_names_missing"):  # e.g. converted Caffe weights: the release ships labels only
        print("note: %s has no class names: labels 0-%d are shown; convert it again with --classes FILE for names"
              % (ckpt["path"], len(names) - 1), file=sys.stderr, flush=True)
    k = min(args.topk, len(names))
    with tempfile.TemporaryDirectory(prefix="smartops-predict-") as folder:
        ds = _dataset(args.videos, ckpt, args.clips, args.crops, folder)
        results = predict(model, ds, device, k, args.chunk, args.amp, ckpt["path"])
    docs, failed = [], 0
    for video, (probs, error) in zip(args.videos, results):
        if probs is None:
            failed += 1
            docs.append({"video": video, "error": error})
            continue
        p, idx = probs.topk(k)
        docs.append({"video": video, "top": [{"class": names[int(i)], "index": int(i), "probability": float(q)}
                                             for q, i in zip(p, idx)]})
    if args.json:
        print(json.dumps({"checkpoint": ckpt["path"], "arch": config["arch"], "clips": args.clips,
                          "crops": args.crops, "results": docs}, indent=1, allow_nan=False), flush=True)
    else:
        print("%s (%s), %d clips x %d crops per video" % (ckpt["path"], config["arch"], args.clips, args.crops))
        width = max(len(n) for n in names)
        for doc in docs:
            print(doc["video"])
            if "error" in doc:
                print("   cannot read it: %s" % doc["error"])
                continue
            for rank, t in enumerate(doc["top"], 1):
                print("  %2d. %-*s %6.2f%%" % (rank, width, t["class"], 100.0 * t["probability"]))
        sys.stdout.flush()
    return 1 if failed else 0


def main(argv=None):
    return run_main("smartops-predict", run, argv)


if __name__ == "__main__":
    sys.exit(main())
