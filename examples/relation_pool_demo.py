"""RelationPool fused vs unfused: agreement, speed and saved memory.

    python examples/relation_pool_demo.py [--shape 8 64 8 28 28] [--channels-last]

Runs one training step (forward + backward) of smartops.nn.RelationPool with
the fused op and with the pure-PyTorch composition on the same input, and
prints how far apart their outputs, gradients and running statistics are,
the median step time of each, and the bytes autograd saves for backward.
"""
import argparse
import copy
import time

import torch

from smartops.nn import RelationPool


def saved_bytes(fn):
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", type=int, nargs=5, default=[8, 64, 8, 28, 28], metavar=("N", "C", "T", "H", "W"))
    parser.add_argument("--channels-last", action="store_true", help="channels_last_3d input")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(*args.shape)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    fused = RelationPool(args.shape[1], fused=True)
    with torch.no_grad():  # non-trivial BN parameters
        fused.bn1.weight.uniform_(0.5, 1.5)
        fused.bn1.bias.normal_()
        fused.bn2.bias.normal_()
    unfused = copy.deepcopy(fused)
    unfused.fused = False

    def step(module):
        xi = x.detach().requires_grad_()
        y = module(xi)
        (grad_x,) = torch.autograd.grad(y, xi, torch.ones_like(y))
        return y.detach(), grad_x

    y_f, gx_f = step(fused)
    y_u, gx_u = step(unfused)
    print("RelationPool(%d) on x of shape %s (%s)" % (args.shape[1], tuple(x.shape),
                                                   "channels_last_3d" if args.channels_last else "contiguous"))
    print("  agreement  max |y_fused - y_unfused| = %.2e   max |dx_fused - dx_unfused| = %.2e"
          % ((y_f - y_u).abs().max(), (gx_f - gx_u).abs().max()))
    stats = max((a - b).abs().max().item() for a, b in zip(fused.buffers(), unfused.buffers()) if a.is_floating_point())
    print("             max running-statistics difference = %.2e" % stats)

    t_f = median_ms(lambda: step(fused), args.repeats)
    t_u = median_ms(lambda: step(unfused), args.repeats)
    print("  speed      forward+backward: fused %.2f ms, unfused %.2f ms  (%.1fx, %d threads)"
          % (t_f, t_u, t_u / t_f, torch.get_num_threads()))

    x_bytes = x.numel() * x.element_size()
    xr = x.detach().requires_grad_()
    m_f = saved_bytes(lambda: fused(xr))
    m_u = saved_bytes(lambda: unfused(xr))
    print("  memory     saved for backward: fused %.1f MB (%.2fx x), unfused %.1f MB (%.2fx x)"
          % (m_f / 1e6, m_f / x_bytes, m_u / 1e6, m_u / x_bytes))


if __name__ == "__main__":
    main()
