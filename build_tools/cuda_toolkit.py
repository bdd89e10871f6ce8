"""Finding a usable CUDA toolkit and choosing the GPU architectures, for
setup.py. No GPU is needed. This runs before torch.utils.cpp_extension is
imported, because that module fixes its CUDA_HOME at import time (and
guesses /usr/local when nvcc is a wrapper script there)."""
import os
import re
import subprocess
import tempfile
from typing import NamedTuple, Optional, Tuple

# Data-centre (8.0 A100, 9.0 H100/H200, 10.0 B200) and consumer (7.5 Turing,
# 8.6 Ampere, 12.0 Blackwell) GPUs: the list torch 2.14's CUDA 13.0 wheel is
# built for. Code for X.Y also runs on X.Z with Z > Y, so these cover 8.7,
# 8.9 (Ada), 10.3 and 12.1 too; PTX of the newest covers later GPUs.
DEFAULT_ARCHS = ("7.5", "8.0", "8.6", "9.0", "10.0", "12.0")


class Toolkit(NamedTuple):
    home: str
    nvcc: str
    version: Tuple[int, int]


def _run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60).stdout


def _nvcc_version(nvcc):
    match = re.search(r"release (\d+)\.(\d+)", _run([nvcc, "--version"]))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _nvcc_top(nvcc):
    """The toolkit root nvcc itself uses (its TOP): this follows wrapper
    scripts such as /usr/local/bin/nvcc = `exec /usr/local/cuda-13.0/bin/nvcc`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = _run([nvcc, "--dryrun", "-c", os.path.join(tmp, "x.cu"), "-o", os.path.join(tmp, "x.o")])
    match = re.search(r"^#\$ TOP=(.*)$", out, re.MULTILINE)
    return os.path.normpath(match.group(1).strip()) if match else None


def _candidates():
    """(where it came from, folder) in order of preference."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            yield "$" + var, os.environ[var]
    nvcc = _which("nvcc")
    if nvcc:
        real = os.path.realpath(nvcc)
        yield "nvcc on PATH (%s)" % nvcc, os.path.dirname(os.path.dirname(real))
        try:
            top = _nvcc_top(real)
        except (OSError, subprocess.SubprocessError):
            top = None
        if top:
            yield "TOP of %s" % nvcc, top
    yield "default", "/usr/local/cuda"
    versioned = [d for d in os.listdir("/usr/local") if re.fullmatch(r"cuda-[\d.]+", d)] \
        if os.path.isdir("/usr/local") else []
    for d in sorted(versioned, key=lambda d: [int(p) for p in d[5:].split(".") if p], reverse=True):
        yield "default", os.path.join("/usr/local", d)


def _which(name):
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def find_toolkit(torch_cuda: Optional[str]):
    """(Toolkit, None) for the first candidate folder with
    include/cuda_runtime.h and a working bin/nvcc of torch's CUDA major
    version, else (None, a one-line reason)."""
    if torch_cuda is None:
        return None, "this torch was built without CUDA"
    rejected = []
    for origin, home in _candidates():
        home = os.path.realpath(home)
        nvcc = os.path.join(home, "bin", "nvcc")
        if not os.path.isfile(os.path.join(home, "include", "cuda_runtime.h")):
            rejected.append("%s=%s has no include/cuda_runtime.h" % (origin, home))
            continue
        version = _nvcc_version(nvcc) if os.access(nvcc, os.X_OK) else None
        if version is None:
            rejected.append("%s=%s has no working bin/nvcc" % (origin, home))
            continue
        if str(version[0]) != torch_cuda.split(".")[0]:
            rejected.append("nvcc %d.%d in %s does not match torch's CUDA %s" % (version + (home, torch_cuda)))
            continue
        return Toolkit(home, nvcc, version), None
    return None, "no usable CUDA toolkit found (%s); set CUDA_HOME to one" % (
        "; ".join(dict.fromkeys(rejected)) or "no nvcc and no /usr/local/cuda")


def default_arch_list(toolkit: Toolkit) -> str:
    """DEFAULT_ARCHS that this nvcc can compile, plus PTX of the newest (for
    GPUs newer than the toolkit), in TORCH_CUDA_ARCH_LIST syntax."""
    listed = re.findall(r"compute_(\d+)(\d)\b", _run([toolkit.nvcc, "--list-gpu-arch"]))
    supported = {"%s.%s" % m for m in listed}
    archs = [a for a in DEFAULT_ARCHS if a in supported] if supported else list(DEFAULT_ARCHS)
    if not archs:
        raise SystemExit("smartops: nvcc %d.%d supports none of %s; set TORCH_CUDA_ARCH_LIST"
                         % (toolkit.version + (" ".join(DEFAULT_ARCHS),)))
    return ";".join(archs) + "+PTX"
