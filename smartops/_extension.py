"""Loading the compiled operators (smartops._C) and asking what they cover."""
import torch

try:  # importing _C runs the TORCH_LIBRARY registrations of csrc/
    from smartops import _C
except ImportError as exc:  # not built, or built against another torch
    _C = None
    _IMPORT_ERROR = exc
else:
    _IMPORT_ERROR = None

BUILD_HINT = (
    "Build it from the repository root with `pip install --no-build-isolation -e .` "
    "(CUDA kernels are built when torch has CUDA and nvcc is found; SMARTOPS_WITH_CUDA=1 forces them)."
)


def is_built():
    """True when smartops._C was compiled and imported."""
    return _C is not None


def built_with_cuda():
    return _C is not None and bool(_C.with_cuda)


# Which (op, device type) pairs have kernels, read once at import so that
# modules can ask from inside torch.compile'd code (a plain dict lookup).
OPS = ("relation_pool", "concat_reduce")
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
