"""The build_ext command of setup.py: torch's BuildExtension with a
persistent build folder, progress on the terminal and a record of the torch
the extension was built against."""
import os
import re
import sys
import threading
import time
from contextlib import contextmanager

from torch.utils.cpp_extension import BuildExtension

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def say(line):
    """Prints a line and, when pip captures our output (it shows it only
    with -v), also on the user's terminal."""
    print(line, flush=True)
    if not sys.stdout.isatty():
        try:
            with open("/dev/tty", "w") as tty:
                tty.write(line + "\n")
        except OSError:  # no terminal (CI, a Docker build): the log has it
            pass


@contextmanager
def ninja_progress():
    """Copies everything written to fd 1 (ninja's `-v` output included) on,
    and says `[k/N] file` on the terminal as ninja reports each compile
    step done, so that a long build under pip is not minutes of silence."""
    try:
        tty = open("/dev/tty", "w")
    except OSError:
        tty = None
    if tty is None or sys.stdout.isatty():
        if tty:
            tty.close()
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.close(write_end)
    start = time.time()

    def pump():
        with os.fdopen(read_end, "rb") as pipe:
            for raw in pipe:
                os.write(saved, raw)
                step = re.match(rb"\[(\d+)/(\d+)\] .* -c (\S+)", raw)
                if step:
                    tty.write("smartops: [%s/%s] compiled %s (%.0f s)\n" % (
                        step.group(1).decode(), step.group(2).decode(),
                        os.path.relpath(step.group(3).decode(), ROOT), time.time() - start))
                    tty.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)  # closes the pipe's last write end: the reader ends
        reader.join()
        os.close(saved)
        tty.close()


class SmartopsBuildExt(BuildExtension):
    """Attributes set by setup.py: plan (lines saying what is built),
    build_key (names the build folder) and build_info (written as
    smartops/_build_info.py beside the extension)."""
    plan = []
    build_key = "default"
    build_info = {}

    def finalize_options(self):
        super().finalize_options()
        # pip's editable installs build in a fresh temporary folder, which
        # recompiles all of csrc every time; this folder keeps ninja's
        # objects, one per torch/CUDA combination.
        self.build_temp = os.path.join(ROOT, "build", "temp-" + self.build_key)

    def build_extensions(self):
        start = time.time()
        for line in self.plan:
            say(line)
        say("smartops: compiling in %s (ninja reuses unchanged objects; MAX_JOBS=%s)"
            % (os.path.relpath(self.build_temp, ROOT), os.environ.get("MAX_JOBS", "unset: all cores")))
        with ninja_progress():
            super().build_extensions()
        say("smartops: built smartops._C in %.0f s" % (time.time() - start))

    def run(self):
        super().run()
        # Beside the built extension, and beside its in-place copy: read at
        # import (smartops/_extension.py) without loading the extension.
        folders = [os.path.join(self.build_lib, "smartops")]
        if self.inplace:
            folders.append(os.path.join(ROOT, "smartops"))
        for folder in folders:
            write_build_info(os.path.join(folder, "_build_info.py"), self.build_info)


def write_build_info(path, info):
    lines = ['"""Written by setup.py when it built smartops._C (not in git)."""']
    lines += ["%s = %r" % (k, v) for k, v in sorted(info.items())]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
