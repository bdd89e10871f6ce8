"""smartops-plot: curves of several runs from metrics.jsonl into a PNG;
a clear message without matplotlib."""
import json
import sys

import pytest

from smartops import plot


def _run(folder, n, scale):
    folder.mkdir()
    with open(folder / "metrics.jsonl", "w") as f:
        for e in range(1, n + 1):
            f.write(json.dumps({"epoch": e, "train_loss": scale / e, "val_loss": None if e == 2 else 1.5 * scale / e,
                                "train_acc": 0.1 * e, "val_top1": 0.08 * e, "lr": 0.1 / e}) + "\n")
    return folder


def test_png_of_two_runs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    a, b = _run(tmp_path / "a", 5, 1.0), _run(tmp_path / "b", 3, 2.0)
    out = tmp_path / "curves.png"
    assert plot.main([str(a), str(b), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10000
    assert "a: 5 epochs, b: 3 epochs" in capsys.readouterr().out


def test_clear_errors(tmp_path, monkeypatch, capsys):
    assert plot.main([str(tmp_path)]) == 2
    assert "has no metrics.jsonl" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert plot.main([str(_run(tmp_path / "a", 2, 1.0))]) == 2
    assert "pip install 'smartops[plot]'" in capsys.readouterr().err


def test_series_skips_missing_and_nonfinite():
    records = [{"epoch": 1, "val_loss": 2.0}, {"epoch": 2, "val_loss": None}, {"epoch": 3, "val_loss": float("nan")},
               {"epoch": 4}]
    assert plot._series(records, "val_loss") == ([1], [2.0])
