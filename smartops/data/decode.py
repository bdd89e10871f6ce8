"""Reading frames from video files with PyAV.

Frame i of a video is the (i+1)-th frame the decoder outputs when the stream
is decoded from its start (as in OpenCV, decord and torchcodec), whatever the
timestamps say; ``num_frames`` is the number of frames the decoder produces.
:mod:`smartops.data.frame_index` finds, once per file, how to recognise frame
i and where decoding may start; the index is cached per (path, mtime, size)
in the process and, given ``cache_folder``, on disk (VideoDataset shares one
between its DataLoader workers).

Only what a clip needs is decoded: the reader starts at the keyframe before
the first wanted frame and decodes forward until the last wanted frame of a
run; runs of wanted frames that lie far apart are reached with a new seek.
Every seek is checked (the demuxer must deliver the expected keyframe packet);
a file whose seeks land elsewhere is read by demuxing from its start (packets
before the keyframe are skipped, not decoded), and a file whose decoded
frames cannot be recognised is read by decoding from its start. A seek
problem therefore never makes a file unreadable: a read through a seek
returns exactly what a sequential read returns.

Frames are turned upright by the display rotation, converted to RGB and
resized by libswscale (``VideoReformatter``) while decoding and stay
``uint8`` numpy arrays of shape (N, H, W, 3). Indices outside
``[0, num_frames)`` are wrapped (``i % num_frames``), which is how clips
longer than a video are looped; frames that cannot be decoded (a truncated
tail) are replaced by the nearest decoded frame before them.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .frame_index import FrameIndex, Keyframe, build_index

__all__ = [
    "DecodeError",
    "VideoInfo",
    "probe_video",
    "read_frames",
    "read_all_frames",
    "resolve_size",
    "decode_stats",
    "reset_decode_stats",
    "clear_probe_cache",
]

#: ``int`` = short side (aspect ratio kept), ``(H, W)`` = exact size,
#: ``None`` = native size.
FrameSize = Union[None, int, Tuple[int, int]]

#: how ``VideoInfo.num_frames`` was found, per index mode
_COUNT_SOURCE = {
    "timestamps": "packets",   # counted packets; the head decode confirmed pts order
    "decoded": "decoded",      # one full decode of the file
    "sequential": "decoded",
}


class DecodeError(RuntimeError):
    """A video file exists but yields no usable video frames."""


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of one video file (first video stream). ``width`` and
    ``height`` are those of the upright (displayed) frames."""

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    #: where ``num_frames`` came from: "packets" (a packet scan, checked by
    #: decoding the first packets) or "decoded" (a full decode)
    frames_source: str = "packets"
    #: display rotation applied to the frames (degrees, counter-clockwise)
    rotation: int = 0
    #: how frames are found; None: built on first read
    index: Optional[FrameIndex] = field(default=None, repr=False, compare=False)


# ---------------------------------------------------------------------------
# decode statistics (per process; used by tests and benchmarks)
# ---------------------------------------------------------------------------
_STATS_LOCK = threading.Lock()
_STATS = {"frames_decoded": 0, "seeks": 0, "files_opened": 0, "fallbacks": 0}


def decode_stats() -> Dict[str, int]:
    """Counters of this process: frames decoded, seeks, files opened, and
    reads that fell back to the file start after a seek landed elsewhere."""
    with _STATS_LOCK:
        return dict(_STATS)


def reset_decode_stats() -> None:
    with _STATS_LOCK:
        for k in _STATS:
            _STATS[k] = 0


def _count(key: str, n: int = 1) -> None:
    with _STATS_LOCK:
        _STATS[key] += n


# ---------------------------------------------------------------------------
# probing
# ---------------------------------------------------------------------------
#: in-process cache of recent files (LRU); older ones come back from the
#: disk cache (``cache_folder``) or are probed again
_PROBE_CACHE: "OrderedDict[Tuple[str, int, int], VideoInfo]" = OrderedDict()
_CACHE_SIZE = 4096


def _remember(key, info: VideoInfo) -> None:
    _PROBE_CACHE[key] = info
    _PROBE_CACHE.move_to_end(key)
    while len(_PROBE_CACHE) > _CACHE_SIZE:
        _PROBE_CACHE.popitem(last=False)


def clear_probe_cache() -> None:
    _PROBE_CACHE.clear()


def _open(path: str):
    import av  # imported lazily: importing smartops.data stays cheap

    if not os.path.exists(path):
        raise FileNotFoundError("video file not found: %s" % path)
    if os.path.getsize(path) == 0:
        raise DecodeError("video file is empty: %s" % path)
    container = av.open(path, metadata_errors="ignore")
    _count("files_opened")
    if not container.streams.video:
        container.close()
        raise DecodeError("no video stream in %s" % path)
    return container


def _stream_fps(stream) -> float:
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate:
            return float(rate)
    return 25.0


def _disk_entry(folder: str, key: Tuple[str, int, int]) -> str:
    return os.path.join(folder, "index-%s.pkl" % hashlib.sha1(repr(key).encode()).hexdigest()[:24])


def _load(folder: Optional[str], key) -> Optional[VideoInfo]:
    if folder is None:
        return None
    try:
        with open(_disk_entry(folder, key), "rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        return None


def _store(folder: Optional[str], key, info: VideoInfo) -> None:
    if folder is None:
        return
    target = _disk_entry(folder, key)
    tmp = "%s.%d.tmp" % (target, os.getpid())
    try:
        with open(tmp, "wb") as f:
            pickle.dump(info, f)
        os.replace(tmp, target)  # atomic: readers never see half a file
    except OSError:
        pass  # a cache that cannot be written only costs time


def probe_video(path: Union[str, os.PathLike], use_cache: bool = True,
                cache_folder: Optional[str] = None) -> VideoInfo:
    """Frame count, fps, upright size and frame index of ``path``, cached per
    (path, mtime, size) in this process and in ``cache_folder`` if given.

    Costs one pass over the packets (no decoding) and a decode of the first
    few packets; files whose timestamps do not give the decoder's output
    order are decoded once in full (see :mod:`smartops.data.frame_index`)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError("video file not found: %s" % path) from None
    key = (path, st.st_mtime_ns, st.st_size)
    if use_cache:
        info = _PROBE_CACHE.get(key) or _load(cache_folder, key)
        if info is not None:
            _remember(key, info)
            return info
    with _open(path) as container:
        stream = container.streams.video[0]
        fps = _stream_fps(stream)
        width, height = stream.codec_context.width, stream.codec_context.height
        try:
            index = build_index(container, lambda: _open(path))
        except DecodeError:
            raise
        except Exception as err:  # noqa: BLE001 - any demux/decode failure of a broken file
            raise DecodeError("cannot read %s: %s: %s" % (path, type(err).__name__, err)) from None
    if index.num_frames <= 0 or not width or not height:
        raise DecodeError("no video frames in %s" % path)
    if index.rotation % 180:
        width, height = height, width
    info = VideoInfo(path, index.num_frames, fps, int(width), int(height), _COUNT_SOURCE[index.mode],
                     index.rotation, index)
    if use_cache:
        _remember(key, info)
        _store(cache_folder, key, info)
    return info


# ---------------------------------------------------------------------------
# frame conversion
# ---------------------------------------------------------------------------
def resolve_size(height: int, width: int, size: FrameSize) -> Tuple[int, int]:
    """Output (H, W) for a frame of ``height`` x ``width`` and ``size``."""
    if size is None:
        return height, width
    if isinstance(size, int):
        short = size
        if height <= width:
            return short, max(1, int(round(width * short / height)))
        return max(1, int(round(height * short / width))), short
    h, w = size
    return int(h), int(w)


_LOCAL = threading.local()


def _reformatter():
    """A VideoReformatter kept per thread: it keeps its libswscale context
    between frames (``frame.reformat`` builds a new one for every frame,
    which costs more than the conversion itself)."""
    r = getattr(_LOCAL, "reformatter", None)
    if r is None or _LOCAL.pid != os.getpid():
        from av.video.reformatter import VideoReformatter

        # never reuse a context across fork (DataLoader workers)
        r = _LOCAL.reformatter = VideoReformatter()
        _LOCAL.pid = os.getpid()
    return r


class _Converter:
    """Decoded frame -> upright RGB uint8 (H, W, 3) of the output size."""

    def __init__(self, out_hw: Tuple[int, int], rotation: int):
        self.quarter_turns = (rotation // 90) % 4
        h, w = out_hw
        # scale before turning: the stored frame has the turned shape
        self.stored_hw = (w, h) if self.quarter_turns % 2 else (h, w)
        self.reformatter = _reformatter()

    def __call__(self, frame) -> np.ndarray:
        h, w = self.stored_hw
        if (frame.height, frame.width) != (h, w) or frame.format.name != "rgb24":
            # threads=1: libswscale's slice threads would not survive a
            # fork into DataLoader workers (and workers parallelise anyway)
            frame = self.reformatter.reformat(frame, width=w, height=h, format="rgb24",
                                              interpolation="BILINEAR", threads=1)
        image = frame.to_ndarray()
        if self.quarter_turns:
            image = np.ascontiguousarray(np.rot90(image, self.quarter_turns))
        return image


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
class _Unrecognised(Exception):
    """A decoded frame whose pts the index does not know, or that comes
    out of the order the index gives."""


class _File:
    """One open file, read from start points of its index."""

    def __init__(self, path: str, index: FrameIndex, threads: int):
        self.path, self.index, self.threads = path, index, threads
        self.container = None
        self.decoded = 0

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def _reopen(self):
        self.close()
        self.container = _open(self.path)
        self.stream = self.container.streams.video[0]
        self.stream.thread_count = max(0, int(self.threads))
        return self.container.demux(self.stream)

    def _packets_from(self, start: Keyframe):
        """Packets in decode order from ``start`` (seek if allowed)."""
        if start.pts is None:
            return self._reopen()
        if self.index.seek_ok:
            if self.container is None:
                self._reopen()
            landed, first, packets = self._seek(start)
            if landed is not None and landed <= start.first:  # at or before the target
                return self._skip_to(_chain(first, packets), start.pts)
            self.index.seek_ok = False  # remembered for this file
            _count("fallbacks")
        return self._skip_to(self._reopen(), start.pts)

    def _seek(self, start: Keyframe):
        """Seek to ``start``'s pts (mp4 and mkv index keyframes by pts; a
        seek by dts lands a keyframe early). Returns (the frame index of the
        first packet delivered if it is a keyframe, else None; the packet;
        the packets after it). Keyframes keep their order in decode order,
        so a keyframe with a smaller frame index comes before ``start``."""
        import av

        _count("seeks")
        try:
            self.container.seek(start.pts, stream=self.stream, backward=True, any_frame=False)
            packets = self.container.demux(self.stream)
            first = next((p for p in packets if p.size), None)
        except av.error.FFmpegError:
            return None, None, None
        if first is None or not first.is_keyframe:
            return None, first, packets
        return self.index.frame_of(first.pts), first, packets

    @staticmethod
    def _skip_to(packets, pts: int):
        """Drop (without decoding) the packets before the one with ``pts``."""
        for p in packets:
            if p.size and p.pts == pts:
                yield p
                break
        yield from packets

    def frames_from(self, start: Keyframe) -> Iterator[Tuple[int, object]]:
        """(index, frame) of the frames exact from ``start``, in order."""
        frame_of = self.index.frame_of
        sequential = self.index.mode == "sequential"
        last = -1
        for packet in self._packets_from(start):
            for frame in packet.decode():
                self.decoded += 1
                if sequential:
                    i = last + 1
                else:
                    i = frame_of(frame.pts)
                    if i is None or i <= last:  # unknown, or out of order: the pts lie
                        raise _Unrecognised()
                last = i
                if i >= start.first:
                    yield i, frame


def _chain(first, rest):
    yield first
    yield from rest


def _runs(indices: Sequence[int], gap: int):
    """Split sorted unique indices into runs whose inner gaps are <= gap."""
    run = [indices[0]]
    for i in indices[1:]:
        if i - run[-1] > gap:
            yield run
            run = [i]
        else:
            run.append(i)
    yield run


def _read_runs(file: _File, uniq: List[int], convert, seek_gap: int) -> Dict[int, np.ndarray]:
    """Decode the frames ``uniq`` (sorted), run by run: a run within
    ``seek_gap`` of the last decoded frame continues the same decode, others
    start at their keyframe."""
    got: Dict[int, np.ndarray] = {}
    frames, position = None, -1
    for run in _runs(uniq, seek_gap):
        start = file.index.start_for(run[0])
        if frames is None or not (position < run[0] and (run[0] - position <= seek_gap
                                                            or start.first <= position)):
            frames = file.frames_from(start)
        wanted = set(run)
        for i, frame in frames:
            position = i
            if i in wanted:
                got[i] = convert(frame)
            if i >= run[-1]:
                break
        else:
            frames, position = None, -1  # end of stream
    return got


def _decode_safely(file: _File, uniq: List[int], convert, seek_gap: int) -> Dict[int, np.ndarray]:
    """``_read_runs``, then, from the file start, whatever a start point did
    not deliver. A frame the index cannot recognise turns the file's index
    to sequential reading for good. Decoder errors end the stream as they
    would for a sequential read; frames missing even from the start (a
    truncated tail) stay missing."""
    import av

    got: Dict[int, np.ndarray] = {}
    try:
        got = _read_runs(file, uniq, convert, seek_gap)
    except _Unrecognised:
        file.index.read_sequentially()
    except av.error.FFmpegError:
        pass
    missing = [i for i in uniq if i not in got]
    if missing and not (file.index.mode == "sequential" and got):
        _count("fallbacks")
        from_start = _File(file.path, _sequential(file.index), file.threads)
        try:
            got.update(_read_runs(from_start, missing, convert, seek_gap=file.index.num_frames))
        except av.error.FFmpegError:
            pass
        finally:
            from_start.close()
            file.decoded += from_start.decoded
    return got


def _sequential(index: FrameIndex) -> FrameIndex:
    """The same file read by decoding and counting from the start."""
    return FrameIndex("sequential", index.num_frames, [Keyframe(0, None)], index.rotation, False)


def read_frames(
    path: Union[str, os.PathLike],
    indices: Iterable[int],
    size: FrameSize = (128, 170),
    info: Optional[VideoInfo] = None,
    seek_gap: int = 32,
    threads: int = 1,
) -> np.ndarray:
    """Decode the frames ``indices`` of ``path``.

    Returns a uint8 array (len(indices), H, W, 3), RGB, upright, in the order
    of ``indices`` (which may repeat and need not be sorted). Indices are
    taken modulo the frame count, so a clip longer than the video loops. Only
    the frames between the keyframe before each run of wanted frames and the
    last frame of the run are decoded; a new seek is made when the next
    wanted frame is more than ``seek_gap`` frames ahead.
    """
    path = os.fspath(path)
    if info is None or info.index is None:
        probed = probe_video(path)
        info = probed if info is None else info
        index = probed.index
    else:
        index = info.index
    n = info.num_frames
    wanted = [int(i) % n for i in indices]
    out_hw = resolve_size(info.height, info.width, size)
    if not wanted:
        return np.zeros((0,) + out_hw + (3,), np.uint8)
    uniq = sorted(set(wanted))
    file = _File(path, index, threads)
    try:
        got = _decode_safely(file, uniq, _Converter(out_hw, index.rotation), seek_gap)
    finally:
        file.close()
        _count("frames_decoded", file.decoded)
    return _gather(got, wanted, path)


def _gather(got: Dict[int, np.ndarray], wanted: List[int], path: str) -> np.ndarray:
    """The frames ``wanted`` from ``got``; frames announced but not
    decodable take the nearest decoded frame before them (after them for a
    missing head)."""
    if not got:
        raise DecodeError("could not decode any frame of %s" % path)
    have = sorted(got)
    for i in set(wanted) - set(got):
        got[i] = got[have[max(int(np.searchsorted(have, i)) - 1, 0)]]
    return np.stack([got[i] for i in wanted])


def read_all_frames(path: Union[str, os.PathLike], size: FrameSize = None) -> np.ndarray:
    """Every frame of ``path``, decoded from its start in output order and
    converted like :func:`read_frames` (the reference of the tests)."""
    info = probe_video(path)
    file = _File(os.fspath(path), _sequential(info.index), 1)
    convert = _Converter(resolve_size(info.height, info.width, size), info.rotation)
    try:
        return np.stack([convert(frame) for _, frame in file.frames_from(Keyframe(0, None))])
    finally:
        file.close()
