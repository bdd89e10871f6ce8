"""Loading the compiled operators (smartops._C) and asking what they cover."""
import torch

BUILD_HINT = (
    "Build it from the repository root with `pip install --no-build-isolation -e .` "
    "(CUDA kernels are built when torch has CUDA and a CUDA toolkit is found; SMARTOPS_WITH_CUDA=1 forces them)."
)


def built_for_torch():
    """The torch version smartops._C was compiled against (recorded by
    setup.py in smartops/_build_info.py), or None for a build without it."""
    try:
        from smartops import _build_info
    except ImportError:
        return None
    return _build_info.TORCH_VERSION


def _load_extension():
    """(smartops._C or None, why not). An extension built for another torch
    is not loaded at all: it fails on an undefined symbol, or loads without
    a word (a 2.13 build does under 2.14.1) and nothing says the ABI fits."""
    built_for = built_for_torch()
    if built_for is not None and built_for != torch.__version__:
        raise ImportError(
            "smartops._C was built for torch %s, but torch %s is installed, so it cannot be loaded. %s"
            % (built_for, torch.__version__, BUILD_HINT))
    try:  # importing _C runs the TORCH_LIBRARY registrations of csrc/
        from smartops import _C
    except ImportError as exc:  # not built
        return None, exc
    return _C, None


_C, _IMPORT_ERROR = _load_extension()


def is_built():
    """True when smartops._C was compiled and imported."""
    return _C is not None


def built_with_cuda():
    return _C is not None and bool(_C.with_cuda)


# Which (op, device type) pairs have kernels, read once at import so that
# modules can ask from inside torch.compile'd code (a plain dict lookup).
# relation_pool_moments stands for the synchronized relation op's phases
# (registered together, see csrc/smartops.cpp).
OPS = ("relation_pool", "concat_reduce", "relation_tail", "relation_pool_moments")
_KERNELS = {}
if _C is not None:
    for _op in OPS:
        for _dev, _key in (("cpu", "CPU"), ("cuda", "CUDA")):
            _KERNELS[(_op, _dev)] = bool(torch._C._dispatch_has_kernel_for_dispatch_key("smartops::" + _op, _key)) \
                if torch._C._dispatch_has_kernel("smartops::" + _op) else False

# Input dtypes each device's kernels take.
KERNEL_DTYPES = {
    "cpu": (torch.float32, torch.float64),
    "cuda": (torch.float32, torch.float64, torch.float16, torch.bfloat16),
}


def has_kernel(op, device_type):
    """True when the op `smartops::<op>` has a kernel for the device type ("cpu", "cuda")."""
    return _KERNELS.get((op, device_type), False)


def require_kernel(op, device):
    """Raises a RuntimeError that says how to build when `op` cannot run on `device`."""
    device = torch.device(device)
    if _C is None:
        raise RuntimeError(
            "smartops.%s needs the compiled extension smartops._C, which could not be imported (%s). %s"
            % (op, _IMPORT_ERROR, BUILD_HINT)
        )
    if not has_kernel(op, device.type):
        raise RuntimeError(
            "smartops.%s has no kernel for device '%s': this build of smartops covers %s. %s"
            % (op, device.type, ", ".join(covered_devices(op)) or "no device", BUILD_HINT)
        )


def covered_devices(op):
    return [d for d in ("cpu", "cuda") if has_kernel(op, d)]
