"""The synthetic motion-only dataset."""
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from smartops.data import VideoDataset, read_frames
from smartops.data.synthetic import direction_names, generate_synthetic, main, render_motion_video

REPO = Path(__file__).resolve().parents[1]


def test_classes_differ_only_in_motion():
    """Same seed, different class: the same first frame (textures, background
    and start positions do not depend on the class); then the patches move by
    `speed` px per frame in the class's direction, wrapping around."""
    videos, positions = [], []
    for k in range(4):
        v, p = render_motion_video(np.random.default_rng(5), 2 * math.pi * k / 4, frames=6,
                                   size=(32, 40), speed=2, return_positions=True)
        videos.append(v)
        positions.append(p)
    assert all(np.array_equal(videos[0][0], v[0]) for v in videos)
    assert not np.array_equal(videos[0][3], videos[1][3])
    steps = [(0, 2), (2, 0), (0, -2), (-2, 0)]  # right, down, left, up as (dy, dx)
    for k, p in enumerate(positions):
        d = np.diff(p, axis=0)
        d = (d + np.array([16, 20])) % np.array([32, 40]) - np.array([16, 20])  # unwrap
        assert {tuple(x) for x in d.reshape(-1, 2)} == {steps[k]}
    assert direction_names(4) == ["right", "down", "left", "up"]
    assert direction_names(3) == ["angle000", "angle120", "angle240"]


def test_cli_small_dataset_reads_back(tmp_path):
    out = tmp_path / "syn"
    assert main(["--out", str(out), "--classes", "2", "--videos-per-class", "4", "--frames", "10",
                 "--size", "32x40", "--seed", "3", "--quiet"]) == 0
    assert (out / "classes.txt").read_text().split() == ["right", "left"]
    train = (out / "train.txt").read_text().splitlines()
    val = (out / "val.txt").read_text().splitlines()
    assert len(train) == 6 and len(val) == 2
    assert train[0] == "right/right_000.mp4 0"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["classes"] == ["right", "left"] and meta["frames"] == 10
    ds = VideoDataset(out / "train.txt", clip_len=8, frame_size=None, crop_size=24)
    assert ds.classes == ["right", "left"] and sorted(set(ds.labels)) == [0, 1]
    clip, label = ds[5]
    assert clip.shape == (3, 8, 24, 24) and label == 1
    # the motion survives encoding: decoded frames are close to the rendered
    # ones (PSNR) and so are their differences from frame to frame
    rendered = render_motion_video(np.random.default_rng([3, 0, 0]), 0.0, 10, (32, 40))
    decoded = read_frames(out / "right" / "right_000.mp4", range(10), size=None).astype(float)
    psnr = 10 * np.log10(255.0 ** 2 / ((decoded - rendered) ** 2).mean())
    assert psnr > 25
    moved = [np.diff(x.mean(-1), axis=0).ravel() for x in (decoded, rendered.astype(float))]
    assert np.corrcoef(*moved)[0, 1] > 0.9


def test_module_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "smartops.data.synthetic", "--out", str(tmp_path / "s"),
                        "--classes", "3", "--videos-per-class", "2", "--frames", "4", "--size", "16x16"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "[3/3]" in r.stdout and "wrote 6 videos" in r.stdout
    assert len(list((tmp_path / "s").glob("*/*.mp4"))) == 6


def test_default_size_is_quick(tmp_path):
    t0 = time.time()
    meta = generate_synthetic(tmp_path / "d")
    seconds = time.time() - t0
    assert len(meta["classes"]) == 4 and meta["videos_per_class"] == 40
    assert meta["frames"] == 24 and meta["size"] == [72, 96]
    assert len(list((tmp_path / "d").glob("*/*.mp4"))) == 160
    assert seconds < 60
    # the training example's setting: 64 x 64 crops of the 72 x 96 frames
    ds = VideoDataset(tmp_path / "d" / "train.txt", clip_len=16, frame_size=None, crop_size=64)
    assert len(ds) == 120 and ds[0][0].shape == (3, 16, 64, 64)


def test_rejects_bad_sizes(tmp_path):
    with pytest.raises(ValueError, match="even"):
        generate_synthetic(tmp_path, classes=2, videos_per_class=2, frames=2, size=(31, 40))
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--size", "big"])
