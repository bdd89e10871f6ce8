"""Export of folded models (smartops.export): ONNX Runtime gives PyTorch's
outputs on every architecture at another batch size than the export's, and
the ONNX file and the ExportedProgram run in an interpreter in which
smartops cannot be imported (so their graphs hold standard operators only)."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from op_utils import requires_kernel
from smartops.export import export_onnx, export_program
from smartops.models import list_models
from test_fold import clip, eval_model

pytestmark = requires_kernel("relation_pool", "relation_tail", "concat_reduce")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a folded model may contain: standard operators only (the pair sum's
# reshape brings shape arithmetic: Shape, Slice, Mod, ...; BatchNormalization
# is the released Caffe networks' post-sum BN, which follows no conv).
STANDARD_ONNX_OPS = {"Conv", "Relu", "Mul", "ReduceSum", "Add", "Concat", "Reshape", "GlobalAveragePool",
                     "ReduceMean", "Flatten", "Gemm", "MatMul", "Identity", "Constant", "Shape", "Slice", "Gather",
                     "Unsqueeze", "Squeeze", "Mod", "Div", "Sub", "Cast", "ConstantOfShape", "BatchNormalization"}


def float32_tolerance(ref):
    """float32 rounding differs between graphs; the random BNs of test_fold
    make logits large, so the tolerance scales with them."""
    return dict(rtol=1e-3, atol=1e-4 * float(np.abs(ref).max()))


def onnx_runtime():
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


def run_onnx(ort, path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"clips": x.numpy()})[0]


@pytest.mark.parametrize("arch", list_models())
def test_onnx_matches_pytorch(arch, tmp_path):
    ort = onnx_runtime()
    import onnx

    model = eval_model(arch, torch.float32)
    path = export_onnx(model, clip(torch.float32, batch=2), tmp_path / "m.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ops <= STANDARD_ONNX_OPS, ops - STANDARD_ONNX_OPS
    x = clip(torch.float32, batch=3)  # not the export's batch of 2: the batch is dynamic
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(run_onnx(ort, path, x), ref, **float32_tolerance(ref))


# Runs the exported files in a fresh interpreter in which `import smartops`
# fails, with the repository off sys.path.
WITHOUT_SMARTOPS = textwrap.dedent("""
    import importlib.abc, sys
    sys.path = [p for p in sys.path if p not in ("", ".", {root!r})]

    class NoSmartops(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] == "smartops":
                raise ImportError("smartops is blocked in this test")

    sys.meta_path.insert(0, NoSmartops())
    import numpy as np, torch
    x = torch.from_numpy(np.load({x!r}))
    outs = {{"pt2": torch.export.load({pt2!r}).module()(x).detach().numpy()}}
    import os
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if onnxruntime is not None and os.path.exists({onnx!r}):
        s = onnxruntime.InferenceSession({onnx!r}, providers=["CPUExecutionProvider"])
        outs["onnx"] = s.run(["logits"], {{"clips": x.numpy()}})[0]
    np.savez({out!r}, **outs)
    try:
        import smartops
    except ImportError:
        print("smartops not importable")
""")


def test_exported_files_run_without_smartops(tmp_path):
    model = eval_model("artnet_resnet18_d", torch.float32)
    example = clip(torch.float32, batch=2)
    export_program(model, example, tmp_path / "m.pt2")
    have_onnx = importlib.util.find_spec("onnx") is not None
    if have_onnx:
        export_onnx(model, example, tmp_path / "m.onnx")
    x = clip(torch.float32, batch=3)
    np.save(tmp_path / "x.npy", x.numpy())
    script = WITHOUT_SMARTOPS.format(root=ROOT, x=str(tmp_path / "x.npy"), pt2=str(tmp_path / "m.pt2"),
                                     onnx=str(tmp_path / "m.onnx"), out=str(tmp_path / "out.npz"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "smartops not importable" in proc.stdout
    with torch.no_grad():
        ref = model(x).numpy()
    outs = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(outs["pt2"], ref, **float32_tolerance(ref))
    if have_onnx and "onnx" in outs:
        np.testing.assert_allclose(outs["onnx"], ref, **float32_tolerance(ref))
