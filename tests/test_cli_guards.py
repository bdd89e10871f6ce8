"""The tools refuse what they cannot do with one `error:` line, before any
long work (issue 14, "The tools"): the --output lock, bad output folders,
absurd --width, a full disk while saving, checkpoints with non-finite weights,
negative running variances or too few class names. Functions are called directly
(no training run) to keep these fast."""
import errno
import os
import socket
import subprocess
import sys
import types

import pytest
import torch

from smartops.engine.cli import CLIError
from smartops.engine.output_lock import LOCK_NAME, OutputLock, check_output_folder

ARCH = ["--arch", "artnet_resnet18_d", "--width", "0.0625"]


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(folder, pid, host=None):
    with open(os.path.join(folder, LOCK_NAME), "w") as f:
        f.write("%d %s\n" % (pid, host or socket.gethostname()))


def _train_main(argv, capsys):
    from smartops.train import main

    code = main([str(a) for a in argv])
    return code, capsys.readouterr()


# --- 1. the output-folder lock ----------------------------------------------------------------------------

def test_lock_holds_pid_and_host_and_is_removed_on_release(tmp_path):
    lock = OutputLock(str(tmp_path), log=lambda m: None).acquire()
    with open(tmp_path / LOCK_NAME) as f:
        assert f.read().split() == [str(os.getpid()), socket.gethostname()]
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()


def test_second_lock_is_refused_naming_the_holder(tmp_path):
    holder = os.getppid()              # alive: the process that started the tests
    _write_lock(tmp_path, holder)
    with pytest.raises(CLIError, match="in use by another training run.*pid %d on host %s"
                       % (holder, socket.gethostname())):
        OutputLock(str(tmp_path)).acquire()
    assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(holder)   # the holder keeps it


def test_lock_of_another_host_is_refused_not_taken_over(tmp_path):
    _write_lock(tmp_path, _dead_pid(), host="some-other-machine")
    with pytest.raises(CLIError, match="some-other-machine.*delete the lock file"):
        OutputLock(str(tmp_path)).acquire()


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_message(tmp_path):
    dead = _dead_pid()
    _write_lock(tmp_path, dead)
    said = []
    with OutputLock(str(tmp_path), log=said.append):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert len(said) == 1 and "stale lock of pid %d" % dead in said[0]
    assert not (tmp_path / LOCK_NAME).exists()


def test_release_leaves_a_lock_that_is_not_ours(tmp_path):
    lock = OutputLock(str(tmp_path), log=lambda m: None).acquire()
    _write_lock(tmp_path, os.getppid())      # e.g. taken over by another run meanwhile
    lock.release()
    assert (tmp_path / LOCK_NAME).exists()


def test_train_into_a_locked_output_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    _write_lock(out, os.getppid())
    code, io = _train_main(ARCH + ["--output", out, "--epochs", "1"], capsys)
    assert code == 2
    assert "smartops-train: error: --output %s is in use by another training run (pid %d" % (out, os.getppid()) \
        in io.err
    assert "Traceback" not in io.err
    assert os.listdir(out) == [LOCK_NAME]     # nothing written, nothing removed


# --- 2. clear errors before long work ----------------------------------------------------------------------

def test_output_that_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("x")
    with pytest.raises(CLIError, match="is a file, not a folder"):
        check_output_folder(str(f))
    code, io = _train_main(ARCH + ["--output", f], capsys)
    assert code == 2 and "smartops-train: error: --output %s is a file" % f in io.err


def test_output_under_a_file_is_refused_naming_the_file(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    with pytest.raises(CLIError, match="is under %s, which is a file" % f):
        check_output_folder(str(f / "sub" / "run"))


def test_output_that_cannot_be_created_or_written_is_refused(tmp_path, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr(os, "makedirs", denied)
        with pytest.raises(CLIError, match="cannot create --output .*Permission denied"):
            check_output_folder(str(tmp_path / "new"))
    monkeypatch.setattr(os, "access", lambda *a, **k: False)   # root may write anywhere: simulate the refusal
    with pytest.raises(CLIError, match="is not writable"):
        check_output_folder(str(tmp_path))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_output_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(CLIError, match="not writable"):
            check_output_folder(str(ro))
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("width", ["9", "1e6"])
def test_absurd_width_is_refused_by_the_parser(width, capsys):
    with pytest.raises(SystemExit) as exc:
        _train_main(["--arch", "artnet_resnet18_d", "--width", width], capsys)
    assert exc.value.code == 2
    assert "--width %g is absurdly large (at most 8" % float(width) in capsys.readouterr().err


def _session(output):
    from smartops.data import ClassIndex

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return types.SimpleNamespace(
        args=types.SimpleNamespace(output=str(output)), model=model, optimizer=opt,
        scheduler=torch.optim.lr_scheduler.StepLR(opt, 1), scaler=None, config={}, sources={},
        classes=ClassIndex(["a", "b"]))


def test_disk_full_while_saving_is_an_error_saying_the_previous_checkpoint_survives(tmp_path, monkeypatch):
    from smartops.engine import checkpoint as ckpt_io
    from smartops.engine.saving import save

    s = _session(tmp_path)
    save(s, {"epoch": 1}, {}, improved=False)

    def disk_full(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CLIError, match="epoch 2 .No space left on device.; the previous .*last.pt survives intact"):
        save(s, {"epoch": 2}, {}, improved=True)
    monkeypatch.undo()
    assert ckpt_io.load_checkpoint(tmp_path / ckpt_io.LAST)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == [ckpt_io.LAST]


def test_disk_full_at_the_first_save_says_no_checkpoint_was_written(tmp_path, monkeypatch):
    from smartops.engine.saving import save

    def disk_full(obj, f, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CLIError, match="no checkpoint was written yet"):
        save(_session(tmp_path), {"epoch": 1}, {}, improved=False)


# --- 3. checkpoints that would give NaN or crash on a class index ---------------------------------------------------------------

CLASSES = ["down", "left", "right", "up"]


def _tiny_checkpoint(path, class_names=CLASSES, corrupt=None):
    """A real smartops checkpoint of a tiny network; corrupt(state) may spoil its weights."""
    from smartops.engine import checkpoint as ckpt_io
    from smartops.engine.modeling import build_model, model_config

    config = model_config("artnet_resnet18_d", len(CLASSES), 0.0625, 0.2)
    state = build_model(config, fused=False).state_dict()
    if corrupt:
        corrupt(state)
    torch.save({"format": ckpt_io.FORMAT, "version": ckpt_io.VERSION, "model": state, "model_config": config,
                "class_names": list(class_names), "args": {}}, path)
    return str(path)


def test_check_weights_names_the_first_bad_tensor():
    from smartops.engine.checkpoint_checks import check_weights

    good = {"conv.weight": torch.ones(2), "bn.running_var": torch.ones(2), "bn.num_batches_tracked": torch.tensor(3)}
    check_weights(good, "ok.pt")
    with pytest.raises(CLIError, match="x.pt cannot be used: its tensor 'a.weight' has 1 non-finite"):
        check_weights(dict(good, **{"a.weight": torch.tensor([1.0, float("inf")]),
                                    "b.weight": torch.tensor([float("nan")])}), "x.pt")
    with pytest.raises(CLIError, match="'bn.running_var' has 1 negative running variance.*min -0.5"):
        check_weights(dict(good, **{"bn.running_var": torch.tensor([1.0, -0.5])}), "x.pt")
    check_weights({"fc.bias": torch.tensor([-0.5])}, "ok.pt")   # negative values elsewhere are fine


@pytest.mark.parametrize("spoil, named", [
    (lambda s: s["fc.weight"].view(-1)[3].fill_(float("nan")), "'fc.weight' has 1 non-finite"),
    (lambda s: s[next(k for k in s if k.endswith("running_var"))].view(-1)[0].fill_(-1.0), "negative running var"),
])
def test_eval_and_predict_refuse_a_checkpoint_with_bad_weights_on_load(spoil, named, tmp_path, capsys):
    from smartops.eval import main as eval_main
    from smartops.predict import main as predict_main

    ckpt = _tiny_checkpoint(tmp_path / "bad.pt", corrupt=spoil)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    assert predict_main([str(video), "--checkpoint", ckpt]) == 2
    err = capsys.readouterr().err
    assert "smartops-predict: error: %s cannot be used" % ckpt in err and named in err and "Traceback" not in err
    assert eval_main(["--checkpoint", ckpt, "--data", str(video)]) == 2
    assert named in capsys.readouterr().err


def test_predict_refuses_class_names_shorter_than_the_head(tmp_path, capsys):
    from smartops.predict import main as predict_main

    ckpt = _tiny_checkpoint(tmp_path / "short.pt", class_names=CLASSES[:2])
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    assert predict_main([str(video), "--checkpoint", ckpt]) == 2
    err = capsys.readouterr().err
    assert "smartops-predict: error: %s has 2 class names for a 4-way head" % ckpt in err
    assert "IndexError" not in err
