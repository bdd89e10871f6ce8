"""The short summary that benchmarks/gpu_check.sh prints at its end: the
fused op's speed-ups, bandwidth and peak memory from the CUDA benchmark
JSONs (same tables as RESULTS.md), the memory report, and the evaluation
throughput of every inference path (bench_eval_throughput.py).

    python benchmarks/gpu_summary.py OUTDIR
"""
import glob
import json
import os
import sys

from make_results import load_runs, memory_table, speedup_table


def eval_table(path):
    from bench_eval_throughput import table_lines  # imports torch: only where there is such a run

    with open(path) as f:
        run = json.load(f)
    args = run["args"]
    return ["%s: evaluation throughput, ARTNet (d), batch %d x 3 x %d x %d x %d, %s" % (
        os.path.basename(path), args["batch"], args["frames"], args["size"], args["size"], run["device"])] + \
        table_lines(run["results"], args["batch"])


def main():
    outdir = sys.argv[1]
    for name, header, benches in load_runs(sorted(glob.glob(os.path.join(outdir, "cuda-*.json")))):
        lines, _ = speedup_table(benches)
        print("\n%s: %s" % (name, header))
        print("\n".join(lines))
    for path in glob.glob(os.path.join(outdir, "memory-cuda.json")):
        with open(path) as f:
            report = json.load(f)
        print("\n%s: %s" % (os.path.basename(path), report["header"]))
        print("\n".join(memory_table(report)))
    for path in glob.glob(os.path.join(outdir, "eval-throughput-cuda.json")):
        print("\n" + "\n".join(eval_table(path)))


if __name__ == "__main__":
    main()
