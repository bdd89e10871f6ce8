"""Test videos whose every frame shows its own index, over many codecs and
containers (used by the tests and ``benchmarks/decode_accuracy.py``).

Frame k shows k in binary as a grid of 16 x 16 black/white blocks (3 rows x
4 columns, most significant bit top left), which survives lossy compression
where a brightness ramp would not. :func:`read_code` reads it back.

Some corpus entries are written as real-world files are, with timestamps that
a reader must not trust: B-frames whose pts equal their dts, H.264 with
B-frames in AVI, a first pts shifted away from 0, MPEG-PS with a nonzero
start time, variable frame rate with gaps, a truncated tail, a rotation in
the display matrix. :func:`write_corpus` writes every entry whose encoder
this PyAV build has and returns ``{name: CorpusFile}``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

__all__ = ["BLOCK", "code_frames", "read_code", "CorpusFile", "CORPUS", "write_corpus"]

BLOCK = 16
ROWS, COLS = 3, 4  # 12 bits: indices up to 4095


def code_frames(n: int, start: int = 0) -> np.ndarray:
    """(n, 48, 64, 3) uint8 frames; frame k shows ``start + k`` in binary."""
    out = np.zeros((n, ROWS * BLOCK, COLS * BLOCK, 3), np.uint8)
    for k in range(n):
        value = start + k
        for bit in range(ROWS * COLS):
            if value >> (ROWS * COLS - 1 - bit) & 1:
                r, c = divmod(bit, COLS)
                out[k, r * BLOCK:(r + 1) * BLOCK, c * BLOCK:(c + 1) * BLOCK] = 255
    return out


def read_code(frame: np.ndarray) -> int:
    """The index shown by an upright decoded (48, 64, 3) frame (any size
    that is a multiple of the grid works: blocks are averaged)."""
    f = np.asarray(frame, np.float64).mean(axis=-1)
    h, w = f.shape
    value = 0
    for bit in range(ROWS * COLS):
        r, c = divmod(bit, COLS)
        # the inner half of each block: away from compression ringing at edges
        block = f[r * h // ROWS:(r + 1) * h // ROWS, c * w // COLS:(c + 1) * w // COLS]
        bh, bw = block.shape
        value = value << 1 | int(block[bh // 4:3 * bh // 4, bw // 4:3 * bw // 4].mean() > 127)
    return value


@dataclass(frozen=True)
class CorpusFile:
    """One written file: its path and the number of frames it holds."""

    path: str
    #: frames encoded (a truncated file holds fewer)
    frames: int


def _write(path: str, codec: str, frames: np.ndarray, fps: int = 25, bframes: int = 0,
           gop: int = 12, open_gop: bool = False, pts_of: Optional[Callable[[int], int]] = None,
           packet_hook: Optional[Callable] = None,
           rotation: Optional[int] = None, fmt: Optional[str] = None) -> None:
    """Encode ``frames`` to ``path``. ``pts_of(k)`` gives frame k's pts in
    units of 1/``fps`` (VFR, shifted starts); ``packet_hook(packet)`` edits
    each packet before muxing (e.g. pts = dts)."""
    import av

    with av.open(path, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps)
        n, h, w, _ = frames.shape
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        ctx = stream.codec_context
        ctx.thread_count = 1
        ctx.time_base = Fraction(1, fps)
        ctx.gop_size = gop
        ctx.max_b_frames = bframes
        opts = {}
        if codec == "libx264":
            opts = {"preset": "veryfast", "crf": "18",
                    "x264-params": "keyint=%d:min-keyint=%d:scenecut=0:bframes=%d:b-pyramid=0:open-gop=%d"
                    % (gop, gop, bframes, open_gop)}
        elif codec == "libx265":
            opts = {"preset": "ultrafast", "crf": "18",
                    "x265-params": "keyint=%d:min-keyint=%d:scenecut=0:bframes=%d:log-level=error"
                    % (gop, gop, bframes)}
        elif codec == "libvpx-vp9":
            opts = {"crf": "20", "b": "0", "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        else:
            stream.bit_rate = 4_000_000
        stream.options = opts
        if rotation is not None:
            stream.set_display_rotation(rotation)

        def mux(packets):
            for p in packets:
                if packet_hook is not None:
                    packet_hook(p)
                out.mux(p)

        for k, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = pts_of(k) if pts_of else k
            frame.time_base = Fraction(1, fps)
            mux(stream.encode(frame))
        mux(stream.encode())


def _pts_equals_dts(packet) -> None:
    if packet.dts is not None:
        packet.pts = packet.dts


def _vfr_pts(k: int) -> int:
    # gaps of 1, 1, 3, 1, 7, ... ticks of 1/25 s: a variable frame rate with holes
    return sum((1, 1, 3, 1, 7)[j % 5] for j in range(k))


def _truncate(path: str, keep: float = 0.7) -> None:
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])


@dataclass(frozen=True)
class _Entry:
    name: str
    codec: str
    ext: str
    bframes: int = 0
    frames: int = 48
    options: tuple = ()  # keyword arguments of _write, as pairs
    after: Optional[Callable[[str], None]] = None


#: every corpus file: (name, encoder, extension, B-frames, ...)
CORPUS: List[_Entry] = [
    _Entry("h264_mp4", "libx264", "mp4"),
    _Entry("h264_mp4_b", "libx264", "mp4", bframes=2),
    _Entry("h264_mkv", "libx264", "mkv"),
    _Entry("h264_mkv_b", "libx264", "mkv", bframes=2),
    _Entry("h264_mkv_open_gop", "libx264", "mkv", bframes=2, options=(("open_gop", True),)),
    _Entry("h264_avi", "libx264", "avi"),
    _Entry("h264_avi_b", "libx264", "avi", bframes=2),
    _Entry("h264_mp4_b_pts_eq_dts", "libx264", "mp4", bframes=2,
           options=(("packet_hook", _pts_equals_dts),)),
    _Entry("hevc_mp4", "libx265", "mp4"),
    _Entry("hevc_mp4_b", "libx265", "mp4", bframes=3),
    _Entry("hevc_mkv_b", "libx265", "mkv", bframes=3),
    _Entry("mpeg4_avi", "mpeg4", "avi"),
    _Entry("mpeg4_avi_b", "mpeg4", "avi", bframes=2),
    _Entry("mpeg4_mp4_b_shifted", "mpeg4", "mp4", bframes=2,
           options=(("pts_of", lambda k: k + 1),)),
    _Entry("h264_mp4_shifted_editlist", "libx264", "mp4", bframes=2,
           options=(("pts_of", lambda k: k + 13),)),
    _Entry("mpeg2_ps_start", "mpeg2video", "mpg", bframes=2,
           options=(("pts_of", lambda k: k + 14), ("fmt", "vob"))),
    _Entry("vp9_webm", "libvpx-vp9", "webm"),
    _Entry("mjpeg_avi", "mjpeg", "avi"),
    _Entry("mjpeg_mkv", "mjpeg", "mkv"),
    _Entry("h264_mp4_vfr", "libx264", "mp4", bframes=2, options=(("pts_of", _vfr_pts),)),
    _Entry("h264_mkv_vfr", "libx264", "mkv", options=(("pts_of", _vfr_pts),)),
    _Entry("h264_mkv_truncated", "libx264", "mkv", bframes=2, after=_truncate),
    _Entry("h264_mp4_rotated", "libx264", "mp4", options=(("rotation", 90),)),
    _Entry("h264_mp4_long", "libx264", "mp4", bframes=2, frames=300,
           options=(("gop", 30),)),
]


def stored_frames(entry_name: str, frames: np.ndarray) -> np.ndarray:
    """What is stored for upright ``frames``: a file with a display rotation
    stores its frames turned the other way (as a phone camera does)."""
    if entry_name.endswith("rotated"):
        # display rotation 90 (counter-clockwise) shows rot90(stored, 1)
        return np.ascontiguousarray(np.rot90(frames, -1, axes=(1, 2)))
    return frames


def write_corpus(folder: str, names: Optional[Sequence[str]] = None) -> Dict[str, CorpusFile]:
    """Write the corpus entries (all, or ``names``) whose encoder exists;
    returns {name: CorpusFile}."""
    import av

    os.makedirs(folder, exist_ok=True)
    out = {}
    for e in CORPUS:
        if names is not None and e.name not in names:
            continue
        if e.codec not in av.codecs_available:
            continue
        path = os.path.join(folder, "%s.%s" % (e.name, e.ext))
        frames = stored_frames(e.name, code_frames(e.frames))
        _write(path, e.codec, frames, bframes=e.bframes, **dict(e.options))
        if e.after is not None:
            e.after(path)
        out[e.name] = CorpusFile(path, e.frames)
    return out
