"""``VideoDataset``: clips from video files, sampled as in the paper.

Modes
-----
``train``  a random clip (random position), a random ``crop_size`` crop
           (or TSN multi-scale corner cropping with ``multiscale_crop=True``)
           and a random horizontal flip. Item: (3, T, S, S) float32, or
           (num_segments, 3, T, S, S) with TSN segments (one random clip per
           segment; the segments of an item share their crop and flip).
``val``    the centre clip (or each segment's centre clip) and the centre
           crop. Same shapes as ``train``.
``test``   ``num_clips`` clips spread uniformly over the video x
           ``num_crops`` crops (4 corners + centre and their flips for 10):
           (num_clips * num_crops, 3, T, S, S), clip-major (view
           ``k * num_crops + j`` is crop j of clip k). The paper's 25 x 10 =
           250 views of 3 x 16 x 112 x 112 float32 take 602 MB per item: use
           small batches, fewer views, or :meth:`VideoDataset.iter_test_views`.

Values: RGB, 0..255 minus the per-channel ``mean`` (default RGB
(123, 117, 104), the original release's BGR (104, 117, 123) reordered),
divided by ``std`` if given (default None, as in the original).

Bad data
--------
A video that is missing, empty or cannot be decoded produces one
:class:`BadVideoWarning` naming it (once per file for the whole run, also
across DataLoader workers). In ``train`` another randomly drawn video takes
its place (at most ``max_retries`` draws, then a RuntimeError). In ``val`` and
``test`` the item is a zero clip with its label and is counted as skipped:
``dataset.skipped`` lists the indices skipped since ``reset_skipped()``,
gathered from all DataLoader workers (they share a small state folder), and
with ``return_info=True`` every item carries ``{"index", "valid"}`` so an
evaluator can drop invalid items batch by batch.

Reproducibility
---------------
Each item's randomness comes from ``(seed, epoch, index)`` only, so it does
not depend on the number of workers or their order. Call ``set_epoch(e)``
before each epoch (with ``persistent_workers=True`` the workers keep the
epoch they started with).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
import weakref
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from . import decode, sampling, transforms
from .annotations import AnnotationError, ClassIndex, VideoRecord, load_annotations, resolve_root
from .file_check import check_files
from .options import check_channel_values, check_frame_size, check_positive_int, check_scales

__all__ = ["VideoDataset", "BadVideoWarning", "MODES"]

MODES = ("train", "val", "test")


class BadVideoWarning(UserWarning):
    """A video file is missing, empty or cannot be decoded."""


def _remove_dir(path: str, owner: int) -> None:
    if os.getpid() == owner:  # never from a forked worker's copy
        shutil.rmtree(path, ignore_errors=True)


class _SharedLog:
    """Marks shared by the processes that use one dataset (the main process
    and its DataLoader workers): one small file per mark in a temp folder.
    ``mark`` is atomic (O_EXCL), so exactly one process wins a given key."""

    def __init__(self, path: str):
        self.path = path

    def _file(self, kind: str, key: str) -> str:
        return os.path.join(self.path, "%s-%s" % (kind, hashlib.sha1(key.encode()).hexdigest()[:20]))

    def mark(self, kind: str, key: str, text: str = "") -> bool:
        try:
            fd = os.open(self._file(kind, key), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        except OSError:  # folder gone (e.g. a copy outliving its creator)
            return True
        with os.fdopen(fd, "w") as f:
            f.write(text or key)
        return True

    def entries(self, kind: str) -> List[str]:
        out = []
        try:
            names = os.listdir(self.path)
        except OSError:
            return out
        for n in names:
            if n.startswith(kind + "-"):
                try:
                    with open(os.path.join(self.path, n)) as f:
                        out.append(f.read())
                except OSError:
                    pass
        return out

    def clear(self, kind: str) -> None:
        try:
            names = os.listdir(self.path)
        except OSError:
            return
        for n in names:
            if n.startswith(kind + "-"):
                try:
                    os.remove(os.path.join(self.path, n))
                except OSError:
                    pass


class VideoDataset(Dataset):
    """Clips from the videos of an annotation file or folder.

    Parameters (beyond those of the paper's sampling, see the module doc):
        annotations: a list file, Kinetics CSV, UCF101/HMDB51 split file or
            folder, or a folder per class (see :mod:`smartops.data.annotations`).
        root: where the videos are (default: beside the annotations).
        format: ``"auto"`` or one of ``list, kinetics_csv, ucf101, hmdb51,
            folders``; ``split``: the official split number (UCF101, HMDB51).
        class_index: a :class:`ClassIndex` or list of names (e.g. restored
            from a checkpoint) fixing the label indices.
        frame_size: frames are resized to (H, W) (default 128 x 170), to a
            short side if an int, or kept if None, while decoding.
        crop_size: side of the square crops (112).
        multiscale_crop, scales: TSN multi-scale corner cropping in train.
        flip: random horizontal flip in train.
        mean, std: per-channel, RGB, 0..255 scale (std None = not scaled).
        num_clips, num_crops: test views (25 x 10); num_crops in 1, 2, 3, 5, 10.
        seed: base of the per-item random numbers.
        max_retries: replacement draws for a bad video in train.
        return_info: items become (clip, label, {"index", "valid"}).
        seek_gap, decode_threads: see :func:`smartops.data.decode.read_frames`.
    """

    #: channels of a frame; subclasses with other frames (optical flow: 2) change it
    channels = 3

    def __init__(
        self,
        annotations: Union[str, os.PathLike],
        root: Optional[Union[str, os.PathLike]] = None,
        mode: str = "train",
        clip_len: int = 16,
        frame_stride: int = 1,
        num_segments: int = 1,
        *,
        format: str = "auto",
        split: int = 1,
        class_index: Union[None, ClassIndex, Sequence[str]] = None,
        frame_size: decode.FrameSize = (128, 170),
        crop_size: int = 112,
        multiscale_crop: bool = False,
        scales: Sequence[float] = transforms.MULTISCALE_SCALES,
        flip: bool = True,
        mean: Optional[Sequence[float]] = transforms.RGB_MEAN,
        std: Optional[Sequence[float]] = None,
        num_clips: int = 25,
        num_crops: int = 10,
        seed: int = 0,
        max_retries: int = 10,
        return_info: bool = False,
        seek_gap: int = 32,
        decode_threads: int = 1,
    ):
        if mode not in MODES:
            raise ValueError("mode must be one of %s, got %r" % (", ".join(MODES), mode))
        sampling.clip_span(check_positive_int("clip_len", clip_len),
                           check_positive_int("frame_stride", frame_stride))
        self.crop_size = check_positive_int("crop_size", crop_size)
        self.frame_size = check_frame_size(frame_size, self.crop_size)
        self.num_segments = check_positive_int("num_segments", num_segments)
        self.num_clips = check_positive_int("num_clips", num_clips)
        transforms.fixed_crop_boxes(crop_size, crop_size, crop_size, num_crops)  # validates
        self.mean = check_channel_values("mean", mean, self.channels, positive=False)
        self.std = check_channel_values("std", std, self.channels, positive=True)
        self.scales = check_scales(scales)
        self.max_retries = check_positive_int("max_retries", max_retries, minimum=0)
        self.seek_gap = check_positive_int("seek_gap", seek_gap, minimum=0)
        self.decode_threads = check_positive_int("decode_threads", decode_threads, minimum=0)
        self.records, self.class_index = self._load_records(
            annotations, root=root, format=format, mode=mode, split=split,
            class_names=class_index)
        if not self.records:
            raise AnnotationError("%s: no videos for mode %r (split %d)" % (annotations, mode, split))
        self.annotations = os.fspath(annotations)
        self.mode = mode
        self.clip_len = int(clip_len)
        self.frame_stride = int(frame_stride)
        self.multiscale_crop = bool(multiscale_crop)
        self.flip = bool(flip)
        self.num_crops = int(num_crops)
        self.seed = int(seed)
        self.return_info = bool(return_info)
        self.epoch = 0
        # missing files are reported here, once, and never drawn
        missing = check_files(self.records, self.annotations, resolve_root(annotations, root))
        self._bad: Dict[str, str] = {p: "FileNotFoundError: video file not found" for p in missing}
        self._skipped_here: set = set()
        state = tempfile.mkdtemp(prefix="smartops-data-")
        weakref.finalize(self, _remove_dir, state, os.getpid())
        self._log = _SharedLog(state)

    def _load_records(self, annotations, **kwargs):
        """(records, class index) of ``annotations``; subclasses reading other
        layouts (frame folders) override it."""
        return load_annotations(annotations, **kwargs)

    def _hflip(self, clip: torch.Tensor) -> torch.Tensor:
        """Mirror a (T, H, W, C) uint8 clip; subclasses whose channels change
        meaning under a mirror (optical flow's x) override it."""
        return transforms.hflip(clip)

    # ------------------------------------------------------------------ info
    def __len__(self) -> int:
        return len(self.records)

    @property
    def classes(self) -> List[str]:
        return list(self.class_index.names)

    @property
    def num_classes(self) -> int:
        return len(self.class_index)

    @property
    def labels(self) -> List[int]:
        return [r.label for r in self.records]

    @property
    def num_views(self) -> int:
        """Views per test item (num_clips * num_crops)."""
        return self.num_clips * self.num_crops

    @property
    def item_shape(self) -> Tuple[int, ...]:
        s, t = self.crop_size, self.clip_len
        if self.mode == "test":
            return (self.num_views, self.channels, t, s, s)
        if self.num_segments > 1:
            return (self.num_segments, self.channels, t, s, s)
        return (self.channels, t, s, s)

    def item_bytes(self) -> int:
        """Bytes of one item's clip tensor (float32)."""
        return int(np.prod(self.item_shape)) * 4

    def __repr__(self) -> str:
        return ("VideoDataset(%d videos, %d classes, mode=%r, item %s from %s)"
                % (len(self), self.num_classes, self.mode, tuple(self.item_shape), self.annotations))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    # ------------------------------------------------------------- bad data
    @property
    def bad_files(self) -> List[str]:
        """Files found bad so far (all processes), as 'path: reason'."""
        found = dict(self._bad)
        for entry in self._log.entries("bad"):
            path, _, reason = entry.partition("\t")
            found[path] = reason
        return ["%s: %s" % kv for kv in sorted(found.items())]

    @property
    def skipped(self) -> List[int]:
        """Indices skipped in val/test since ``reset_skipped()`` (all workers)."""
        found = {int(x) for x in self._log.entries("skip") if x.strip()}
        return sorted(found | self._skipped_here)

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    def reset_skipped(self) -> None:
        self._log.clear("skip")
        self._skipped_here.clear()

    def _report_bad(self, path: str, err: BaseException) -> None:
        reason = "%s: %s" % (type(err).__name__, err) if str(err) else type(err).__name__
        first_here = path not in self._bad
        self._bad[path] = reason
        if first_here and self._log.mark("bad", path, "%s\t%s" % (path, reason)):
            warnings.warn("bad video %s (%s); %s" % (
                path, reason, "another video is drawn in its place" if self.mode == "train"
                else "it is skipped and counted in dataset.skipped"),
                BadVideoWarning, stacklevel=3)

    # ------------------------------------------------------------- sampling
    def _rng(self, index: int, attempt: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index), attempt])

    def _frame_indices(self, num_frames: int, rng: np.random.Generator) -> np.ndarray:
        """(clips, clip_len) frame indices for one item."""
        t, st = self.clip_len, self.frame_stride
        if self.mode == "test":
            return sampling.uniform_clips(num_frames, self.num_clips, t, st)
        if self.num_segments > 1:
            return sampling.segment_clips(num_frames, self.num_segments, t, st,
                                          rng if self.mode == "train" else None)
        if self.mode == "train":
            return sampling.random_clip(num_frames, t, st, rng)[None]
        return sampling.center_clip(num_frames, t, st)[None]

    def _decode(self, path: str, rng: np.random.Generator) -> torch.Tensor:
        """uint8 (clips, T, H, W, 3) of one video."""
        info = decode.probe_video(path, cache_folder=self._log.path)  # one index per file for all workers
        idx = self._frame_indices(info.num_frames, rng)
        frames = decode.read_frames(path, idx.reshape(-1), size=self.frame_size, info=info,
                                    seek_gap=self.seek_gap, threads=self.decode_threads)
        frames = torch.from_numpy(frames)
        return frames.reshape(idx.shape[0], idx.shape[1], *frames.shape[1:])

    def _train_views(self, clips: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """(S, T, H, W, 3) uint8 -> (S, T, s, s, 3) uint8, one crop + flip."""
        s, t, h, w, c = clips.shape
        size = self.crop_size
        x = clips.reshape(s * t, h, w, c)
        if self.mode == "train" and self.multiscale_crop:
            box = transforms.multiscale_crop_box(h, w, size, rng, self.scales)
            x = transforms.resize(transforms.crop(x, box), (size, size))
        elif self.mode == "train":
            x = transforms.crop(x, transforms.random_crop_box(h, w, size, rng))
        else:
            x = transforms.crop(x, transforms.center_crop_box(h, w, size))
        if self.mode == "train" and self.flip and rng.random() < 0.5:
            x = self._hflip(x)
        return x.reshape(s, t, *x.shape[1:])

    def _test_views(self, clips: torch.Tensor) -> torch.Tensor:
        """(K, T, H, W, 3) uint8 -> (K * num_crops, T, s, s, 3) uint8."""
        views = []
        for clip in clips:
            views.extend(transforms.test_crop_views(clip, self.crop_size, self.num_crops,
                                                    flip=self._hflip))
        return torch.stack(views)

    def _finish(self, views: torch.Tensor) -> torch.Tensor:
        x = transforms.to_float(views, self.mean, self.std)
        if self.mode != "test" and self.num_segments == 1:
            x = x[0]
        return x

    def _views(self, clips: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if self.mode == "test":
            return self._finish(self._test_views(clips))
        return self._finish(self._train_views(clips, rng))

    def _try_decode(self, index: int, rng: np.random.Generator) -> Optional[torch.Tensor]:
        """The decoded clips of item ``index``, or None (reported) if its file
        is bad. Only reading the file is guarded: errors of the transforms
        (e.g. a crop larger than the frames) are configuration errors and
        propagate."""
        path = self.records[index].path
        if path in self._bad:
            return None
        try:
            return self._decode(path, rng)
        except Exception as err:  # noqa: BLE001 - any failure to read the file
            self._report_bad(path, err)
            return None

    def _count_skip(self, index: int) -> None:
        self._skipped_here.add(index)
        self._log.mark("skip", str(index))

    # ---------------------------------------------------------------- items
    def __getitem__(self, index: int):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        if self.mode == "train":
            tried = []
            current = index
            for attempt in range(self.max_retries + 1):
                rng = self._rng(index, attempt)
                if attempt:
                    current = int(rng.integers(0, len(self)))
                clips = self._try_decode(current, rng)
                if clips is None:
                    tried.append(self.records[current].path)
                    continue
                return self._item(self._views(clips, rng), self.records[current].label, index, True)
            raise RuntimeError("VideoDataset: no decodable video after %d tries for item %d; "
                               "tried %s" % (self.max_retries + 1, index, ", ".join(tried)))
        rng = self._rng(index)
        clips = self._try_decode(index, rng)
        if clips is None:
            self._count_skip(index)
            clip = torch.zeros(self.item_shape, dtype=torch.float32)
            return self._item(clip, self.records[index].label, index, False)
        return self._item(self._views(clips, rng), self.records[index].label, index, True)

    def _item(self, clip: torch.Tensor, label: int, index: int, valid: bool):
        if self.return_info:
            return clip, label, {"index": index, "valid": valid}
        return clip, label

    def iter_test_views(self, index: int, chunk_size: int = 10) -> Iterator[torch.Tensor]:
        """Test views of one video in chunks of ``chunk_size`` views
        ((n, 3, T, s, s) float32 each), decoding the frames once, so that the
        paper's 250 views need not be held as floats at once. Raises on a bad
        video (and counts it as skipped)."""
        clips = self._try_decode(index, self._rng(index))
        if clips is None:
            self._count_skip(index)
            raise decode.DecodeError("bad video %s: %s" % (
                self.records[index].path, self._bad.get(self.records[index].path, "")))
        pending: List[torch.Tensor] = []
        for clip in clips:
            pending.extend(transforms.test_crop_views(clip, self.crop_size, self.num_crops,
                                                      flip=self._hflip))
            while len(pending) >= chunk_size:
                yield transforms.to_float(torch.stack(pending[:chunk_size]), self.mean, self.std)
                pending = pending[chunk_size:]
        if pending:
            yield transforms.to_float(torch.stack(pending), self.mean, self.std)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_skipped_here"] = set()
        return state
