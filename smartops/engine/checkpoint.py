"""Checkpoints: written atomically, read with clear errors.

A checkpoint is a dict::

    {"format": "smartops-checkpoint", "version": 1,
     "model": state_dict, "optimizer": ..., "scheduler": ..., "scaler": ...,
     "epoch": completed epochs, "class_names": [...], "args": {...},
     "model_config": {"arch", "num_classes", "width", ...}, "data": {...},
     "metrics": last epoch's metrics, "best": {...}}

``atomic_save`` writes to a hidden temporary file in the target folder,
flushes and fsyncs it, then ``os.replace``\\ s it over the target (and fsyncs
the folder), so a crash at any moment leaves either the old or the new file,
never a partial one. Temporary files are named ``.<name>.<random>.tmp``:
they never end in ``.pt``, so nothing mistakes them for checkpoints, and
:func:`remove_stale_temp` deletes those a killed run left behind.

Test hook: when the environment variable ``SMARTOPS_TEST_SAVE_DELAY`` is set
(seconds), ``atomic_save`` prints a line starting with
``SMARTOPS_TEST_SAVE_DELAY`` once the temporary file is complete and sleeps
that long before the rename, so that a test can kill the process in the
middle of a save. It is meant for tests only.
"""
import contextlib
import glob
import os
import shutil
import tempfile
import time

import torch

from smartops.engine.cli import CLIError

__all__ = ["FORMAT", "VERSION", "TEST_DELAY_ENV", "atomic_save", "atomic_copy", "load_checkpoint",
           "latest_checkpoint", "remove_stale_temp", "CheckpointError"]

FORMAT = "smartops-checkpoint"
VERSION = 1
TEST_DELAY_ENV = "SMARTOPS_TEST_SAVE_DELAY"
LAST = "last.pt"
BEST = "best.pt"


class CheckpointError(CLIError):
    """A checkpoint that is missing, unreadable or not a smartops checkpoint."""


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_in(folder, name):
    fd, tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=folder)
    return fd, tmp


@contextlib.contextmanager
def _replacing(path):
    """Yields (fd, name) of a new temporary file beside `path`; when the block
    succeeds the file replaces `path` atomically, when it fails it is removed."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = _temp_in(folder, os.path.basename(path))
    try:
        yield fd, tmp
        os.replace(tmp, path)
        _fsync_dir(folder)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_save(obj, path):
    """torch.save(obj) to `path` atomically (see the module doc)."""
    path = os.fspath(path)
    with _replacing(path) as (fd, tmp):
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        delay = os.environ.get(TEST_DELAY_ENV)
        if delay:
            print("%s: %s complete, sleeping %ss before renaming it to %s" % (TEST_DELAY_ENV, tmp, delay, path),
                  flush=True)
            time.sleep(float(delay))
    return path


def atomic_copy(src, dst):
    """Makes `dst` a copy of `src` atomically (a hard link when the file
    system allows it, else a byte copy), through a temporary file."""
    with _replacing(dst) as (fd, tmp):
        os.close(fd)
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
    return dst


def remove_stale_temp(folder):
    """Deletes temporary files of interrupted saves in `folder`; returns them."""
    removed = []
    for p in glob.glob(os.path.join(glob.escape(folder), ".*.pt.*.tmp")):
        try:
            os.unlink(p)
            removed.append(p)
        except OSError:
            pass
    return removed


def latest_checkpoint(folder):
    """`folder`/last.pt if it exists (temporary files are never returned)."""
    path = os.path.join(folder, LAST)
    return path if os.path.isfile(path) else None


def load_checkpoint(path, map_location="cpu", allow_state_dict=False):
    """Reads a smartops checkpoint. With allow_state_dict, a bare model
    state_dict (e.g. converted weights) is accepted too and returned as
    {"model": state_dict} with no other entries."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError("checkpoint not found: %s" % path)
    if os.path.isdir(path):
        found = latest_checkpoint(path)
        if found is None:
            raise CheckpointError("%s is a folder without %s" % (path, LAST))
        path = found
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure to read is reported the same way
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "WeightsUnpickler error" in ln), lines[0] if lines else "")
        raise CheckpointError("cannot read checkpoint %s (%s: %s); it is truncated, not written by torch.save, or "
                              "holds objects other than tensors and plain data" % (path, type(err).__name__, detail))\
            from None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        if "model" not in obj:
            raise CheckpointError("%s: a smartops checkpoint without model weights" % path)
        obj["path"] = path
        return obj
    if allow_state_dict and isinstance(obj, dict):
        state = obj.get("state_dict", obj.get("model", obj))
        if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
            return {"model": state, "path": path}
    keys = ", ".join(sorted(map(str, obj))[:8]) if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError("%s is not a smartops training checkpoint (it holds %s)" % (path, keys))
