"""Frame-index samplers (which frames make a clip).

A clip is ``clip_len`` frames ``frame_stride`` apart, i.e. it spans
``span = (clip_len - 1) * frame_stride + 1`` frames. All samplers return
int64 arrays of frame indices; indices may exceed ``num_frames - 1`` when the
video is shorter than the span: the reader takes them modulo the frame count,
so such videos are looped (0, 1, ..., n-1, 0, 1, ...).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = [
    "clip_span",
    "clip_at",
    "random_clip",
    "center_clip",
    "uniform_clips",
    "segment_clips",
]


def clip_span(clip_len: int, frame_stride: int = 1) -> int:
    if clip_len < 1 or frame_stride < 1:
        raise ValueError("clip_len and frame_stride must be >= 1")
    return (clip_len - 1) * frame_stride + 1


def clip_at(start: int, clip_len: int, frame_stride: int = 1) -> np.ndarray:
    """Indices of the clip starting at ``start``."""
    return int(start) + np.arange(clip_len, dtype=np.int64) * frame_stride


def random_clip(num_frames: int, clip_len: int, frame_stride: int,
                rng: np.random.Generator) -> np.ndarray:
    """Training: a clip at a uniformly random position; videos shorter than
    the span start at frame 0 and loop."""
    span = clip_span(clip_len, frame_stride)
    start = int(rng.integers(0, num_frames - span + 1)) if num_frames >= span else 0
    return clip_at(start, clip_len, frame_stride)


def center_clip(num_frames: int, clip_len: int, frame_stride: int = 1) -> np.ndarray:
    """Validation: the clip in the middle of the video."""
    span = clip_span(clip_len, frame_stride)
    return clip_at(max(num_frames - span, 0) // 2, clip_len, frame_stride)


def uniform_clips(num_frames: int, num_clips: int, clip_len: int,
                  frame_stride: int = 1) -> np.ndarray:
    """Test: ``num_clips`` clips spread uniformly over the video.

    The possible start positions ``0 .. num_frames - span`` are cut into
    ``num_clips`` equal bins and each clip starts in the middle of its bin
    (one clip = the centre clip). Returns (num_clips, clip_len).
    """
    if num_clips < 1:
        raise ValueError("num_clips must be >= 1")
    span = clip_span(clip_len, frame_stride)
    room = max(num_frames - span, 0)
    if num_clips == 1:
        starts = [room // 2]
    else:
        starts = [int((room + 1) * (k + 0.5) / num_clips) for k in range(num_clips)]
    return np.stack([clip_at(s, clip_len, frame_stride) for s in starts])


def segment_clips(num_frames: int, num_segments: int, clip_len: int,
                  frame_stride: int = 1,
                  rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """TSN: split the video into ``num_segments`` equal segments and take one
    clip per segment, at a random position inside the segment when ``rng`` is
    given (training) or in its middle otherwise (evaluation).

    A clip may run past the end of a segment shorter than the span (it is kept
    inside the video when the video is long enough, and loops otherwise).
    Returns (num_segments, clip_len).
    """
    if num_segments < 1:
        raise ValueError("num_segments must be >= 1")
    span = clip_span(clip_len, frame_stride)
    bounds = np.linspace(0, num_frames, num_segments + 1)
    out = []
    for k in range(num_segments):
        lo, hi = int(bounds[k]), max(int(bounds[k + 1]), int(bounds[k]) + 1)
        room = max(hi - lo - span, 0)
        offset = int(rng.integers(0, room + 1)) if rng is not None else room // 2
        start = lo + offset
        if num_frames >= span:
            start = min(start, num_frames - span)
        else:
            start = 0 if num_segments == 1 else start
        out.append(clip_at(start, clip_len, frame_stride))
    return np.stack(out)
