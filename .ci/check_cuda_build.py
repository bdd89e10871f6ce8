"""CI: the installed smartops was built with its CUDA kernels. Reads torch's
dispatch table (no GPU needed), not a flag of ours: every op must have a
CUDA kernel and the forward ops an AutocastCUDA kernel.

    python .ci/check_cuda_build.py     # run from outside the source tree's sys.path
"""
import os
import sys

import torch

import smartops
import smartops._C  # noqa: F401  (registers the ops)

CUDA_OPS = ("relation_pool", "relation_pool_backward", "relation_pool_moments", "relation_pool_merge_stats",
            "relation_pool_apply", "relation_pool_grad_sums", "relation_pool_grad_input", "relation_tail",
            "concat_reduce", "concat_reduce_backward")
AUTOCAST_OPS = ("relation_pool", "relation_tail", "concat_reduce")


def missing_kernels():
    missing = []
    for key, ops in (("CUDA", CUDA_OPS), ("AutocastCUDA", AUTOCAST_OPS)):
        for op in ops:
            name = "smartops::" + op
            if not (torch._C._dispatch_has_kernel(name) and torch._C._dispatch_has_kernel_for_dispatch_key(name, key)):
                missing.append("%s for %s" % (name, key))
    return missing


def main():
    try:
        from smartops import _build_info
        built = "built for torch %s, CUDA %s, archs %s" % (
            _build_info.TORCH_VERSION, _build_info.CUDA_VERSION, _build_info.CUDA_ARCH_LIST)
    except ImportError:
        built = "no smartops/_build_info.py"
    print("smartops from %s (%s), running torch %s" % (os.path.dirname(smartops.__file__), built, torch.__version__))
    missing = missing_kernels()
    if missing:
        sys.exit("check_cuda_build: no kernel registered: " + ", ".join(missing))
    print("check_cuda_build: CUDA kernels of %s and AutocastCUDA kernels of %s are registered"
          % (", ".join(CUDA_OPS), ", ".join(AUTOCAST_OPS)))


if __name__ == "__main__":
    main()
