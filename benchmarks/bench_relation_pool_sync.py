"""Cost of synchronising the relation op's statistics (CPU, gloo).

    python benchmarks/bench_relation_pool_sync.py [--shape 8 64 8 28 28] [--rounds 20] [--threads T]

Median training-step time (forward + backward) of RelationPool on one
process: the single-process fused op against the synchronized op in a gloo
group of 1 (the phases' overhead, collectives included); then 2 gloo
processes, each with half the batch and half the threads, running both
(the unsynchronized op's per-process statistics are what DDP without
--sync-bn gives; the difference is the cost of synchronizing).
"""
import argparse
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from smartops.nn import RelationPool


def median_step_ms(modules, x, grad, rounds, warmup=5):
    """{name: median ms of a forward + backward} of each of `modules`
    ({name: module}), timed in turns (alternating order each round), so
    that a load change on a shared machine hits all of them alike."""
    times = {name: [] for name in modules}
    for i in range(warmup + rounds):
        for name in (list(modules) if i % 2 else list(modules)[::-1]):
            start = time.perf_counter()
            torch.autograd.grad(modules[name](x), x, grad)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def worker(rank, world, port, shape, rounds, threads):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(rank)
    n = shape[0] // world
    x = torch.randn(n, *shape[1:]).requires_grad_()
    grad = torch.randn(n, shape[1] // 2, *shape[2:])
    processes = "%d process%s" % (world, "es" if world > 1 else "")
    results = median_step_ms({
        "single-process op, " + processes: RelationPool(shape[1], fused=True),
        "synchronized op, " + processes: RelationPool(shape[1], fused=True, process_group=dist.group.WORLD),
    }, x, grad, rounds)
    if rank == 0:
        for name, ms in results.items():
            print("%-38s %8.2f ms per step (batch %d per process, %d threads)" % (name, ms, n, threads), flush=True)
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=5, default=[8, 64, 8, 28, 28], metavar=("N", "C", "T", "H", "W"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per process (default: this machine's torch threads / processes)")
    args = parser.parse_args()
    print("shape %s, torch %s" % (tuple(args.shape), torch.__version__))
    for world in (1, 2):
        threads = args.threads or max(1, torch.get_num_threads() // world)
        mp.spawn(worker, args=(world, free_port(), args.shape, args.rounds, threads), nprocs=world)


if __name__ == "__main__":
    main()
