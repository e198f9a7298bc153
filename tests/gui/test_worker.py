"""ProjectionRunner: the paced projection in the window's own worker; only numpy frames reach the GUI."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from inspector_app.core.modelio import load_model
from inspector_app.core.params import ProjectionParams
from inspector_app.gui.worker import ProjectionRunner, run_in_worker
from inspector_app.session.frames import Frame


class Recorder:
    def __init__(self, runner: ProjectionRunner):
        self.frames, self.energy, self.finished, self.errors = [], [], [], []
        runner.frame.connect(self.frames.append)
        runner.energy.connect(self.energy.extend)
        runner.finished.connect(self.finished.append)
        runner.errored.connect(self.errors.append)


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
    x0 = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    return loaded, runner, Recorder(runner), x0


def test_run_delivers_every_energy_value_and_the_last_frame(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    n = 40
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=n))
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=20000)
    assert not runner.running
    assert [e[0] for e in rec.energy] == list(range(n + 1))  # iteration 0 (x0 itself) … n, none dropped
    assert len(rec.finished) == 1
    last = rec.finished[0]
    assert isinstance(last, Frame) and last.iteration == n and last.stop_reason == "max_iter"
    for a in (last.x, last.reconstruction, last.dssim_projection, last.dssim_reconstruction):
        assert isinstance(a, np.ndarray)  # numpy only crosses the thread boundary
    assert 1 <= len(rec.frames) <= n + 1 and all(isinstance(f, Frame) for f in rec.frames)
    its = [f.iteration for f in rec.frames]  # the first is 0 unless the GUI was slow (the newest is kept)
    assert its == sorted(its)
    assert abs(rec.energy[-1][1] - last.energy) < 1e-6
    assert abs(rec.energy[-1][1] - (rec.energy[-1][2] + rec.energy[-1][3])) < 1e-3  # E = Lr + λ‖x − x0‖₁


def test_frames_are_dropped_to_max_fps(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file, max_fps=2.0)
    n = 60
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=n))
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=20000)
    assert len(rec.energy) == n + 1
    assert len(rec.frames) < n // 2  # a tiny model runs far faster than 2 frames a second


def test_a_new_run_paces_with_the_drawing_cost_already_reported(qtbot, model_file):
    """The GUI's drawing cost is known before a Run: its first streamed frame comes when the draw
    budget allows, not at once (a cost of 0 at each start meant one more drawing per Run)."""
    loaded, runner, rec, x0 = _setup(qtbot, model_file, max_fps=1000.0)
    runner.report_draw_cost(10.0)  # no run yet: kept; a frame then costs a CPU second of the worker's (MIN_FPS)
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=60), first_frame=False)
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=20000)
    assert len(rec.energy) == 61 and rec.finished[0].iteration == 60
    assert rec.frames == []  # 60 iterations of a 32×32 model take far less than a CPU second


def test_stop_joins_the_worker_and_delivers_finished(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=10000))
    qtbot.waitUntil(lambda: len(rec.energy) > 3, timeout=20000)
    runner.stop()
    assert not runner.running
    assert len(rec.finished) == 1  # delivered synchronously, before stop() returned
    last = rec.finished[0]
    assert last.iteration == rec.energy[-1][0] == len(rec.energy) - 1  # every value before finished
    assert last.stop_reason is None  # stopped by the user
    runner.stop()  # idempotent
    qtbot.wait(50)
    assert len(rec.finished) == 1  # the worker's own late signals are ignored


def test_stop_right_after_start(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    for _ in range(5):
        runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=10000))
        runner.stop()
    assert len(rec.finished) == 5 and not runner.running


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


def test_live_alpha_and_lambda_reach_the_generator(qtbot, model_file):
    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=100, alpha=0.5), paused=True)
    qtbot.waitUntil(lambda: bool(rec.frames), timeout=20000)
    assert rec.frames[0].alpha == 0.5
    runner.set_live(alpha=0.01)
    runner.set_live(lam=0.2)  # a second send() before the worker looked: both values arrive
    runner.step()
    qtbot.waitUntil(lambda: rec.frames[-1].iteration == 1, timeout=20000)
    assert rec.frames[-1].alpha == 0.01 and rec.frames[-1].lam == 0.2
    runner.stop()


def test_bad_input_reports_an_error_and_finishes(qtbot, model_file):
    loaded, runner, rec, _ = _setup(qtbot, model_file)
    runner.start(loaded.model, np.zeros((16, 16), np.float32), ProjectionParams(stop="none", max_iter=5))
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=20000)
    assert rec.errors and "32×32" in rec.errors[0] and "\n" not in rec.errors[0]
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


def test_every_run_of_a_runner_is_on_its_one_thread(qtbot, model_file):
    """Runs (and x0 previews) of one runner, with other workers in between, all run on one thread:
    each thread that runs torch keeps an OpenMP team, and two teams on two cores slow every
    projection to about half (worker.TEAM_NOTE); the shared pool spread a runner's runs over its
    idle threads."""
    import threading

    loaded, runner, rec, x0 = _setup(qtbot, model_file)
    ids: list[int] = []

    def to_frame(record):
        ids.append(threading.get_ident())
        return record.iteration

    others: list[int] = []
    for k in range(4):
        runner.start(loaded.model, x0, ProjectionParams(stop="none", max_iter=3), to_frame=to_frame)
        qtbot.waitUntil(lambda: len(rec.finished) == k + 1, timeout=20000)
        w = run_in_worker(threading.get_ident, on_result=others.append, on_error=others.append)
        qtbot.waitUntil(lambda: len(others) == k + 1, timeout=10000)
        w.wait(5)
    assert len(ids) >= 4 and len(set(ids)) == 1
    assert runner.pool.maxThreadCount() == 1 and ids[0] not in others


def test_run_in_worker_hands_back_result_or_error(qtbot):
    got, errs = [], []

    def boom():
        raise OSError("disk gone")

    w1 = run_in_worker(lambda a, b: a + b, 2, 3, on_result=got.append, on_error=errs.append)
    w2 = run_in_worker(boom, on_result=got.append, on_error=errs.append)
    qtbot.waitUntil(lambda: bool(got and errs), timeout=10000)
    assert w1.wait(5) and w2.wait(5)
    assert got == [5] and isinstance(errs[0], OSError)


def test_a_warning_in_a_worker_is_raised_again_on_the_gui_thread(qtbot):
    def warn():
        warnings.warn("from the worker", UserWarning, stacklevel=1)
        return 1

    with pytest.warns(UserWarning, match="from the worker"):
        got = []
        run_in_worker(warn, on_result=got.append, on_error=got.append)
        qtbot.waitUntil(lambda: bool(got), timeout=10000)
        qtbot.wait(50)


def test_warnings_while_workers_run_go_to_the_right_thread_and_nothing_is_left_swapped(qtbot, recwarn):
    """superqt swapped the process-wide showwarning while each worker ran: a GUI-thread warning then
    went to the running worker and back (a RecursionError, once seen in a full test run), and
    workers ending out of order left a dead worker's emitter installed. Now: a worker's warning is
    raised again once on the GUI thread, a GUI-thread warning is shown directly, and nothing stays
    swapped."""
    import threading

    gate = threading.Event()
    done, blocked_warned = [], []
    blocker = run_in_worker(gate.wait, 20, on_result=done.append, on_error=done.append)
    blocker.signals.warned.connect(blocked_warned.append)
    try:
        qtbot.waitUntil(lambda: blocker.running, timeout=10000)
        route = warnings.showwarning
        warnings.warn("on the GUI thread", UserWarning, stacklevel=1)

        def warn():
            warnings.warn("from a second worker", UserWarning, stacklevel=1)
            return 1

        got = []
        run_in_worker(warn, on_result=got.append, on_error=got.append)
        qtbot.waitUntil(lambda: bool(got), timeout=10000)
        qtbot.wait(100)
    finally:
        gate.set()
        assert blocker.wait(10)
    qtbot.waitUntil(lambda: bool(done), timeout=10000)
    assert got == [1] and not blocked_warned  # nothing went to the worker that was merely running
    texts = [str(w.message) for w in recwarn.list]
    assert texts.count("on the GUI thread") == 1 and texts.count("from a second worker") == 1
    assert warnings.showwarning is route  # no worker left its own emitter installed
