"""Video data for ARTNet: PyAV decoding, dataset formats, the paper's sampling.

    from smartops.data import VideoDataset
    train = VideoDataset("ucf101_splits/trainlist01.txt", root="UCF-101",
                         mode="train", num_segments=2)
    clip, label = train[0]          # (2, 3, 16, 112, 112) float32, int

See :mod:`smartops.data.dataset` for the modes and bad-data handling,
:mod:`smartops.data.annotations` for the formats and
:mod:`smartops.data.synthetic` for the motion-only synthetic dataset
(``python -m smartops.data.synthetic --out DIR``).

This package does not import the compiled extension or ``smartops.ops`` /
``smartops.nn``: it works on a machine without them.
"""
from .annotations import (
    FORMATS,
    VIDEO_EXTENSIONS,
    AnnotationError,
    ClassIndex,
    VideoRecord,
    detect_format,
    load_annotations,
)
from .dataset import MODES, BadVideoWarning, VideoDataset
from .decode import (
    DecodeError,
    VideoInfo,
    decode_stats,
    probe_video,
    read_all_frames,
    read_frames,
    reset_decode_stats,
)
from .file_check import MissingVideosError, MissingVideoWarning, check_files
from .label_checks import AnnotationWarning
from .sampling import center_clip, random_clip, segment_clips, uniform_clips
from .transforms import BGR_MEAN, MULTISCALE_SCALES, RGB_MEAN, to_float

__all__ = [
    "VideoDataset",
    "MODES",
    "BadVideoWarning",
    "MissingVideosError",
    "MissingVideoWarning",
    "check_files",
    "AnnotationWarning",
    "ClassIndex",
    "VideoRecord",
    "AnnotationError",
    "load_annotations",
    "detect_format",
    "FORMATS",
    "VIDEO_EXTENSIONS",
    "DecodeError",
    "VideoInfo",
    "probe_video",
    "read_frames",
    "read_all_frames",
    "decode_stats",
    "reset_decode_stats",
    "random_clip",
    "center_clip",
    "uniform_clips",
    "segment_clips",
    "RGB_MEAN",
    "BGR_MEAN",
    "MULTISCALE_SCALES",
    "to_float",
    "write_video",
    "generate_synthetic",
]


def __getattr__(name):  # the synthetic generator loads on first use
    if name in ("write_video", "generate_synthetic"):
        from . import synthetic

        return getattr(synthetic, name)
    raise AttributeError("module 'smartops.data' has no attribute %r" % name)
