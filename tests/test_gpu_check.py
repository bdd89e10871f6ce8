"""benchmarks/gpu_check.sh, the one-shot GPU check, as far as it can be
checked without a GPU: it refuses clearly, it runs every test module that
has GPU cases, and its summary prints the evaluation-throughput table."""
import json
import os
import re
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_without_a_gpu_it_says_so_and_builds_nothing(tmp_path):
    proc = subprocess.run(["bash", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHON=sys.executable))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "gpu_check: no GPU" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["gpu-check.log", "summary.txt"]


def test_it_runs_every_test_module_with_gpu_cases():
    """The modules its grep selects (a pattern that once missed the phases'
    and the NCCL tests) include every module that can run on a GPU."""
    with open(SCRIPT) as f:
        pattern = re.search(r'cuda_tests=\$\(grep -l "([^"]+)"', f.read()).group(1)
    tests = os.path.join(ROOT, "tests")
    selected = subprocess.run(["grep", "-l", pattern] + sorted(
        os.path.join(tests, n) for n in os.listdir(tests) if n.startswith("test_") and n.endswith(".py")),
        capture_output=True, text=True).stdout.split()
    names = {os.path.basename(p) for p in selected}
    assert {"test_cuda_ops.py", "test_cuda_phases.py", "test_cuda_sync.py", "test_relation_tail_cuda.py"} <= names
    assert "test_gpu_check.py" not in names and "test_cuda_emulation_sanitizers.py" not in names


def test_summary_prints_the_eval_throughput_table(tmp_path):
    rows = [{"width": 1.0, "path": name, "median_s": t, "best_s": t, "rounds": [t], "clips_per_s": 10 / t,
             "speedup_vs_eval_fused": 0.5 / t} for name, t in (("eval fused", 0.5), ("folded fused", 0.25))]
    with open(tmp_path / "eval-throughput-cuda.json", "w") as f:
        json.dump({"device": "cuda", "args": {"batch": 10, "frames": 16, "size": 112}, "results": rows}, f)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_summary.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])))
    assert proc.returncode == 0, proc.stderr
    assert "batch 10 x 3 x 16 x 112 x 112, cuda" in proc.stdout
    assert "| 1 | folded fused | 40.00 | 40.00 | 2.00x |" in proc.stdout
