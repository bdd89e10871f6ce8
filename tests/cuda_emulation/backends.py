"""Where the CUDA op path runs in tests/test_cuda_ops.py: the CPU emulation
(always, given a C++ compiler) and a real GPU (given one and a CUDA build).

While a backend is active, `torch.ops.smartops.*` on tensors of
`backend.device` run the CUDA host code and kernels, through the same Python
functional code, autograd and modules as in use."""
import contextlib

import pytest
import torch

from cuda_emulation import build
from smartops import _extension


class Emulated:
    """csrc/cuda built as C++ (tests/cuda_emulation), installed as the CPU
    kernels of the smartops ops."""

    name = "emulated"
    device = "cpu"

    def __init__(self):
        build.load_extension()

    @contextlib.contextmanager
    def active(self):
        # The dispatcher logs once that the CPU kernels are overridden: intended.
        torch.ops.smartops_emu.install()
        try:
            yield self
        finally:
            torch.ops.smartops_emu.uninstall()

    @contextlib.contextmanager
    def cpu_kernels(self):
        """The real CPU kernels for a while (parity checks)."""
        torch.ops.smartops_emu.uninstall()
        try:
            yield
        finally:
            torch.ops.smartops_emu.install()

    @contextlib.contextmanager
    def sm_count(self, count):
        """Launches sized for a device with `count` SMs (grid-stride loops and
        multi-block merges on small shapes)."""
        old = torch.ops.smartops_emu.sm_count()
        torch.ops.smartops_emu.set_sm_count(count)
        try:
            yield
        finally:
            torch.ops.smartops_emu.set_sm_count(old)


class RealCuda:
    """The installed smartops._C on the GPU."""

    name = "cuda"
    device = "cuda"

    @contextlib.contextmanager
    def active(self):
        yield self

    @contextlib.contextmanager
    def cpu_kernels(self):
        yield

    @contextlib.contextmanager
    def sm_count(self, count):
        pytest.skip("a real GPU's SM count is fixed")
        yield


def available(name):
    """None if the backend can run here, else why not."""
    if name == "emulated":
        if not _extension.has_kernel("relation_pool", "cpu"):
            return "smartops._C is not built (the emulated kernels replace its CPU kernels)"
        return None if build.compiler_found() else "no C++ compiler (%s) to build the emulation" % build.CXX
    if not (torch.cuda.is_available() and _extension.built_with_cuda()):
        return "needs a CUDA GPU and smartops built with CUDA"
    return None


_instances = {}


def get(name):
    """The backend `name` ("emulated" or "cuda"), built once per session."""
    reason = available(name)
    if reason is not None:
        pytest.skip(reason)
    if name not in _instances:
        _instances[name] = Emulated() if name == "emulated" else RealCuda()
    return _instances[name]


@pytest.fixture(params=["emulated", "cuda"])
def backend(request):
    """A test's backend, active for its duration; test modules import it."""
    with get(request.param).active() as b:
        yield b
