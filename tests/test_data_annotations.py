"""Annotation formats, auto-detection, class indices and their errors."""
import os

import pytest

from smartops.data import AnnotationError, ClassIndex, detect_format, load_annotations


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ----------------------------------------------------------------- list files
def test_list_file_int_labels(tmp_path):
    f = write(tmp_path / "train.txt", "a/x.mp4 0\nb/y.mp4 2\n\nc/z w.mp4 1\n")
    assert detect_format(f) == "list"
    records, classes = load_annotations(f)
    assert [r.label for r in records] == [0, 2, 1]
    assert records[0].path == os.path.join(str(tmp_path), "a/x.mp4")
    assert records[2].path.endswith("c/z w.mp4")  # spaces in paths
    assert classes.names == ["0", "1", "2"]


def test_list_file_uses_classes_txt_and_root(tmp_path):
    write(tmp_path / "classes.txt", "run\njump\n")
    f = write(tmp_path / "val.txt", "v1.mp4 1\nv2.mp4 0\n")
    records, classes = load_annotations(f, root="/videos")
    assert classes.names == ["run", "jump"]
    assert [r.path for r in records] == ["/videos/v1.mp4", "/videos/v2.mp4"]


def test_list_file_class_names(tmp_path):
    f = write(tmp_path / "l.txt", "a.mp4 walk\nb.mp4 eat\n")
    records, classes = load_annotations(f)
    assert classes.names == ["eat", "walk"] and [r.label for r in records] == [1, 0]


def test_frame_list_variant(tmp_path):
    (tmp_path / "vid").mkdir()
    (tmp_path / "vid" / "abc_000010_000020.mp4").write_bytes(b"x")
    (tmp_path / "vid" / "def.mp4").write_bytes(b"x")
    f = write(tmp_path / "k.txt", "abc 299 3\ndef 120 1\nghi 10 0\n")
    records, _ = load_annotations(f, root=tmp_path / "vid")
    assert [r.num_frames for r in records] == [299, 120, 10]
    assert [r.label for r in records] == [3, 1, 0]
    assert records[0].path.endswith("abc_000010_000020.mp4")
    assert records[1].path.endswith("def.mp4")
    assert records[2].path.endswith("ghi")  # not found: reported when read


def test_list_bad_lines_name_file_and_line(tmp_path):
    f = write(tmp_path / "bad.txt", "a.mp4 0\nonlyonetoken\n")
    with pytest.raises(AnnotationError, match=r"bad\.txt:2"):
        load_annotations(f)
    write(tmp_path / "classes.txt", "a\nb\n")
    f = write(tmp_path / "bad2.txt", "a.mp4 0\n\nb.mp4 5\n")
    with pytest.raises(AnnotationError, match=r"bad2\.txt:3.*out of range"):
        load_annotations(f)


def test_missing_and_unknown(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_annotations(tmp_path / "nope.txt")
    f = write(tmp_path / "l.txt", "a.mp4 0\n")
    with pytest.raises(ValueError, match="unknown annotation format 'xml'"):
        load_annotations(f, format="xml")


# ------------------------------------------------------------------- Kinetics
KINETICS = """label,youtube_id,time_start,time_end,split
abseiling,--07WQ2iBlw,1,11,train
air drumming,-0BlnDcIwRs,34,44,train
abseiling,zzz_aaa,0,10,train
"""


def test_kinetics_csv_folder_per_label(tmp_path):
    root = tmp_path / "videos"
    for p in ["abseiling/--07WQ2iBlw_000001_000011.mp4", "air_drumming/-0BlnDcIwRs_000034_000044.mp4"]:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(b"x")
    f = write(tmp_path / "kinetics_train.csv", KINETICS)
    assert detect_format(f) == "kinetics_csv"
    records, classes = load_annotations(f, root=root)
    assert classes.names == ["abseiling", "air drumming"]
    assert [r.label for r in records] == [0, 1, 0]
    assert records[0].path == str(root / "abseiling/--07WQ2iBlw_000001_000011.mp4")
    assert records[1].path == str(root / "air_drumming/-0BlnDcIwRs_000034_000044.mp4")
    assert records[2].path.endswith("zzz_aaa_000000_000010.mp4")


def test_kinetics_csv_flat_and_unlabelled(tmp_path):
    (tmp_path / "--07WQ2iBlw_000001_000011.mp4").write_bytes(b"x")
    f = write(tmp_path / "test.csv", "youtube_id,time_start,time_end,split\n--07WQ2iBlw,1,11,test\n")
    records, classes = load_annotations(f)
    assert records[0].label == -1 and len(classes) == 0
    assert records[0].path == str(tmp_path / "--07WQ2iBlw_000001_000011.mp4")


def test_kinetics_csv_errors(tmp_path):
    f = write(tmp_path / "k.csv", KINETICS + "abseiling,xyz,one,11,train\n")
    with pytest.raises(AnnotationError, match=r"k\.csv:5"):
        load_annotations(f)
    f = write(tmp_path / "k2.csv", "label,id\nx,y\n")
    with pytest.raises(AnnotationError, match=r"k2\.csv:1"):
        load_annotations(f)


# --------------------------------------------------------------------- UCF101
def make_ucf(tmp_path):
    d = tmp_path / "ucfTrainTestlist"
    write(d / "classInd.txt", "1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n3 YoYo\r\n")
    write(d / "trainlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
          "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\nYoYo/v_YoYo_g08_c02.avi 3\r\n")
    write(d / "testlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n"
          "HandStandPushups/v_HandStandPushups_g01_c01.avi\r\nYoYo/v_YoYo_g01_c01.avi\r\n")
    return d


def test_ucf101_files(tmp_path):
    d = make_ucf(tmp_path)
    assert detect_format(d / "trainlist01.txt") == "ucf101"
    assert detect_format(d) == "ucf101"
    records, classes = load_annotations(d / "trainlist01.txt", root="/ucf")
    assert classes.names == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    assert [r.label for r in records] == [0, 1, 2]
    assert records[1].path == "/ucf/HandstandPushups/v_HandStandPushups_g08_c01.avi"
    # test list: label from the folder, matched without case
    records, _ = load_annotations(d / "testlist01.txt", root="/ucf")
    assert [r.label for r in records] == [0, 1, 2]
    # the folder + split + mode form
    train, _ = load_annotations(d, root="/ucf", mode="train", split=1)
    test, _ = load_annotations(d, root="/ucf", mode="test", split=1)
    assert len(train) == 3 and test[0].path.endswith("g01_c01.avi")


def test_ucf101_errors(tmp_path):
    d = make_ucf(tmp_path)
    write(d / "trainlist02.txt", "YoYo/v_YoYo_g08_c02.avi 3\nYoYo/v_YoYo_g08_c03.avi 7\n")
    with pytest.raises(AnnotationError, match=r"trainlist02\.txt:2"):
        load_annotations(d / "trainlist02.txt")
    with pytest.raises(FileNotFoundError, match="trainlist03"):
        load_annotations(d, split=3)


def test_ucf101_official_files(shared_data):
    d = shared_data / "ucf101_splits"
    records, classes = load_annotations(d / "trainlist01.txt", root="/UCF-101")
    assert len(classes) == 101 and len(records) == 9537
    assert set(r.label for r in records) == set(range(101))
    test, _ = load_annotations(d, root="/UCF-101", mode="test", split=1)
    assert len(test) == 3783 and set(r.label for r in test) == set(range(101))
    hs = [r for r in test if "HandStandPushups" in r.path]
    assert hs and all(classes.name(r.label) == "HandstandPushups" for r in hs)


# --------------------------------------------------------------------- HMDB51
def make_hmdb(tmp_path):
    d = tmp_path / "testTrainMulti_7030_splits"
    write(d / "brush_hair_test_split1.txt", "a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    write(d / "cartwheel_test_split1.txt", "d.avi 2 \ne.avi 1 \n#20_cartwheel.avi 1 \n")
    write(d / "cartwheel_test_split2.txt", "d.avi 1 \ne.avi 2 \n")
    return d


def test_hmdb51_files(tmp_path):
    d = make_hmdb(tmp_path)
    (tmp_path / "hmdb" / "cartwheel").mkdir(parents=True)
    assert detect_format(d) == "hmdb51"
    train, classes = load_annotations(d, root=tmp_path / "hmdb", mode="train", split=1)
    assert classes.names == ["brush_hair", "cartwheel"]
    # official names may start with '#' (not a comment)
    assert [(os.path.basename(r.path), r.label) for r in train] == [
        ("a.avi", 0), ("e.avi", 1), ("#20_cartwheel.avi", 1)]
    assert train[1].path == str(tmp_path / "hmdb" / "cartwheel" / "e.avi")
    test, _ = load_annotations(d, root=tmp_path / "hmdb", mode="test", split=1)
    assert [os.path.basename(r.path) for r in test] == ["b.avi", "d.avi"]

    # one file of the set stands for its split
    s2, classes2 = load_annotations(d / "cartwheel_test_split2.txt", root="/h", mode="val")
    assert classes2.names == ["cartwheel"] and [r.path for r in s2] == ["/h/cartwheel/e.avi"]


def test_hmdb51_bad_line(tmp_path):
    d = make_hmdb(tmp_path)
    write(d / "clap_test_split1.txt", "x.avi 1\ny.avi 3\n")
    with pytest.raises(AnnotationError, match=r"clap_test_split1\.txt:2"):
        load_annotations(d, mode="train")


def test_hmdb51_official_files(shared_data):
    d = shared_data / "hmdb51_splits"
    for split in (1, 2, 3):
        train, classes = load_annotations(d, root="/hmdb", mode="train", split=split)
        test, _ = load_annotations(d, root="/hmdb", mode="test", split=split)
        assert len(classes) == 51
        assert len(train) == 51 * 70 and len(test) == 51 * 30


def test_kinetics_frame_list_official_file(shared_data):
    f = shared_data / "kinetics_frame_lists" / "kinetics_val_list.txt"
    records, classes = load_annotations(f, root="/k400/val")
    assert len(records) == 19796 and all(r.num_frames > 0 for r in records)
    assert len(classes) == 400 and max(r.label for r in records) == 399


# -------------------------------------------------------------------- folders
def test_folders(tmp_path):
    for p in ["b_cls/2.mp4", "b_cls/1.avi", "a_cls/x.mkv", "a_cls/notes.txt"]:
        write(tmp_path / p, "x")
    assert detect_format(tmp_path) == "folders"
    records, classes = load_annotations(tmp_path)
    assert classes.names == ["a_cls", "b_cls"]
    assert [(os.path.relpath(r.path, tmp_path), r.label) for r in records] == [
        ("a_cls/x.mkv", 0), ("b_cls/1.avi", 1), ("b_cls/2.mp4", 1)]


# ----------------------------------------------------------------- ClassIndex
def test_class_index_checkpoint_roundtrip(tmp_path):
    ci = ClassIndex(["walk", "run", "jump"])
    ckpt = ci.save_to({"model": {}})
    assert ckpt["class_names"] == ["walk", "run", "jump"]
    back = ClassIndex.from_checkpoint(ckpt)
    assert back == ci and back.index("run") == 1 and back.name(2) == "jump"
    assert ClassIndex.from_checkpoint(ci.state_dict()) == ci
    with pytest.raises(ValueError, match="duplicate"):
        ClassIndex(["a", "a"])


def test_class_index_fixes_labels(tmp_path):
    """A checkpoint's class order wins over the data's own order."""
    for p in ["walk/1.mp4", "run/2.mp4"]:
        write(tmp_path / "v" / p, "x")
    records, classes = load_annotations(tmp_path / "v", class_names=ClassIndex(["walk", "run"]))
    assert classes.names == ["walk", "run"]
    assert {os.path.basename(os.path.dirname(r.path)): r.label for r in records} == {"walk": 0, "run": 1}
    # a list file with its own classes.txt is mapped by name
    write(tmp_path / "l" / "classes.txt", "run\nwalk\n")
    f = write(tmp_path / "l" / "train.txt", "a.mp4 0\nb.mp4 1\n")
    records, classes = load_annotations(f, class_names=["walk", "run"])
    assert [r.label for r in records] == [1, 0]
