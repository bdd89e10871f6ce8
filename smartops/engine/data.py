"""Datasets and loaders from command-line arguments, and the cached synthetic
motion dataset used when no data is given."""
import functools
import os
import shutil
import warnings

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from smartops.data import AnnotationError, VideoDataset, detect_format
from smartops.data.flow_quant import FLOW_MEAN, FLOW_STD
from smartops.data.rawframes import RawframeDataset, is_rawframe_list
from smartops.engine.cli import CLIError
from smartops.engine.distributed import barrier

__all__ = ["cache_root", "synthetic_data", "resolve_sources", "dataset_options", "make_dataset", "ShardSampler",
           "train_loader", "eval_loader", "SYNTHETIC_DEFAULTS"]

SYNTHETIC_DEFAULTS = {"classes": 4, "videos_per_class": 40, "frames": 24, "size": [72, 96], "seed": 0}
SPLIT_FORMATS = ("ucf101", "hmdb51")  # one annotation source holds both the train and the test lists


def cache_root():
    """$SMARTOPS_CACHE, else $XDG_CACHE_HOME/smartops, else ~/.cache/smartops."""
    if os.environ.get("SMARTOPS_CACHE"):
        return os.environ["SMARTOPS_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "smartops")


def synthetic_folder(spec):
    h, w = spec["size"]
    return os.path.join(cache_root(), "synthetic-motion", "c%d-v%d-f%d-%dx%d-s%d" % (
        spec["classes"], spec["videos_per_class"], spec["frames"], h, w, spec["seed"]))


def synthetic_data(spec, dist_info=None, log=print):
    """The synthetic motion dataset of `spec` (see SYNTHETIC_DEFAULTS),
    generated into the cache on first use (by one process per machine,
    written to a temporary folder and renamed, so an interrupted generation
    is never used). Returns the folder."""
    folder = synthetic_folder(spec)
    ready = os.path.join(folder, "meta.json")
    local_main = dist_info is None or dist_info.local_rank == 0
    if local_main and not os.path.exists(ready):
        from smartops.data.synthetic import generate_synthetic

        log("generating the synthetic motion dataset (%d classes x %d videos, %d frames %dx%d) into %s"
            % (spec["classes"], spec["videos_per_class"], spec["frames"], spec["size"][0], spec["size"][1], folder))
        parent = os.path.dirname(folder)
        os.makedirs(parent, exist_ok=True)
        tmp = "%s.tmp-%d" % (folder, os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        generate_synthetic(tmp, classes=spec["classes"], videos_per_class=spec["videos_per_class"],
                           frames=spec["frames"], size=tuple(spec["size"]), seed=spec["seed"])
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    barrier()
    if not os.path.exists(ready):
        raise CLIError("the synthetic dataset is missing at %s (generation failed or the cache is not shared "
                       "between machines)" % folder)
    return folder


def _source(path, root, fmt, split, label):
    if not os.path.exists(path):
        raise CLIError("%s not found: %s" % (label, path))
    if root is not None and not os.path.isdir(root):
        raise CLIError("%s root folder not found: %s" % (label, root))
    if fmt == "auto":
        try:
            fmt = detect_format(path)
        except (ValueError, OSError) as err:
            raise CLIError("%s: %s" % (label, err)) from None
    return {"annotations": os.path.abspath(path), "root": None if root is None else os.path.abspath(root),
            "format": fmt, "split": split}


def resolve_sources(args, dist_info=None, log=print):
    """{"train": source, "val": source or None, "synthetic": spec or None}
    from --data/--val-data (sources are dicts of annotations, root, format,
    split). Without --data: the synthetic dataset's train.txt and val.txt."""
    if args.data is None:
        spec = dict(SYNTHETIC_DEFAULTS, classes=args.synthetic_classes, videos_per_class=args.synthetic_videos,
                    frames=args.synthetic_frames, size=list(args.synthetic_size), seed=args.synthetic_seed)
        folder = synthetic_data(spec, dist_info, log)
        val = None if args.val_data == "none" else _source(os.path.join(folder, "val.txt"), None, "list", 1,
                                                           "synthetic val")
        return {"train": _source(os.path.join(folder, "train.txt"), None, "list", 1, "synthetic train"),
                "val": val, "synthetic": spec}
    train = _source(args.data, args.root, args.format, args.split, "--data")
    if args.val_data == "none":
        val = None
    elif args.val_data is not None:
        val = _source(args.val_data, args.val_root if args.val_root is not None else args.root,
                      args.val_format, args.split, "--val-data")
    elif train["format"] in SPLIT_FORMATS:
        val = dict(train)  # the same split files, read in "val" mode (the test list)
    else:
        val = None
    return {"train": train, "val": val, "synthetic": None}


def dataset_options(args):
    """VideoDataset keyword arguments shared by all modes."""
    fs = args.frame_size
    return dict(clip_len=args.clip_len, frame_stride=args.frame_stride,
                frame_size=None if fs == "keep" else (tuple(fs) if isinstance(fs, (list, tuple)) else fs),
                crop_size=args.crop_size, mean=args.mean, std=args.std,
                modality=getattr(args, "modality", "rgb"))


def make_dataset(source, mode, options, num_segments=1, class_index=None, seed=0, return_info=False,
                 num_clips=25, num_crops=10, multiscale_crop=False, flip=True):
    """A VideoDataset (a RawframeDataset for frame folders); annotation and
    configuration errors become CLIErrors."""
    options, cls = dict(options), VideoDataset
    modality = options.pop("modality", "rgb")
    path = source["annotations"]
    if source["format"] in ("auto", "list") and os.path.isfile(path) and is_rawframe_list(path, source["root"]):
        source = dict(source, format="list")  # 'frame_dir total_frames label' lines of frame folders
        cls = functools.partial(RawframeDataset, modality=modality)
        if modality == "flow":  # 8-bit flow -> pixels per frame; --mean/--std are RGB's
            options.update(mean=FLOW_MEAN, std=FLOW_STD)
    elif modality == "flow":
        raise CLIError("%s: --modality flow reads optical flow frame folders listed as 'frame_dir total_frames "
                       "label'; make them with smartops-extract" % source["annotations"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return cls(source["annotations"], root=source["root"], mode=mode, num_segments=num_segments,
                       format=source["format"], split=source["split"], class_index=class_index,
                       seed=seed, return_info=return_info, num_clips=num_clips, num_crops=num_crops,
                       multiscale_crop=multiscale_crop, flip=flip, **options)
    except (AnnotationError, FileNotFoundError, ValueError, KeyError) as err:
        raise CLIError("%s (%s data): %s" % (source["annotations"], mode, err)) from None


def check_item(dataset, label):
    """Reads one item now, so that a configuration error (e.g. a crop larger
    than the frames) is reported before training starts."""
    n = len(dataset)
    for i in range(min(n, 8)):
        try:
            item = dataset[i]
        except Exception as err:  # noqa: BLE001 - report any failure with its context
            raise CLIError("%s: cannot make a %s clip from %s: %s: %s" % (
                label, dataset.mode, dataset.records[i].path, type(err).__name__, err)) from None
        if dataset.mode == "train" or (len(item) == 3 and item[2]["valid"]):
            return item
    return None


class ShardSampler(Sampler):
    """Indices rank, rank + world, ... in order: every item exactly once over
    all processes (no padding, unlike DistributedSampler), for evaluation."""

    def __init__(self, length, rank=0, world_size=1):
        self.indices = list(range(rank, length, world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def _loader_kwargs(workers, device):
    kw = {"num_workers": workers, "pin_memory": device.type == "cuda"}
    if workers > 0:
        kw["persistent_workers"] = False  # new workers per epoch see the dataset's set_epoch
    return kw


def train_loader(dataset, batch_size, workers, dist_info, seed):
    """Shuffled batches of this process's share (DistributedSampler; call
    sampler.set_epoch(e) and dataset.set_epoch(e) every epoch). Incomplete
    last batches are dropped when there is a full one (BN needs > 1 value)."""
    sampler = DistributedSampler(dataset, num_replicas=dist_info.world_size, rank=dist_info.rank, shuffle=True,
                                 seed=seed, drop_last=False)
    drop_last = len(sampler) > batch_size
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last,
                      **_loader_kwargs(workers, dist_info.device))


def eval_loader(dataset, batch_size, workers, dist_info):
    sampler = ShardSampler(len(dataset), dist_info.rank, dist_info.world_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=False,
                      **_loader_kwargs(workers, dist_info.device))


def default_workers(world_size=1):
    n = os.cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    return max(0, min(8, n // max(1, world_size) - 1))


def to_device(x, device, channels_last=False):
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 5:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return x
