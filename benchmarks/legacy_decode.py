"""The decoder of smartops.data before frame-exact indexing (commit cfb0a12), kept
ONLY so that benchmarks/decode_accuracy.py and bench_data_loader.py can compare old
and new in the same run. Not used by the package.

Original doc: Reading frames from video files with PyAV.

Only what a clip needs is decoded: the reader seeks to the keyframe before the
first wanted frame and decodes forward until the last wanted frame of a run;
runs of wanted frames that lie far apart are reached with a new seek. Frames
are converted to RGB and resized by libswscale (``VideoFrame.reformat``) while
decoding and stay ``uint8`` numpy arrays of shape (N, H, W, 3).

Frame indices are derived from presentation timestamps:
``index = round((pts - start_pts) * time_base * fps)``. Indices outside
``[0, num_frames)`` are wrapped (``i % num_frames``), which is how clips longer
than a video are looped; frames that the container announces but that cannot
be decoded (a truncated tail, a frame count that was over-estimated) are
replaced by the nearest decoded frame before them.
"""
from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Dict, Iterable, Optional, Tuple, Union

import numpy as np

# the helpers that did not change are shared with the current decoder
from smartops.data.decode import (  # noqa: F401 - re-exported for the benchmarks
    DecodeError,
    VideoInfo,
    _count,
    _gather,
    _open,
    _reformatter,
    _runs,
    _stream_fps,
    decode_stats,
    reset_decode_stats,
    resolve_size,
)

FrameSize = Union[None, int, Tuple[int, int]]
_PROBE_CACHE: Dict[Tuple[str, int, int], VideoInfo] = {}


def clear_probe_cache() -> None:
    _PROBE_CACHE.clear()


def probe_video(path: Union[str, os.PathLike], use_cache: bool = True) -> VideoInfo:
    """Frame count, fps and size of ``path``, cached per (path, mtime, size).

    ``stream.frames`` is used when the container stores it (mp4, avi); it is 0
    for e.g. mkv/webm, where ``duration * fps`` is used, and when neither is
    known the video packets are counted (demuxing only, no decoding).
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError("video file not found: %s" % path) from None
    key = (path, st.st_mtime_ns, st.st_size)
    if use_cache and key in _PROBE_CACHE:
        return _PROBE_CACHE[key]
    with _open(path) as container:
        stream = container.streams.video[0]
        fps = _stream_fps(stream)
        width = stream.codec_context.width
        height = stream.codec_context.height
        n = int(stream.frames or 0)
        source = "stream"
        if n <= 0:
            duration = None
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / 1_000_000.0
            if duration:
                n = int(round(duration * fps))
                source = "duration"
        if n <= 0:
            n = sum(1 for p in container.demux(stream) if p.size)
            source = "count"
    if n <= 0 or not width or not height:
        raise DecodeError("no video frames in %s" % path)
    info = VideoInfo(path, n, fps, int(width), int(height), source)
    if use_cache:
        if len(_PROBE_CACHE) > 100_000:
            _PROBE_CACHE.clear()
        _PROBE_CACHE[key] = info
    return info


def read_frames(
    path: Union[str, os.PathLike],
    indices: Iterable[int],
    size: FrameSize = (128, 170),
    info: Optional[VideoInfo] = None,
    seek_gap: int = 32,
    threads: int = 1,
) -> np.ndarray:
    """Decode the frames ``indices`` of ``path``.

    Returns a uint8 array (len(indices), H, W, 3), RGB, in the order of
    ``indices`` (which may repeat and need not be sorted). Indices are taken
    modulo the frame count, so a clip longer than the video loops. Only the
    frames between the keyframe before each run of wanted frames and the last
    frame of the run are decoded; a new seek is made when the next wanted frame
    is more than ``seek_gap`` frames ahead.
    """
    path = os.fspath(path)
    if info is None:
        info = probe_video(path)
    n = info.num_frames
    wanted = [int(i) % n for i in indices]
    if not wanted:
        h, w = resolve_size(info.height, info.width, size)
        return np.zeros((0, h, w, 3), np.uint8)
    uniq = sorted(set(wanted))
    got: Dict[int, np.ndarray] = {}
    out_hw = resolve_size(info.height, info.width, size)

    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_count = max(0, int(threads))
        tb = stream.time_base or Fraction(1, 1)
        fps = info.fps
        start = stream.start_time or 0
        decoded = 0

        reformatter = _reformatter()

        def convert(frame) -> np.ndarray:
            h, w = out_hw
            if (frame.height, frame.width) != (h, w) or frame.format.name != "rgb24":
                # threads=1: libswscale's slice threads would not survive a
                # fork into DataLoader workers (and workers parallelise anyway)
                frame = reformatter.reformat(frame, width=w, height=h, format="rgb24",
                                             interpolation="BILINEAR", threads=1)
            return frame.to_ndarray()

        def seek(index: int):
            pts = start + int(math.floor(index / fps / tb))
            container.seek(pts, stream=stream, backward=True, any_frame=False)
            _count("seeks")
            return container.decode(stream)

        def timestamped(frames):
            nonlocal decoded
            for frame in frames:
                decoded += 1
                if frame.pts is None:
                    raise _NoTimestamps()
                yield int(round(float((frame.pts - start) * tb) * fps)), frame

        position = -1  # index of the last decoded frame
        frames = None
        try:
            for run in _runs(uniq, seek_gap):
                check_first = False
                if frames is None or not (0 <= run[0] - position <= seek_gap):
                    frames = timestamped(seek(run[0]))
                    check_first = True
                run_set = set(run)
                while True:
                    item = next(frames, None)
                    if item is None:  # end of stream
                        frames, position = None, -1
                        break
                    idx, frame = item
                    if check_first:
                        check_first = False
                        if idx > run[0]:
                            # the index put us past the target: start over
                            # from the beginning of the stream
                            frames = timestamped(seek(0))
                            continue
                    position = idx
                    if idx in run_set and idx not in got:
                        got[idx] = convert(frame)
                    if idx >= run[-1]:
                        break
        except _NoTimestamps:
            # no timestamps: count frames from the start of the stream
            got.clear()
            want = set(uniq)
            for counter, frame in enumerate(seek(0)):
                decoded += 1
                if counter in want:
                    got[counter] = convert(frame)
                if counter >= uniq[-1]:
                    break
        _count("frames_decoded", decoded)

    return _gather(got, wanted, path)


class _NoTimestamps(Exception):
    pass
