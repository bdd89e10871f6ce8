"""Shared benchmark machinery: each benchmark records which implementation
it timed (extra_info["impl"]: fused, eager, compiled, or c3d for the
C3D-ResNet18 baseline of the model benchmarks) in a group of one workload;
at the end of the run a table of speed-ups of the fused version over the
others, all measured in the same run, is printed."""
import platform
from collections import defaultdict

import pytest
import torch

IMPLS = ("fused", "eager", "compiled", "c3d")
BASELINES = IMPLS[1:]


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _machine_info(request):
    if "benchmark" in request.fixturenames:
        request.getfixturevalue("benchmark").extra_info.update(
            torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.machine())
    yield


def speedup_rows(benchmarks):
    """[(group, {impl: median seconds})] for groups that timed the fused op."""
    groups = defaultdict(dict)
    for b in benchmarks:
        impl = b.extra_info.get("impl")
        if impl in IMPLS and b.stats:
            groups[b.group][impl] = b.stats.median
    return [(g, t) for g, t in sorted(groups.items()) if "fused" in t]


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    rows = speedup_rows(session.benchmarks) if session else []
    if not rows:
        return
    tr = terminalreporter
    tr.section("speed-up of the fused op (median times, same run)")
    tr.write_line("%-58s %10s %10s %10s %10s %9s %9s %9s" % (
        "workload", "fused ms", "eager ms", "compile ms", "c3d ms", "vs eager", "vs comp.", "vs c3d"))
    for group, t in rows:
        f = t["fused"]
        cells = ["%10.3f" % (1e3 * t[k]) if k in t else "%10s" % "-" for k in IMPLS]
        ratios = ["%8.2fx" % (t[k] / f) if k in t else "%9s" % "-" for k in BASELINES]
        tr.write_line("%-58s %s %s" % (group[:58], " ".join(cells), " ".join(ratios)))
