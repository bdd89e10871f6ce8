"""Which decoder output is frame i of a file, and where to start decoding it.

Frame i of a video is the (i+1)-th frame the decoder outputs when the stream
is decoded from its start (the convention of OpenCV's reader, decord and
torchcodec). Timestamps only help to find frame i quickly; real files lie
about them (B-frames whose pts equal their dts, AVI, which stores no
presentation times, shifted or nonzero starts, variable frame rate with gaps),
so the index of a file is built in one of three ways, cheapest first:

``timestamps``  one pass over the packets (demuxing; only the first few are
                decoded). The decoder outputs frames in pts order
                when the pts are true presentation times, so frame i is the
                frame whose pts is the i-th smallest packet pts. The head
                decode checks exactly that; if it holds, the index is done.
``decoded``     the decoder's output order disagrees with the pts order (the
                pts are decode-order stamps), but every output frame carries
                a distinct pts from its packet: one decode of the whole file
                (without pixel conversion) records which pts is frame i.
``sequential``  frames carry no usable pts: frame i is read by decoding from
                the start and counting.

In the first two modes a frame is recognised by its pts, so a read can start
at any keyframe packet: the reader knows which frames may follow it (those
displayed at or after the keyframe) and checks that the demuxer really
delivers that packet (or an earlier start point) after a seek, falling back
to demuxing from the start when it does not (``FrameIndex.seek_ok`` is then
cleared for the file).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

__all__ = ["FrameIndex", "Keyframe", "build_index", "HEAD_PACKETS"]

#: packets decoded to check that the decoder outputs frames in pts order
#: (B-frame reordering shows within a few packets; the reader also checks
#: the order of every frame it decodes)
HEAD_PACKETS = 16


@dataclass(frozen=True)
class Keyframe:
    """A packet decoding can start from: the first frame index that is
    exact when decoding starts here, and the packet's pts (None for the
    start of the file: nothing is skipped)."""

    first: int
    pts: Optional[int]


@dataclass
class FrameIndex:
    """How to find the frames of one file, kept small for caches of many
    files: frame i's pts is ``pts_start + i * pts_step`` when the frames are
    evenly spaced in display order (most files: a few bytes), else looked up
    in arrays (about 12 bytes per frame)."""

    mode: str  # "timestamps", "decoded" or "sequential"
    num_frames: int
    #: start points sorted by ``first``; always starts with the file start
    keyframes: List[Keyframe]
    #: display rotation in degrees, counter-clockwise (display matrix)
    rotation: int = 0
    #: cleared when a seek of this file landed somewhere unexpected
    seek_ok: bool = True
    #: evenly spaced frames (step > 0); else the arrays below
    pts_start: int = 0
    pts_step: int = 0
    #: frame pts, sorted, and the frame index of each
    sorted_pts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    frame_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def frame_of(self, pts: Optional[int]) -> Optional[int]:
        """The frame index of the frame with ``pts`` (None if unknown)."""
        if pts is None or self.mode == "sequential":
            return None
        if self.pts_step:
            i, rest = divmod(pts - self.pts_start, self.pts_step)
            return i if rest == 0 and 0 <= i < self.num_frames else None
        k = int(np.searchsorted(self.sorted_pts, pts))
        if k < len(self.sorted_pts) and self.sorted_pts[k] == pts:
            return int(self.frame_at[k])
        return None

    def read_sequentially(self) -> None:
        """From now on, read this file by decoding and counting from its
        start (its frames turned out not to be recognisable by pts)."""
        self.mode, self.seek_ok = "sequential", False
        self.keyframes = [Keyframe(0, None)]

    def start_for(self, index: int) -> Keyframe:
        """The start point with the largest ``first`` <= ``index``."""
        pos = bisect.bisect_right([k.first for k in self.keyframes], index) - 1
        return self.keyframes[max(pos, 0)]


@dataclass(frozen=True)
class _Packet:
    pts: Optional[int]
    key: bool
    discard: bool


def _scan(container, stream, head_packets: Optional[int]):
    """Every non-empty video packet in decode order, and the pts of the
    frames output by decoding the first ``head_packets`` of them (all, with
    the final flush, when None) plus the rotation of the first frame; the
    packets after the head are only demuxed."""
    packets: List[_Packet] = []
    outputs, rotation = [], 0
    for p in container.demux(stream):
        if p.size:
            packets.append(_Packet(p.pts, bool(p.is_keyframe), bool(p.is_discard)))
        if head_packets is not None and len(packets) > head_packets:
            continue
        for frame in p.decode():
            if not outputs:
                rotation = int(getattr(frame, "rotation", 0) or 0)
            outputs.append(frame.pts)
    return packets, outputs, rotation


def build_index(container, open_container) -> FrameIndex:
    """The frame index of the file open in ``container`` (just opened:
    nothing demuxed yet); ``open_container()`` opens it afresh when a full
    decode is needed."""
    packets, head, rotation = _scan(container, container.streams.video[0], HEAD_PACKETS)
    all_pts = [p.pts for p in packets if not p.discard]
    if None not in all_pts and len(set(all_pts)) == len(all_pts):
        ordered = sorted(all_pts)
        if head and head == ordered[:len(head)]:
            return _indexed("timestamps", ordered, packets, rotation)
    with open_container() as container:
        _, outputs, rotation = _scan(container, container.streams.video[0], None)
    if None not in outputs and len(set(outputs)) == len(outputs) and set(outputs) <= {p.pts for p in packets}:
        return _indexed("decoded", outputs, packets, rotation)
    return FrameIndex("sequential", len(outputs), [Keyframe(0, None)], rotation, seek_ok=False)


def _indexed(mode: str, frame_pts: List[int], packets: List[_Packet], rotation: int) -> FrameIndex:
    """An index whose frame i has pts ``frame_pts[i]``; keyframe packets
    become start points (a keyframe that is not a decoded frame, e.g. one
    cut by an edit list, cannot be one)."""
    pts = np.asarray(frame_pts, np.int64)
    steps = np.diff(pts)
    if len(pts) > 1 and steps[0] > 0 and (steps == steps[0]).all():
        index = FrameIndex(mode, len(pts), [], rotation, pts_start=int(pts[0]), pts_step=int(steps[0]))
    else:
        order = np.argsort(pts, kind="stable")
        index = FrameIndex(mode, len(pts), [], rotation, sorted_pts=pts[order], frame_at=order.astype(np.int32))
    starts = {0: Keyframe(0, None)}
    for p in packets:
        first = index.frame_of(p.pts) if p.key and not p.discard else None
        if first is not None:
            starts.setdefault(first, Keyframe(first, p.pts))
    index.keyframes = sorted(starts.values(), key=lambda k: k.first)
    return index
