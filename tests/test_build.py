"""The build's decisions that need no compiler run: finding the CUDA
toolkit (build_tools/cuda_toolkit.py, against fake toolkits), the default
GPU architectures, and refusing an extension built for another torch."""
import os
import stat
import textwrap

import pytest
import torch

from build_tools import cuda_toolkit
from smartops import _extension


def fake_toolkit(folder, release="13.0", archs=(75, 80, 90, 100, 120)):
    """A folder with include/cuda_runtime.h and a bin/nvcc script that answers
    --version, --list-gpu-arch and --dryrun (its TOP) like nvcc does."""
    os.makedirs(os.path.join(folder, "include"))
    open(os.path.join(folder, "include", "cuda_runtime.h"), "w").close()
    listing = "\\n".join("compute_%d" % a for a in archs)
    script(os.path.join(folder, "bin", "nvcc"), """\
        case "$1" in
          --version) echo "Cuda compilation tools, release %s, V%s.1" ;;
          --list-gpu-arch) printf '%s\\n' ;;
          --dryrun) echo '#$ TOP=%s/bin/..' ;;
        esac""" % (release, release, listing, folder))
    return folder


def script(path, body):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + textwrap.dedent(body) + "\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)


@pytest.fixture
def wrapped_toolkit(tmp_path, monkeypatch):
    """A toolkit reached only through a wrapper script on PATH, as
    /usr/local/bin/nvcc -> `exec /usr/local/cuda-13.0/bin/nvcc` here."""
    home = fake_toolkit(str(tmp_path / "cuda-13.0"))
    script(str(tmp_path / "wrapper" / "bin" / "nvcc"), 'exec %s/bin/nvcc "$@"' % home)
    monkeypatch.setenv("PATH", str(tmp_path / "wrapper" / "bin"))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    return home


def test_toolkit_found_through_an_nvcc_wrapper(wrapped_toolkit):
    toolkit, reason = cuda_toolkit.find_toolkit("13.0")
    assert reason is None
    assert toolkit.home == os.path.realpath(wrapped_toolkit)
    assert toolkit.version == (13, 0)


def test_cuda_home_without_headers_is_skipped(wrapped_toolkit, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "wrapper"))  # bin/nvcc but no include/
    toolkit, _ = cuda_toolkit.find_toolkit("13.0")
    assert toolkit.home == os.path.realpath(wrapped_toolkit)


def test_cuda_home_is_preferred(wrapped_toolkit, tmp_path, monkeypatch):
    other = fake_toolkit(str(tmp_path / "cuda-13.1"), release="13.1")
    monkeypatch.setenv("CUDA_HOME", other)
    toolkit, _ = cuda_toolkit.find_toolkit("13.0")
    assert (toolkit.home, toolkit.version) == (os.path.realpath(other), (13, 1))


def test_no_usable_toolkit_says_why(wrapped_toolkit):
    toolkit, reason = cuda_toolkit.find_toolkit("12.4")
    assert toolkit is None
    assert "nvcc 13.0 in %s does not match torch's CUDA 12.4" % os.path.realpath(wrapped_toolkit) in reason
    assert cuda_toolkit.find_toolkit(None) == (None, "this torch was built without CUDA")


def test_default_arch_list_is_what_nvcc_knows_plus_ptx(tmp_path):
    home = fake_toolkit(str(tmp_path / "cuda"), archs=(75, 80, 87, 90, 100, 103, 120))
    toolkit = cuda_toolkit.Toolkit(home, os.path.join(home, "bin", "nvcc"), (13, 0))
    assert cuda_toolkit.default_arch_list(toolkit) == "7.5;8.0;9.0;10.0;12.0+PTX"


def test_extension_built_for_another_torch_is_refused(monkeypatch):
    monkeypatch.setattr(_extension, "built_for_torch", lambda: "1.0.0+other")
    with pytest.raises(ImportError, match=r"built for torch 1\.0\.0\+other, but torch %s is installed"
                       % torch.__version__.replace("+", r"\+")):
        _extension._load_extension()
