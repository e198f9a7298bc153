"""ProjectionRunner: the projection generator in a worker thread."""

from __future__ import annotations

import pytest
import torch

from inspector_app.core.modelio import load_model
from inspector_app.core.params import ProjectionParams
from inspector_app.gui.worker import ProjectionRunner


class Recorder:
    def __init__(self, runner: ProjectionRunner):
        self.frames, self.energy, self.finished, self.errors, self.states = [], [], [], [], []
        runner.frame.connect(self.frames.append)
        runner.energy.connect(self.energy.extend)
        runner.finished.connect(self.finished.append)
        runner.errored.connect(self.errors.append)
        runner.state_changed.connect(self.states.append)


_RUNNERS: list[ProjectionRunner] = []


@pytest.fixture(autouse=True)
def _stop_runners():
    yield
    while _RUNNERS:  # a failing test must not leave its thread running
        _RUNNERS.pop().stop()


def _setup(qtbot, model_file, max_fps=20.0):
    loaded = load_model(model_file, "cpu")
    runner = ProjectionRunner(max_fps=max_fps)
    _RUNNERS.append(runner)
    torch.manual_seed(0)
    x0 = torch.rand(1, 1, 32, 32)
    return loaded, runner, Recorder(runner), x0


def test_run_delivers_every_energy_value_and_the_last_record(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    n = 40
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=n))
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=20000)
    assert not runner.running
    assert [e[0] for e in rec.energy] == list(range(n + 1))  # iteration 0 (x0 itself) … n, none dropped
    assert len(rec.finished) == 1
    last = rec.finished[0]
    assert last.iteration == n and last.stop_reasons == ["max_iter"]
    assert {"p", "r"} <= set(last._cache)  # both DSSIM maps were computed in the worker
    assert last.x.device.type == "cpu"
    assert 1 <= len(rec.frames) <= n + 1
    its = [f.iteration for f in rec.frames]  # the first is 0 unless the GUI was slow (the newest is kept)
    assert its == sorted(its)
    assert abs(rec.energy[-1][1] - float(last.energy[0])) < 1e-6
    assert abs(rec.energy[-1][1] - (rec.energy[-1][2] + rec.energy[-1][3])) < 1e-3  # E = Lr + λ‖x − x0‖₁


def test_frames_are_dropped_to_max_fps(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file, max_fps=2.0)
    n = 60
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=n))
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=20000)
    assert len(rec.energy) == n + 1
    assert len(rec.frames) < n // 2  # a tiny model runs far faster than 2 frames a second


def test_stop_joins_the_thread_and_delivers_finished(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=10000))
    qtbot.waitUntil(lambda: len(rec.energy) > 3, timeout=20000)
    runner.stop()
    assert not runner.running
    assert len(rec.finished) == 1  # delivered synchronously, before stop() returned
    last = rec.finished[0]
    assert last.iteration == rec.energy[-1][0]
    assert last.stop_reasons == [None]  # stopped by the user
    assert rec.states[-1] == "idle"
    runner.stop()  # idempotent


def test_step_runs_exactly_one_iteration(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=20), paused=True)
    qtbot.waitUntil(lambda: bool(rec.frames), timeout=20000)
    assert [e[0] for e in rec.energy] == [0]
    runner.step()
    qtbot.waitUntil(lambda: len(rec.energy) == 2, timeout=20000)
    qtbot.waitUntil(lambda: rec.frames[-1].iteration == 1, timeout=20000)
    assert runner.paused and runner.running
    runner.step()
    qtbot.waitUntil(lambda: len(rec.energy) == 3, timeout=20000)
    qtbot.wait(100)  # give a wrongly running worker the chance to go on
    assert [e[0] for e in rec.energy] == [0, 1, 2]
    runner.resume()
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=20000)
    assert rec.finished[0].iteration == 20


def test_live_alpha_reaches_the_generator(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=100, alpha=0.5), paused=True)
    qtbot.waitUntil(lambda: bool(rec.frames), timeout=20000)
    assert rec.frames[0].params.alpha == 0.5
    runner.set_live(alpha=0.01, lam=0.2)
    runner.step()
    qtbot.waitUntil(lambda: rec.frames[-1].iteration == 1, timeout=20000)
    assert rec.frames[-1].params.alpha == 0.01 and rec.frames[-1].params.lam == 0.2
    runner.stop()


def test_bad_input_reports_an_error_and_finishes(qtbot, model_file):
    loaded, runner, rec, _ = _setup(qtbot, model_file)
    runner.start(loaded.model, torch.rand(1, 1, 16, 16), ProjectionParams(stop="none", max_iter=5))
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=20000)
    assert rec.errors and "32×32" in rec.errors[0]
    assert rec.finished == [None]
    assert not runner.running


def test_restart_while_running_delivers_the_old_run_first(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=10000))
    qtbot.waitUntil(lambda: bool(rec.energy), timeout=20000)
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=5))
    assert len(rec.finished) == 1  # the first run's
    qtbot.waitUntil(lambda: len(rec.finished) == 2, timeout=20000)
    assert rec.finished[1].iteration == 5
    assert runner.starts == 2
