"""The short summary that benchmarks/gpu_check.sh prints at its end: the
fused op's speed-ups, bandwidth and peak memory from the CUDA benchmark
JSONs (same tables as RESULTS.md), and the memory report.

    python benchmarks/gpu_summary.py OUTDIR
"""
import glob
import json
import os
import sys

from make_results import load_runs, memory_table, speedup_table


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


if __name__ == "__main__":
    main()
