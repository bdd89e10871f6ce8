"""The CUDA kernels' work split, checked on the CPU: a C++ program built
from csrc/cuda/launch_geometry.h (the header the kernels use) enumerates
every block, thread and chunk for many shapes and both layouts, and checks
that each element is visited exactly once at the right address."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("c++") is None, reason="needs a C++ compiler")
def test_every_element_visited_once(tmp_path):
    exe = tmp_path / "check_cuda_geometry"
    subprocess.run(["c++", "-std=c++17", "-O2", "-I", str(ROOT / "csrc"), str(ROOT / "tests/cpp/check_cuda_geometry.cpp"),
                    "-o", str(exe)], check=True)
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "ok"
