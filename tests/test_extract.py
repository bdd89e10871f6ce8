"""smartops-extract: videos -> rawframe folders. Frame-exact round trip,
flow direction, corrupt input, resuming after a kill, and the lists that
RawframeDataset reads back."""
import glob
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("cv2", reason="extraction needs OpenCV (the 'flow' extra)")

from smartops.data import decode  # noqa: E402
from smartops.data.image_files import read_gray, read_rgb  # noqa: E402
from smartops.data.rawframes import RawframeDataset  # noqa: E402
from smartops.data.synthetic import write_video  # noqa: E402
from smartops.extract import ExtractSettings, extract_video, main  # noqa: E402

SHIFT = 2  # px per frame, to the right


def moving_texture(n, h=48, w=64, seed=0):
    """A smooth random texture moving right by SHIFT px per frame."""
    import cv2

    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur((rng.random((h, w + SHIFT * n, 3)) * 255).astype(np.uint8), (0, 0), 2)
    return np.stack([big[:, SHIFT * (n - k): SHIFT * (n - k) + w] for k in range(n)])


@pytest.fixture
def video(tmp_path):
    path = str(tmp_path / "videos" / "move.mp4")
    os.makedirs(os.path.dirname(path))
    write_video(path, moving_texture(12), gop=5)
    return path


def test_rgb_frames_equal_the_decoded_frames(video, tmp_path):
    settings = ExtractSettings(("rgb",), (32, 40), None, 95, rgb_template="img_{:05d}.png")
    dest = extract_video(video, str(tmp_path / "out" / "move"), settings)
    decoded = decode.read_frames(video, range(12), size=(32, 40))
    files = sorted(os.listdir(dest))
    assert files == ["img_%05d.png" % k for k in range(1, 13)]  # one per frame, numbered from 1
    for k, frame in enumerate(decoded):
        assert np.array_equal(read_rgb(os.path.join(dest, files[k])), frame)  # lossless: exact


def test_flow_shows_the_motion(video, tmp_path):
    settings = ExtractSettings(("flow",), None, "dis", 95)
    dest = extract_video(video, str(tmp_path / "out" / "move"), settings)
    assert len(glob.glob(os.path.join(dest, "flow_x_*.jpg"))) == 11  # frames - 1
    x = np.mean([read_gray(p) for p in glob.glob(os.path.join(dest, "flow_x_*.jpg"))], 0)
    y = np.mean([read_gray(p) for p in glob.glob(os.path.join(dest, "flow_y_*.jpg"))], 0)
    inner = (slice(8, -8), slice(8, -8))
    # 8-bit flow: 127.5 + 6.375 px/frame
    assert abs((x[inner].mean() - 127.5) / 6.375 - SHIFT) < 0.5
    assert abs((y[inner].mean() - 127.5) / 6.375) < 0.5


def make_videos(folder, count, frames=12, size=(48, 64)):
    rows = []
    for i in range(count):
        rel = "cls%d/v%d.mp4" % (i % 2, i)
        os.makedirs(os.path.join(folder, os.path.dirname(rel)), exist_ok=True)
        write_video(os.path.join(folder, rel), moving_texture(frames, *size, seed=i), gop=5)
        rows.append("%s %d\n" % (rel, i % 2))
    return rows


def test_cli_lists_corrupt_videos_and_goes_on(tmp_path, capsys):
    root = tmp_path / "videos"
    rows = make_videos(str(root), 3)
    (root / "cls1" / "bad.mp4").write_bytes(b"\x00not a video" * 50)
    rows.append("cls1/bad.mp4 1\n")
    (root / "train.txt").write_text("".join(rows))
    out = tmp_path / "frames"
    code = main([str(root / "train.txt"), "--out", str(out), "--size", "32x40",
                 "--flow-method", "farneback", "--workers", "2"])
    assert code == 1
    assert "cls1/bad.mp4" in (out / "failed.txt").read_text()
    assert "failed: " in capsys.readouterr().err
    assert not (out / "cls1" / "bad").exists()
    assert (out / "train_rgb.txt").read_text().splitlines() == [
        "cls0/v0 12 0", "cls1/v1 12 1", "cls0/v2 12 0"]
    assert (out / "train_flow.txt").read_text().splitlines()[0] == "cls0/v0 11 0"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # counts match, no bad items
        rgb = RawframeDataset(str(out / "train_rgb.txt"), mode="val", clip_len=8, crop_size=32)
        flow = RawframeDataset(str(out / "train_flow.txt"), modality="flow", mode="val",
                               clip_len=8, crop_size=32)
        assert rgb[1][0].shape == (3, 8, 32, 32) and rgb[1][1] == 1
        assert flow[0][0].shape == (2, 8, 32, 32) and flow[0][0][0].mean() > 1  # moving right
    assert "farneback" in (out / "extract.json").read_text()
    assert main([str(root / "missing.txt"), "--out", str(out)]) == 2
    assert "annotations not found" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="other settings"):  # resuming must not mix methods
        main([str(root / "train.txt"), "--out", str(out), "--size", "32x40",
              "--flow-method", "dis"])


def test_killed_run_resumes_without_partial_folders(tmp_path):
    root = tmp_path / "videos"
    (root).mkdir()
    rows = make_videos(str(root), 4, frames=24, size=(64, 80))
    (root / "list.txt").write_text("".join(rows))
    out = tmp_path / "frames"
    argv = [str(root / "list.txt"), "--out", str(out), "--size", "native",
            "--flow-method", "farneback", "--workers", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "smartops.extract"] + argv,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while not glob.glob(str(out / "cls*" / "*.part-*")) and time.time() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker, mid-video
    proc.wait()
    partial = glob.glob(str(out / "cls*" / "*.part-*"))
    assert partial, "the run was not caught mid-video"
    done_before = {d: os.path.getmtime(d) for d in glob.glob(str(out / "cls*" / "v*"))
                   if ".part-" not in d}
    for d in done_before:  # a folder that counts as finished is complete
        assert len(glob.glob(os.path.join(d, "img_*.jpg"))) == 24
        assert len(glob.glob(os.path.join(d, "flow_y_*.jpg"))) == 23
    assert main(argv) == 0  # resumed in this process (one torch import less)
    assert not glob.glob(str(out / "cls*" / "*.part-*"))  # leftovers removed
    assert all(os.path.getmtime(d) == t for d, t in done_before.items())  # skipped, not redone
    lines = (out / "list_flow.txt").read_text().splitlines()
    assert len(lines) == 4 and all(line.split()[1] == "23" for line in lines)


@pytest.mark.parametrize("name", ["h264_mp4_b", "h264_avi_b", "mpeg4_mp4_b_shifted", "h264_mp4_vfr",
                                  "h264_mkv_truncated", "h264_mp4_long"])
def test_frame_exact_on_the_decoding_corpus(corpus, name, tmp_path):
    """Folder frame k is frame k of the shared decoder on files with untrustworthy
    timestamps (B-frames, shifted starts, variable rate, truncation) and across
    the extractor's 64-frame read chunks (300 frames)."""
    from smartops.data.corpus import read_code

    if name not in corpus:
        pytest.skip("no encoder for %s in this PyAV build" % name)
    path = corpus[name].path
    settings = ExtractSettings(("rgb",), None, None, 95, rgb_template="img_{:05d}.png")
    dest = extract_video(path, str(tmp_path / name), settings)
    n = decode.probe_video(path).num_frames
    decoded = decode.read_frames(path, range(n), size=None)
    assert len(os.listdir(dest)) == n
    stored = [read_rgb(os.path.join(dest, "img_%05d.png" % (k + 1))) for k in range(n)]
    assert all(np.array_equal(s, d) for s, d in zip(stored, decoded))
    if name in ("h264_mp4_b", "h264_mp4_long"):  # every frame present: frame k shows k
        assert [read_code(s) for s in stored] == list(range(n))
