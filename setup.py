"""Build smartops and its C++/CUDA extension ``smartops._C``.

Build with ``pip install --no-build-isolation .`` (or ``-e .``) so that pip
uses the torch already installed instead of fetching another one.

Environment switches:
  SMARTOPS_WITH_CUDA   "1" forces the CUDA kernels on (fails if torch has no
                       CUDA or nvcc is missing), "0" forces them off; unset:
                       built when torch has CUDA and nvcc is found.
  SMARTOPS_CPU_ARCH    value for -march= of the C++ kernels (default
                       "native"; "none" for a portable build, e.g. a wheel).
  TORCH_CUDA_ARCH_LIST the GPU architectures to build for (torch's variable).
  SMARTOPS_DEBUG       "1" builds with -O0 -g.
"""
import glob
import os
import sys

from setuptools import find_packages, setup

import torch
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def _cuda_requested():
    flag = os.environ.get("SMARTOPS_WITH_CUDA", "").strip().lower()
    torch_has_cuda = torch.version.cuda is not None
    nvcc_found = CUDA_HOME is not None and os.path.exists(os.path.join(CUDA_HOME, "bin", "nvcc"))
    if flag in ("1", "true", "yes", "on"):
        if not torch_has_cuda:
            sys.exit("smartops: SMARTOPS_WITH_CUDA=1 but this torch (%s) was built without CUDA" % torch.__version__)
        if not nvcc_found:
            sys.exit("smartops: SMARTOPS_WITH_CUDA=1 but nvcc was not found (set CUDA_HOME)")
        return True
    if flag in ("0", "false", "no", "off"):
        return False
    return torch_has_cuda and nvcc_found


def _sources(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern), recursive=True))


def extensions():
    debug = os.environ.get("SMARTOPS_DEBUG", "0") == "1"
    with_cuda = _cuda_requested()
    arch = os.environ.get("SMARTOPS_CPU_ARCH", "native").strip()

    cxx_flags = ["-O0", "-g"] if debug else ["-O3"]
    if arch and arch != "none":
        cxx_flags.append("-march=%s" % arch)
    # Our reductions are written out explicitly (lane-wise partial sums
    # merged in double), so no -ffast-math: IEEE semantics are kept.
    cxx_flags += ["-fno-math-errno", "-Wall", "-Wno-unknown-pragmas"]
    # at::parallel_for uses OpenMP in the torch wheels.
    cxx_flags.append("-fopenmp")

    sources = _sources("csrc/*.cpp") + _sources("csrc/ops/*.cpp") + _sources("csrc/cpu/*.cpp")
    define_macros = []
    extra = {"cxx": cxx_flags}
    builder = CppExtension
    if with_cuda:
        sources += _sources("csrc/cuda/*.cu") + _sources("csrc/cuda/*.cpp")
        define_macros.append(("SMARTOPS_WITH_CUDA", None))
        extra["nvcc"] = ["-O0", "-g", "-G"] if debug else ["-O3", "-lineinfo"]
        builder = CUDAExtension

    arch_list = os.environ.get("TORCH_CUDA_ARCH_LIST", "(torch default: the visible GPUs)")
    print("smartops: building smartops._C with C++ CPU kernels (-march=%s)" % (arch or "none"))
    if with_cuda:
        print("smartops: building CUDA kernels with nvcc from %s for TORCH_CUDA_ARCH_LIST=%s" % (CUDA_HOME, arch_list))
    else:
        print("smartops: CUDA kernels NOT built (torch cuda=%s, CUDA_HOME=%s, SMARTOPS_WITH_CUDA=%r)"
              % (torch.version.cuda, CUDA_HOME, os.environ.get("SMARTOPS_WITH_CUDA")))
    for s in sources:
        print("smartops:   " + s)

    return [
        builder(
            name="smartops._C",
            sources=sources,
            include_dirs=[os.path.join(ROOT, "csrc")],
            define_macros=define_macros,
            extra_compile_args=extra,
            extra_link_args=["-fopenmp"],
        )
    ]


setup(
    name="smartops",
    version="0.1.0",
    description="Fused ARTNet (Appearance-and-Relation Network) SMART-block operators for PyTorch",
    long_description=open(os.path.join(ROOT, "README.md")).read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["smartops", "smartops.*"]),
    python_requires=">=3.9",
    install_requires=["torch>=2.4", "numpy", "av", "ninja", "pybind11"],
    extras_require={"test": ["pytest", "pytest-benchmark"], "plot": ["matplotlib"],
                    # JPEG rawframes and optical flow (TV-L1 is in the contrib build)
                    "rawframes": ["opencv-contrib-python-headless"],
                    "flow": ["opencv-contrib-python-headless"]},
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExtension},
    entry_points={"console_scripts": [
        "smartops-train = smartops.train:main",
        "smartops-eval = smartops.eval:main",
        "smartops-finetune = smartops.finetune:main",
        "smartops-predict = smartops.predict:main",
        "smartops-plot = smartops.plot:main",
        "smartops-extract = smartops.extract:main",
        "smartops-convert-caffe = smartops.convert_caffe:main",
    ]},
    zip_safe=False,
)
