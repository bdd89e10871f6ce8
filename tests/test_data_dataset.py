"""VideoDataset: modes, shapes, sampling positions, formats, bad data,
DataLoader workers and reproducibility, on tiny videos written here."""
import pickle
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from smartops.data import BadVideoWarning, ClassIndex, DecodeError, VideoDataset
from smartops.data.file_check import MissingVideoWarning

MEAN = torch.tensor([123.0, 117.0, 104.0]).view(3, 1, 1, 1)


def list_file(tmp_path, entries, name="list.txt"):
    """A list file of (path, label) with absolute paths."""
    f = tmp_path / name
    f.write_text("".join("%s %d\n" % (p, l) for p, l in entries))
    return f


def frame_indices(clip, fr):
    """Frame indices of a (3, T, H, W) clip of an index-coded video (mean=None)."""
    return [fr.read_index(clip[:, t]) for t in range(clip.shape[1])]


def grad_pos(view):
    """(top, left, flipped, first frame) of a (3, T, h, w) view of the
    gradient video, read from its pixels (mean=None)."""
    r = view[0, 0]
    left, right = round(float(r[:, 0].mean()) / 4), round(float(r[:, -1].mean()) / 4)
    top = round(float(view[1, 0, 0, :].mean()) / 4)
    frame = round((float(view[2, 0].mean()) - 4) / 6)
    return top, min(left, right), left > right, frame


# --------------------------------------------------------------- modes/shapes
def test_train_val_shapes_dtypes_ranges(class_folders):
    tr = VideoDataset(class_folders, mode="train", clip_len=8, frame_size=None, crop_size=24)
    assert len(tr) == 6 and tr.classes == ["jump", "walk"] and tr.num_classes == 2
    clip, label = tr[4]
    assert clip.shape == (3, 8, 24, 24) and clip.dtype == torch.float32
    assert label == 1 and isinstance(label, int)
    raw = clip + MEAN  # default: RGB mean subtracted on the 0..255 scale
    assert raw.min() >= -0.01 and raw.max() <= 255.01
    va = VideoDataset(class_folders, mode="val", clip_len=8, frame_size=None, crop_size=24)
    assert va[0][0].shape == (3, 8, 24, 24) and torch.equal(va[0][0], va[0][0])


def test_paper_default_sizes(videos, tmp_path):
    f = list_file(tmp_path, [(videos["index40"], 0)])
    ds = VideoDataset(f, mode="train")  # 128 x 170 frames, 16 x 112 x 112 clips
    clip, _ = ds[0]
    assert clip.shape == (3, 16, 112, 112) and clip.dtype == torch.float32
    paper_test = VideoDataset(f, mode="test")
    assert paper_test.num_views == 250 and paper_test.item_shape == (250, 3, 16, 112, 112)
    assert paper_test.item_bytes() == 250 * 3 * 16 * 112 * 112 * 4  # 602 MB (574 MiB) per item


def test_frame_order_preserved(videos, fr, tmp_path):
    f = list_file(tmp_path, [(videos["index40"], 0)])
    ds = VideoDataset(f, clip_len=16, frame_size=None, crop_size=24, mean=None, flip=False)
    for i in range(5):
        ds.set_epoch(i)
        idx = frame_indices(ds[0][0], fr)
        assert idx == list(range(idx[0], idx[0] + 16)) and 0 <= idx[0] <= 24
    val = VideoDataset(f, mode="val", clip_len=16, frame_stride=2, frame_size=(20, 24),
                       crop_size=16, mean=None)
    assert frame_indices(val[0][0], fr) == list(range(4, 36, 2))  # centre clip


def test_short_video_loops(videos, fr, tmp_path):
    f = list_file(tmp_path, [(videos["short6"], 0)])
    ds = VideoDataset(f, clip_len=16, frame_size=None, crop_size=24, mean=None)
    assert frame_indices(ds[0][0], fr) == [i % 6 for i in range(16)]


def test_tsn_segments(videos, fr, tmp_path):
    f = list_file(tmp_path, [(videos["index40"], 3)])
    ds = VideoDataset(f, clip_len=4, num_segments=2, frame_size=None, crop_size=24, mean=None)
    for e in range(6):
        ds.set_epoch(e)
        clip, label = ds[0]
        assert clip.shape == (2, 3, 4, 24, 24) and label == 3
        a, b = frame_indices(clip[0], fr), frame_indices(clip[1], fr)
        assert a == list(range(a[0], a[0] + 4)) and b == list(range(b[0], b[0] + 4))
        assert 0 <= a[0] <= 16 and 20 <= b[0] <= 36
    val = VideoDataset(f, mode="val", clip_len=4, num_segments=2, frame_size=None, crop_size=24,
                       mean=None)
    clip, _ = val[0]
    assert [frame_indices(c, fr)[0] for c in clip] == [8, 28]


def test_test_views_positions(videos, tmp_path):
    """num_clips uniform clips x 10 crops (corners, centre, flips), clip-major."""
    f = list_file(tmp_path, [(videos["grad"], 0)])
    ds = VideoDataset(f, mode="test", clip_len=4, num_clips=3, num_crops=10, frame_size=None,
                      crop_size=32, mean=None)
    views, label = ds[0]
    assert views.shape == (30, 3, 4, 32, 32) and views.dtype == torch.float32
    # 48 x 64 frames, 32 crops: corners at top 0/16, left 0/32, centre (8, 16)
    five = [(0, 0), (0, 32), (16, 0), (16, 32), (8, 16)]
    starts = [2, 8, 14]  # 20 frames, 4-frame clips, 3 clips: bin centres of 0..16
    for k in range(3):
        got = [grad_pos(views[k * 10 + j]) for j in range(10)]
        assert got == [(t, l, fl, starts[k]) for fl in (False, True) for t, l in five]
    small = VideoDataset(f, mode="test", clip_len=4, num_clips=2, num_crops=3, frame_size=None,
                         crop_size=32, mean=None)
    assert small[0][0].shape == (6, 3, 4, 32, 32)
    # the chunked iterator gives the same views
    chunks = list(ds.iter_test_views(0, chunk_size=7))
    assert [c.shape[0] for c in chunks] == [7, 7, 7, 7, 2]
    assert torch.equal(torch.cat(chunks), views)


def test_train_crop_and_flip_positions(videos, tmp_path):
    f = list_file(tmp_path, [(videos["grad"], 0)])
    ds = VideoDataset(f, clip_len=4, frame_size=None, crop_size=32, mean=None)
    seen, flips = set(), 0
    for e in range(40):
        ds.set_epoch(e)
        view = ds[0][0]
        top, left, flipped, first = grad_pos(view)
        assert 0 <= top <= 16 and 0 <= left <= 32 and 0 <= first <= 16
        r = view[0, 0, 0]  # one row: a contiguous window, mirrored if flipped
        expect = torch.arange(left, left + 32, dtype=torch.float32) * 4
        assert torch.allclose(r, expect.flip(0) if flipped else expect, atol=3)
        seen.add((top, left))
        flips += flipped
    assert len(seen) > 20 and 8 <= flips <= 32
    noflip = VideoDataset(f, clip_len=4, frame_size=None, crop_size=32, mean=None, flip=False)
    for e in range(10):
        noflip.set_epoch(e)
        assert not grad_pos(noflip[0][0])[2]
    val = VideoDataset(f, mode="val", clip_len=4, frame_size=None, crop_size=32, mean=None)
    assert grad_pos(val[0][0]) == (8, 16, False, 8)


def test_multiscale_crop_and_resize(videos, tmp_path):
    f = list_file(tmp_path, [(videos["grad"], 0)])
    ds = VideoDataset(f, clip_len=4, frame_size=(64, 80), crop_size=40, multiscale_crop=True,
                      mean=None)
    sizes = set()
    for e in range(20):
        ds.set_epoch(e)
        clip, _ = ds[0]
        assert clip.shape == (3, 4, 40, 40)
        r = clip[0, 0, 20]  # R spans (crop width / 80 * 64 px of the source) * 4
        sizes.add(round(float((r.max() - r.min()) / 4)))
    assert len(sizes) > 1  # several scales


def test_frame_size_short_side(videos, tmp_path):
    f = list_file(tmp_path, [(videos["grad"], 0)])
    ds = VideoDataset(f, mode="val", clip_len=2, frame_size=36, crop_size=36, mean=None)
    assert ds[0][0].shape == (3, 2, 36, 36)  # 48x64 -> 36x48, centre 36 crop


def test_std_option(videos, tmp_path):
    f = list_file(tmp_path, [(videos["grad"], 0)])
    a = VideoDataset(f, mode="val", clip_len=2, frame_size=None, crop_size=32)[0][0]
    b = VideoDataset(f, mode="val", clip_len=2, frame_size=None, crop_size=32,
                     std=(2.0, 4.0, 8.0))[0][0]
    assert torch.allclose(b, a / torch.tensor([2.0, 4.0, 8.0]).view(3, 1, 1, 1))


# ------------------------------------------------------------------- formats
@pytest.mark.parametrize("fmt", ["ucf101", "hmdb51", "kinetics_csv", "list", "folders"])
def test_formats_end_to_end(tmp_path, encode, fr, fmt):
    """Each format, shaped like the official files, read into clips."""
    root = tmp_path / "videos"
    names = ["ApplyEyeMakeup", "YoYo"]
    vids = {}
    for c, name in enumerate(names):
        for k in range(2):
            if fmt == "ucf101":
                rel = "%s/v_%s_g%02d_c01.avi" % (name, name, k + 1)
            elif fmt == "kinetics_csv":
                rel = "%s/id%d%d_%06d_%06d.mp4" % (name, c, k, k, k + 10)
            else:
                rel = "%s/%s_%d.mp4" % (name, name, k)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            encode(root / rel, fr.index(12, start=10 * c + k),
                   codec="mpeg4" if rel.endswith(".avi") else "auto")
            vids[(c, k)] = rel
    ann = tmp_path / "ann"
    ann.mkdir()
    if fmt == "ucf101":
        (ann / "classInd.txt").write_text("1 ApplyEyeMakeup\r\n2 YoYo\r\n")
        (ann / "trainlist01.txt").write_text("".join(
            "%s %d\r\n" % (vids[(c, 0)], c + 1) for c in range(2)))
        (ann / "testlist01.txt").write_text("".join("%s\r\n" % vids[(c, 1)] for c in range(2)))
        kw = dict(annotations=ann, root=root)
    elif fmt == "hmdb51":
        for c, name in enumerate(names):
            (ann / ("%s_test_split1.txt" % name)).write_text(
                "%s_0.mp4 1 \n%s_1.mp4 2 \n" % (name, name))
        kw = dict(annotations=ann, root=root)
    elif fmt == "kinetics_csv":
        rows = ["label,youtube_id,time_start,time_end,split"]
        rows += ["%s,id%d%d,%d,%d,train" % (names[c], c, k, k, k + 10) for c in range(2) for k in range(2)]
        (ann / "train.csv").write_text("\n".join(rows) + "\n")
        kw = dict(annotations=ann / "train.csv", root=root)
    elif fmt == "list":
        (ann / "classes.txt").write_text("\n".join(names) + "\n")
        (ann / "train.txt").write_text("".join("%s %d\n" % (v, c) for (c, k), v in vids.items()))
        kw = dict(annotations=ann / "train.txt", root=root)
    else:
        kw = dict(annotations=root)
    ds = VideoDataset(**kw, mode="train", clip_len=4, frame_size=None, crop_size=24, mean=None)
    assert ds.classes == names
    for i in range(len(ds)):
        clip, label = ds[i]
        assert clip.shape == (3, 4, 24, 24)
        first = frame_indices(clip, fr)[0]
        assert first // 10 == label  # the video's content matches its label
    if fmt in ("ucf101", "hmdb51"):
        test = VideoDataset(**kw, mode="test", clip_len=4, num_clips=2, num_crops=1,
                            frame_size=None, crop_size=24, mean=None)
        assert len(test) == 2 and [test[i][1] for i in range(2)] == [0, 1]
        assert test[1][0].shape == (2, 3, 4, 24, 24)


def test_class_index_from_checkpoint(class_folders):
    ds = VideoDataset(class_folders, clip_len=4, frame_size=None, crop_size=24)
    ckpt = ds.class_index.save_to({})
    assert ckpt == {"class_names": ["jump", "walk"]}
    flipped = VideoDataset(class_folders, clip_len=4, frame_size=None, crop_size=24,
                           class_index=["walk", "jump"])
    assert flipped.labels == [1 - l for l in ds.labels]
    same = VideoDataset(class_folders, clip_len=4, frame_size=None, crop_size=24,
                        class_index=ClassIndex.from_checkpoint(ckpt))
    assert same.labels == ds.labels


def test_bad_arguments(class_folders):
    with pytest.raises(ValueError, match="mode"):
        VideoDataset(class_folders, mode="training")
    with pytest.raises(ValueError, match="num_crops"):
        VideoDataset(class_folders, mode="test", num_crops=4)
    ds = VideoDataset(class_folders, frame_size=None, crop_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a configuration error, not a bad file
        with pytest.raises(ValueError, match="crop size 64 larger than the 32x40 frames"):
            ds[0]


# ------------------------------------------------------------------ bad data
@pytest.fixture
def mixed_list(videos, tmp_path):
    entries = [(videos["index40"], 0), (videos["missing"], 1), (videos["short6"], 0),
               (videos["empty"], 1), (videos["corrupt"], 0), (videos["index40"], 0)]
    return list_file(tmp_path, entries)


BAD = [1, 3, 4]
MISSING = 1  # reported when the dataset is built, not when drawn


def small(f, **kw):
    kw.setdefault("clip_len", 4)
    return VideoDataset(f, frame_size=None, crop_size=24, **kw)


def test_train_replaces_bad_files_with_one_warning_each(mixed_list):
    with pytest.warns(MissingVideoWarning, match="1 of the 6 videos .* do not exist.*missing.mp4"):
        ds = small(mixed_list, mode="train")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for epoch in range(3):
            ds.set_epoch(epoch)
            for i in range(len(ds)):
                clip, label = ds[i]
                assert clip.shape == (3, 4, 24, 24) and torch.isfinite(clip).all()
    bad = [x for x in w if issubclass(x.category, BadVideoWarning)]
    named = sorted(str(x.message).split()[2] for x in bad)
    assert named == sorted(str(ds.records[i].path) for i in BAD if i != MISSING)  # one per file
    assert len(ds.bad_files) == 3


def test_train_gives_up_after_bounded_retries(videos, tmp_path):
    f = list_file(tmp_path, [(videos["index40"], 0), (videos["empty"], 0), (videos["corrupt"], 0)])
    ds = small(f, max_retries=3)
    ds.records = ds.records[1:]  # only bad files left
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="after 4 tries.*empty.mp4"):
            ds[0]


@pytest.mark.parametrize("mode", ["val", "test"])
def test_eval_counts_skips(mixed_list, mode):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = small(mixed_list, mode=mode, num_clips=2, num_crops=2, return_info=True)
        items = [ds[i] for i in range(len(ds))]
        items += [ds[i] for i in BAD]  # seen again: no new warning, counted once
    named = sorted(str(x.message).split()[2] for x in w if x.category is BadVideoWarning)
    assert named == sorted(str(ds.records[i].path) for i in BAD if i != MISSING)
    assert [x.category for x in w].count(MissingVideoWarning) == 1
    items = items[: len(ds)]
    valid = [info["valid"] for _, _, info in items]
    assert [i for i, v in enumerate(valid) if not v] == BAD
    assert ds.skipped == BAD and ds.num_skipped == 3
    shape = (4, 3, 4, 24, 24) if mode == "test" else (3, 4, 24, 24)
    assert all(c.shape == shape for c, _, _ in items)
    assert items[1][1] == 1 and not items[1][0].any()  # zeros, label kept
    ds.reset_skipped()
    assert ds.skipped == []
    if mode == "test":  # the chunked iterator raises on a bad file, and counts it
        with pytest.raises(DecodeError, match="missing.mp4"):
            list(ds.iter_test_views(1))
        assert ds.skipped == [1]


def test_eval_skips_aggregate_across_workers(mixed_list):
    with pytest.warns(MissingVideoWarning):
        ds = small(mixed_list, mode="val", return_info=True)
    loader = DataLoader(ds, batch_size=2, num_workers=2, timeout=60)
    invalid = []
    for clip, label, info in loader:
        invalid += info["index"][~info["valid"]].tolist()
    assert sorted(invalid) == BAD
    assert ds.skipped == BAD  # gathered from both workers in the main process
    assert len(ds.bad_files) == 3  # each file reported once
    assert ds.bad_files[0].startswith(str(ds.records[4].path) + ": ")  # sorted by path


# --------------------------------------------------------- workers and seeds
def test_seeded_and_worker_independent(class_folders):
    ds = VideoDataset(class_folders, clip_len=4, frame_size=None, crop_size=24, seed=7)
    ref = [ds[i][0] for i in range(len(ds))]
    again = VideoDataset(class_folders, clip_len=4, frame_size=None, crop_size=24, seed=7)
    assert all(torch.equal(a, again[i][0]) for i, a in enumerate(ref))
    other = VideoDataset(class_folders, clip_len=4, frame_size=None, crop_size=24, seed=8)
    assert not all(torch.equal(a, other[i][0]) for i, a in enumerate(ref))
    ds.set_epoch(1)
    assert not all(torch.equal(a, ds[i][0]) for i, a in enumerate(ref))
    ds.set_epoch(0)
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=4, num_workers=workers, timeout=60 if workers else 0)
        clips = torch.cat([c for c, _ in loader])
        assert torch.equal(clips, torch.stack(ref)), workers


def test_pickle_roundtrip(class_folders):
    ds = VideoDataset(class_folders, clip_len=4, frame_size=None, crop_size=24)
    back = pickle.loads(pickle.dumps(ds))
    assert len(back) == len(ds) and torch.equal(back[2][0], ds[2][0])
