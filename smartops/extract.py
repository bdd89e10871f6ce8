"""``smartops-extract``: videos -> rawframe folders (RGB JPEGs and optical flow).

    smartops-extract ucfTrainTestlist/trainlist01.txt ucfTrainTestlist/testlist01.txt \\
        --root UCF-101 --out ucf101_frames --workers 8

For every video of the annotation files (any format of ``smartops.data``)
it writes ``OUT/<video path without extension>/`` holding ``img_00001.jpg``
... (RGB, resized to 128x170 by default) and ``flow_x_00001.jpg`` /
``flow_y_00001.jpg`` ... (flow between frames k and k+1, 8-bit with bound
20, see :mod:`smartops.data.flow_quant`), then for each annotation file
``OUT/<name>_rgb.txt`` and ``OUT/<name>_flow.txt`` (``frame_dir
total_frames label``) and ``OUT/classes.txt``, which
:class:`smartops.data.RawframeDataset` reads.

Frames come from :func:`smartops.data.decode.read_frames`, the decoder the
video datasets use, so frame k of a folder is frame k of ``VideoDataset``.
Flow is TV-L1 where OpenCV has its contrib module, else DIS or Farneback
(``--flow-method``); the method is recorded in ``OUT/extract.json``.

Videos are extracted in parallel processes. Each goes to a temporary
sibling folder renamed into place when complete, so an interrupted run
leaves no partial folder that counts as done; running the same command
again skips finished videos. Videos that fail (corrupt, too short for flow)
are listed in ``OUT/failed.txt`` and left out of the lists; the run goes on
and exits with status 1.
"""
from __future__ import annotations

import argparse
import glob
import json
import multiprocessing
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .data import decode
from .data.annotations import ClassIndex, load_annotations
from .data.flow_quant import FLOW_BOUND, quantize_flow
from .data.image_files import write_gray, write_rgb
from .data.rawframes import DEFAULT_TEMPLATES, count_frames

__all__ = ["ExtractSettings", "extract_video", "main"]

CHUNK = 64  # frames decoded per call: bounds memory on long videos


@dataclass(frozen=True)
class ExtractSettings:
    """What a frame folder depends on (recorded in OUT/extract.json)."""

    modalities: Tuple[str, ...]
    size: decode.FrameSize
    flow_method: Optional[str]
    jpeg_quality: int
    rgb_template: str = DEFAULT_TEMPLATES["rgb"][0]
    flow_templates: Tuple[str, str] = DEFAULT_TEMPLATES["flow"]
    flow_bound: float = FLOW_BOUND


def video_frames(path: str, size: decode.FrameSize):
    """Every frame of ``path`` in order, uint8 (H, W, 3) RGB, decoded in chunks."""
    info = decode.probe_video(path)
    for start in range(0, info.num_frames, CHUNK):
        stop = min(start + CHUNK, info.num_frames)
        yield from decode.read_frames(path, range(start, stop), size=size, info=info)


_FLOW = {}  # per process: method -> estimator (TV-L1 objects are reused)


def _flow_fn(method: str):
    if method not in _FLOW:
        from .flow import flow_estimator

        _FLOW[method] = flow_estimator(method)[1]
    return _FLOW[method]


def _write_frames(src: str, folder: str, s: ExtractSettings) -> int:
    from .flow import to_gray

    prev = None
    n = 0
    for n, frame in enumerate(video_frames(src, s.size), 1):
        if "rgb" in s.modalities:
            write_rgb(os.path.join(folder, s.rgb_template.format(n)), frame, s.jpeg_quality)
        if "flow" in s.modalities:
            gray = to_gray(frame)
            if prev is not None:
                q = quantize_flow(_flow_fn(s.flow_method)(prev, gray), s.flow_bound)
                for c, template in enumerate(s.flow_templates):
                    write_gray(os.path.join(folder, template.format(n - 1)), q[..., c],
                               s.jpeg_quality)
            prev = gray
    if "flow" in s.modalities and n < 2:
        raise decode.DecodeError("%s has %d frame(s); flow needs at least 2" % (src, n))
    return n


def extract_video(src: str, dest: str, settings: ExtractSettings) -> str:
    """Extract one video into ``dest`` (skipped if it exists); returns ``dest``."""
    if os.path.isdir(dest):
        return dest
    part = "%s.part-%d" % (dest, os.getpid())
    shutil.rmtree(part, ignore_errors=True)
    os.makedirs(part)
    try:
        _write_frames(src, part, settings)
        os.rename(part, dest)  # atomic: a folder named dest is always complete
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return dest


def _job(args):
    src, dest, settings = args
    try:
        extract_video(src, dest, settings)
        return src, None
    except Exception as err:  # noqa: BLE001 - a bad video is listed, the run goes on
        return src, "%s: %s" % (type(err).__name__, err)


def _run_jobs(todo, workers):
    """(src, error or None) per job, in this process (workers=0) or in a pool."""
    if workers == 0:
        yield from map(_job, todo)
        return
    # forkserver, not fork: a worker forked from this process could deadlock on
    # locks its decoder or OpenCV threads held; the server imports this module
    # once and forks the workers from that clean state
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with context.Pool(min(workers, max(1, len(todo))), _worker_init) as pool:
        yield from pool.imap_unordered(_job, todo)


def _worker_init():
    try:
        import cv2

        cv2.setNumThreads(1)  # the processes are the parallelism
    except ImportError:
        pass


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------
def parse_size(text: str) -> decode.FrameSize:
    if text == "native":
        return None
    try:
        if "x" in text:
            h, w = (int(v) for v in text.split("x"))
            return (h, w)
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "--size must be HxW (128x170), a short side (256) or 'native', got %r" % text) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="smartops-extract", description="Videos -> rawframe folders (RGB JPEGs and optical flow).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("annotations", nargs="+",
                   help="annotation files (list, Kinetics CSV, UCF101/HMDB51 split) of the videos")
    p.add_argument("--out", required=True, help="folder for the frame folders and lists")
    p.add_argument("--root", help="folder the annotation paths are relative to")
    p.add_argument("--split", type=int, default=1, help="official split number (UCF101/HMDB51)")
    p.add_argument("--mode", default="train", choices=("train", "val"),
                   help="which part of an HMDB51 split file to take")
    p.add_argument("--modality", nargs="+", default=["rgb", "flow"], choices=("rgb", "flow"))
    p.add_argument("--size", type=parse_size, default=(128, 170),
                   help="HxW, short side, or 'native' (default 128x170, the paper's)")
    p.add_argument("--flow-method", default="auto", choices=("auto", "tvl1", "dis", "farneback"),
                   help="auto = TV-L1 where OpenCV has it, else DIS")
    p.add_argument("--jpeg-quality", type=int, default=95)
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                   help="parallel processes (0: extract in this process)")
    return p


def _settings(args) -> ExtractSettings:
    method = None
    if "flow" in args.modality:
        from .flow import flow_estimator

        method = flow_estimator(args.flow_method)[0]  # resolves 'auto', fails early if missing
    return ExtractSettings(tuple(sorted(args.modality)), args.size, method, args.jpeg_quality)


def _record_settings(out: str, settings: ExtractSettings) -> None:
    """Write OUT/extract.json, or check that a resumed run uses the same settings."""
    path = os.path.join(out, "extract.json")
    mine = json.loads(json.dumps(asdict(settings)))
    if os.path.exists(path):
        with open(path) as f:
            before = json.load(f)
        if before != mine:
            raise SystemExit("smartops-extract: %s was extracted with other settings:\n  %s\n"
                             "this run: %s\nuse the same options to resume, or another --out"
                             % (out, before, mine))
        return
    with open(path + ".tmp", "w") as f:
        json.dump(mine, f, indent=1)
    os.replace(path + ".tmp", path)


def _plan(args) -> Tuple[Dict[str, List[Tuple[str, int]]], Dict[str, str], ClassIndex]:
    """Per annotation file: [(frame_dir, label)]; src path per frame_dir; classes."""
    lists: Dict[str, List[Tuple[str, int]]] = {}
    sources: Dict[str, str] = {}
    classes = None
    for ann in args.annotations:
        records, found = load_annotations(ann, root=args.root, mode=args.mode, split=args.split,
                                          class_names=classes)
        classes = classes or found
        root = args.root or os.path.dirname(os.path.abspath(ann))
        rows = []
        for r in records:
            rel = os.path.relpath(r.path, root)
            if rel.startswith(os.pardir):
                rel = os.path.basename(r.path)
            frame_dir = os.path.splitext(rel)[0]
            sources[frame_dir] = r.path
            rows.append((frame_dir, r.label))
        name = os.path.splitext(os.path.basename(os.path.normpath(ann)))[0]
        lists[name] = rows
    return lists, sources, classes


def _write_lists(out, lists, failed, settings) -> None:
    for name, rows in lists.items():
        for modality in settings.modalities:
            template = (settings.rgb_template if modality == "rgb" else settings.flow_templates[0])
            lines = ["%s %d %d\n" % (d, count_frames(os.path.join(out, d), template), label)
                     for d, label in rows if d not in failed]
            with open(os.path.join(out, "%s_%s.txt" % (name, modality)), "w") as f:
                f.writelines(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .engine.cli import run_main

    return run_main("smartops-extract", _run, argv)


def _run(argv) -> int:
    from .engine.cli import CLIError

    args = build_parser().parse_args(argv)
    if args.workers < 0:
        raise SystemExit("smartops-extract: --workers must be >= 0")
    from .engine.progress import Progress

    try:  # bad annotations or a missing OpenCV: one line, before any work
        settings = _settings(args)
        lists, sources, classes = _plan(args)
    except (ValueError, OSError, ImportError) as err:
        raise CLIError(str(err)) from None
    os.makedirs(args.out, exist_ok=True)
    _record_settings(args.out, settings)
    todo = []
    for frame_dir, src in sources.items():
        dest = os.path.join(args.out, frame_dir)
        for stale in glob.glob(glob.escape(dest) + ".part-*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        if not os.path.isdir(dest):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            todo.append((src, dest, settings))
    print("smartops-extract: %d videos, %d done before, %d to extract (%s, flow: %s) -> %s"
          % (len(sources), len(sources) - len(todo), len(todo), "+".join(settings.modalities),
             settings.flow_method or "-", args.out), file=sys.stderr, flush=True)
    failed: Dict[str, str] = {}
    progress = Progress(len(todo), desc="extract", unit="videos")
    for src, error in _run_jobs(todo, args.workers):
        if error:
            failed[src] = error
        progress.update(1, failed=str(len(failed)))
    progress.close()
    by_dir = {d for d, s in sources.items() if s in failed}
    _write_lists(args.out, lists, by_dir, settings)
    with open(os.path.join(args.out, "classes.txt"), "w") as f:
        f.writelines(n + "\n" for n in classes.names)
    with open(os.path.join(args.out, "failed.txt"), "w") as f:
        f.writelines("%s\t%s\n" % kv for kv in sorted(failed.items()))
    for src, error in sorted(failed.items()):
        print("failed: %s (%s)" % (src, error), file=sys.stderr)
    print("smartops-extract: %d extracted, %d failed%s; lists: %s" % (
        len(todo) - len(failed), len(failed),
        " (see %s)" % os.path.join(args.out, "failed.txt") if failed else "",
        ", ".join("%s_{%s}.txt" % (n, ",".join(settings.modalities)) for n in lists)),
        file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
