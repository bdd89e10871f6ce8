"""The flow stream end to end and the two-stream evaluation: extract tiny
synthetic videos, train an RGB and a flow network for one epoch, fine-tune
a flow network from the RGB one by cross-modality initialisation, and
evaluate both streams fused."""

import numpy as np
import pytest
import torch

pytest.importorskip("cv2", reason="flow frames need OpenCV (the 'flow' extra)")

from smartops.models import get_model  # noqa: E402
from smartops.two_stream import cross_modality_state  # noqa: E402

MODEL = ["--arch", "c3d_resnet18", "--width", "0.0625"]
SMALL = ["--clip-len", "4", "--crop-size", "32", "--frame-size", "keep", "--batch-size", "4",
         "--workers", "0", "--no-tensorboard", "--no-flip", "--epochs", "1"]


def test_cross_modality_state_averages_the_first_conv():
    rgb = get_model("c3d_resnet18", width=0.0625, num_classes=3, in_channels=3, fused=False)
    flow = get_model("c3d_resnet18", width=0.0625, num_classes=3, in_channels=2, fused=False)
    state = cross_modality_state(rgb.state_dict())
    flow.load_state_dict(state)  # strict: every other tensor fits unchanged
    first = [k for k, v in rgb.state_dict().items() if v.dim() == 5 and v.shape[1] == 3]
    assert len(first) == 1
    w = rgb.state_dict()[first[0]]
    assert torch.equal(flow.state_dict()[first[0]], w.mean(1, keepdim=True).repeat(1, 2, 1, 1, 1))
    with pytest.raises(ValueError, match="not an RGB model"):
        cross_modality_state(flow.state_dict())


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    from smartops.data import generate_synthetic
    from smartops.extract import main as extract

    base = tmp_path_factory.mktemp("two_stream")
    generate_synthetic(base / "videos", classes=2, videos_per_class=4, frames=8, size=(32, 40), seed=3)
    code = extract([str(base / "videos" / "train.txt"), str(base / "videos" / "val.txt"),
                    "--out", str(base / "frames"), "--size", "native", "--flow-method", "farneback",
                    "--workers", "0"])
    assert code == 0
    return base


def train(base, out, *args):
    from smartops.train import main

    assert main([*MODEL, *SMALL, "--output", str(base / out), *map(str, args)]) == 0
    return torch.load(base / out / "last.pt", map_location="cpu", weights_only=True)


def test_two_streams_train_finetune_and_fuse(frames, capsys):
    f = frames / "frames"
    rgb = train(frames, "rgb", "--data", f / "train_rgb.txt", "--val-data", f / "val_rgb.txt")
    flow = train(frames, "flow", "--modality", "flow", "--data", f / "train_flow.txt",
                 "--val-data", f / "val_flow.txt")
    assert rgb["model_config"]["in_channels"] == 3 and flow["model_config"]["in_channels"] == 2
    cross = train(frames, "cross", "--modality", "flow", "--data", f / "train_flow.txt",
                  "--val-data", "none", "--pretrained", frames / "rgb" / "last.pt", "--cross-modality")
    assert cross["model_config"]["in_channels"] == 2

    from smartops.eval import main as evaluate

    capsys.readouterr()
    out = frames / "fused"
    assert evaluate(["--two-stream", str(frames / "rgb" / "last.pt"), str(frames / "flow" / "last.pt"),
                     "--clips", "2", "--output", str(out), "--workers", "0"]) == 0
    printed = capsys.readouterr().out
    for line in ("the same 2 clips x 5 crops", "RGB: top-1", "flow: top-1", "fused (RGB 1 : flow 1.5): top-1"):
        assert line in printed
    streams = [np.load(out / s / "scores.npz") for s in ("rgb", "flow")]
    assert [list(s["ids"]) for s in streams] == [list(streams[0]["ids"])] * 2  # same videos
    fused = np.load(out / "fused.npz")
    want = (streams[0]["probs"] + 1.5 * streams[1]["probs"]) / 2.5
    assert np.allclose(fused["probs"], want, atol=1e-6)

    from smartops.predict import main as predict

    capsys.readouterr()
    folder = f / "right" / "right_000"
    assert predict([str(folder), "--checkpoint", str(frames / "flow" / "last.pt"), "--clips", "1",
                    "--crops", "1", "--json"]) == 0
    assert "right_000" in capsys.readouterr().out


def test_flow_modality_needs_frame_folders(frames, capsys):
    from smartops.train import main

    videos = frames / "videos"
    code = main([*MODEL, *SMALL, "--modality", "flow", "--data", str(videos / "train.txt"),
                 "--output", str(frames / "bad")])
    assert code != 0
    assert "optical flow frame folders" in capsys.readouterr().err
