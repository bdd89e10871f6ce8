"""smartops-export and the folded path of smartops-eval / smartops-predict
through their command lines, on a checkpoint trained for one epoch on tiny
synthetic data."""
import importlib.util

import numpy as np
import pytest
import torch

from op_utils import requires_kernel
from test_cli_commands import cli, data_args, ok  # the CLI tests' subprocess helpers

pytestmark = requires_kernel("relation_pool", "relation_tail", "concat_reduce")
MODEL = ["--arch", "artnet_resnet18_d", "--width", "0.0625"]
SMALL = ["--clip-len", "4", "--crop-size", "32", "--frame-size", "keep", "--batch-size", "4", "--workers", "0",
         "--no-tensorboard"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from smartops.data import generate_synthetic

    work = tmp_path_factory.mktemp("export_cli")
    generate_synthetic(work / "tiny", classes=4, videos_per_class=4, frames=12, size=(32, 40), seed=1)
    ok(cli("train", *MODEL, *SMALL, *data_args(work), "--epochs", "1", "--output", "run", cwd=work))
    return work, work / "run" / "last.pt"


def test_eval_same_top1_folded_and_unfolded(trained):
    work, ckpt = trained
    runs = {}
    for flag in ("--fold", "--no-fold"):
        out = work / ("ev" + flag)
        proc = ok(cli("eval", "--checkpoint", ckpt, "--clips", "2", "--crops", "1", "--workers", "0", flag,
                      "--output", out, cwd=work))
        path_line = next(x for x in (proc.stdout + proc.stderr).splitlines() if x.startswith("inference path:"))
        assert ("unfolded" in path_line) == (flag == "--no-fold")
        top1 = next(x for x in proc.stdout.splitlines() if x.startswith("accuracy:")).split("top-5")[0]
        runs[flag] = top1, np.load(out / "scores.npz")["logits"]
    assert runs["--fold"][0] == runs["--no-fold"][0]
    np.testing.assert_allclose(runs["--fold"][1], runs["--no-fold"][1], rtol=1e-4, atol=1e-4)


def test_predict_says_which_path(trained):
    work, ckpt = trained
    video = work / "tiny" / "up" / "up_003.mp4"
    proc = ok(cli("predict", video, "--checkpoint", ckpt, "--clips", "1", "--crops", "1", "--json", cwd=work))
    assert "inference path: folded" in proc.stderr and proc.stdout.lstrip().startswith("{")


def test_export_command_writes_a_file_that_gives_the_checkpoint_logits(trained):
    # One format through the command line (both are checked by test_export.py).
    have_onnx = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))
    fmt, name = ("onnx", "m.onnx") if have_onnx else ("exported-program", "m.pt2")
    work, ckpt = trained
    proc = ok(cli("export", "--checkpoint", ckpt, "--format", fmt, "-o", work / name, cwd=work))
    assert "input (N, 3, 4, 32, 32) float32, N dynamic" in proc.stdout and "wrote" in proc.stdout
    from smartops.engine.checkpoint import load_checkpoint
    from smartops.engine.modeling import model_from_checkpoint

    model = model_from_checkpoint(load_checkpoint(ckpt))[0].eval()
    x = torch.randn(3, 3, 4, 32, 32)
    with torch.no_grad():
        ref = model(x).numpy()
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(work / name), providers=["CPUExecutionProvider"])
        out = session.run(["logits"], {"clips": x.numpy()})[0]
    else:
        out = torch.export.load(str(work / name)).module()(x).detach().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_export_errors(trained, tmp_path):
    work, ckpt = trained
    proc = cli("export", "--checkpoint", ckpt, "--format", "onnx", "-o", tmp_path / "missing" / "m.onnx", cwd=work)
    assert proc.returncode == 2 and "folder of --output does not exist" in proc.stderr
