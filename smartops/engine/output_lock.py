"""The --output folder of a training run: checked before any long work and
held with a lock file, so that a second run into the same folder is refused
instead of deleting the first run's in-flight checkpoint and appending to its
metrics.jsonl.

The lock is a file holding "<pid> <host>", created with O_CREAT|O_EXCL (atomic:
of two runs starting at once exactly one creates it). A lock whose pid is no
longer alive on this host was left by a killed run and is taken over."""
import errno
import os
import socket

from smartops.engine.cli import CLIError

__all__ = ["LOCK_NAME", "check_output_folder", "OutputLock"]

LOCK_NAME = ".smartops-train.lock"


def _file_above(path):
    """The first existing non-folder among `path` and its parents, else None."""
    probe = os.path.abspath(path)
    while True:
        if os.path.lexists(probe) and not os.path.isdir(probe):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent


def check_output_folder(output):
    """Creates --output; a CLIError when it is a file, under a file, or cannot
    be created or written."""
    blocker = _file_above(output)
    if blocker == os.path.abspath(output):
        raise CLIError("--output %s is a file, not a folder: give a folder" % output)
    if blocker is not None:
        raise CLIError("--output %s is under %s, which is a file: give a folder path" % (output, blocker))
    try:
        os.makedirs(output, exist_ok=True)
    except OSError as err:
        raise CLIError("cannot create --output %s: %s" % (output, err.strerror)) from None
    if not os.access(output, os.W_OK | os.X_OK):
        raise CLIError("--output %s is not writable: give a folder you can write to" % output)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # alive, owned by another user
        return True
    return True


def _read_holder(path):
    """(pid, host) written in the lock file; (None, None) if unreadable."""
    try:
        with open(path) as f:
            pid, host = f.read().split()
        return int(pid), host
    except (OSError, ValueError):
        return None, None


class OutputLock:
    """Holds <output>/.smartops-train.lock from acquire() to release()."""

    def __init__(self, output, log=print):
        self.path = os.path.join(output, LOCK_NAME)
        self.log = log
        self.held = False

    def _create(self):
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write("%d %s\n" % (os.getpid(), socket.gethostname()))

    def acquire(self):
        try:
            self._create()
        except FileExistsError:
            self._take_over_if_stale()
        except OSError as err:
            raise CLIError("cannot write the lock file %s: %s" % (self.path, err.strerror)) from None
        self.held = True
        return self

    def _take_over_if_stale(self):
        pid, host = _read_holder(self.path)
        here = socket.gethostname()
        if pid is None or host != here or _pid_alive(pid):
            holder = "pid %s on host %s" % (pid, host) if pid is not None else "an unreadable lock"
            raise CLIError("--output %s is in use by another training run (%s; lock file %s): wait for it to "
                           "finish or give another --output%s" % (
                               os.path.dirname(self.path), holder, self.path,
                               "" if host in (None, here) else
                               " (if that run is dead, delete the lock file)"))
        self.log("taking over the stale lock of pid %d on host %s (that process is gone): %s" % (
            pid, host, self.path))
        os.unlink(self.path)
        try:
            self._create()
        except FileExistsError:   # a third run took it between unlink and create
            raise CLIError("--output %s was just locked by another training run: give another --output"
                           % os.path.dirname(self.path)) from None

    def release(self):
        """Removes the lock file if it is still ours."""
        if self.held and _read_holder(self.path)[0] == os.getpid():
            try:
                os.unlink(self.path)
            except OSError as err:
                if err.errno != errno.ENOENT:
                    raise
        self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
