"""Memory of a training step, fused vs unfused: bytes saved for backward
(each storage counted once) per op, per SMART block and for the whole
ARTNet-ResNet18 (d); on CUDA also the peak allocated memory of a full
forward + backward step.

    python benchmarks/memory_report.py [--device cuda] [--batch 8] [--out benchmarks/results/memory-cpu.json]
"""
import argparse
import copy
import datetime
import json
import os

import torch

from smartops.models import artnet_resnet18, set_fused
from smartops.nn import RelationPool, SMART
from smartops.ops import concat_reduce, concat_reduce_reference


def saved_bytes(fn):
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[(s.data_ptr(), str(t.device))] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())


def peak_step_bytes(fn, device):
    """Peak memory allocated during forward + backward (CUDA only)."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    out = fn()
    out.float().sum().backward()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base


def pair_of(module):
    fused = module
    unfused = copy.deepcopy(module)
    set_fused(unfused, False)
    return fused, unfused


def workloads(batch, device):
    """(name, fused callable, unfused callable) for a training step each."""
    def leaf(*shape):
        return torch.randn(*shape, device=device, requires_grad=True)

    x = leaf(batch, 64, 8, 28, 28)
    pool_f, pool_u = pair_of(RelationPool(64, fused=True).to(device))
    yield "relation_pool 64ch 8x28x28", lambda: pool_f(x), lambda: pool_u(x)

    a, z = leaf(batch, 64, 8, 28, 28), leaf(batch, 32, 8, 28, 28)
    w = torch.randn(64, 96, 1, 1, 1, device=device, requires_grad=True)
    # In a SMART block a and z are kept anyway by the layers around; alone,
    # concat_reduce keeps a and z where conv3d(cat) keeps the concatenation.
    yield "concat_reduce 64+32ch 8x28x28", lambda: concat_reduce(a, z, w), lambda: concat_reduce_reference(a, z, w)

    block_f, block_u = pair_of(SMART(64, 64, 3, fused=True).to(device))
    yield "SMART(64, 64) 8x28x28", lambda: block_f(x), lambda: block_u(x)

    clip = torch.randn(batch, 3, 16, 112, 112, device=device)
    model_f, model_u = pair_of(artnet_resnet18("d", num_classes=400, fused=True).to(device))
    yield "ARTNet-ResNet18 (d) 3x16x112x112", lambda: model_f(clip), lambda: model_u(clip)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = []
    for name, fused, unfused in workloads(args.batch, device):
        (_, b_f), (_, b_u) = saved_bytes(fused), saved_bytes(unfused)
        rows.append(dict(workload="%s, batch %d" % (name, args.batch), metric="saved for backward", fused=b_f,
                         unfused=b_u))
        print("%-45s saved: fused %8.1f MB  unfused %8.1f MB  ratio %.2f" % (name, b_f / 1e6, b_u / 1e6, b_f / b_u))
        if device.type == "cuda":
            p_f, p_u = peak_step_bytes(fused, device), peak_step_bytes(unfused, device)
            rows.append(dict(workload="%s, batch %d" % (name, args.batch), metric="peak of a step", fused=p_f,
                             unfused=p_u))
            print("%-45s peak:  fused %8.1f MB  unfused %8.1f MB  ratio %.2f" % (name, p_f / 1e6, p_u / 1e6,
                                                                                   p_f / p_u))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (%d threads)" % torch.get_num_threads()
    header = "%s; torch %s; %s" % (name, torch.__version__, datetime.date.today().isoformat())
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(dict(header=header, rows=rows), f, indent=1)
        print("wrote %s" % args.out)


if __name__ == "__main__":
    main()
