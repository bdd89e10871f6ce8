"""Build smartops and its C++/CUDA extension ``smartops._C``.

Build with ``pip install --no-build-isolation .`` (or ``-e .``) so that pip
uses the torch already installed instead of fetching another one.

Environment switches:
  SMARTOPS_WITH_CUDA   "1" forces the CUDA kernels on (fails, saying why, if
                       torch has no CUDA or no usable toolkit is found), "0"
                       forces them off; unset: built when both are there.
  CUDA_HOME            the CUDA toolkit (default: found from nvcc on PATH,
                       wrappers and links followed, or /usr/local/cuda*).
  TORCH_CUDA_ARCH_LIST the GPU architectures (default: printed; see
                       build_tools/cuda_toolkit.py).
  SMARTOPS_CPU_ARCH    value for -march= of the C++ kernels (default
                       "native"; "none" for a portable build, e.g. a wheel).
  SMARTOPS_DEBUG       "1" builds with -O0 -g.
  MAX_JOBS             parallel compile jobs (torch's variable).
"""
import glob
import os
import sys

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
from build_tools.cuda_toolkit import default_arch_list, find_toolkit  # noqa: E402

try:
    import torch
except ImportError:
    # Under pip's build isolation (plain `pip install .`) torch is not in the
    # build environment: we leave it out of [build-system].requires, as pip
    # would fetch another torch (~3 GB) and build against that one.
    sys.exit("smartops: torch is not importable in this build environment: install torch first, then build "
             "with `pip install --no-build-isolation .` (or `-e .`) so that the extension matches the installed torch")

SWITCH = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def cuda_toolkit():
    """The CUDA toolkit to build the kernels with, or None (and why)."""
    value = os.environ.get("SMARTOPS_WITH_CUDA", "").strip().lower()
    if value and value not in SWITCH:
        sys.exit("smartops: SMARTOPS_WITH_CUDA=%r: use 1 (force on), 0 (off) or leave it unset (auto)" % value)
    wanted = SWITCH.get(value)
    if wanted is False:
        return None, "SMARTOPS_WITH_CUDA=0"
    toolkit, reason = find_toolkit(torch.version.cuda)
    if toolkit is None and torch.version.cuda is None:
        reason = "torch %s was built without CUDA" % torch.__version__
    if toolkit is None and wanted:
        sys.exit("smartops: SMARTOPS_WITH_CUDA=1 but " + reason)
    return toolkit, reason


TOOLKIT, NO_CUDA_REASON = cuda_toolkit()
if TOOLKIT is not None:
    # torch.utils.cpp_extension reads both at import.
    os.environ["CUDA_HOME"] = TOOLKIT.home
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", default_arch_list(TOOLKIT))
from torch.utils.cpp_extension import CppExtension, CUDAExtension  # noqa: E402

from build_tools.build_ext import SmartopsBuildExt  # noqa: E402


def _sources(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern), recursive=True))


def extensions():
    debug = os.environ.get("SMARTOPS_DEBUG", "0") == "1"
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
    plan = ["smartops: building smartops._C for torch %s with C++ CPU kernels (-march=%s)" % (torch.__version__, arch or "none")]
    if TOOLKIT is not None:
        sources += _sources("csrc/cuda/*.cu") + _sources("csrc/cuda/*.cpp")
        define_macros.append(("SMARTOPS_WITH_CUDA", None))
        extra["nvcc"] = ["-O0", "-g", "-G"] if debug else ["-O3", "-lineinfo"]
        # One nvcc compiles every architecture of a .cu file: in parallel
        # over all cores (the .cu is the long tail of the build).
        extra["nvcc"] += ["--threads", "0"]
        builder = CUDAExtension
        plan.append("smartops: and CUDA kernels, nvcc %d.%d from %s, TORCH_CUDA_ARCH_LIST=%s"
                    % (TOOLKIT.version + (TOOLKIT.home, os.environ["TORCH_CUDA_ARCH_LIST"])))
    else:
        plan.append("smartops: CUDA kernels not built: %s" % NO_CUDA_REASON)

    SmartopsBuildExt.plan = plan
    SmartopsBuildExt.build_key = "py%d%d-torch%s-%s" % (sys.version_info[:2] + (
        torch.__version__, "cuda" + torch.version.cuda if TOOLKIT else "cpu"))
    SmartopsBuildExt.build_info = {
        "TORCH_VERSION": torch.__version__,
        "CUDA_VERSION": torch.version.cuda if TOOLKIT else None,
        "CUDA_ARCH_LIST": os.environ["TORCH_CUDA_ARCH_LIST"] if TOOLKIT else None,
    }
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
    # The test extra pulls every optional package so that no test of an optional part
    # skips in CI: onnx/onnxruntime (export), OpenCV (rawframes, flow), matplotlib (plots).
    extras_require={"test": ["pytest", "pytest-benchmark", "hypothesis", "onnx", "onnxruntime",
                             "opencv-contrib-python-headless", "matplotlib"],
                    "plot": ["matplotlib"],
                    "export": ["onnx", "onnxruntime"],
                    # JPEG rawframes and optical flow (TV-L1 is in the contrib build)
                    "rawframes": ["opencv-contrib-python-headless"],
                    "flow": ["opencv-contrib-python-headless"]},
    ext_modules=extensions(),
    cmdclass={"build_ext": SmartopsBuildExt},
    entry_points={"console_scripts": [
        "smartops-train = smartops.train:main",
        "smartops-eval = smartops.eval:main",
        "smartops-finetune = smartops.finetune:main",
        "smartops-predict = smartops.predict:main",
        "smartops-plot = smartops.plot:main",
        "smartops-extract = smartops.extract:main",
        "smartops-convert-caffe = smartops.convert_caffe:main",
        "smartops-export = smartops.export:main",
    ]},
    zip_safe=False,
)
