"""Timing helpers for the CUDA benchmarks: an L2 flush before every round
and a device-to-device copy measured in the same run as the bandwidth
yardstick."""
import torch

_flush_buffer = {}


def flush_l2():
    """Overwrites a buffer larger than any current GPU's L2 cache."""
    device = torch.cuda.current_device()
    if device not in _flush_buffer:
        _flush_buffer[device] = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    _flush_buffer[device].zero_()
    torch.cuda.synchronize()


def median_cuda_ms(fn, repeats=50, warmup=5):
    """Median over `repeats` runs of fn, timed with CUDA events, L2 flushed
    before each run."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        flush_l2()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def copy_bandwidth_gbs(nbytes=1 << 30):
    """Bytes read + written per second by a device-to-device copy, GB/s."""
    src = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = median_cuda_ms(lambda: dst.copy_(src), repeats=20)
    return 2 * nbytes / ms / 1e6
