"""The command-line tools through their real command lines (subprocesses):
smartops.train / finetune / eval / predict, resume, killing a run during a
checkpoint save, a 2-process gloo DDP run, and the errors given before any
long work. Everything runs on a tiny generated dataset (4 directions x 4
videos of 12 frames at 32x40) with a 1/16-width network, so the module takes
a minute or two on 2 CPU cores."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = ["--arch", "artnet_resnet18_d", "--width", "0.0625"]
SMALL = ["--clip-len", "4", "--crop-size", "32", "--frame-size", "keep", "--batch-size", "4", "--workers", "0",
         "--no-tensorboard"]


def _env(**extra):
    env = dict(os.environ)
    env.pop("SMARTOPS_TEST_SAVE_DELAY", None)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra)
    return env


def cli(module, *args, cwd, timeout=300, env=None):
    """Runs `python -m smartops.<module> args...`; returns the CompletedProcess."""
    cmd = [sys.executable, "-m", "smartops." + module] + [str(a) for a in args]
    return subprocess.run(cmd, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (proc.returncode, proc.stdout, proc.stderr)
    return proc


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from smartops.data import generate_synthetic

    base = tmp_path_factory.mktemp("cli")
    generate_synthetic(base / "tiny", classes=4, videos_per_class=4, frames=12, size=(32, 40), seed=1)
    generate_synthetic(base / "tiny2", classes=2, videos_per_class=4, frames=12, size=(32, 40), seed=2)
    return base


def data_args(work, name="tiny"):
    return ["--data", work / name / "train.txt", "--val-data", work / name / "val.txt"]


@pytest.fixture(scope="module")
def run1(work):
    """One epoch of training; the other tests read (copies of) its output."""
    proc = ok(cli("train", *MODEL, *SMALL, *data_args(work), "--epochs", "1", "--output", "run1", cwd=work))
    return work / "run1", proc


# ---------------------------------------------------------------- training
def test_one_epoch_writes_checkpoint_and_metrics(run1):
    out, proc = run1
    ck = load(out / "last.pt")
    assert ck["format"] == "smartops-checkpoint" and ck["epoch"] == 1
    assert ck["class_names"] == ["right", "down", "left", "up"]
    assert ck["model_config"]["arch"] == "artnet_resnet18_d" and ck["model_config"]["num_classes"] == 4
    for key in ("model", "optimizer", "scheduler", "args", "data", "metrics"):
        assert key in ck
    assert ck["args"]["clip_len"] == 4 and ck["args"]["schedule"] == "plateau"
    assert abs(ck["args"]["lr"] - 0.1 * 4 / 256) < 1e-12  # the paper's lr scaled to the batch
    assert (out / "best.pt").exists()
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1]
    for key in ("train_loss", "train_acc", "val_loss", "val_top1", "val_top5", "lr", "clips_per_s", "time_s"):
        assert key in lines[0]
    assert "0.1 x 4 / 256" in proc.stdout
    assert "validation top-1" in proc.stdout and str(out / "last.pt") in proc.stdout
    assert "clips/s" in proc.stderr  # the progress lines


def test_resume_continues_with_the_same_optimizer_state(run1, work, tmp_path):
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(run1[0] / "last.pt", resumed / "last.pt")
    shutil.copy(run1[0] / "metrics.jsonl", resumed / "metrics.jsonl")
    # auto-resume from --output; the options not given come from the checkpoint
    proc = ok(cli("train", *data_args(work), "--epochs", "2", "--workers", "0", "--output", resumed, cwd=work))
    assert "resuming (found in --output) from" in proc.stdout and "1 epochs done" in proc.stdout
    assert "epoch 2/2" in proc.stdout and "epoch 1/2" not in proc.stdout
    ck = load(resumed / "last.pt")
    assert ck["epoch"] == 2 and ck["args"]["arch"] == "artnet_resnet18_d" and ck["args"]["clip_len"] == 4
    assert [json.loads(x)["epoch"] for x in (resumed / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    # the same two epochs without interruption give the same weights and optimizer state
    straight = ok(cli("train", *MODEL, *SMALL, *data_args(work), "--epochs", "2", "--output", tmp_path / "straight",
                      cwd=work))
    assert "resuming" not in straight.stdout
    ref = load(tmp_path / "straight" / "last.pt")
    for k, v in ref["model"].items():
        torch.testing.assert_close(ck["model"][k], v, msg=k)
    for i, state in ref["optimizer"]["state"].items():
        torch.testing.assert_close(ck["optimizer"]["state"][i]["momentum_buffer"], state["momentum_buffer"])
    assert ck["scheduler"] == ref["scheduler"]


def test_killed_during_save_keeps_the_previous_checkpoint(run1, work, tmp_path):
    out = tmp_path / "killed"
    out.mkdir()
    shutil.copy(run1[0] / "last.pt", out / "last.pt")
    before = load(out / "last.pt")
    cmd = [sys.executable, "-m", "smartops.train", *data_args(work), "--epochs", "2", "--workers", "0",
           "--output", str(out)]
    proc = subprocess.Popen([str(c) for c in cmd], cwd=work, env=_env(SMARTOPS_TEST_SAVE_DELAY="120"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = []
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("SMARTOPS_TEST_SAVE_DELAY"):
                break
        assert seen and seen[-1].startswith("SMARTOPS_TEST_SAVE_DELAY"), "".join(seen)
        proc.send_signal(signal.SIGKILL)  # the new checkpoint is written, not yet renamed
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    partial = sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp"))
    assert len(partial) == 1 and partial[0].startswith(".last.pt.")
    assert sorted(p.name for p in out.glob("*.pt")) == ["last.pt"]
    after = load(out / "last.pt")  # the previous checkpoint, intact
    assert after["epoch"] == 1
    for k, v in before["model"].items():
        assert torch.equal(after["model"][k], v)
    # the next run resumes from it (not from the unfinished file) and removes that
    again = ok(cli("train", *data_args(work), "--epochs", "2", "--workers", "0", "--output", out, cwd=work))
    assert "removed 1 unfinished checkpoint" in again.stdout and "1 epochs done" in again.stdout
    assert load(out / "last.pt")["epoch"] == 2
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


# The README's main command (ARTNet (d), width 0.25, batch 8, lr 0.02, cosine) for one epoch on a smaller
# synthetic dataset (24 training videos: 3 batches) and smaller clips.
MAIN_REDUCED = ["--arch", "artnet_resnet18_d", "--width", "0.25", "--batch-size", "8", "--lr", "0.02",
                "--synthetic-videos", "8", "--synthetic-frames", "12", "--synthetic-size", "40x48", "--clip-len", "8",
                "--crop-size", "32", "--workers", "0", "--no-tensorboard", "--epochs", "1"]


# The same with the main command's own clips (16 frames, 64x64 crops), where its last stages keep
# 2x2x2 positions per clip; at 8x32x32 they keep one, and BatchNorm over 8 values is another network.
MAIN_NATIVE_CLIPS = MAIN_REDUCED[:MAIN_REDUCED.index("--synthetic-frames")] + ["--workers", "0", "--no-tensorboard",
                                                                            "--epochs", "1"]


def test_precise_bn_makes_the_first_validation_finite_and_close_to_training(work):
    proc = ok(cli("train", *MAIN_NATIVE_CLIPS, "--schedule", "cosine", "--output", "precise", cwd=work,
                  env=_env(SMARTOPS_CACHE=str(work / "cache"))))
    record = json.loads((work / "precise" / "metrics.jsonl").read_text().splitlines()[0])
    # Seeds 0-7 of this command gave validation losses of 0.86-1.01x the training loss, except seed 5:
    # 3475 (one validation clip's activations grow through the relation units' squares; exactly
    # eval-consistent statistics still gave 1637 there, see README "Precise BN"). The default seed 0: 0.96x.
    assert np.isfinite(record["val_loss"]) and record["val_loss"] < 2 * record["train_loss"], record
    assert record["precise_bn_batches"] == 3 and "(precise BN: 3 batches" in proc.stdout


def test_nonfinite_validation_loss_is_named_and_kept_from_the_schedule_and_best(work):
    # without precise BN the same epoch's evaluation overflows in a relation unit
    proc = ok(cli("train", *MAIN_REDUCED, "--schedule", "plateau", "--patience", "0", "--precise-bn", "0",
                  "--output", "lagging", cwd=work, env=_env(SMARTOPS_CACHE=str(work / "cache"))))
    assert "warning: epoch 1: the validation loss is nan" in proc.stdout, proc.stdout
    assert "relation_pool (RelationPool)" in proc.stdout
    ck = load(work / "lagging" / "last.pt")
    assert ck["scheduler"]["last_epoch"] == 0 and ck["scheduler"]["num_bad_epochs"] == 0  # never stepped
    assert ck["best"]["epoch"] is None and not (work / "lagging" / "best.pt").exists()


def test_finetune_new_head_tsn_recipe(run1, work):
    # no --arch: the network comes from the pretrained checkpoint; channels-last on CPU. Not --amp bf16:
    # torch 2.13's CPU bfloat16 conv3d weight gradient returns NaN at random when the temporal size is 2
    # (pure torch, no smartops op involved: see test_autocast_cpu.py), which stops the run.
    proc = ok(cli("finetune", "--pretrained", run1[0] / "last.pt", *SMALL, *data_args(work, "tiny2"),
                  "--epochs", "1", "--channels-last", "--partial-bn", "--output", "ft", cwd=work))
    assert "new 2-way head (the checkpoint's has 4 classes)" in proc.stdout
    assert "2 TSN segments" in proc.stdout and "lr 0.001" in proc.stdout and "clipped at 40" in proc.stdout
    ck = load(work / "ft" / "last.pt")
    assert ck["model_config"]["arch"] == "artnet_resnet18_d" and ck["model_config"]["num_classes"] == 2
    assert ck["model_config"]["dropout"] == 0.5 and ck["args"]["segments"] == 2
    assert ck["model"]["fc.weight"].shape[0] == 2
    pre = load(run1[0] / "last.pt")["model"]  # the body starts from the pretrained weights (lr 0.001: close)
    w, w0 = ck["model"]["layer1.0.conv1.0.weight"], pre["layer1.0.conv1.0.weight"]
    assert (w - w0).norm() < 0.1 * w0.norm()
    # partial BN: statistics and affine parameters frozen outside the stem, the stem's still train
    for key in ("layer1.0.conv1.1.running_mean", "layer2.0.conv2.relation_pool.bn1.running_var",
                "layer1.0.conv1.1.weight"):
        assert torch.equal(ck["model"][key], pre[key]), key
    assert not torch.equal(ck["model"]["stem.bn.running_mean"], pre["stem.bn.running_mean"])
    assert "partial BN" in proc.stdout and "fused ops on cpu" in proc.stdout


def test_synthetic_dataset_is_generated_without_data(work, tmp_path):
    cache = tmp_path / "cache"
    proc = ok(cli("train", *MODEL, "--clip-len", "4", "--crop-size", "32", "--batch-size", "4", "--workers", "0",
                  "--synthetic-classes", "2", "--synthetic-videos", "4", "--synthetic-frames", "8",
                  "--synthetic-size", "32x40", "--epochs", "1", "--output", tmp_path / "syn", cwd=tmp_path,
                  env=_env(SMARTOPS_CACHE=str(cache))))
    assert "generating the synthetic motion dataset" in proc.stdout
    assert "synthetic motion dataset (no --data)" in proc.stdout
    folder = cache / "synthetic-motion" / "c2-v4-f8-32x40-s0"
    assert (folder / "meta.json").exists() and (folder / "val.txt").exists()
    ck = load(tmp_path / "syn" / "last.pt")
    assert ck["class_names"] == ["right", "left"] and ck["data"]["synthetic"]["classes"] == 2
    assert ck["args"]["frame_size"] == "keep"


# ---------------------------------------------------------------- evaluation, prediction
def test_eval_three_metrics_over_the_configured_views(run1, work):
    out = work / "ev"
    proc = ok(cli("eval", "--checkpoint", run1[0] / "last.pt", "--clips", "2", "--crops", "3", "--workers", "0",
                  "--output", out, cwd=work))
    assert "2 clips x 3 crops = 6 views" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if x.startswith("accuracy:"))
    assert "top-1" in line and "top-5" in line and "mean class" in line and "(4 videos)" in line
    z = np.load(out / "scores.npz")
    assert z["logits"].shape == (4, 4) and z["probs"].shape == (4, 4)
    np.testing.assert_allclose(z["probs"].sum(1), 1, rtol=1e-5)
    assert list(z["labels"]) == [0, 1, 2, 3] and list(z["classes"]) == ["right", "down", "left", "up"]
    assert len((out / "per_class.csv").read_text().splitlines()) == 5
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["views"] == 6 and metrics["n"] == 4
    # decoding in a worker process gives the same scores
    ok(cli("eval", "--checkpoint", run1[0] / "last.pt", "--clips", "2", "--crops", "3", "--workers", "1",
           "--output", work / "ev1", cwd=work))
    np.testing.assert_allclose(np.load(work / "ev1" / "scores.npz")["logits"], z["logits"], rtol=1e-5, atol=1e-5)
    # score fusion (e.g. RGB + flow); here two runs of the same model
    fused = ok(cli("eval", "--fuse", out / "scores.npz", work / "ev1" / "scores.npz", "--fuse-weights", "1", "1.5",
                   cwd=work))
    assert "fused (weights 1, 1.5): top-1" in fused.stdout
    np.testing.assert_allclose(np.load(out / "fused.npz")["probs"], z["probs"], rtol=1e-4, atol=1e-6)


def test_predict_prints_top5(run1, work):
    video = work / "tiny" / "up" / "up_003.mp4"
    proc = ok(cli("predict", video, "--checkpoint", run1[0] / "last.pt", "--clips", "2", "--crops", "1", cwd=work))
    rows = [x for x in proc.stdout.splitlines() if x.strip()[:2].rstrip(".").isdigit()]
    assert len(rows) == 4  # top-5 of 4 classes
    assert {r.split()[1] for r in rows} == {"right", "down", "left", "up"} and all(r.endswith("%") for r in rows)
    proc = ok(cli("predict", video, "--checkpoint", run1[0] / "last.pt", "--clips", "2", "--crops", "1", "--json",
                  cwd=work))
    doc = json.loads(proc.stdout)
    top = doc["results"][0]["top"]
    assert [t["class"] for t in top] and abs(sum(t["probability"] for t in top) - 1) < 1e-4
    assert all(top[i]["probability"] >= top[i + 1]["probability"] for i in range(len(top) - 1))


# ---------------------------------------------------------------- distributed
def test_ddp_two_processes_gloo(work):
    """DDP with --sync-bn: gloo on the CPU synchronizes BatchNorms and keeps fused units fused."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=%d" % free_port(),
           "-m", "smartops.train", *MODEL, *SMALL, *data_args(work), "--batch-size", "2", "--epochs", "1",
           "--output", "ddp", "--sync-bn"]
    proc = ok(subprocess.run([str(c) for c in cmd], cwd=work, env=_env(OMP_NUM_THREADS="1"), capture_output=True,
                             text=True, timeout=300))
    assert "2 processes (gloo)" in proc.stdout
    assert "sync-bn: on: every BatchNorm synchronized across processes (gloo); fused units stay fused" in proc.stdout
    assert proc.stdout.count("epoch 1/1  train loss") == 1  # rank 0 logs
    ck = load(work / "ddp" / "last.pt")
    assert ck["epoch"] == 1 and "module.fc.weight" not in ck["model"]
    assert len((work / "ddp" / "metrics.jsonl").read_text().splitlines()) == 1
    assert json.loads((work / "ddp" / "metrics.jsonl").read_text())["val_videos"] == 4  # each video once


# ---------------------------------------------------------------- errors before long work
@pytest.mark.parametrize("case", ["arch", "data", "number", "resume_arch", "checkpoint"])
def test_clear_errors(case, run1, work, tmp_path):
    if case == "arch":
        proc = cli("train", "--arch", "artnet_resnet50", cwd=tmp_path)
        expect = ["unknown architecture 'artnet_resnet50'", "artnet_resnet18_d", "c3d_resnet18"]
    elif case == "data":
        proc = cli("train", *MODEL, "--data", tmp_path / "missing.txt", cwd=tmp_path)
        expect = ["--data", "missing.txt does not exist"]
    elif case == "number":
        proc = cli("train", *MODEL, "--epochs", "0", cwd=tmp_path)
        expect = ["--epochs", "integer >= 1"]
    elif case == "resume_arch":
        shutil.copy(run1[0] / "last.pt", tmp_path / "last.pt")
        proc = cli("train", "--arch", "c3d_resnet18", *data_args(work), "--output", tmp_path, cwd=tmp_path)
        expect = ["holds arch='artnet_resnet18_d'", "--arch c3d_resnet18"]
    else:
        (tmp_path / "notes.pt").write_text("not a checkpoint")
        proc = cli("eval", "--checkpoint", tmp_path / "notes.pt", cwd=tmp_path)
        expect = ["cannot read checkpoint", "notes.pt"]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for text in expect:
        assert text in proc.stderr, proc.stderr
    assert not (tmp_path / "runs").exists()  # nothing started


def test_weights_that_do_not_fit_the_model_are_refused(work, tmp_path):
    from smartops.models import get_model

    torch.save(get_model("c3d_resnet18", num_classes=4, width=0.0625).state_dict(), tmp_path / "c3d.pt")
    proc = cli("train", *MODEL, *SMALL, *data_args(work), "--pretrained", tmp_path / "c3d.pt", "--output",
               tmp_path / "x", cwd=work)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "do not fit artnet_resnet18_d" in proc.stderr and "c3d.pt" in proc.stderr
    assert not (tmp_path / "x" / "last.pt").exists()


# ---------------------------------------------------------------- pieces, in process
def test_atomic_save_failure_leaves_the_old_file(tmp_path, monkeypatch):
    from smartops.engine import checkpoint as ck

    path = tmp_path / "last.pt"
    ck.atomic_save({"format": ck.FORMAT, "model": {"w": torch.ones(3)}, "epoch": 1}, path)

    def broken(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError):
        ck.atomic_save({"format": ck.FORMAT, "model": {"w": torch.zeros(3)}, "epoch": 2}, path)
    monkeypatch.undo()
    assert ck.load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]


def test_weight_decay_groups_and_default_lr():
    from smartops.engine.optim import build_optimizer, default_lr
    from smartops.models import get_model

    model = get_model("artnet_resnet18_d", num_classes=3, width=0.0625)
    opt = build_optimizer(model, 0.1)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim <= 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert opt.defaults["momentum"] == 0.9
    assert default_lr(256) == 0.1 and default_lr(32) == 0.0125


def test_console_scripts():
    exe = shutil.which("smartops-train")
    if exe is None:
        pytest.skip("smartops is not pip-installed here (no console scripts)")
    for name in ("smartops-train", "smartops-eval", "smartops-finetune", "smartops-predict"):
        proc = subprocess.run([shutil.which(name), "--help"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "usage: " + name in proc.stdout
