"""PyAV reading: probing, frame order, partial decoding, resizing, looping."""
import numpy as np
import pytest

from smartops.data import decode
from smartops.data.decode import DecodeError, probe_video, read_frames


@pytest.mark.parametrize("key", ["index40", "index40_avi", "index40_mkv"])
def test_probe_and_order(videos, fr, key):
    info = probe_video(videos[key])
    assert info.num_frames == 40
    assert (info.height, info.width) == (32, 40)
    assert info.fps == pytest.approx(25)
    frames = read_frames(videos[key], range(40), size=None, info=info)
    assert frames.dtype == np.uint8 and frames.shape == (40, 32, 40, 3)
    assert [fr.read_index(f) for f in frames] == list(range(40))


def test_mkv_frame_count_from_packets(videos):
    # mkv stores no frame count: the packets are counted (demuxing only)
    info = probe_video(videos["index40_mkv"])
    assert info.frames_source == "packets"
    assert info.num_frames == 40


def test_arbitrary_order_and_repeats(videos, fr):
    idx = [30, 2, 2, 17, 39, 0]
    frames = read_frames(videos["index40"], idx, size=None)
    assert [fr.read_index(f) for f in frames] == idx


def test_loops_short_video(videos, fr):
    frames = read_frames(videos["short6"], range(16), size=None)
    assert [fr.read_index(f) for f in frames] == [i % 6 for i in range(16)]


def test_resize(videos):
    assert read_frames(videos["index40"], [0], size=(128, 170)).shape == (1, 128, 170, 3)
    assert read_frames(videos["index40"], [0], size=(20, 24)).shape == (1, 20, 24, 3)
    # int = short side, aspect ratio kept (32 x 40 -> 64 x 80)
    assert read_frames(videos["index40"], [0], size=64).shape == (1, 64, 80, 3)
    assert decode.resolve_size(240, 320, 128) == (128, 171)
    assert decode.resolve_size(320, 240, 128) == (171, 128)


def test_partial_decode_of_long_video(videos, fr):
    """16 frames from the middle of a 240-frame video with a keyframe every
    10 frames decode at most ~26 frames, not the whole video."""
    path = videos["long"]
    info = probe_video(path)
    assert info.num_frames == 240
    decode.reset_decode_stats()
    frames = read_frames(path, range(150, 166), size=None, info=info)
    stats = decode.decode_stats()
    assert [fr.read_coded(f) for f in frames] == list(range(150, 166))
    assert stats["seeks"] == 1
    assert stats["frames_decoded"] <= 16 + 10, stats
    # and far-apart clips are reached with separate seeks
    decode.reset_decode_stats()
    idx = list(range(20, 36)) + list(range(200, 216))
    frames = read_frames(path, idx, size=None, info=info)
    assert [fr.read_coded(f) for f in frames] == idx
    assert decode.decode_stats()["frames_decoded"] <= 2 * (16 + 10)


def test_full_read_of_long_video_in_order(videos, fr):
    frames = read_frames(videos["long"], range(240), size=None)
    assert [fr.read_coded(f) for f in frames] == list(range(240))


def test_bad_files_raise(videos):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        probe_video(videos["missing"])
    with pytest.raises(DecodeError, match="empty"):
        probe_video(videos["empty"])
    with pytest.raises(Exception) as e:
        probe_video(videos["corrupt"])
    assert not isinstance(e.value, AssertionError)


def test_truncated_video_fills_missing_tail(encode, fr, tmp_path):
    """A file cut short still yields the frames it has; frames announced but
    missing are filled with the last decoded one."""
    full = encode(tmp_path / "full.mkv", fr.coded(60))  # mkv: header first
    data = full.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    info = decode.VideoInfo(str(cut), 60, 25.0, 40, 32)  # as if announced
    got = [fr.read_coded(f) for f in read_frames(cut, range(0, 60, 5), size=None, info=info)]
    assert got[0] == 0
    assert got == sorted(got)  # in order, the tail repeated
    assert got[-1] < 55
