"""RawframeDataset: RGB and flow frame folders (TSN/MMAction2 layout), flow
quantisation and flips. Frames are tiny; OpenCV writes and reads the images."""
import os
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("cv2", reason="frame folders need OpenCV (the 'rawframes' extra)")

from smartops.data import AnnotationError, BadVideoWarning, uniform_clips  # noqa: E402
from smartops.data.flow_quant import (FLOW_BOUND, dequantize_flow, hflip_flow,  # noqa: E402
                                      quantize_flow)
from smartops.data.image_files import write_gray, write_rgb  # noqa: E402
from smartops.data.rawframes import RawframeDataset, count_frames  # noqa: E402

H, W = 12, 16


def level_frames(n, offset=0):
    """RGB frames whose flat level codes their index: 10 + 8 * i."""
    levels = 10 + 8 * (np.arange(n) + offset)
    return np.broadcast_to(levels[:, None, None, None], (n, H, W, 3)).astype(np.uint8)


def write_rgb_folder(folder, frames, template="img_{:05d}.png", start=1):
    os.makedirs(folder, exist_ok=True)
    for i, f in enumerate(frames):
        write_rgb(os.path.join(folder, template.format(start + i)), f)


def random_flow_q(n, seed=0):
    """uint8 (n, H, W, 2) quantised flow with a different pattern per frame."""
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, 2), dtype=np.uint8)


def write_flow_folder(folder, q, ext="png"):
    os.makedirs(folder, exist_ok=True)
    for i, f in enumerate(q):
        write_gray(os.path.join(folder, "flow_x_%05d.%s" % (i + 1, ext)), f[..., 0])
        write_gray(os.path.join(folder, "flow_y_%05d.%s" % (i + 1, ext)), f[..., 1])


def write_list(path, rows):
    with open(path, "w") as f:
        f.writelines("%s %d %s\n" % r for r in rows)
    return str(path)


PNG = {"templates": ["img_{:05d}.png"]}
FLOW_PNG = {"templates": ["flow_x_{:05d}.png", "flow_y_{:05d}.png"], "modality": "flow"}


@pytest.fixture
def rgb_set(tmp_path):
    write_rgb_folder(tmp_path / "a" / "v1", level_frames(20))
    write_rgb_folder(tmp_path / "b" / "v2", level_frames(6, offset=3))  # short: loops
    return write_list(tmp_path / "list.txt", [("a/v1", 20, 0), ("b/v2", 6, 1)])


def levels(clip):  # (3, T, h, w) float with mean 0 -> frame indices
    return [int(round((float(v) - 10) / 8)) for v in clip.mean(dim=(0, 2, 3))]


def test_rgb_val_centre_clip_and_one_based_files(rgb_set):
    ds = RawframeDataset(rgb_set, mode="val", clip_len=8, crop_size=8, mean=None, **PNG)
    clip, label = ds[0]
    assert clip.shape == (3, 8, 8, 8) and clip.dtype == torch.float32 and label == 0
    assert levels(clip) == list(range(6, 14))  # centre of 20; file img_00001 is frame 0
    clip, label = ds[1]
    assert levels(clip) == [3, 4, 5, 6, 7, 8, 3, 4] and label == 1  # 6 frames looped


def test_rgb_jpeg_default_layout(tmp_path):
    frames = level_frames(5)
    write_rgb_folder(tmp_path / "v", frames, template="img_{:05d}.jpg")
    ds = RawframeDataset(write_list(tmp_path / "l.txt", [("v", 5, 0)]), mode="val",
                         clip_len=5, crop_size=8, mean=None)
    assert ds.templates == ("img_{:05d}.jpg",) and ds.start_index == 1
    clip, _ = ds[0]
    want = torch.from_numpy(frames[:, 2:10, 4:12].astype(np.float32)).permute(3, 0, 1, 2)
    assert (clip - want).abs().max() <= 2  # JPEG of flat frames: within 2 levels


def test_segments_test_views_and_reproducibility(rgb_set):
    seg = RawframeDataset(rgb_set, mode="train", clip_len=4, num_segments=2, crop_size=8,
                          mean=None, **PNG)
    x, _ = seg[0]
    assert x.shape == (2, 3, 4, 8, 8)
    first, second = levels(x[0]), levels(x[1])
    assert first[0] < 10 <= second[0]  # one clip from each half of the 20 frames
    assert torch.equal(seg[0][0], x)  # same (seed, epoch, index): same item
    starts = set()
    for e in range(6):
        seg.set_epoch(e)
        starts.add(levels(seg[0][0][0])[0])
    assert len(starts) > 1
    test = RawframeDataset(rgb_set, mode="test", clip_len=4, num_clips=3, num_crops=5,
                           crop_size=8, mean=None, **PNG)
    views, _ = test[0]
    assert views.shape == (15, 3, 4, 8, 8) == test.item_shape
    assert [levels(views[5 * k])[0] for k in range(3)] == list(uniform_clips(20, 3, 4)[:, 0])


def test_count_mismatch_is_a_clear_error(tmp_path):
    write_rgb_folder(tmp_path / "v", level_frames(5))
    lst = write_list(tmp_path / "l.txt", [("v", 7, 0)])
    with pytest.raises(AnnotationError, match=r"l.txt:1: .*v holds 5 img_\{:05d\}.png files, "
                                              r"the list says 7"):
        RawframeDataset(lst, **PNG)
    assert len(RawframeDataset(lst, check_frames=False, **PNG)) == 1
    assert count_frames(str(tmp_path / "v"), "img_{:05d}.png") == 5


def test_bad_list_lines_and_arguments(tmp_path):
    two = tmp_path / "two.txt"
    two.write_text("v 0\n")
    with pytest.raises(AnnotationError, match="two.txt:1: expected 'frame_dir total_frames"):
        RawframeDataset(str(two))
    lst = write_list(tmp_path / "l.txt", [("v", 3, 0)])
    with pytest.raises(ValueError, match="modality"):
        RawframeDataset(lst, modality="depth")
    with pytest.raises(ValueError, match="needs 2 file name template"):
        RawframeDataset(lst, modality="flow", templates=["x_{:05d}.jpg"])
    with pytest.raises(ValueError, match="no {} for the frame number"):
        RawframeDataset(lst, templates=["img.jpg"])
    with pytest.raises(ValueError, match="mean.* 2 "):
        RawframeDataset(lst, modality="flow", mean=(1, 2, 3), check_frames=False)


def test_missing_folder_and_corrupt_frame_are_bad_items(tmp_path):
    write_rgb_folder(tmp_path / "ok", level_frames(4))
    write_rgb_folder(tmp_path / "broken", level_frames(4))
    (tmp_path / "broken" / "img_00002.png").write_bytes(b"not an image")
    lst = write_list(tmp_path / "l.txt", [("ok", 4, 0), ("gone", 4, 1), ("broken", 4, 1)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = RawframeDataset(lst, mode="val", clip_len=4, crop_size=8, mean=None, **PNG)
        items = [ds[i] for i in range(3)]
    said = [str(w.message) for w in caught]
    assert any("gone" in m for m in said)  # named once, when found missing
    assert any("broken" in m and issubclass(w.category, BadVideoWarning)
               for m, w in zip(said, caught))
    assert ds.skipped == [1, 2]
    assert items[1][0].abs().sum() == 0 and items[2][0].abs().sum() == 0
    assert items[0][0].abs().sum() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = RawframeDataset(lst, mode="train", clip_len=4, crop_size=8, mean=None, **PNG)
        assert all(train[i][1] == 0 for i in range(3))  # bad items replaced by the good one


def test_quantisation_round_trip():
    v = np.linspace(-25, 25, 1001).astype(np.float32)
    q = quantize_flow(v)
    assert q.dtype == np.uint8 and q[0] == 0 and q[-1] == 255
    inside = np.abs(v) <= FLOW_BOUND
    err = np.abs(dequantize_flow(q) - v)[inside]
    assert err.max() <= FLOW_BOUND / 255 + 1e-5  # half a level of 40/255
    assert np.array_equal(quantize_flow(dequantize_flow(np.arange(256))), np.arange(256))
    assert np.array_equal(dequantize_flow(255 - q), -dequantize_flow(q))  # flips are exact


@pytest.fixture
def flow_set(tmp_path):
    q = random_flow_q(10)
    write_flow_folder(tmp_path / "f", q)
    return write_list(tmp_path / "flow.txt", [("f", 10, 0)]), q


def test_flow_items_are_pixels_per_frame(flow_set):
    lst, q = flow_set
    ds = RawframeDataset(lst, mode="val", clip_len=4, crop_size=8, **FLOW_PNG)
    clip, _ = ds[0]
    assert clip.shape == (2, 4, 8, 8) == ds.item_shape
    want = dequantize_flow(q[3:7, 2:10, 4:12]).transpose(3, 0, 1, 2)  # x, y first
    assert np.allclose(clip.numpy(), want, atol=1e-5)


def test_flow_flips_negate_x(flow_set):
    lst, q = flow_set
    common = dict(clip_len=4, crop_size=8, **FLOW_PNG)
    test = RawframeDataset(lst, mode="test", num_clips=1, num_crops=10, **common)
    views, _ = test[0]
    for j in range(5):  # view 5 + j is view j mirrored
        plain, mirrored = views[j], views[5 + j]
        assert torch.allclose(mirrored[0], -plain[0].flip(-1), atol=1e-5)
        assert torch.allclose(mirrored[1], plain[1].flip(-1), atol=1e-5)
    flipped = hflip_flow(torch.from_numpy(q))
    assert torch.equal(hflip_flow(flipped), torch.from_numpy(q))


def test_flow_train_flip_negates_x(tmp_path):
    q = random_flow_q(4)[:, :8, :8]  # crop = whole frame, clip = all frames: only the flip varies
    write_flow_folder(tmp_path / "f", q)
    lst = write_list(tmp_path / "flow.txt", [("f", 4, 0)])
    train = RawframeDataset(lst, mode="train", clip_len=4, crop_size=8, flip=True, **FLOW_PNG)
    plain = torch.from_numpy(dequantize_flow(q)).permute(3, 0, 1, 2)
    mirrored = torch.stack([-plain[0].flip(-1), plain[1].flip(-1)])
    seen = set()
    for e in range(8):
        train.set_epoch(e)
        clip, _ = train[0]
        is_plain, is_mirrored = torch.equal(clip, plain), torch.equal(clip, mirrored)
        assert is_plain != is_mirrored
        seen.add(is_mirrored)
    assert seen == {False, True}


def test_custom_templates_and_zero_based_numbers(tmp_path):
    write_rgb_folder(tmp_path / "v", level_frames(6), template="frame{:d}.png", start=0)
    lst = write_list(tmp_path / "l.txt", [("v", 6, 0)])
    ds = RawframeDataset(lst, mode="val", clip_len=6, crop_size=8, mean=None,
                         templates=["frame{:d}.png"], start_index=0)
    assert levels(ds[0][0]) == list(range(6))
    with pytest.raises(BadVideoWarning):  # numbered from 1: frame6.png is missing, a bad item
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            RawframeDataset(lst, mode="val", clip_len=6, crop_size=8, mean=None,
                            templates=["frame{:d}.png"], check_frames=False)[0]
