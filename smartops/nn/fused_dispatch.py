"""How modules choose between a fused op and its pure-PyTorch reference."""
import warnings

import torch

from smartops import _extension

FUSED_CHOICES = (True, False, "auto")
_warned = set()


def check_fused_arg(fused):
    if fused not in FUSED_CHOICES:
        raise ValueError("fused must be True, False or 'auto', got %r" % (fused,))
    return fused


def use_fused(fused, op, x, owner):
    """Whether `owner` (a module name) should run the fused `op` on input x.

    True: always (the op raises a clear error where it has no kernel).
    False: never. "auto": when the extension has a kernel for x's device and
    dtype; otherwise the reference, with a warning once per reason.
    """
    if fused != "auto":
        return bool(fused)
    device = x.device.type
    # Under autocast the ops' autocast kernels cast their inputs (on CPU the
    # relation op upcasts a bfloat16 input to float32).
    kernel_dtypes = _extension.KERNEL_DTYPES.get(device)
    dtype_ok = kernel_dtypes is not None and (x.dtype in kernel_dtypes or torch.is_autocast_enabled(device))
    if _extension.has_kernel(op, device) and dtype_ok:
        return True
    reason = (op, device, x.dtype)
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(
            "%s(fused='auto'): no compiled smartops.%s kernel for %s %s input; running the pure-PyTorch "
            "reference instead (slower, more memory). %s" % (owner, op, device, x.dtype, _extension.BUILD_HINT),
            stacklevel=3,
        )
    return False
