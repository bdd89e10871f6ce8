"""smartops-eval and smartops-predict refuse non-finite logits with one
`error:` line naming the video and the module that went non-finite (issue 14,
"NaN in evaluation"): no "top-1 25.00%", no "nan%", no bare NaN in --json.
The checkpoint's weights are finite (check_weights passes) but its
activations overflow, as a diverged or mis-preprocessed model's do (its
head of 3e38 makes sure)."""
import json

import numpy as np
import pytest
import torch

from test_cli_guards import CLASSES, _tiny_checkpoint


def _overflowing_head(state):
    # +inf logits whatever the order in which a GEMM sums (alternating signs
    # would give NaN or finite values depending on it): the features after
    # ReLU and pooling are >= 0, and the bias alone is near float32's max
    state["fc.weight"].fill_(3e38)
    state["fc.bias"].fill_(3e38)


@pytest.fixture
def overflowing(tmp_path):
    from smartops.data.synthetic import write_video

    video = tmp_path / "clip.mp4"
    write_video(video, np.random.default_rng(0).integers(0, 255, (20, 72, 96, 3), dtype=np.uint8))
    return _tiny_checkpoint(tmp_path / "overflow.pt", corrupt=_overflowing_head), str(video)


VIEWS = ["--clips", "1", "--crops", "1"]
NAMED = "gives non-finite logits (NaN/inf) for 1 of 1 video(s), first "


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_predict_refuses_nonfinite_logits(overflowing, json_output, capsys):
    from smartops.predict import main as predict

    ckpt, video = overflowing
    assert predict([video, "--checkpoint", ckpt] + VIEWS + (["--json"] if json_output else [])) == 2
    out, err = capsys.readouterr()
    assert "smartops-predict: error: %s %s%s" % (ckpt, NAMED, video) in err
    assert "; the first module with a non-finite output on it: " in err and "Traceback" not in err
    assert "%" not in out and "nan" not in out.lower()  # nothing printed: no probabilities, no bare NaN


def test_eval_refuses_nonfinite_logits(overflowing, tmp_path, capsys):
    from smartops.eval import main as evaluate

    ckpt, video = overflowing
    listing = tmp_path / "val.txt"
    listing.write_text("%s 1\n" % video)
    out_dir = tmp_path / "eval"
    assert evaluate(["--checkpoint", ckpt, "--data", str(listing), "--workers", "0", "--output", str(out_dir)]
                    + VIEWS) == 2
    out, err = capsys.readouterr()
    assert "smartops-eval: error: %s %s%s" % (ckpt, NAMED, video) in err and "first module with a non-finite" in err
    assert "top-1" not in out and "nan" not in out.lower()
    assert not (out_dir / "metrics.json").exists() and not (out_dir / "scores.npz").exists()


def test_eval_refuses_to_fuse_a_score_file_with_nan(tmp_path, capsys):
    from smartops.eval import main as evaluate, save_scores

    paths = []
    for k, value in enumerate((0.5, float("nan"))):
        logits = np.full((2, len(CLASSES)), 0.5, np.float32)
        logits[1, 2] = value
        paths.append(save_scores(str(tmp_path / ("s%d.npz" % k)), logits, [0, 1], ["a.mp4", "b.mp4"], ["a", "b"],
                                 CLASSES, {}))
    assert evaluate(["--fuse"] + paths) == 2
    err = capsys.readouterr().err
    assert "smartops-eval: error: %s holds non-finite scores (NaN/inf) for 1 of 2 video(s), first b" % paths[1] in err


def test_nonfinite_rows():
    from smartops.engine.finite_scores import nonfinite_rows

    x = torch.zeros(4, 3)
    x[1, 0], x[3, 2] = float("inf"), float("nan")
    assert nonfinite_rows(x) == [1, 3] and nonfinite_rows(x.numpy()[:0]) == [] and nonfinite_rows(x[:1]) == []
