"""A synthetic dataset that only a model of motion can classify.

Every video shows textured square patches moving at a constant speed over a
static textured background; the class is the direction of motion (K
directions equally spaced on the circle: for K = 4 right, down, left, up).
Per video, the background texture, the patch textures and the start position
are drawn at random, the same way for every class, and the patches wrap
around the frame edges, so the position of a patch in any frame is uniform
whatever the class. The speed is the same for all classes (so is the amount
of codec residual). A single frame, or the unordered set of frames, carries
no information about the class: a frame-level model (C2D, which averages
per-frame features) stays at chance, while models that relate neighbouring
frames (C3D, relation/ARTNet) can learn it. Opposite directions are even the
same frames in reverse order.

Command line::

    python -m smartops.data.synthetic --out DIR [--classes 4]
        [--videos-per-class 40] [--frames 24] [--size 72x96] [--seed 0]

writes ``DIR/<class>/<class>_NNN.mp4`` (H.264 ``libx264``, crf 20, yuv420p,
or MPEG-4 part 2 when libx264 is missing), ``DIR/train.txt`` and
``DIR/val.txt`` (``path label`` lines, 75 % / 25 % of each class),
``DIR/classes.txt`` (one name per line) and ``DIR/meta.json``. Read it with
``VideoDataset(DIR / "train.txt", frame_size=None, crop_size=64, flip=False)``
and evaluate with at most 5 crops: a horizontal flip turns motion to the
right into motion to the left and keeps the label, so flipped training clips
and the flipped test views of 10-crop testing are mislabelled
(``smartops-train`` and ``smartops-eval`` do this for synthetic data).
The default set (4 x 40 videos of 24 frames at 72 x 96) takes a few seconds.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["write_video", "render_motion_video", "direction_names", "generate_synthetic", "main"]

_COMPASS = {
    2: ["right", "left"],
    4: ["right", "down", "left", "up"],
    8: ["right", "down_right", "down", "down_left", "left", "up_left", "up", "up_right"],
}


def default_codec() -> str:
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def write_video(path: Union[str, os.PathLike], frames: np.ndarray, fps: int = 25,
                codec: str = "auto", crf: int = 20, gop: Optional[int] = None,
                pix_fmt: str = "yuv420p", options: Optional[Dict[str, str]] = None) -> str:
    """Encode uint8 RGB frames (N, H, W, 3) to ``path`` with PyAV.

    ``codec="auto"`` is libx264 (``crf``) if available, else mpeg4 (high
    bit rate). ``gop`` sets the keyframe interval. H and W must be even for
    yuv420p. Returns the codec used.
    """
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError("frames must be uint8 (N, H, W, 3), got %s %s" % (frames.dtype, frames.shape))
    n, h, w, _ = frames.shape
    if pix_fmt == "yuv420p" and (h % 2 or w % 2):
        raise ValueError("yuv420p needs even frame sizes, got %dx%d" % (h, w))
    if codec == "auto":
        codec = default_codec()
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.codec_context.thread_count = 1
        if gop is not None:
            stream.codec_context.gop_size = int(gop)
        opts = {}
        if codec.startswith("libx264"):
            opts = {"crf": str(crf), "preset": "veryfast"}
            if gop is not None:
                opts["x264-params"] = "keyint=%d:min-keyint=%d:scenecut=0" % (gop, gop)
        else:
            stream.bit_rate = max(2_000_000, h * w * fps * 4)
        opts.update(options or {})
        stream.options = opts
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return codec


def direction_names(num_classes: int) -> List[str]:
    if num_classes in _COMPASS:
        return list(_COMPASS[num_classes])
    return ["angle%03d" % round(360.0 * k / num_classes) for k in range(num_classes)]


def _smooth_texture(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Random colour texture: a coarse random grid, bilinearly upsampled."""
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.uniform(0, 255, size=(gh, gw, 3))
    ys = np.arange(h) / cell
    xs = np.arange(w) / cell
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + c * fy * (1 - fx) + d * fy * fx)


def render_motion_video(rng: np.random.Generator, angle: float, frames: int = 24,
                        size: Tuple[int, int] = (72, 96), speed: float = 2.0,
                        objects: int = 2, patch: Optional[int] = None,
                        return_positions: bool = False):
    """One video (frames, H, W, 3) uint8 of ``objects`` textured patches
    moving in direction ``angle`` (radians, image coordinates: 0 = right,
    pi/2 = down) at ``speed`` px/frame over a static background, wrapping
    around the edges. Positions are rounded to whole pixels, so the patches
    are never resampled (no blur that would depend on the direction).
    With ``return_positions``, also returns the (frames, objects, 2) integer
    top-left (y, x) of the patches."""
    h, w = size
    p = patch or max(4, (min(h, w) // 4) // 2 * 2)
    background = _smooth_texture(rng, h, w, cell=max(4, min(h, w) // 6))
    background = (0.35 * background + 0.65 * rng.uniform(60, 190)).astype(np.uint8)
    patches, starts = [], []
    for _ in range(objects):
        tex = np.kron(rng.integers(0, 256, size=(p // 4 + 1, p // 4 + 1, 3)),
                      np.ones((4, 4, 1)))[:p, :p]
        patches.append(tex.astype(np.uint8))
        starts.append((rng.uniform(0, h), rng.uniform(0, w)))
    vy, vx = speed * math.sin(angle), speed * math.cos(angle)
    out = np.empty((frames, h, w, 3), np.uint8)
    positions = np.empty((frames, objects, 2), np.int64)
    rows0, cols0 = np.arange(p), np.arange(p)
    for t in range(frames):
        frame = background.copy()
        for j, (tex, (y0, x0)) in enumerate(zip(patches, starts)):
            y = int(round(y0 + vy * t)) % h
            x = int(round(x0 + vx * t)) % w
            frame[np.ix_((y + rows0) % h, (x + cols0) % w)] = tex
            positions[t, j] = (y, x)
        out[t] = frame
    return (out, positions) if return_positions else out


def generate_synthetic(
    out: Union[str, os.PathLike],
    classes: int = 4,
    videos_per_class: int = 40,
    frames: int = 24,
    size: Tuple[int, int] = (72, 96),
    seed: int = 0,
    val_fraction: float = 0.25,
    speed: float = 2.0,
    objects: int = 2,
    fps: int = 25,
    codec: str = "auto",
    crf: int = 20,
    progress: Optional[Callable[[str], None]] = None,
) -> Dict:
    """Write the dataset to ``out`` (see the module doc); returns its meta."""
    if classes < 2:
        raise ValueError("need at least 2 classes")
    if videos_per_class < 2:
        raise ValueError("need at least 2 videos per class (train and val)")
    t0 = time.time()
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    names = direction_names(classes)
    if codec == "auto":
        codec = default_codec()
    n_val = max(1, int(round(videos_per_class * val_fraction)))
    n_train = videos_per_class - n_val
    if n_train < 1:
        raise ValueError("val_fraction leaves no training videos")
    train, val = [], []
    for k, name in enumerate(names):
        os.makedirs(os.path.join(out, name), exist_ok=True)
        angle = 2 * math.pi * k / classes
        for v in range(videos_per_class):
            rng = np.random.default_rng([seed, k, v])
            video = render_motion_video(rng, angle, frames, size, speed, objects)
            rel = "%s/%s_%03d.mp4" % (name, name, v)
            write_video(os.path.join(out, rel), video, fps=fps, codec=codec, crf=crf)
            (train if v < n_train else val).append("%s %d" % (rel, k))
        if progress:
            progress("[%d/%d] %-10s %d videos (%.1fs)" % (k + 1, classes, name, videos_per_class,
                                                       time.time() - t0))
    for fname, lines in (("train.txt", train), ("val.txt", val), ("classes.txt", names)):
        with open(os.path.join(out, fname), "w") as f:
            f.write("\n".join(lines) + "\n")
    meta = dict(classes=names, videos_per_class=videos_per_class, train_per_class=n_train,
                val_per_class=n_val, frames=frames, size=list(size), seed=seed, speed=speed,
                objects=objects, fps=fps, codec=codec, crf=crf,
                seconds=round(time.time() - t0, 2),
                note="classes differ only in the direction of motion")
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def _size(text: str) -> Tuple[int, int]:
    try:
        h, w = text.lower().split("x")
        return int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError("size must be HxW, e.g. 72x96") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smartops.data.synthetic",
                                 description="Write a synthetic motion-only video dataset.")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--classes", type=int, default=4, help="number of motion directions (4)")
    ap.add_argument("--videos-per-class", type=int, default=40, help="videos per class (40)")
    ap.add_argument("--frames", type=int, default=24, help="frames per video (24)")
    ap.add_argument("--size", type=_size, default=(72, 96), help="frame size HxW (72x96)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.25)
    ap.add_argument("--speed", type=float, default=2.0, help="pixels per frame (2)")
    ap.add_argument("--objects", type=int, default=2, help="moving patches per video (2)")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--codec", default="auto", help="libx264 (default if present) or mpeg4")
    ap.add_argument("--crf", type=int, default=20)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    say = None if args.quiet else (lambda s: print(s, flush=True))
    meta = generate_synthetic(args.out, args.classes, args.videos_per_class, args.frames,
                              args.size, args.seed, args.val_fraction, args.speed,
                              args.objects, args.fps, args.codec, args.crf, progress=say)
    if say:
        say("wrote %d videos (%d train, %d val per class, %d frames %dx%d, %s) to %s in %.1fs"
            % (len(meta["classes"]) * meta["videos_per_class"], meta["train_per_class"],
               meta["val_per_class"], meta["frames"], meta["size"][0], meta["size"][1],
               meta["codec"], args.out, meta["seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
