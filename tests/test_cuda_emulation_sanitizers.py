"""The CUDA kernels, emulated on the CPU (tests/cuda_emulation), under
sanitizers: AddressSanitizer + UBSan for out-of-bounds accesses (partial
tiles included), ThreadSanitizer for shared-memory races between barriers,
and a mutant with one __syncthreads compiled out that ThreadSanitizer must
report, so that this check is shown to be able to fail."""
import os
import subprocess

import pytest

from cuda_emulation import build

pytestmark = pytest.mark.skipif(not build.compiler_found(), reason="needs a C++ compiler (%s)" % build.CXX)

# The barrier that the mutant drops (SMARTOPS_SYNCTHREADS(2) in
# csrc/cuda/relation_pool_kernels.cu: between the steps of the block
# reduction).
DROPPED_BARRIER = 2


def run_driver(exe):
    # halt_on_error: the first report fails the run; ASLR off is not needed on
    # this kernel (vm.mmap_rnd_bits 28), see tests/cuda_emulation/README.md.
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1",
               ASAN_OPTIONS="detect_leaks=1 halt_on_error=1", UBSAN_OPTIONS="print_stacktrace=1")
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize("sanitizer", ["asan", "tsan"])
def test_kernels_clean_under_sanitizer(sanitizer):
    result = run_driver(build.build_driver(sanitizer))
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr[-4000:]
    assert "Sanitizer" not in result.stderr and "runtime error" not in result.stderr, result.stderr[-4000:]


def test_thread_sanitizer_reports_a_dropped_barrier():
    result = run_driver(build.build_driver("tsan", defines=["SMARTOPS_DROP_SYNC=%d" % DROPPED_BARRIER]))
    assert "WARNING: ThreadSanitizer: data race" in result.stderr, result.stdout + result.stderr[-4000:]
    assert result.returncode != 0
