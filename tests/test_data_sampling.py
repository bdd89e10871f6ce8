"""Frame-index samplers and clip transforms."""
import numpy as np
import pytest
import torch

from smartops.data import sampling, transforms


def rng(seed=0):
    return np.random.default_rng(seed)


def test_random_clip_bounds_and_spread():
    starts = set()
    for s in range(200):
        idx = sampling.random_clip(50, 16, 1, rng(s))
        assert idx.tolist() == list(range(idx[0], idx[0] + 16))
        assert 0 <= idx[0] <= 34
        starts.add(int(idx[0]))
    assert len(starts) > 20 and 0 in starts and 34 in starts


def test_stride_and_short_video_loops():
    assert sampling.random_clip(100, 4, 3, rng()).tolist()[1:] == [
        sampling.random_clip(100, 4, 3, rng())[0] + k for k in (3, 6, 9)]
    # shorter than the span: from frame 0, indices run on (the reader wraps)
    assert sampling.random_clip(10, 16, 1, rng()).tolist() == list(range(16))
    assert sampling.center_clip(10, 16).tolist() == list(range(16))
    assert sampling.clip_span(16, 2) == 31


def test_center_and_uniform():
    assert sampling.center_clip(100, 16)[0] == 42
    u = sampling.uniform_clips(100, 5, 16)
    assert u.shape == (5, 16)
    assert u[:, 0].tolist() == [8, 25, 42, 59, 76]  # bin centres over 0..84
    assert sampling.uniform_clips(100, 1, 16)[0, 0] == 42
    assert (sampling.uniform_clips(300, 25, 16)[:, 0] <= 300 - 16).all()
    assert sampling.uniform_clips(8, 3, 16)[:, 0].tolist() == [0, 0, 0]


def test_segments():
    seg = sampling.segment_clips(100, 2, 16)  # centre of each segment
    assert seg[:, 0].tolist() == [17, 67]
    for s in range(50):
        r = sampling.segment_clips(100, 2, 16, rng=rng(s))
        assert 0 <= r[0, 0] <= 34 and 50 <= r[1, 0] <= 84
    r = sampling.segment_clips(20, 3, 8, rng=rng(1))
    assert r.shape == (3, 8) and r.max() < 20  # kept inside the video


def grad_clip(t=2, h=48, w=64):
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    frame = torch.stack([x, y, torch.zeros_like(x)], -1).to(torch.uint8)
    return frame.expand(t, h, w, 3).clone()


def test_crop_flip_resize():
    v = grad_clip()
    c = transforms.crop(v, (5, 7, 20, 30))
    assert c.shape == (2, 20, 30, 3) and c[0, 0, 0, 0] == 7 and c[0, 0, 0, 1] == 5
    f = transforms.hflip(c)
    assert f[0, 0, 0, 0] == 36 and f[0, 0, -1, 0] == 7
    r = transforms.resize(v, (24, 32))
    assert r.dtype == torch.uint8 and r.shape == (2, 24, 32, 3)
    with pytest.raises(ValueError):
        transforms.crop(v, (40, 0, 20, 20))


def test_ten_crop_boxes():
    boxes = transforms.fixed_crop_boxes(128, 170, 112, 10)
    assert [b for b, _ in boxes[:5]] == [(0, 0, 112, 112), (0, 58, 112, 112), (16, 0, 112, 112),
                                         (16, 58, 112, 112), (8, 29, 112, 112)]
    assert [f for _, f in boxes] == [False] * 5 + [True] * 5
    assert [b for b, _ in boxes[5:]] == [b for b, _ in boxes[:5]]
    three = transforms.fixed_crop_boxes(128, 170, 112, 3)
    assert [b[:2] for b, _ in three] == [(8, 0), (8, 29), (8, 58)]
    with pytest.raises(ValueError, match="num_crops"):
        transforms.fixed_crop_boxes(128, 170, 112, 4)


def test_multiscale_crop_boxes():
    seen_sizes, seen_pos = set(), set()
    for s in range(300):
        top, left, h, w = transforms.multiscale_crop_box(128, 170, 112, rng(s))
        assert 0 <= top and top + h <= 128 and 0 <= left and left + w <= 170
        seen_sizes.add((h, w))
        seen_pos.add((top, left, h, w))
    # scales 1, .875, .75, .66 of 128 -> 128, 112 (snapped), 96, 84
    assert seen_sizes <= {(a, b) for a in (128, 112, 96, 84) for b in (128, 112, 96, 84)}
    assert (128, 84) not in seen_sizes  # max_distort = 1
    assert {(128, 128), (112, 112), (84, 84), (96, 112)} <= seen_sizes
    # 13 fixed positions per size (5 without more_fix_crop)
    assert max(sum(1 for p in seen_pos if p[2:] == sz) for sz in seen_sizes) <= 13
    for s in range(30):
        t, l, h, w = transforms.multiscale_crop_box(128, 170, 112, rng(s), more_fix_crop=False)
        assert (t, l) in {(0, 0), (0, 170 - w - (170 - w) % 4), (128 - h - (128 - h) % 4, 0),
                          ((128 - h) // 4 * 4, (170 - w) // 4 * 4), ((128 - h) // 4 * 2, (170 - w) // 4 * 2)}


def test_to_float_permutes_and_subtracts_mean():
    v = torch.zeros(4, 5, 6, 3, dtype=torch.uint8)
    v[2, 1, 3] = torch.tensor([10, 20, 30], dtype=torch.uint8)
    x = transforms.to_float(v, mean=None)
    assert x.shape == (3, 4, 5, 6) and x.dtype == torch.float32
    assert x[:, 2, 1, 3].tolist() == [10, 20, 30]  # a permute, not a view
    y = transforms.to_float(v)  # RGB mean (123, 117, 104)
    assert y[:, 0, 0, 0].tolist() == [-123, -117, -104]
    z = transforms.to_float(v, mean=(0, 0, 0), std=(10, 10, 10))
    assert z[:, 2, 1, 3].tolist() == pytest.approx([1, 2, 3])
    batched = transforms.to_float(torch.stack([v, v]), mean=None)
    assert batched.shape == (2, 3, 4, 5, 6)
    with pytest.raises(TypeError):
        transforms.to_float(v.float())
