"""Mistakes caught when a dataset is built, before any training: missing
files, bad VideoDataset arguments, annotation typos."""
import warnings

import pytest

from smartops.data import AnnotationError, VideoDataset, load_annotations
from smartops.data.file_check import MissingVideosError, MissingVideoWarning
from smartops.data.label_checks import AnnotationWarning


def write(path, text):
    path.write_text(text)
    return path


# -------------------------------------------------------------- missing files
@pytest.fixture
def listed(tmp_path, videos):
    """A list of 10 relative paths and the folder that holds the videos."""
    root = tmp_path / "UCF-101"
    (root / "Jump").mkdir(parents=True)
    for k in range(10):
        (root / "Jump" / ("v%d.mp4" % k)).write_bytes(videos["index40"].read_bytes())
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    return write(lists / "train.txt", "".join("Jump/v%d.mp4 0\n" % k for k in range(10))), root


def test_list_without_its_root_is_one_error_with_the_hint(listed):
    lst, _ = listed
    with pytest.raises(MissingVideosError) as e:
        VideoDataset(lst)
    msg = str(e.value)
    for part in ("10 of the 10 videos", str(lst), "under the root %s" % lst.parent, "(0 exist", "--root"):
        assert part in msg, (part, msg)


def test_most_files_missing_is_an_error(listed):
    lst, root = listed
    for k in range(6):
        (root / "Jump" / ("v%d.mp4" % k)).unlink()
    with pytest.raises(MissingVideosError, match=r"6 of the 10 videos .*\(4 exist"):
        VideoDataset(lst, root=root)


def test_a_few_missing_files_are_one_warning(listed):
    lst, root = listed
    for k in (2, 7):
        (root / "Jump" / ("v%d.mp4" % k)).unlink()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = VideoDataset(lst, root=root, clip_len=4, frame_size=None, crop_size=24)
    missing = [x for x in w if x.category is MissingVideoWarning]
    assert len(missing) == 1 and "2 of the 10 videos" in str(missing[0].message)
    assert "v2.mp4" in str(missing[0].message) and "v7.mp4" in str(missing[0].message)
    assert len(ds.bad_files) == 2  # known, never drawn: no warning per item
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(len(ds)):
            ds[i]


def test_cli_reports_missing_root_before_training(listed):
    from smartops.engine.cli import CLIError
    from smartops.engine.data import make_dataset

    lst, root = listed
    source = {"annotations": str(lst), "root": None, "format": "list", "split": 1}
    with pytest.raises(CLIError, match="--root"):
        make_dataset(source, "train", {})
    assert len(make_dataset(dict(source, root=str(root)), "train", {})) == 10


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize("kwargs, message", [
    ({"frame_size": 0}, "frame_size"),
    ({"frame_size": (128, -1)}, "frame_size"),
    ({"frame_size": (128, 170, 3)}, "frame_size"),
    ({"frame_size": "128x170"}, "frame_size"),
    ({"frame_size": 100, "crop_size": 112}, "crop_size 112 is larger"),
    ({"frame_size": (128, 100)}, "crop_size 112 is larger"),
    ({"crop_size": 0}, "crop_size"),
    ({"crop_size": 112.5}, "crop_size"),
    ({"std": (1, 0, 1)}, "std"),
    ({"std": (1, 1)}, "std"),
    ({"mean": (1, float("nan"), 1)}, "mean"),
    ({"clip_len": 0}, "clip_len"),
    ({"frame_stride": 1.5}, "frame_stride"),
    ({"num_segments": 0}, "num_segments"),
    ({"num_clips": -1}, "num_clips"),
    ({"max_retries": -1}, "max_retries"),
    ({"seek_gap": -2}, "seek_gap"),
    ({"scales": (1.0, 0)}, "scales"),
])
def test_bad_arguments_are_named_at_construction(class_folders, kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoDataset(class_folders, **kwargs)


def test_good_arguments_are_kept(class_folders):
    ds = VideoDataset(class_folders, frame_size=[128, 170], std=[58, 57, 57], crop_size=112)
    assert ds.frame_size == (128, 170) and ds.std == (58.0, 57.0, 57.0)
    assert VideoDataset(class_folders, frame_size=112).frame_size == 112


# ---------------------------------------------------------------- annotations
def test_conflicting_duplicate_lines_name_both(tmp_path):
    f = write(tmp_path / "l.txt", "a.mp4 0\nb.mp4 1\n\na.mp4 1\n")
    with pytest.raises(AnnotationError, match=r"l\.txt:1 and .*l\.txt:4 .*a\.mp4 .*\(0 and 1\)"):
        load_annotations(f)
    same = write(tmp_path / "s.txt", "a.mp4 0\nb.mp4 1\na.mp4 0\n")  # oversampling: allowed
    assert len(load_annotations(same)[0]) == 3


@pytest.mark.parametrize("label", ["1.0", "1e6", "2.5"])
def test_float_labels_are_errors(tmp_path, label):
    f = write(tmp_path / "l.txt", "a.mp4 0\nb.mp4 %s\n" % label)
    with pytest.raises(AnnotationError, match=r"l\.txt:2: label '%s' is a number but not an integer" % label):
        load_annotations(f)


def test_label_gaps_warn_and_a_typo_label_is_an_error(tmp_path):
    gaps = write(tmp_path / "g.txt", "a.mp4 0\nb.mp4 1\nc.mp4 4\n")
    with pytest.warns(AnnotationWarning, match="no video has label 2, 3: 2 phantom"):
        _, classes = load_annotations(gaps)
    assert len(classes) == 5
    typo = write(tmp_path / "t.txt", "a.mp4 0\nb.mp4 1\nc.mp4 1000000\n")
    with pytest.raises(AnnotationError, match=r"t\.txt:3: label 1000000 makes a 1000001-class index"):
        load_annotations(typo)
    (tmp_path / "n").mkdir()
    named = write(tmp_path / "n" / "l.txt", "a.mp4 0\nb.mp4 4\n")
    write(tmp_path / "n" / "classes.txt", "a\nb\nc\nd\ne\n")  # classes named: gaps are fine
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_annotations(named)[1]) == 5
