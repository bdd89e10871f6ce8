"""Reading and writing single frame images (JPEG, PNG) with OpenCV.

OpenCV (``pip install opencv-contrib-python-headless``, the ``rawframes`` /
``flow`` extra) is the one optional dependency of frame folders because the
flow extractor needs it anyway (its TV-L1), its libjpeg-turbo decodes a
128x170 JPEG in about 0.15 ms, and it is the decoder MMAction2 uses by
default, so existing rawframe datasets load with the same pixel values.
PyAV's MJPEG decoder was tried: its chroma upsampling differed from
libjpeg's by 4.8 levels on average (36 at most) on RGB frames.
torchvision's ``decode_jpeg`` would pull another torch build.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["import_cv2", "read_rgb", "read_gray", "write_rgb", "write_gray"]

INSTALL_HINT = ("pip install opencv-contrib-python-headless  (or pip install "
                "'smartops[rawframes]')")


def import_cv2():
    try:
        import cv2
    except ImportError:
        raise ImportError("frame folders (JPEG rawframes) and optical flow need OpenCV: "
                          + INSTALL_HINT) from None
    return cv2


def _read(path: str, flag: int) -> np.ndarray:
    cv2 = import_cv2()
    data = np.fromfile(path, np.uint8)  # raises FileNotFoundError with the path
    image = cv2.imdecode(data, flag)
    if image is None:
        raise ValueError("cannot decode image %s (%d bytes)" % (path, data.size))
    return image


def read_rgb(path: str) -> np.ndarray:
    """uint8 (H, W, 3) RGB."""
    cv2 = import_cv2()
    return np.ascontiguousarray(_read(path, cv2.IMREAD_COLOR)[:, :, ::-1])


def read_gray(path: str) -> np.ndarray:
    """uint8 (H, W)."""
    return _read(path, import_cv2().IMREAD_GRAYSCALE)


def _write(path: str, image: np.ndarray, jpeg_quality: int) -> None:
    cv2 = import_cv2()
    ext = os.path.splitext(path)[1].lower()
    params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)] if ext in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(ext, image, params)
    if not ok:
        raise ValueError("OpenCV cannot write %r images (%s)" % (ext, path))
    data.tofile(path)


def write_rgb(path: str, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write uint8 (H, W, 3) RGB; the format follows the extension."""
    _write(path, np.ascontiguousarray(image[:, :, ::-1]), jpeg_quality)


def write_gray(path: str, image: np.ndarray, jpeg_quality: int = 95) -> None:
    _write(path, np.ascontiguousarray(image), jpeg_quality)
