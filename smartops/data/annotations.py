"""Annotation formats, their auto-detection, and the class index.

Formats (``format=`` of :func:`load_annotations`):

``"list"``
    Lines ``path label`` (label an integer index or a class name), or
    ``path num_frames label`` (the frame-list style, e.g. Kinetics
    ``youtube_id num_frames label``; the frame count is kept as a hint, the
    video's own count is what sampling uses). Paths are relative to ``root``;
    a path without extension is matched to ``path.*`` / ``path_*`` video
    files. Class names come from ``class_names=``, or a ``classes.txt`` beside
    the list (one name per line, line k = class k), or the labels themselves.
``"kinetics_csv"``
    ``label,youtube_id,time_start,time_end,split`` with a header (the label
    column may be missing for test lists); videos are
    ``{youtube_id}_{start:06d}_{end:06d}.mp4`` in a folder per label (spaces
    or underscores) or flat in ``root``. Classes: sorted label names.
``"ucf101"``
    Official split files: ``classInd.txt`` (``k Name``, 1-based) beside
    ``trainlist0N.txt`` (``Class/v_..._gXX_cYY.avi k``) and ``testlist0N.txt``
    (no labels: the class is the folder, matched without case since the
    official lists spell ``HandStandPushups`` and ``HandstandPushups``).
    Give a list file, or the splits folder with ``split=N``.
``"hmdb51"``
    Official split files ``<class>_test_split<N>.txt`` with lines
    ``video.avi 0|1|2`` (1 = train, 2 = test, 0 = unused). Give the splits
    folder (or any one of the files) with ``split=N``; ``mode="train"``
    takes the 1s, ``"val"``/``"test"`` the 2s. Classes: sorted names. Videos
    are ``root/<class>/<video>`` (or flat in ``root``).
``"folders"``
    A folder per class holding video files; classes sorted by name, files
    sorted by name.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .label_checks import check_duplicates, check_label_gaps, check_not_float

__all__ = [
    "AnnotationError",
    "VideoRecord",
    "ClassIndex",
    "load_annotations",
    "detect_format",
    "FORMATS",
    "VIDEO_EXTENSIONS",
]

FORMATS = ("list", "kinetics_csv", "ucf101", "hmdb51", "folders")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")

PathLike = Union[str, os.PathLike]


class AnnotationError(ValueError):
    """A malformed annotation file; the message names the file and line."""


@dataclass(frozen=True)
class VideoRecord:
    """One annotated video."""

    path: str
    #: class index, or -1 where the annotation has no label (test lists)
    label: int
    #: frame count given by the annotation (frame lists), not authoritative
    num_frames: Optional[int] = None
    #: where the annotation came from ("file:line"), for messages
    source: str = ""


class ClassIndex:
    """Stable mapping between class names and indices 0..K-1.

    Save it with a checkpoint (``ci.save_to(ckpt)`` or
    ``ckpt.update(ci.state_dict())``) and restore it with
    ``ClassIndex.from_checkpoint(ckpt)``; passing it as ``class_index=`` to a
    dataset makes the dataset use exactly these indices.
    """

    KEY = "class_names"

    def __init__(self, names: Iterable[str]):
        self.names: List[str] = [str(n) for n in names]
        self._index: Dict[str, int] = {}
        self._folded: Dict[str, int] = {}
        for i, n in enumerate(self.names):
            if n in self._index:
                raise ValueError("duplicate class name %r" % n)
            self._index[n] = i
            self._folded.setdefault(_fold(n), i)

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        return iter(self.names)

    def __contains__(self, name) -> bool:
        return name in self._index or _fold(str(name)) in self._folded

    def __eq__(self, other) -> bool:
        return isinstance(other, ClassIndex) and self.names == other.names

    def __repr__(self) -> str:
        head = ", ".join(self.names[:5]) + (", ..." if len(self.names) > 5 else "")
        return "ClassIndex(%d classes: %s)" % (len(self.names), head)

    def index(self, name: str) -> int:
        """Index of ``name``; falls back to a match ignoring case, spaces and
        underscores (``HandStandPushups`` -> ``HandstandPushups``)."""
        if name in self._index:
            return self._index[name]
        folded = _fold(name)
        if folded in self._folded:
            return self._folded[folded]
        raise KeyError("unknown class name %r" % name)

    def name(self, index: int) -> str:
        return self.names[index]

    def state_dict(self) -> Dict[str, List[str]]:
        return {self.KEY: list(self.names)}

    def save_to(self, checkpoint: dict) -> dict:
        checkpoint[self.KEY] = list(self.names)
        return checkpoint

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping) -> "ClassIndex":
        if cls.KEY not in checkpoint:
            raise KeyError("checkpoint has no %r entry" % cls.KEY)
        return cls(checkpoint[cls.KEY])

    load_state_dict = from_checkpoint

    @classmethod
    def from_file(cls, path: PathLike) -> "ClassIndex":
        """``classes.txt`` (one name per line) or ``classInd.txt`` (``k name``)."""
        names = []
        for lineno, line in _lines(path):
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                if int(parts[0]) != len(names) + 1:
                    raise AnnotationError("%s:%d: expected class number %d, got %r"
                                          % (path, lineno, len(names) + 1, parts[0]))
                names.append(parts[1])
            else:
                names.append(line)
        return cls(names)


def _fold(name: str) -> str:
    return re.sub(r"[\s_]+", "", name).lower()


def _lines(path: PathLike):
    """(line number, stripped line) of the non-blank lines of ``path``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError("annotation file not found: %s" % path)
    with open(path, "r", encoding="utf-8-sig", newline=None) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if line:  # no comment syntax: HMDB51 names start with '#'
                yield lineno, line


# ---------------------------------------------------------------------------
# detection
# ---------------------------------------------------------------------------
_UCF_LIST = re.compile(r"^(train|test)list\d+\.txt$", re.I)
_HMDB_SPLIT = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d+)\.txt$", re.I)


def _is_video(name: str) -> bool:
    return name.lower().endswith(VIDEO_EXTENSIONS)


def detect_format(annotations: PathLike) -> str:
    """Guess the format of a file or folder (see the module docstring)."""
    path = os.fspath(annotations)
    if not os.path.exists(path):
        raise FileNotFoundError("annotations not found: %s" % path)
    if os.path.isdir(path):
        names = os.listdir(path)
        if any(n.lower() == "classind.txt" for n in names):
            return "ucf101"
        if any(_HMDB_SPLIT.match(n) for n in names):
            return "hmdb51"
        if any(os.path.isdir(os.path.join(path, n)) for n in names):
            return "folders"
        raise ValueError("cannot tell the annotation format of folder %s: it holds "
                         "no classInd.txt, no *_test_splitN.txt and no class folders" % path)
    base = os.path.basename(path)
    if _UCF_LIST.match(base):
        return "ucf101"
    if _HMDB_SPLIT.match(base):
        return "hmdb51"
    first = next((line for _, line in _lines(path)), "")
    if base.lower().endswith(".csv") or "youtube_id" in first.replace(" ", ""):
        return "kinetics_csv"
    return "list"


# ---------------------------------------------------------------------------
# parsers
# ---------------------------------------------------------------------------
def _int(token: str) -> Optional[int]:
    try:
        return int(token)
    except ValueError:
        return None


_KINETICS_NAME = re.compile(r"^(?P<id>.+)_\d{6}_\d{6}$")


class _StemResolver:
    """Finds ``rel.*`` / ``rel_XXXXXX_XXXXXX.*`` video files for paths given
    without extension (frame lists name videos by id), listing each folder
    once."""

    def __init__(self):
        self._dirs: Dict[str, Dict[str, str]] = {}

    def _stems(self, folder: str) -> Dict[str, str]:
        if folder not in self._dirs:
            stems: Dict[str, str] = {}
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                names = []
            for n in names:
                if _is_video(n):
                    stem = os.path.splitext(n)[0]
                    stems.setdefault(stem, n)
                    m = _KINETICS_NAME.match(stem)
                    if m:
                        stems.setdefault(m.group("id"), n)
            self._dirs[folder] = stems
        return self._dirs[folder]

    def __call__(self, root: str, rel: str) -> str:
        full = os.path.join(root, rel)
        if os.path.splitext(rel)[1].lower() in VIDEO_EXTENSIONS:
            return full
        folder, stem = os.path.split(full)
        hit = self._stems(folder).get(stem)
        return os.path.join(folder, hit) if hit else full


def parse_list(path: PathLike, root: str, class_names: Optional[Sequence[str]] = None
               ) -> Tuple[List[VideoRecord], ClassIndex]:
    path = os.fspath(path)
    rows = []
    for lineno, line in _lines(path):
        parts = line.split()
        where = "%s:%d" % (path, lineno)
        if len(parts) < 2:
            raise AnnotationError("%s: expected 'path label' or 'path num_frames label', "
                                  "got %r" % (where, line))
        nframes = None
        if len(parts) == 3 and _int(parts[1]) is not None and _int(parts[2]) is not None:
            rel, nframes, label = parts[0], int(parts[1]), parts[2]
            if nframes < 0:
                raise AnnotationError("%s: negative frame count %r" % (where, parts[1]))
        else:
            rel, label = line.rsplit(None, 1)
            rel = rel.strip()
        rows.append((rel, nframes, label, where))
    if not rows:
        raise AnnotationError("%s: no entries" % path)

    for r in rows:
        if _int(r[2]) is None:
            check_not_float(r[2], r[3])
    numeric = all(_int(r[2]) is not None for r in rows)
    file_names = None  # names the file's own integer labels refer to
    side = os.path.join(os.path.dirname(path), "classes.txt")
    if os.path.exists(side) and os.path.abspath(side) != os.path.abspath(path):
        file_names = ClassIndex.from_file(side).names
    if numeric:
        labels = [int(r[2]) for r in rows]
        known = len(file_names) if file_names is not None else (
            len(class_names) if class_names is not None else None)
        for r, l in zip(rows, labels):
            if l < 0 or (known is not None and l >= known):
                raise AnnotationError("%s: label %s out of range%s" % (
                    r[3], r[2], "" if known is None else " (%d classes)" % known))
        if class_names is None and file_names is None:
            check_label_gaps(labels, [r[3] for r in rows], path)
        if class_names is None:
            classes = ClassIndex(file_names if file_names is not None
                                 else [str(i) for i in range(max(labels) + 1)])
        else:
            classes = ClassIndex(class_names)
            if file_names is not None and file_names != classes.names:
                # the file's indices refer to its own classes.txt: map by name
                try:
                    remap = [classes.index(n) for n in file_names]
                except KeyError as e:
                    raise AnnotationError("%s: class %s is not in the given class index"
                                          % (side, e)) from None
                labels = [remap[l] for l in labels]
    else:
        if class_names is None:
            class_names = file_names if file_names is not None else sorted({r[2] for r in rows})
        classes = ClassIndex(class_names)
        labels = []
        for r in rows:
            try:
                labels.append(classes.index(r[2]))
            except KeyError:
                raise AnnotationError("%s: unknown class %r" % (r[3], r[2])) from None
    resolve = _StemResolver()
    records = [VideoRecord(resolve(root, r[0]), l, r[1], r[3])
               for r, l in zip(rows, labels)]
    return records, classes


def parse_kinetics_csv(path: PathLike, root: str, class_names=None
                       ) -> Tuple[List[VideoRecord], ClassIndex]:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError("annotation file not found: %s" % path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise AnnotationError("%s:1: empty file" % path) from None
        need = {"youtube_id", "time_start", "time_end"}
        if not need <= set(header):
            raise AnnotationError("%s:1: Kinetics CSV header must have %s (and label), got %r"
                                  % (path, ", ".join(sorted(need)), ",".join(header)))
        col = {h: i for i, h in enumerate(header)}
        rows = []
        for lineno, row in enumerate(reader, 2):
            if not row or not "".join(row).strip():
                continue
            where = "%s:%d" % (path, lineno)
            if len(row) != len(header):
                raise AnnotationError("%s: expected %d fields, got %d" % (where, len(header), len(row)))
            try:
                start = int(float(row[col["time_start"]]))
                end = int(float(row[col["time_end"]]))
            except ValueError:
                raise AnnotationError("%s: bad time_start/time_end %r/%r" % (
                    where, row[col["time_start"]], row[col["time_end"]])) from None
            label = row[col["label"]].strip() if "label" in col else None
            rows.append((row[col["youtube_id"]].strip(), start, end, label or None, where))
    if not rows:
        raise AnnotationError("%s: no entries" % path)
    if class_names is None:
        class_names = sorted({r[3] for r in rows if r[3] is not None})
    classes = ClassIndex(class_names)
    records = []
    for yid, start, end, label, where in rows:
        name = "%s_%06d_%06d.mp4" % (yid, start, end)
        cands = []
        if label is not None:
            cands += [os.path.join(root, label, name),
                      os.path.join(root, label.replace(" ", "_"), name)]
        cands.append(os.path.join(root, name))
        full = next((c for c in cands if os.path.exists(c)), cands[0])
        idx = -1
        if label is not None:
            try:
                idx = classes.index(label)
            except KeyError:
                raise AnnotationError("%s: unknown class %r" % (where, label)) from None
        records.append(VideoRecord(full, idx, None, where))
    return records, classes


def _ucf_files(path: str, mode: str, split: int) -> Tuple[str, str]:
    """(list file, classInd.txt) for a file or the splits folder."""
    if os.path.isdir(path):
        folder = path
        kind = "trainlist" if mode == "train" else "testlist"
        lst = os.path.join(folder, "%s%02d.txt" % (kind, split))
    else:
        folder, lst = os.path.dirname(path), path
    ind = os.path.join(folder, "classInd.txt")
    if not os.path.exists(ind):
        cands = [n for n in os.listdir(folder or ".") if n.lower() == "classind.txt"]
        if not cands:
            raise FileNotFoundError("UCF101 class file classInd.txt not found beside %s" % lst)
        ind = os.path.join(folder, cands[0])
    if not os.path.exists(lst):
        raise FileNotFoundError("UCF101 split file not found: %s" % lst)
    return lst, ind


def parse_ucf101(path: PathLike, root: str, mode: str = "train", split: int = 1,
                 class_names=None) -> Tuple[List[VideoRecord], ClassIndex]:
    lst, ind = _ucf_files(os.fspath(path), mode, split)
    classes = ClassIndex(class_names) if class_names is not None else ClassIndex.from_file(ind)
    official = ClassIndex.from_file(ind)
    records = []
    for lineno, line in _lines(lst):
        where = "%s:%d" % (lst, lineno)
        parts = line.split()
        if len(parts) not in (1, 2) or "/" not in parts[0]:
            raise AnnotationError("%s: expected 'Class/video.avi [k]', got %r" % (where, line))
        rel = parts[0]
        folder = rel.split("/", 1)[0]
        try:
            if len(parts) == 2:
                k = _int(parts[1])
                if k is None or not 1 <= k <= len(official):
                    raise AnnotationError("%s: class number must be 1..%d, got %r"
                                          % (where, len(official), parts[1]))
                label = classes.index(official.name(k - 1))
            else:
                label = classes.index(folder)
        except KeyError:
            raise AnnotationError("%s: unknown class %r" % (where, folder)) from None
        records.append(VideoRecord(os.path.join(root, rel), label, None, where))
    if not records:
        raise AnnotationError("%s: no entries" % lst)
    return records, classes


def parse_hmdb51(path: PathLike, root: str, mode: str = "train", split: int = 1,
                 class_names=None) -> Tuple[List[VideoRecord], ClassIndex]:
    path = os.fspath(path)
    if os.path.isdir(path):
        folder = path
    else:
        m = _HMDB_SPLIT.match(os.path.basename(path))
        if m is None:
            raise AnnotationError("%s: not an HMDB51 split file name (<class>_test_split<N>.txt)" % path)
        folder, split = os.path.dirname(path) or ".", int(m.group("split"))
    files = {}
    for n in sorted(os.listdir(folder)):
        m = _HMDB_SPLIT.match(n)
        if m and int(m.group("split")) == split:
            files[m.group("cls")] = os.path.join(folder, n)
    if not files:
        raise FileNotFoundError("no HMDB51 split files *_test_split%d.txt in %s" % (split, folder))
    classes = ClassIndex(class_names if class_names is not None else sorted(files))
    want = "1" if mode == "train" else "2"
    records = []
    for cls, fname in files.items():
        try:
            label = classes.index(cls)
        except KeyError:
            raise AnnotationError("%s: class %r is not in the class index" % (fname, cls)) from None
        for lineno, line in _lines(fname):
            parts = line.split()
            where = "%s:%d" % (fname, lineno)
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AnnotationError("%s: expected 'video.avi 0|1|2', got %r" % (where, line))
            if parts[1] != want:
                continue
            full = os.path.join(root, cls, parts[0])
            if not os.path.exists(full) and os.path.exists(os.path.join(root, parts[0])):
                full = os.path.join(root, parts[0])
            records.append(VideoRecord(full, label, None, where))
    return records, classes


def parse_folders(path: PathLike, class_names=None) -> Tuple[List[VideoRecord], ClassIndex]:
    path = os.fspath(path)
    found = sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)))
    if not found:
        raise AnnotationError("%s: no class folders" % path)
    classes = ClassIndex(class_names if class_names is not None else found)
    records = []
    for cls in found:
        try:
            label = classes.index(cls)
        except KeyError:
            raise AnnotationError("%s: folder %r is not in the class index"
                                  % (path, cls)) from None
        d = os.path.join(path, cls)
        for n in sorted(os.listdir(d)):
            if _is_video(n):
                records.append(VideoRecord(os.path.join(d, n), label, None, d))
    if not records:
        raise AnnotationError("%s: no video files (%s) in the class folders"
                              % (path, ", ".join(VIDEO_EXTENSIONS)))
    return records, classes


def resolve_root(annotations: PathLike, root: Optional[PathLike] = None) -> str:
    """The folder video paths are relative to: ``root``, else the folder of
    the annotation file, or the annotation folder itself."""
    if root is not None:
        return os.fspath(root)
    path = os.fspath(annotations)
    return path if os.path.isdir(path) else (os.path.dirname(path) or ".")


def load_annotations(
    annotations: PathLike,
    root: Optional[PathLike] = None,
    format: str = "auto",
    mode: str = "train",
    split: int = 1,
    class_names: Union[None, Sequence[str], ClassIndex] = None,
) -> Tuple[List[VideoRecord], ClassIndex]:
    """Read ``annotations`` into records and the class index.

    ``root`` is where video paths are relative to (default: the folder of the
    annotation file, or the folder itself for ``"folders"``). ``class_names``
    (a list or a :class:`ClassIndex`, e.g. restored from a checkpoint) fixes
    the class indices; labels are then mapped by name.
    """
    path = os.fspath(annotations)
    if not os.path.exists(path):
        raise FileNotFoundError("annotations not found: %s" % path)
    if format == "auto":
        format = detect_format(path)
    if format not in FORMATS:
        raise ValueError("unknown annotation format %r; known: auto, %s"
                         % (format, ", ".join(FORMATS)))
    if isinstance(class_names, ClassIndex):
        class_names = class_names.names
    root = resolve_root(path, root)
    if format == "list":
        records, classes = parse_list(path, root, class_names)
    elif format == "kinetics_csv":
        records, classes = parse_kinetics_csv(path, root, class_names)
    elif format == "ucf101":
        records, classes = parse_ucf101(path, root, mode, split, class_names)
    elif format == "hmdb51":
        records, classes = parse_hmdb51(path, root, mode, split, class_names)
    else:
        records, classes = parse_folders(path, class_names)
    check_duplicates([r.path for r in records], [r.label for r in records], [r.source for r in records])
    return records, classes
