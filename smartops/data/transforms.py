"""Spatial transforms of clips.

Clips stay ``uint8`` tensors laid out (T, H, W, C) (as decoded) through
cropping, flipping and resizing; :func:`to_float` is the last step: it
permutes (never views) to (C, T, H, W), converts to float32 and subtracts the
per-channel mean (and divides by the std, if given).

Crop boxes are ``(top, left, height, width)`` in pixels.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "RGB_MEAN",
    "BGR_MEAN",
    "MULTISCALE_SCALES",
    "crop",
    "hflip",
    "resize",
    "center_crop_box",
    "random_crop_box",
    "multiscale_crop_box",
    "fixed_crop_boxes",
    "test_crop_views",
    "to_float",
]

#: The original release subtracts BGR (104, 117, 123) from 0..255 BGR frames;
#: the same mean in RGB order, for the RGB frames this package produces.
RGB_MEAN = (123.0, 117.0, 104.0)
BGR_MEAN = (104.0, 117.0, 123.0)
#: TSN-style multi-scale cropping of the original release: crop sides are
#: these fractions of the frame's short side.
MULTISCALE_SCALES = (1.0, 0.875, 0.75, 0.66)

Box = Tuple[int, int, int, int]


def crop(video: torch.Tensor, box: Box) -> torch.Tensor:
    """Crop a (T, H, W, C) clip to ``box``."""
    top, left, h, w = box
    if top < 0 or left < 0 or top + h > video.shape[1] or left + w > video.shape[2]:
        raise ValueError("crop box %r outside a %dx%d frame" % (box, video.shape[1], video.shape[2]))
    return video[:, top:top + h, left:left + w, :]


def hflip(video: torch.Tensor) -> torch.Tensor:
    """Mirror a (T, H, W, C) clip left-right."""
    return video.flip(2)


def resize(video: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a uint8 (T, H, W, C) clip to ``size`` = (H, W)."""
    if tuple(video.shape[1:3]) == tuple(size):
        return video
    x = video.permute(0, 3, 1, 2)  # (T, C, H, W)
    x = F.interpolate(x.contiguous(), size=tuple(size), mode="bilinear", align_corners=False)
    return x.permute(0, 2, 3, 1)


def _check(height: int, width: int, size: int) -> None:
    if size > height or size > width:
        raise ValueError("crop size %d larger than the %dx%d frames; set frame_size "
                         "(resize) and crop_size consistently" % (size, height, width))


def center_crop_box(height: int, width: int, size: int) -> Box:
    _check(height, width, size)
    return ((height - size) // 2, (width - size) // 2, size, size)


def random_crop_box(height: int, width: int, size: int, rng: np.random.Generator) -> Box:
    _check(height, width, size)
    return (int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1)),
            size, size)


def multiscale_crop_box(height: int, width: int, size: int, rng: np.random.Generator,
                        scales: Sequence[float] = MULTISCALE_SCALES, max_distort: int = 1,
                        fix_crop: bool = True, more_fix_crop: bool = True) -> Box:
    """TSN's multi-scale corner cropping (the original release's training
    crop): crop height and width are each one of ``scales`` x the short side
    (their scale indices at most ``max_distort`` apart; sides within 3 px of
    ``size`` snap to ``size``), placed at one of 5 fixed positions (corners
    and centre; 13 with ``more_fix_crop``) or anywhere if not ``fix_crop``.
    The crop is then resized to ``size`` x ``size`` (see :func:`resize`)."""
    base = min(height, width)
    sides = [int(base * s) for s in scales]
    sides = [size if abs(s - size) < 3 else s for s in sides]
    pairs = [(h, w) for i, h in enumerate(sides) for j, w in enumerate(sides)
             if abs(i - j) <= max_distort and h <= height and w <= width]
    if not pairs:
        raise ValueError("no multi-scale crop fits a %dx%d frame" % (height, width))
    ch, cw = pairs[int(rng.integers(0, len(pairs)))]
    if not fix_crop:
        return (int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1)), ch, cw)
    hs, ws = (height - ch) // 4, (width - cw) // 4
    offsets = [(0, 0), (0, 4 * ws), (4 * hs, 0), (4 * hs, 4 * ws), (2 * hs, 2 * ws)]
    if more_fix_crop:
        offsets += [(2 * hs, 0), (2 * hs, 4 * ws), (4 * hs, 2 * ws), (0, 2 * ws),
                    (hs, ws), (hs, 3 * ws), (3 * hs, ws), (3 * hs, 3 * ws)]
    top, left = offsets[int(rng.integers(0, len(offsets)))]
    return (top, left, ch, cw)


def fixed_crop_boxes(height: int, width: int, size: int, num_crops: int) -> List[Tuple[Box, bool]]:
    """The evaluation crops as (box, flipped) pairs.

    1: centre; 2: centre and its flip; 3: three crops along the long side
    (start, centre, end); 5: top-left, top-right, bottom-left, bottom-right,
    centre; 10: those five, then the same five flipped (the paper's test).
    """
    _check(height, width, size)
    bottom, right = height - size, width - size
    c = center_crop_box(height, width, size)
    if num_crops == 1:
        return [(c, False)]
    if num_crops == 2:
        return [(c, False), (c, True)]
    if num_crops == 3:
        if width >= height:
            boxes = [(c[0], 0), (c[0], c[1]), (c[0], right)]
        else:
            boxes = [(0, c[1]), (c[0], c[1]), (bottom, c[1])]
        return [((t, l, size, size), False) for t, l in boxes]
    five = [(0, 0), (0, right), (bottom, 0), (bottom, right), (c[0], c[1])]
    five = [(t, l, size, size) for t, l in five]
    if num_crops == 5:
        return [(b, False) for b in five]
    if num_crops == 10:
        return [(b, False) for b in five] + [(b, True) for b in five]
    raise ValueError("num_crops must be 1, 2, 3, 5 or 10, got %r" % (num_crops,))


def test_crop_views(video: torch.Tensor, size: int, num_crops: int,
                    flip=hflip) -> List[torch.Tensor]:
    """The ``num_crops`` uint8 (T, size, size, C) views of one clip; ``flip``
    mirrors a view (optical flow also negates its x channel)."""
    views = []
    for box, flipped in fixed_crop_boxes(video.shape[1], video.shape[2], size, num_crops):
        v = crop(video, box)
        views.append(flip(v) if flipped else v)
    return views


def to_float(video: torch.Tensor, mean: Optional[Sequence[float]] = RGB_MEAN,
             std: Optional[Sequence[float]] = None) -> torch.Tensor:
    """uint8 (..., T, H, W, C) -> float32 (..., C, T, H, W), minus ``mean``,
    divided by ``std`` (both per channel, on the 0..255 scale)."""
    if video.dtype != torch.uint8:
        raise TypeError("to_float expects a uint8 clip, got %s" % video.dtype)
    nd = video.dim()
    perm = list(range(nd - 4)) + [nd - 1, nd - 4, nd - 3, nd - 2]
    x = video.permute(*perm).to(torch.float32)
    c = x.shape[-4]
    if mean is not None:
        m = torch.as_tensor(mean, dtype=torch.float32).reshape(c, 1, 1, 1)
        x = x - m
    if std is not None:
        s = torch.as_tensor(std, dtype=torch.float32).reshape(c, 1, 1, 1)
        x = x / s
    return x.contiguous()
