"""``RawframeDataset``: clips from folders of extracted frames (TSN/MMAction2
"rawframes"), RGB or optical flow.

Layout (the defaults of TSN and MMAction2, indices starting at 1)::

    root/<frame_dir>/img_00001.jpg ...                     modality "rgb"
    root/<frame_dir>/flow_x_00001.jpg, flow_y_00001.jpg ... modality "flow"

List files have lines ``frame_dir total_frames label`` (label an index or a
class name; a ``classes.txt`` beside the list names the indices, as for video
lists). ``total_frames`` counts RGB frames, or flow frames (``flow_x`` files)
for flow lists; it is checked against every folder when the dataset is built.
``smartops-extract`` writes such folders and lists from videos.

Sampling, crops, test views, bad-item handling and reproducibility are those
of :class:`~smartops.data.VideoDataset` (frame ``i`` of a clip is the file
with number ``start_index + i``). Flow items are (2, T, H, W) float32 in
pixels per frame (x, y), dequantised from the 8-bit images (see
:mod:`smartops.data.flow_quant`); flips negate x. A missing folder or an
unreadable image makes the item bad, like an undecodable video.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from . import transforms
from .annotations import AnnotationError, VideoRecord, load_annotations
from .dataset import VideoDataset
from .decode import resolve_size
from .flow_quant import FLOW_MEAN, FLOW_STD, hflip_flow
from .image_files import read_gray, read_rgb

__all__ = ["RawframeDataset", "MODALITIES", "DEFAULT_TEMPLATES", "is_rawframe_list", "count_frames"]

MODALITIES = ("rgb", "flow")
#: file name templates per modality (``str.format`` with the frame number)
DEFAULT_TEMPLATES = {"rgb": ("img_{:05d}.jpg",),
                     "flow": ("flow_x_{:05d}.jpg", "flow_y_{:05d}.jpg")}


def count_frames(folder: str, template: str) -> int:
    """Number of files in ``folder`` named like ``template``."""
    head, _, rest = template.partition("{")
    tail = rest.partition("}")[2]
    return sum(1 for n in os.listdir(folder)
               if n.startswith(head) and n.endswith(tail) and len(n) > len(head) + len(tail))


def is_rawframe_list(path, root=None) -> bool:
    """Whether a list file's first line is ``frame_dir total_frames label``
    with ``frame_dir`` a folder (under ``root``, default: beside the list)."""
    with open(path, encoding="utf-8-sig") as f:
        first = next((line.split() for line in f if line.strip()), [])
    if len(first) != 3 or not first[1].isdigit():
        return False
    base = root if root is not None else os.path.dirname(os.path.abspath(path))
    return os.path.isdir(os.path.join(base, first[0]))


class RawframeDataset(VideoDataset):
    """Clips from frame folders listed in a ``frame_dir total_frames label``
    file.

    Parameters beyond :class:`~smartops.data.VideoDataset`'s:
        modality: ``"rgb"`` (3 channels) or ``"flow"`` (2 channels: x, y).
        templates: file name templates, one for rgb, (x, y) for flow
            (default :data:`DEFAULT_TEMPLATES`).
        start_index: number of the first frame file (1 in TSN/MMAction2).
        check_frames: compare ``total_frames`` with every folder at
            construction (an ``AnnotationError`` lists mismatches).
    ``frame_size`` defaults to None (frames are used at their stored size);
    ``mean``/``std`` default to the RGB mean, or for flow to the values that
    turn 8-bit flow into pixels per frame.
    """

    def __init__(self, annotations, root=None, mode: str = "train", clip_len: int = 16,
                 frame_stride: int = 1, num_segments: int = 1, *, modality: str = "rgb",
                 templates: Optional[Sequence[str]] = None, start_index: int = 1,
                 check_frames: bool = True, **kwargs):
        if modality not in MODALITIES:
            raise ValueError("modality must be 'rgb' or 'flow', got %r" % (modality,))
        templates = tuple(templates or DEFAULT_TEMPLATES[modality])
        if len(templates) != len(DEFAULT_TEMPLATES[modality]):
            raise ValueError("modality %r needs %d file name template(s) like %s, got %r"
                             % (modality, len(DEFAULT_TEMPLATES[modality]),
                                DEFAULT_TEMPLATES[modality], templates))
        for t in templates:
            if t.format(start_index) == t:
                raise ValueError("file name template %r has no {} for the frame number" % t)
        self.modality = modality
        self.channels = 2 if modality == "flow" else 3
        self.templates = templates
        self.start_index = int(start_index)
        self.check_frames = bool(check_frames)
        kwargs.setdefault("frame_size", None)
        if modality == "flow":
            kwargs.setdefault("mean", FLOW_MEAN)
            kwargs.setdefault("std", FLOW_STD)
        super().__init__(annotations, root, mode, clip_len, frame_stride, num_segments, **kwargs)

    # ------------------------------------------------------------- records
    def _load_records(self, annotations, format="auto", mode="train", split=1, **kwargs):
        if format not in ("auto", "list"):
            raise ValueError("frame folders are listed in 'frame_dir total_frames label' "
                             "files (format='list'), got format=%r" % (format,))
        records, classes = load_annotations(annotations, format="list", **kwargs)
        records = [self._folder_record(r) for r in records]
        if self.check_frames:
            self._check_counts(records)
        self._num_frames: Dict[str, int] = {r.path: r.num_frames for r in records}
        return records, classes

    @staticmethod
    def _folder_record(record: VideoRecord) -> VideoRecord:
        if record.num_frames is None:
            raise AnnotationError("%s: expected 'frame_dir total_frames label'" % record.source)
        if record.num_frames < 1:
            raise AnnotationError("%s: a frame folder needs at least 1 frame" % record.source)
        path = record.path
        # the list parser matches extension-less names to videos beside them
        stem = os.path.splitext(path)[0]
        if not os.path.isdir(path) and os.path.isdir(stem):
            path = stem
        return VideoRecord(path, record.label, record.num_frames, record.source)

    def _check_counts(self, records: List[VideoRecord]) -> None:
        wrong = []
        for r in records:
            if not os.path.isdir(r.path):
                continue  # reported as a bad item when read
            for t in self.templates:
                n = count_frames(r.path, t)
                if n != r.num_frames:
                    wrong.append("%s: %s holds %d %s files, the list says %d"
                                 % (r.source, r.path, n, t, r.num_frames))
        if wrong:
            raise AnnotationError(
                "%d frame count(s) do not match their folders:\n  %s%s\nFix total_frames in "
                "the list (smartops-extract writes correct lists) or re-extract those videos."
                % (len(wrong), "\n  ".join(wrong[:10]),
                   "\n  ... (%d more)" % (len(wrong) - 10) if len(wrong) > 10 else ""))

    # ------------------------------------------------------------- reading
    def _read_frame(self, folder: str, number: int) -> np.ndarray:
        if self.modality == "rgb":
            return read_rgb(os.path.join(folder, self.templates[0].format(number)))
        return np.stack([read_gray(os.path.join(folder, t.format(number)))
                         for t in self.templates], axis=-1)

    def _decode(self, path: str, rng: np.random.Generator) -> torch.Tensor:
        """uint8 (clips, T, H, W, C) of one frame folder."""
        if not os.path.isdir(path):
            raise FileNotFoundError("frame folder not found: %s" % path)
        n = self._num_frames[path]
        idx = self._frame_indices(n, rng) % n
        frames = {int(i): self._read_frame(path, self.start_index + int(i))
                  for i in np.unique(idx)}
        shapes = {f.shape for f in frames.values()}
        if len(shapes) > 1:
            raise ValueError("frames of different sizes in %s: %s" % (path, sorted(shapes)))
        clip = torch.from_numpy(np.stack([frames[int(i)] for i in idx.reshape(-1)]))
        if self.frame_size is not None:
            clip = transforms.resize(clip, self._output_size(*clip.shape[1:3]))
        return clip.reshape(*idx.shape, *clip.shape[1:])

    def _output_size(self, height: int, width: int):
        return resolve_size(height, width, self.frame_size)

    def _hflip(self, clip: torch.Tensor) -> torch.Tensor:
        return hflip_flow(clip) if self.modality == "flow" else super()._hflip(clip)

    def __repr__(self) -> str:
        return ("RawframeDataset(%d folders, %s, %d classes, mode=%r, item %s from %s)"
                % (len(self), self.modality, self.num_classes, self.mode,
                   tuple(self.item_shape), self.annotations))
