"""Issue 24 item 0: ``train``'s progress bar shows the budget that binds (steps or minutes, its
total and ETA following it) and says when the first validation loss comes, then shows it."""

from __future__ import annotations

from argparse import Namespace
from types import SimpleNamespace

from inspector_app.cli import train_progress as tp
from inspector_app.core.models import ModelConfig
from inspector_app.core.training import TrainConfig


def _bar(capsys, max_steps, max_minutes, states):
    cfg = TrainConfig(ModelConfig("l2ae", 32, 1, 8), max_steps=max_steps, max_minutes=max_minutes, eval_every=100,
                      eval_seconds=30.0)
    rep = tp.Reporter(Namespace(quiet=False, arch="l2ae"), cfg, 8, None)
    rep.progress(SimpleNamespace(step=1, seconds=40.0, val_curve=[]), 1.0)
    rep._t -= 10.0  # 10 steps in (just over) the last 10 s
    for st in states:
        rep.progress(st, 0.5)
    total = rep.bar.total
    rep.close()
    return capsys.readouterr().err.split("\r")[-1], total


def test_the_bar_shows_the_minutes_when_they_bind_and_when_the_validation_loss_comes(capsys):
    line, total = _bar(capsys, 20000, 1.0, [SimpleNamespace(step=10, seconds=50.0, val_curve=[])])
    assert "budget=1 min" in line and "val=none before step 100 or 30 s" in line
    assert 19 <= total <= 20  # the steps the 10 s left allow at 1 step/s, not the 20,000-step cap
    line, total = _bar(capsys, 20000, 1.0, [SimpleNamespace(step=10, seconds=50.0, val_curve=[[10, 0.25, 0.7, 1e-3]])])
    assert "val=0.25" in line and "budget=1 min" in line


def test_the_bar_shows_the_steps_when_they_bind(capsys):
    line, total = _bar(capsys, 30, 60.0, [SimpleNamespace(step=10, seconds=50.0, val_curve=[])])
    assert "budget=30 steps" in line and total == 30
