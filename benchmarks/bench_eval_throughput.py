"""Evaluation throughput (clips/s) of ARTNet-ResNet18 (d), one run, every path:

    eval fused          today's eval mode, fused ops (relation_pool, concat_reduce, batch_norm_relu)
    eval unfused        eval mode, fused=False (the pure-PyTorch composition)
    folded fused        fold_for_inference: BN folded into the convs, relation_tail kernel; on a CPU the
                        convolutions run in oneDNN with their ReLU / residual addition (smartops.nn.folded_conv)
    folded, plain convs the same folded model without the oneDNN fused convolutions (conv, then add / ReLU;
                        concat_reduce): what "folded fused" was before them
    folded standard     the same folded model in standard operators (what smartops-export writes)
    compile folded      torch.compile of the folded standard-operator model
    onnxruntime         ONNX Runtime (CPU) on the exported file (skipped without onnx/onnxruntime)

    python benchmarks/bench_eval_throughput.py [--widths 1 0.25] [--batch 10] [--rounds 5] [--device cpu]
        [--threads N] [--channels-last] [--out benchmarks/results/eval-throughput-cpu.json]

Batch 10 of 16x112x112 clips: the 10 crops of one test clip. Rounds are
interleaved across the paths (round r of every path, then round r + 1), so
that load from other processes spreads over all of them; the table gives
the median and the best round. On a GPU the paths are timed with CUDA
synchronisation (onnxruntime: CPU provider only, so it is skipped there).

On a machine shared with other jobs, more threads than free cores make
every parallel PyTorch op wait for a descheduled OpenMP thread (about 20 ms
per op on the 2-core machine here); run also with --threads 1, or with
OMP_WAIT_POLICY=PASSIVE in the environment, to see the paths without that.
The load average is printed before and after.
"""
import argparse
import copy
import datetime
import json
import os
import statistics
import tempfile
import time

import torch

from smartops.export import export_onnx
from smartops.models import artnet_resnet18, set_fused
from smartops.nn import fold_for_inference
from smartops.nn.folded_conv import onednn_fusion


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def torch_runner(model, x, device):
    def run():
        with torch.inference_mode():
            model(x)
        sync(device)
    return run


def plain_conv_runner(model, x, device):
    def run():
        with torch.inference_mode(), onednn_fusion(False):
            model(x)
        sync(device)
    return run


def onnx_runner(model, x, folder, threads):
    try:
        import onnx  # noqa: F401
        import onnxruntime as ort
    except ImportError:
        return None
    path = export_onnx(model, x[:2].cpu(), os.path.join(folder, "model.onnx"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"clips": x.cpu().numpy()}
    return lambda: session.run(["logits"], feed)


def paths_for(width, x, device, folder, channels_last):
    """name -> a callable running one batch, for one width."""
    torch.manual_seed(0)
    model = artnet_resnet18("d", width=width, fused=True).to(device).eval()
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    unfused = set_fused(copy.deepcopy(model), False)
    folded = fold_for_inference(model, fused=True)
    standard = fold_for_inference(model, fused=False)
    paths = {
        "eval fused": torch_runner(model, x, device),
        "eval unfused": torch_runner(unfused, x, device),
        "folded fused": torch_runner(folded, x, device),
        "folded, plain convs": plain_conv_runner(folded, x, device),
        "folded standard": torch_runner(standard, x, device),
        "compile folded": torch_runner(torch.compile(standard), x, device),
    }
    if device.type == "cpu":
        runner = onnx_runner(model, x, folder, torch.get_num_threads())
        if runner is not None:
            paths["onnxruntime"] = runner
    return paths


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def measure(paths, warmup, rounds, log):
    times = {name: [] for name in paths}
    for name, run in paths.items():
        t0 = time.perf_counter()
        for _ in range(warmup):
            run()
        log("  warm-up %-16s %.1f s" % (name, time.perf_counter() - t0))
    for r in range(rounds):
        for name, run in paths.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
        log("  round %d/%d done" % (r + 1, rounds))
    return times


def table_lines(results, batch):
    """The markdown table of a run's results (also read back from --out's
    JSON by benchmarks/gpu_summary.py)."""
    lines = ["| width | path | clips/s (median) | clips/s (best round) | vs eval fused |", "|---|---|---|---|---|"]
    for r in results:
        lines.append("| %g | %s | %.2f | %.2f | %.2fx |" % (
            r["width"], r["path"], r["clips_per_s"], batch / r["best_s"], r["speedup_vs_eval_fused"]))
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.25])
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch (and ONNX Runtime) threads; default torch's")
    p.add_argument("--channels-last", action="store_true", help="channels_last_3d input and weights (torch paths)")
    p.add_argument("--out", default=None, help="JSON file for the results")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    log = lambda m: print(m, flush=True)  # noqa: E731
    results = []
    log("torch %s, %d threads, OMP_WAIT_POLICY=%s, %s, batch %d x 3 x %d x %d x %d, float32%s" % (
        torch.__version__, torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY", "(unset)"), device, args.batch,
        args.frames, args.size, args.size, ", channels_last_3d" if args.channels_last else ""))
    load = [loadavg()]
    log("load average: %s" % load[0])
    for width in args.widths:
        x = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        log("width %g:" % width)
        with tempfile.TemporaryDirectory() as folder:
            times = measure(paths_for(width, x, device, folder, args.channels_last), args.warmup, args.rounds, log)
        base = statistics.median(times["eval fused"])
        for name, ts in times.items():
            med = statistics.median(ts)
            results.append({"width": width, "path": name, "median_s": med, "best_s": min(ts), "rounds": ts,
                            "clips_per_s": args.batch / med, "speedup_vs_eval_fused": base / med})
    load.append(loadavg())
    log("load average: %s" % load[1])
    log("\n" + "\n".join(table_lines(results, args.batch)))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       "torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device),
                       "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_average": load,
                       "args": vars(args), "results": results}, f, indent=1)
        log("wrote %s" % args.out)


if __name__ == "__main__":
    main()
