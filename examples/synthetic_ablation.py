"""Train C2D, C3D and ARTNet (d) with the same width, clips and budget on the
synthetic motion dataset and write a results table into the README.

    python examples/synthetic_ablation.py                    # about 35 minutes on 2 CPU cores (2 seeds)
    python examples/synthetic_ablation.py --epochs 5 --no-readme

The classes of the synthetic dataset differ only in the direction of motion
(smartops.data.synthetic), so a single frame carries no information about
them. The paper's Table 2 ordering (C2D < C3D < ARTNet) predicts that the
frame-level C2D stays near chance. Every network is trained by
``python -m smartops.train`` (each in its own folder under --output, resumed
if interrupted), then tested by ``python -m smartops.eval`` with --test-views.
The table goes between the README's ``<!-- ablation-table -->`` markers, and
the training curves of every run (smartops.plot: loss, top-1, lr) to
docs/ablation.png when matplotlib is installed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = ("c2d_resnet18", "c3d_resnet18", "artnet_resnet18_d")
LABELS = {"c2d_resnet18": "C2D-ResNet18", "c3d_resnet18": "C3D-ResNet18", "artnet_resnet18_d": "ARTNet-ResNet18 (d)"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=list(ARCHS))
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--clip-len", type=int, default=16)
    p.add_argument("--crop-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="one run per seed (0 1)")
    p.add_argument("--test-views", default="10x3", help="clips x crops of the final test (10x3)")
    p.add_argument("--output", default=os.path.join("runs", "ablation"))
    p.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    p.add_argument("--plot", default=os.path.join(ROOT, "docs", "ablation.png"))
    p.add_argument("--no-readme", action="store_true", help="print the table only")
    p.add_argument("--machine", default="a 2-core CPU", help="where it ran, for the table's text (a 2-core CPU)")
    return p.parse_args(argv)


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = proc.stdout.strip().splitlines()[-6:]
    print("\n".join("    " + x for x in tail), flush=True)
    if proc.returncode:
        sys.exit("command failed (exit %d):\n%s" % (proc.returncode, proc.stdout[-3000:]))
    return proc.stdout, time.perf_counter() - t0


def train_and_test(arch, seed, args):
    out = os.path.join(args.output, "%s-seed%d" % (arch, seed))
    cmd = [sys.executable, "-m", "smartops.train", "--arch", arch, "--width", str(args.width),
           "--clip-len", str(args.clip_len), "--crop-size", str(args.crop_size), "--batch-size", str(args.batch_size),
           "--epochs", str(args.epochs), "--schedule", args.schedule, "--seed", str(seed), "--output", out,
           "--log-every", "1000000", "--no-tensorboard"]
    if args.lr:
        cmd += ["--lr", str(args.lr)]
    stdout, seconds = run(cmd)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        history = [json.loads(x) for x in f if x.strip()]
    clips, crops = (int(v) for v in args.test_views.lower().split("x"))
    run([sys.executable, "-m", "smartops.eval", "--checkpoint", os.path.join(out, "last.pt"), "--clips", str(clips),
         "--crops", str(crops), "--output", os.path.join(out, "eval")])
    with open(os.path.join(out, "eval", "metrics.json")) as f:
        test = json.load(f)
    import torch

    from smartops.models import get_model

    ck = torch.load(os.path.join(out, "last.pt"), map_location="cpu", weights_only=True)
    classes = len(ck["class_names"])
    params = sum(p.numel() for p in get_model(arch, num_classes=classes, width=args.width).parameters()) / 1e6
    last = history[-1]
    return {"arch": arch, "seed": seed, "params_m": params, "history": history, "last": last, "classes": classes,
            "synthetic": (ck.get("data") or {}).get("synthetic"),
            "best": max(h["val_top1"] for h in history), "test": test,
            "train_s": sum(h["time_s"] for h in history), "clips_per_s": last["clips_per_s"]}


def _cell(values, fmt="%.1f%%", scale=100.0):
    """mean over seeds, then the per-seed values."""
    vals = [scale * v for v in values]
    if len(vals) == 1:
        return fmt % vals[0]
    return (fmt % (sum(vals) / len(vals))) + " (" + ", ".join((fmt % v).rstrip("%") for v in vals) + ")"


def table(results, args, meta):
    clips, crops = args.test_views.lower().split("x")
    first = results[0]
    seeds = sorted({r["seed"] for r in results})
    lines = [
        "Synthetic motion dataset (%s; classes differ only in the direction of motion; chance %.0f%%). "
        "Same budget for every network: width %g, %d-frame %dx%d clips, batch %d, %d epochs, SGD lr %s "
        "(%s schedule), no flips, on %s; seeds %s (mean, then each seed). Validation: the centre clip of "
        "each of the %d validation videos; test: %s clips x %s crops per video, logits averaged. Written by "
        "`python examples/synthetic_ablation.py`."
        % (meta, 100.0 / first["classes"], args.width, args.clip_len, args.crop_size, args.crop_size,
           args.batch_size, args.epochs, ("%g" % args.lr) if args.lr else "0.1 x %d / 256" % args.batch_size,
           args.schedule, args.machine, ", ".join(map(str, seeds)), first["last"].get("val_videos", 0), clips, crops),
        "",
        "| network | parameters | val top-1 (last epoch) | best val top-1 | test top-1 (%sx%s views) | "
        "test mean class | train accuracy (last epoch) | training time per run |" % (clips, crops),
        "|---|---|---|---|---|---|---|---|",
    ]
    for arch in dict.fromkeys(r["arch"] for r in results):
        rs = [r for r in results if r["arch"] == arch]
        lines.append("| %s | %.2f M | %s | %s | %s | %s | %s | %s s (%.1f clips/s) |" % (
            LABELS.get(arch, arch), rs[0]["params_m"], _cell([r["last"]["val_top1"] for r in rs]),
            _cell([r["best"] for r in rs]), _cell([r["test"]["top1"] for r in rs]),
            _cell([r["test"]["mean_class"] for r in rs]), _cell([r["last"]["train_acc"] for r in rs]),
            "%d" % (sum(r["train_s"] for r in rs) / len(rs)), sum(r["clips_per_s"] for r in rs) / len(rs)))
    return "\n".join(lines)


def plot(results, path):
    """The training curves of every run (smartops.plot) into `path`; None
    without matplotlib."""
    try:
        import matplotlib  # noqa: F401 - only to know whether it is installed
    except ImportError:
        return None
    from smartops.plot import plot_runs

    runs = [("%s, seed %d" % (LABELS.get(r["arch"], r["arch"]), r["seed"]), r["history"]) for r in results]
    return plot_runs(runs, path, chance=1.0 / results[0]["classes"],
                     title="synthetic motion data: %d epochs per run" % len(results[0]["history"]))


def replace_block(text, name, content):
    start, end = "<!-- %s -->" % name, "<!-- /%s -->" % name
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise SystemExit("README has no %s ... %s block" % (start, end))
    return text[:i + len(start)] + "\n" + content.strip() + "\n" + text[j:]


def main(argv=None):
    args = parse_args(argv)
    results = []
    for seed in args.seeds:
        for arch in args.archs:
            results.append(train_and_test(arch, seed, args))
    syn = results[0]["synthetic"]
    if syn:
        per_class = syn["videos_per_class"]
        n_val = max(1, int(round(per_class * 0.25)))
        meta = "%d classes x %d videos of %d frames at %dx%d; %d train / %d val" % (
            syn["classes"], per_class, syn["frames"], syn["size"][0], syn["size"][1],
            syn["classes"] * (per_class - n_val), syn["classes"] * n_val)
    else:
        meta = "given data"
    text = table(results, args, meta)
    png = plot(results, args.plot)
    if png:
        text += "\n\n![training curves of every run](%s)" % os.path.relpath(png, os.path.dirname(args.readme))
    print("\n" + text)
    if not args.no_readme:
        with open(args.readme) as f:
            readme = f.read()
        with open(args.readme, "w") as f:
            f.write(replace_block(readme, "ablation-table", text))
        print("\nwrote the table into %s%s" % (args.readme, " and the plot to %s" % png if png else
                                                  " (no plot: matplotlib is not installed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
