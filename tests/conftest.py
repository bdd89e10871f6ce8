"""Shared fixtures of the data tests (tests/test_data_*.py): tiny real videos
encoded with PyAV. Keep this file to data fixtures."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def index_frames(n, h=32, w=40, start=0):
    """Grey frames whose level encodes the frame index: 4 + 6 * (i % 40)."""
    levels = 4 + 6 * (np.arange(start, start + n) % 40)
    return np.broadcast_to(levels[:, None, None, None], (n, h, w, 3)).astype(np.uint8).copy()


def read_index(frame_values):
    """Frame index from the mean level of a decoded frame (any layout)."""
    return int(round((float(np.asarray(frame_values, dtype=np.float64).mean()) - 4) / 6))


def coded_frames(n, h=32, w=40):
    """Frames coding their index in base 16 over two halves (up to 256
    frames): left half 8 + 15 * (i % 16), right half 8 + 15 * (i // 16)."""
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        out[i, :, : w // 2] = 8 + 15 * (i % 16)
        out[i, :, w // 2:] = 8 + 15 * (i // 16)
    return out


def read_coded(frame):
    """Index from a decoded (H, W, 3) frame of :func:`coded_frames`."""
    frame = np.asarray(frame, dtype=np.float64)
    w = frame.shape[1]
    lo = round((frame[:, : w // 4].mean() - 8) / 15)
    hi = round((frame[:, 3 * w // 4:].mean() - 8) / 15)
    return int(hi * 16 + lo)


def gradient_frames(n, h=48, w=64):
    """R = 4 x, G = 4 y, B = 4 + 6 * frame index: a pixel tells where it came
    from (crop position, flip) and from which frame."""
    y, x = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        out[i, ..., 0] = 4 * x
        out[i, ..., 1] = 4 * y
        out[i, ..., 2] = 4 + 6 * i
    return out


@pytest.fixture(scope="session")
def fr():
    """The frame makers and readers above."""
    return SimpleNamespace(index=index_frames, read_index=read_index, coded=coded_frames,
                           read_coded=read_coded, gradient=gradient_frames)


@pytest.fixture(scope="session")
def encode():
    """encode(path, frames, **write_video kwargs) -> path."""
    from smartops.data.synthetic import write_video

    def _encode(path, frames, **kw):
        kw.setdefault("crf", 12)
        write_video(path, frames, **kw)
        return Path(path)

    return _encode


@pytest.fixture(scope="session")
def videos(tmp_path_factory, encode):
    """A few tiny videos shared by the data tests."""
    d = tmp_path_factory.mktemp("data_videos")
    v = {
        "index40": encode(d / "index40.mp4", index_frames(40)),
        "short6": encode(d / "short6.mp4", index_frames(6)),
        # near-lossless (yuv444p, crf 0): exact positions readable from pixels
        "grad": encode(d / "grad.mp4", gradient_frames(20), pix_fmt="yuv444p", crf=0),
        # 240 frames, a keyframe every 10 frames
        "long": encode(d / "long.mp4", coded_frames(240), gop=10),
        "index40_avi": encode(d / "index40.avi", index_frames(40), codec="mpeg4"),
        "index40_mkv": encode(d / "index40.mkv", index_frames(40)),
    }
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = d / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    v.update(empty=empty, corrupt=corrupt, missing=d / "missing.mp4", dir=d)
    return v


@pytest.fixture
def class_folders(tmp_path, encode):
    """root/<class>/*.mp4: 2 classes x 3 index-coded videos of 24 frames."""
    root = tmp_path / "videos"
    for c, name in enumerate(["jump", "walk"]):
        (root / name).mkdir(parents=True)
        for k in range(3):
            encode(root / name / ("%s_%d.mp4" % (name, k)), index_frames(24, start=c * 8 + k))
    return root


@pytest.fixture
def shared_data():
    """/work/shared/data (CI has ../shared beside the repo); skip if absent."""
    d = SHARED / "data"
    if not d.is_dir():
        pytest.skip("shared data folder not found at %s" % d)
    return d


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """{name: CorpusFile} of smartops.data.corpus (every codec/container
    pair this PyAV can write; frame k shows k in binary blocks), written once
    per test session."""
    from smartops.data.corpus import write_corpus

    return write_corpus(str(tmp_path_factory.mktemp("corpus")))
