"""The CUDA kernels, emulated on the CPU (tests/cuda_emulation), under
sanitizers: AddressSanitizer + UBSan for out-of-bounds accesses (partial
tiles included), ThreadSanitizer for shared-memory races between barriers,
and a mutant with one __syncthreads compiled out that ThreadSanitizer must
report, so that this check is shown to be able to fail."""
import os
import platform
import shutil
import subprocess

import pytest

from cuda_emulation import build

pytestmark = pytest.mark.skipif(not build.compiler_found(), reason="needs a C++ compiler (%s)" % build.CXX)

# The barrier that the mutant drops (SMARTOPS_SYNCTHREADS(2) in
# csrc/cuda/relation_pool_kernels.cu: between the steps of the block
# reduction).
DROPPED_BARRIER = 2


def run_driver(exe):
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1", ASAN_OPTIONS="detect_leaks=1 halt_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1")
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600, env=env)
    if "unexpected memory mapping" in result.stderr and shutil.which("setarch"):
        # ThreadSanitizer and a kernel with more address randomisation than
        # it supports (vm.mmap_rnd_bits 32): run without randomisation.
        result = subprocess.run(["setarch", platform.machine(), "-R", str(exe)], capture_output=True, text=True,
                                timeout=600, env=env)
    return result


@pytest.mark.parametrize("sanitizer", ["asan", "tsan"])
def test_kernels_clean_under_sanitizer(sanitizer):
    result = run_driver(build.build_driver(sanitizer))
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr[-4000:]
    assert "Sanitizer" not in result.stderr and "runtime error" not in result.stderr, result.stderr[-4000:]


def test_thread_sanitizer_reports_a_dropped_barrier():
    result = run_driver(build.build_driver("tsan", defines=["SMARTOPS_DROP_SYNC=%d" % DROPPED_BARRIER]))
    assert "WARNING: ThreadSanitizer: data race" in result.stderr, result.stdout + result.stderr[-4000:]
    assert result.returncode != 0
