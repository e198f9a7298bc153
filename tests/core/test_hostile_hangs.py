"""Issue 26, hangs: a TorchScript model is under a time limit on every call, not only the first (a
forward that loops from its second call hung ``project`` and ignored Ctrl-C); a stopped model is
not called again; Ctrl-C still ends a command promptly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from inspector_app.core.data import write_image
from inspector_app.core.modelio import load_model, save_torchscript
from inspector_app.core.watchdog import ModelStopped, call_with_time_limit
from slow_models import SlowFromSecondCall


class _FirstOfMany(nn.Module):
    """Answers a batch of up to two (the load check), then only the first image of a larger batch."""

    def forward(self, x):
        if x.shape[0] > 2:
            return x[:1]
        return x


def _join_model_threads():
    for t in threading.enumerate():
        if t.name.startswith("model call"):
            t.join(60)  # a thread inside TorchScript at interpreter exit would abort the test process


def test_every_call_is_under_the_limit_and_a_stopped_model_is_not_called_again(tmp_path, monkeypatch):
    f = save_torchscript(SlowFromSecondCall(30000), tmp_path / "loops.pt", {"image_size": 32, "channels": 1})
    loaded = load_model(f, "cpu")  # the first call (the load check) answers at once
    monkeypatch.setenv("INSPECTOR_MODEL_CALL_SECONDS", "0.2")
    x = torch.rand(2, 1, 32, 32)
    t0 = time.monotonic()
    with pytest.raises(ModelStopped, match="loops.pt: the model did not answer within 0.2 s"):
        loaded.model.reconstruct(x)
    assert time.monotonic() - t0 < 5
    with pytest.raises(ModelStopped, match="not used again"):  # refused at once, not called again
        loaded.model.reconstruct(x)
    _join_model_threads()


def test_a_model_that_answers_a_batch_with_fewer_images_is_stopped(tmp_path):
    f = save_torchscript(_FirstOfMany(), tmp_path / "first.pt", {"image_size": 32, "channels": 1})
    m = load_model(f, "cpu").model  # passes the load check (a batch of two)
    with pytest.raises(ModelStopped, match=r"first.pt: the model answered a batch of shape \(4, 1, 32, 32\) "
                                           r"with \(1, 1, 32, 32\)"):
        m.reconstruct(torch.rand(4, 1, 32, 32))  # was an IndexError in the projection


def test_the_call_keeps_the_callers_autograd_mode():
    x = torch.rand(3, requires_grad=True)
    y = call_with_time_limit(lambda v: (v * 2).sum(), x, seconds=10, name="f")
    y.backward()
    assert torch.equal(x.grad, torch.full((3,), 2.0))
    with torch.no_grad():
        assert not call_with_time_limit(lambda v: v * 2, x, seconds=10, name="f").requires_grad


def _cli(tmp_path, n, env_seconds):
    f = save_torchscript(SlowFromSecondCall(n), tmp_path / "loops.pt", {"image_size": 32, "channels": 1})
    write_image(tmp_path / "a.png", np.random.default_rng(0).random((32, 32)).astype(np.float32))
    env = {**os.environ, "INSPECTOR_MODEL_CALL_SECONDS": env_seconds, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "inspector_app", "project", "--model", str(f), str(tmp_path / "a.png"),
                             "--out", str(tmp_path / "out"), "--quiet", "--max-iter", "3", "--stop", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_project_with_a_model_that_stops_answering_ends_in_one_line(tmp_path):
    p = _cli(tmp_path, 10 ** 6, "1")  # the second call would take minutes
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "did not answer within 1 s" in err and "Traceback" not in err, err


def test_ctrl_c_ends_project_while_the_model_runs(tmp_path):
    p = _cli(tmp_path, 10 ** 6, "600")
    time.sleep(6)  # python, torch, the model loaded: now inside the long second call
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert time.monotonic() - t0 < 10
    assert p.returncode == 130 and "interrupted" in err, (p.returncode, err)


def test_the_limit_scales_from_the_load_check(monkeypatch):
    """A model answering its load check in a millisecond is given up after 30 s, not 10 minutes (the
    window waits for its worker when it closes); a slow model gets time in proportion."""
    from inspector_app.core.watchdog import call_seconds

    monkeypatch.delenv("INSPECTOR_MODEL_CALL_SECONDS", raising=False)
    assert call_seconds(0.001, 4) == 30.0
    assert call_seconds(0.5, 4) == 200.0
    assert call_seconds(5.0, 64) == 600.0
    assert call_seconds(None) == 600.0
    monkeypatch.setenv("INSPECTOR_MODEL_CALL_SECONDS", "2")
    assert call_seconds(5.0, 64) == 2.0


def test_report_with_a_model_that_stops_answering_still_writes_the_page(tmp_path, monkeypatch, capsys):
    """report re-projects the flagged parts with the review's model: a stalling TorchScript model is
    given up and the page is written without overlays (it hung)."""
    import json

    from inspector_app.cli import main

    folder = tmp_path / "parts"
    write_image(folder / "a.png", np.random.default_rng(0).random((32, 32)).astype(np.float32))
    f = save_torchscript(SlowFromSecondCall(30000), tmp_path / "stall.pt", {"image_size": 32, "channels": 1})
    review = {"format": "inspector-app review", "version": 1, "threshold": 0.2, "folder": str(folder),
              "model": {"path": str(f), "sha256": None, "kind": "torchscript"},
              "params": {"max_iter": 2, "stop": "none"},
              "images": [{"path": "a.png", "score": 0.5, "verdict": "defective"}]}
    (folder / "inspector-review.json").write_text(json.dumps(review))
    monkeypatch.setenv("INSPECTOR_MODEL_CALL_SECONDS", "0.5")
    rc = main(["report", str(folder), "--out", str(tmp_path / "r.html")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "did not answer within 0.5 s" in out.out and (tmp_path / "r.html").exists()
    _join_model_threads()
