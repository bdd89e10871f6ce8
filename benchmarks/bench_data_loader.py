"""Loader benchmark: decoded training clips per second, per DataLoader worker.

    python benchmarks/bench_data_loader.py [--videos 8] [--frames 150]
        [--size 240x320] [--gop 50] [--items 96] [--workers 0 1 2]
        [--decoders new old]

Writes ``--videos`` H.264 videos (moving textures, ``--frames`` frames of
``--size`` at 25 fps, a keyframe every ``--gop`` frames) to a temp folder and
times ``VideoDataset`` in train mode with the paper's settings (frames resized
to 128 x 170, random 16 x 112 x 112 clip, random crop and flip, mean
subtraction) through a ``DataLoader`` with each number of workers. The first
batch (worker start-up) is not timed. Also times val mode and one test item
(25 clips x 10 crops).

``--decoders new old`` times the same videos with the current decoder and
with the one before frame-exact indexing (``benchmarks/legacy_decode.py``),
in the same run; ``probe`` is the time to index (probe) every video once
with a cold cache, which the new decoder pays once per file and dataset.
"""
import argparse
import os
import sys
import tempfile
import time
import types

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import legacy_decode  # noqa: E402
from smartops.data import VideoDataset  # noqa: E402
from smartops.data import dataset as dataset_module  # noqa: E402
from smartops.data import decode  # noqa: E402
from smartops.data.synthetic import render_motion_video, write_video  # noqa: E402


def make_videos(folder, n, frames, size, gop):
    lines = []
    for i in range(n):
        video = render_motion_video(np.random.default_rng(i), 2 * np.pi * i / n, frames, size,
                                    speed=3, objects=3)
        name = "v%02d.mp4" % i
        write_video(os.path.join(folder, name), video, gop=gop, crf=20)
        lines.append("%s %d\n" % (name, i % 4))
    path = os.path.join(folder, "list.txt")
    with open(path, "w") as f:
        f.writelines(lines)
    return path


def use_decoder(name):
    """Point VideoDataset at the current decoder or at the old one; returns
    that decoder's module (probe_video, decode_stats, reset_decode_stats)."""
    if name == "new":
        dataset_module.decode = decode
        decode.clear_probe_cache()
        return decode
    old = types.SimpleNamespace(**vars(decode))
    old.probe_video = lambda path, cache_folder=None: legacy_decode.probe_video(path)
    old.read_frames = legacy_decode.read_frames
    dataset_module.decode = old
    legacy_decode.clear_probe_cache()
    return legacy_decode


def time_loader(ds, workers, items, batch_size):
    """Clips/s over ``items`` clips drawn at random (one loader pass, so the
    workers start once; the first batch, which waits for them, is not timed)."""
    sampler = RandomSampler(ds, replacement=True, num_samples=items + batch_size,
                            generator=torch.Generator().manual_seed(0))
    loader = DataLoader(ds, batch_size=batch_size, num_workers=workers, sampler=sampler)
    done, t0 = 0, None
    for clips, _ in loader:
        if t0 is None:
            t0 = time.perf_counter()
            continue
        done += clips.shape[0]
    return done / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--size", default="240x320")
    ap.add_argument("--gop", type=int, default=50)
    ap.add_argument("--items", type=int, default=96, help="clips timed per setting")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--decoders", nargs="+", choices=["new", "old"], default=["new"])
    args = ap.parse_args()
    h, w = (int(x) for x in args.size.split("x"))
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        lst = make_videos(tmp, args.videos, args.frames, (h, w), args.gop)
        print("wrote %d videos of %d frames %dx%d (gop %d) in %.1fs; %d cores"
              % (args.videos, args.frames, h, w, args.gop, time.perf_counter() - t0, os.cpu_count()))
        print()
        print("| decoder | mode | workers | clips/s | clips/s per worker |")
        print("|---|---|---|---|---|")
        for name in args.decoders:
            bench_decoder(name, lst, args)


def bench_decoder(name, lst, args):
    module = use_decoder(name)
    with open(lst) as f:
        paths = [os.path.join(os.path.dirname(lst), line.split()[0]) for line in f]
    t0 = time.perf_counter()
    for p in paths:
        module.probe_video(p)
    print("| %s | probe (cold, per video) | 0 | %.1f ms | |" % (name, 1000 * (time.perf_counter() - t0) / len(paths)))
    train = VideoDataset(lst, mode="train")
    module.reset_decode_stats()
    for i in range(len(train)):
        train[i]
    st = module.decode_stats()
    print("| %s | train: %.1f frames decoded per 16-frame clip, %.1f seeks | | | |"
          % (name, st["frames_decoded"] / len(train), st["seeks"] / len(train)))
    for workers in args.workers:
        rate = time_loader(train, workers, args.items, args.batch_size)
        print("| %s | train | %d | %.1f | %.1f |" % (name, workers, rate, rate / max(workers, 1)), flush=True)
    val = VideoDataset(lst, mode="val")
    rate = time_loader(val, 0, args.items // 2, args.batch_size)
    print("| %s | val | 0 | %.1f | %.1f |" % (name, rate, rate))
    test = VideoDataset(lst, mode="test")
    t0 = time.perf_counter()
    views, _ = test[0]
    dt = time.perf_counter() - t0
    print("| %s | test (25x10 views, %.0f MB) | 0 | %.2f items/s | %.0f views/s |"
          % (name, views.numel() * 4 / 1e6, 1 / dt, views.shape[0] / dt), flush=True)


if __name__ == "__main__":
    main()
