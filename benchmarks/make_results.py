"""Turns pytest-benchmark JSON files into benchmarks/RESULTS.md.

    python -m pytest benchmarks/test_bench_relation_pool.py --benchmark-json=benchmarks/results/cpu-relation.json
    python benchmarks/make_results.py benchmarks/results/*.json [--memory benchmarks/results/memory-cpu.json]

For every benchmark group (one workload) that timed the fused op, a row
with the median times of the fused op, the eager reference and torch.compile
of the reference, measured in the same run, and the speed-ups; CUDA groups
also get the fused op's effective bandwidth (modeled minimum bytes / time)
against a device-to-device copy of the same run. Memory reports written by
benchmarks/memory_report.py become a second table. A PNG chart of the
speed-ups is written next to RESULTS.md when matplotlib is installed.
"""
import argparse
import json
import os
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
IMPLS = ("fused", "eager", "compiled", "c3d")
BASELINES = IMPLS[1:]


def load_runs(paths):
    """[(machine description, [benchmark dicts])] per JSON file."""
    runs = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        info = data.get("machine_info", {})
        commit = data.get("commit_info", {})
        benches = data.get("benchmarks", [])
        extra = benches[0]["extra_info"] if benches else {}
        device = extra.get("device") or info.get("cpu", {}).get("brand_raw") or info.get("processor", "?")
        header = "%s; torch %s; %s threads; %s; commit %s" % (
            device, extra.get("torch", "?"), extra.get("threads", "?"), data.get("datetime", "?")[:19],
            (commit.get("id") or "?")[:10])
        runs.append((os.path.basename(path), header, benches))
    return runs


def speedup_table(benches):
    """Markdown lines of one run's table (columns that are empty in every row
    left out) and [(group, {baseline: speed-up})] for the chart."""
    groups = OrderedDict()
    for b in benches:
        impl = b["extra_info"].get("impl")
        if impl in IMPLS:
            groups.setdefault(b["group"], {})[impl] = b
    header = ["workload", "fused ms", "eager ms", "compile ms", "C3D-R18 ms", "vs eager", "vs compile", "vs C3D-R18",
              "fused clips/s", "fused GB/s (% of copy)", "peak MB fused / eager"]
    table, rows = [], []
    for group, by_impl in groups.items():
        if "fused" not in by_impl:
            continue
        t = {k: by_impl[k]["stats"]["median"] for k in by_impl}
        cells = ["%.3f" % (1e3 * t[k]) if k in t else "-" for k in IMPLS]
        ratios = ["%.2fx" % (t[k] / t["fused"]) if k in t else "-" for k in BASELINES]
        extra = by_impl["fused"]["extra_info"]
        bandwidth = "-"
        if extra.get("modeled_bytes") and extra.get("copy_gbs"):
            gbs = extra["modeled_bytes"] / t["fused"] / 1e9
            bandwidth = "%.0f (%.0f%%)" % (gbs, 100 * gbs / extra["copy_gbs"])
        clips = "%.1f" % (extra["batch"] / t["fused"]) if extra.get("batch") else "-"
        peak = "-"
        eager_peak = by_impl.get("eager", {}).get("extra_info", {}).get("peak_bytes")
        if extra.get("peak_bytes") and eager_peak:
            peak = "%.0f / %.0f (%.2f)" % (extra["peak_bytes"] / 1e6, eager_peak / 1e6, extra["peak_bytes"] / eager_peak)
        table.append([group] + cells + ratios + [clips, bandwidth, peak])
        rows.append((group, {k: t[k] / t["fused"] for k in ("eager", "compiled") if k in t}))
    keep = [i for i in range(len(header)) if i == 0 or any(r[i] != "-" for r in table)]
    lines = ["| %s |" % " | ".join(header[i] for i in keep), "|%s" % ("---|" * len(keep))]
    lines += ["| %s |" % " | ".join(r[i] for i in keep) for r in table]
    return lines, rows


def memory_table(report):
    lines = ["| workload | fused | unfused | fused / unfused |", "|---|---|---|---|"]
    for row in report["rows"]:
        lines.append("| %s (%s) | %.1f MB | %.1f MB | %.2f |" % (
            row["workload"], row["metric"], row["fused"] / 1e6, row["unfused"] / 1e6, row["fused"] / row["unfused"]))
    return lines


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels = [g for g, _ in rows]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.5))
    for i, key in enumerate(("eager", "compiled")):
        ax.barh([j + 0.4 * i for j in range(len(rows))], [r.get(key, 0) for _, r in rows], height=0.4,
                label="speed-up vs %s" % key)
    ax.set_yticks([j + 0.2 for j in range(len(rows))])
    ax.set_yticklabels(labels, fontsize=7)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("x faster than the reference (median times, same run)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json", nargs="+", help="pytest-benchmark --benchmark-json files")
    parser.add_argument("--memory", nargs="*", default=[], help="memory_report.py JSON files")
    parser.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    parser.add_argument("--plot", action=argparse.BooleanOptionalAction, default=True,
                        help="draw the speed-ups into a PNG beside --out (default: yes)")
    args = parser.parse_args()

    out = ["# Benchmark results", "",
           "Generated by `benchmarks/make_results.py` from pytest-benchmark runs; every ratio compares "
           "implementations timed in the same run. Regenerate with the commands at the top of that script.", ""]
    all_rows = []
    for name, header, benches in load_runs(args.json):
        lines, rows = speedup_table(benches)
        if not rows:
            continue
        out += ["## %s" % name, "", header, ""] + lines + [""]
        all_rows += rows
    for path in args.memory:
        with open(path) as f:
            report = json.load(f)
        out += ["## Memory: %s" % os.path.basename(path), "", report["header"], ""] + memory_table(report) + [""]
    png = os.path.splitext(args.out)[0] + ".png"
    if args.plot and all_rows and plot(all_rows, png):
        out += ["![speed-ups](%s)" % os.path.basename(png), ""]
    with open(args.out, "w") as f:
        f.write("\n".join(out))
    print("wrote %s" % args.out)


if __name__ == "__main__":
    main()
