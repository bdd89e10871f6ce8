"""Optical flow stored as 8-bit images, as in the original two-stream release.

TSN's ``dense_flow`` (used by ARTNet's authors and by MMAction2) writes each
flow component as a grayscale image: ``q = round(255 * (v + bound) / (2 *
bound))``, clipped to 0..255, with ``bound = 20`` pixels per frame. The inverse
is ``v = q * 2 * bound / 255 - bound``; that is exactly what ``to_float``
computes with :data:`FLOW_MEAN` and :data:`FLOW_STD`, so flow items come out
in pixels per frame (quantised to 40/255 = 0.157 px/frame).

The mean is 127.5, not TSN's 128, so that a horizontal flip, which maps
``q_x`` to ``255 - q_x``, negates the loaded x flow exactly.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["FLOW_BOUND", "FLOW_MEAN", "FLOW_STD", "quantize_flow", "dequantize_flow",
           "hflip_flow"]

#: pixels per frame mapped to 0 and 255
FLOW_BOUND = 20.0
#: ``to_float(q, FLOW_MEAN, FLOW_STD)`` = ``dequantize_flow(q)``
FLOW_MEAN = (127.5, 127.5)
FLOW_STD = (255.0 / (2 * FLOW_BOUND),) * 2


def quantize_flow(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """float (..., 2) flow in pixels/frame -> uint8 (..., 2), clipped at +-bound."""
    q = np.rint((np.asarray(flow, np.float64) + bound) * (255.0 / (2 * bound)))
    return np.clip(q, 0, 255).astype(np.uint8)


def dequantize_flow(q: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """uint8 -> float32 flow in pixels/frame, computed as ``to_float`` does
    (centre, then scale), which keeps ``q`` and ``255 - q`` exact opposites."""
    return (np.asarray(q, np.float32) - np.float32(127.5)) / np.float32(255.0 / (2 * bound))


def hflip_flow(clip: torch.Tensor) -> torch.Tensor:
    """Mirror a uint8 (T, H, W, 2) flow clip left-right: the x component
    changes sign, which on the 8-bit scale is ``255 - q_x``."""
    out = clip.flip(2).clone()
    out[..., 0] = 255 - out[..., 0]
    return out
