"""Checks of ``VideoDataset`` arguments at construction: a bad value is a
configuration error named at once, not a "bad video" at every item."""
from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence

__all__ = ["check_frame_size", "check_positive_int", "check_channel_values", "check_scales"]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    if not _is_int(value) or value < minimum:
        raise ValueError("%s must be an integer >= %d, got %r" % (name, minimum, value))
    return int(value)


def check_frame_size(frame_size, crop_size: int):
    """``frame_size``: None (native size), a short side (int) or (H, W); the
    crop must fit in a frame of that size. Returns it normalised."""
    if frame_size is None:
        return None
    if _is_int(frame_size):
        side = check_positive_int("frame_size", frame_size)
        if crop_size > side:
            raise ValueError("crop_size %d is larger than the short side frame_size=%d" % (crop_size, side))
        return side
    if not (isinstance(frame_size, Sequence) and len(frame_size) == 2 and all(_is_int(v) and v > 0
                                                                              for v in frame_size)):
        raise ValueError("frame_size must be None, a short side (int > 0) or (height, width) of positive "
                         "integers, got %r" % (frame_size,))
    h, w = (int(v) for v in frame_size)
    if crop_size > min(h, w):
        raise ValueError("crop_size %d is larger than the %dx%d frames of frame_size; lower crop_size or "
                         "raise frame_size" % (crop_size, h, w))
    return (h, w)


def check_channel_values(name: str, values: Optional[Sequence[float]], channels: int,
                         positive: bool) -> Optional[tuple]:
    """``mean``/``std``: None or one finite number per channel; std > 0."""
    if values is None:
        return None
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError("%s must be %d numbers (one per channel), got %r" % (name, channels, values)) from None
    if len(out) != channels or not all(math.isfinite(v) and (v > 0 or not positive) for v in out):
        raise ValueError("%s must be %d finite numbers%s (one per channel, 0..255 scale), got %r"
                         % (name, channels, " > 0" if positive else "", values))
    return out


def check_scales(scales: Sequence[float]) -> tuple:
    """Multi-scale crop fractions of the short side: in (0, 1]."""
    out = tuple(float(s) for s in scales)
    if not out or not all(0 < s <= 1 for s in out):
        raise ValueError("scales must be fractions in (0, 1] of the frame's short side, got %r" % (scales,))
    return out
