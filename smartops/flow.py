"""Dense optical flow between consecutive frames, with OpenCV.

``tvl1`` is the original two-stream choice (TV-L1, as in TSN's dense_flow),
from the contrib ``optflow`` module (``opencv-contrib-python-headless``).
Where only core OpenCV is installed, ``auto`` falls back to ``dis`` (DIS,
medium preset), then ``farneback``. Flow is computed on grayscale frames and
returned as float32 (H, W, 2) = (x, y) in pixels per frame.
"""
from __future__ import annotations

from typing import Callable, List, Tuple

import numpy as np

from .data.image_files import import_cv2

__all__ = ["FLOW_METHODS", "available_methods", "flow_estimator", "to_gray"]

FLOW_METHODS = ("tvl1", "dis", "farneback")
FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def available_methods() -> List[str]:
    """The methods this OpenCV build offers, best first."""
    cv2 = import_cv2()
    found = []
    if hasattr(getattr(cv2, "optflow", None), "DualTVL1OpticalFlow_create"):
        found.append("tvl1")
    if hasattr(cv2, "DISOpticalFlow_create"):
        found.append("dis")
    found.append("farneback")  # in every OpenCV build
    return found


def _tvl1(cv2) -> FlowFn:
    algo = cv2.optflow.DualTVL1OpticalFlow_create()  # OpenCV's defaults, as dense_flow
    return lambda prev, nxt: algo.calc(prev, nxt, None)


def _dis(cv2) -> FlowFn:
    algo = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return lambda prev, nxt: algo.calc(prev, nxt, None)


def _farneback(cv2) -> FlowFn:
    # pyramid scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5, sigma 1.2
    return lambda prev, nxt: cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 15, 3, 5,
                                                          1.2, 0)


_MAKERS = {"tvl1": _tvl1, "dis": _dis, "farneback": _farneback}


def flow_estimator(method: str = "auto") -> Tuple[str, FlowFn]:
    """(method used, fn(prev_gray, next_gray) -> float32 (H, W, 2))."""
    cv2 = import_cv2()
    have = available_methods()
    if method == "auto":
        method = have[0]
    elif method not in FLOW_METHODS:
        raise ValueError("unknown flow method %r; choose auto, %s" % (method, ", ".join(FLOW_METHODS)))
    elif method not in have:
        raise ValueError("flow method %r is not in this OpenCV build (%s); install "
                         "opencv-contrib-python-headless for TV-L1 or choose one of: %s"
                         % (method, cv2.__version__, ", ".join(have)))
    make = _MAKERS[method](cv2)

    def flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return np.asarray(make(np.ascontiguousarray(prev), np.ascontiguousarray(nxt)), np.float32)

    return method, flow


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> uint8 (H, W), OpenCV's luma weights."""
    cv2 = import_cv2()
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
