"""smartops-plot: training curves of one or more runs, overlaid, in a PNG.

    smartops-plot runs/artnet runs/c3d --out curves.png

Reads RUN_DIR/metrics.jsonl (one line per epoch, written by smartops-train)
and draws four panels: training and validation loss, validation top-1 (and
training accuracy), and the learning rate. matplotlib is an optional extra:
``pip install smartops[plot]``.
"""
import argparse
import math
import os
import sys

from smartops.engine.cli import CLIError, run_main
from smartops.engine.metrics import read_metrics

__all__ = ["main", "plot_runs", "load_run"]

INSTALL_HINT = "smartops-plot needs matplotlib: pip install 'smartops[plot]' (or pip install matplotlib)"


def load_run(folder):
    """The epoch records of RUN_DIR/metrics.jsonl (or of that file itself)."""
    path = folder if os.path.isfile(folder) else os.path.join(folder, "metrics.jsonl")
    if not os.path.exists(path):
        raise CLIError("%s has no metrics.jsonl (is it an --output folder of smartops-train?)" % folder)
    records = read_metrics(path)
    if not records:
        raise CLIError("%s is empty: the run has not finished an epoch yet" % path)
    return records


def _series(records, key, scale=1.0):
    """(epochs, values) of the records that hold a finite `key`."""
    pts = [(r["epoch"], scale * r[key]) for r in records
           if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise CLIError(INSTALL_HINT) from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_runs(runs, path, chance=None, title=None):
    """runs: [(label, records)]; writes a 2x2 figure to `path`, returns it.
    Solid lines are validation, dashed lines training; one colour per run."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    (ax_loss, ax_top1), (ax_lr, ax_legend) = axes
    for i, (label, records) in enumerate(runs):
        colour = "C%d" % (i % 10)
        ax_loss.plot(*_series(records, "train_loss"), color=colour, linestyle="--")
        ax_loss.plot(*_series(records, "val_loss"), color=colour)
        ax_top1.plot(*_series(records, "train_acc", 100.0), color=colour, linestyle="--")
        ax_top1.plot(*_series(records, "val_top1", 100.0), color=colour)
        ax_lr.plot(*_series(records, "lr"), color=colour)
        ax_legend.plot([], [], color=colour, label=label)
    if chance:
        ax_top1.axhline(100.0 * chance, color="grey", linestyle=":", linewidth=1)
        ax_legend.plot([], [], color="grey", linestyle=":", label="chance")
    ax_legend.plot([], [], color="black", label="validation")
    ax_legend.plot([], [], color="black", linestyle="--", label="training")
    ax_loss.set(title="loss", xlabel="epoch", yscale="log")
    ax_top1.set(title="top-1 (%)", xlabel="epoch", ylim=(0, 100))
    ax_lr.set(title="learning rate", xlabel="epoch")
    ax_legend.axis("off")
    ax_legend.legend(loc="center", frameon=False)
    for ax in (ax_loss, ax_top1, ax_lr):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def build_parser():
    p = argparse.ArgumentParser(prog="smartops-plot", description="Training curves of smartops-train runs "
                                "(train/val loss, top-1, learning rate), several runs overlaid, into a PNG.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="--output folders of smartops-train (or their "
                   "metrics.jsonl files)")
    p.add_argument("--out", default="curves.png", help="PNG to write (curves.png)")
    p.add_argument("--labels", nargs="+", default=None, help="one legend label per run (default: folder names)")
    p.add_argument("--title", default=None)
    return p


def run(argv=None):
    args = build_parser().parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.runs):
        raise CLIError("--labels gives %d labels for %d runs" % (len(args.labels), len(args.runs)))
    _pyplot()  # the missing-package message before reading anything
    labels = args.labels or [os.path.basename(os.path.normpath(r)) for r in args.runs]
    runs = [(label, load_run(folder)) for label, folder in zip(labels, args.runs)]
    print("wrote %s (%s)" % (plot_runs(runs, args.out, title=args.title),
                             ", ".join("%s: %d epochs" % (label, len(r)) for label, r in runs)))
    return 0


def main(argv=None):
    return run_main("smartops-plot", run, argv)


if __name__ == "__main__":
    sys.exit(main())
