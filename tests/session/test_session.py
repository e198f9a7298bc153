"""The session model without Qt: run-state transitions, Ω with one owner, parameters, frames."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_model_file
from inspector_app.core.modelio import load_model
from inspector_app.core.params import ProjectionParams
from inspector_app.session import Frame, InvalidTransition, RunState, Session


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_model(make_model_file(tmp_path_factory.mktemp("m") / "m.safetensors"), "cpu")


@pytest.fixture
def session(loaded):
    s = Session()
    s.set_model(loaded)
    s.set_image(np.random.default_rng(0).random((40, 36)).astype(np.float32), "/data/img.png")
    return s


def _frame(i: int, reason=None, finished=False) -> Frame:
    a = np.full((32, 32), i / 100.0, np.float32)
    return Frame(i, a, a, a, a, 1.0, 1.0, 0.0, ProjectionParams(), steps=i, stop_reason=reason, finished=finished)


def test_state_transitions_of_a_run(session):
    s, seen = session, []
    s.state_changed.connect(seen.append)
    s.set_state(RunState.PREVIEW)
    s.accept_frame(_frame(0))
    assert s.current.iteration == 0 and len(s.history) == 0  # a preview is shown, not kept
    s.end_run(_frame(0))
    assert s.state == RunState.IDLE and s.result is None
    s.begin_run()
    assert s.running and s.state == RunState.RUNNING
    for i in range(5):
        s.accept_frame(_frame(i))
        s.add_energy([(i, 1.0, 1.0, 0.0)])
    s.set_state(RunState.PAUSED)
    assert s.running
    s.set_state(RunState.RUNNING)
    s.end_run(_frame(9, "max_iter", True))
    assert s.state == RunState.IDLE and s.result.iteration == 9 and not s.stopped_by_user
    assert len(s.energy) == 5 and s.history[-1].iteration == 9 and s.current.iteration == 9
    assert seen == [RunState.PREVIEW, RunState.IDLE, RunState.RUNNING, RunState.PAUSED, RunState.RUNNING,
                    RunState.IDLE]


def test_forbidden_transitions_raise(session):
    s = session
    s.set_state(RunState.LOADING)
    with pytest.raises(InvalidTransition):
        s.set_state(RunState.RUNNING)  # no run while a model file is opening
    assert s.state == RunState.LOADING
    s.set_state(RunState.IDLE)
    s.begin_run()
    with pytest.raises(InvalidTransition):
        s.set_state(RunState.LOADING)  # a run is stopped before a model is opened
    with pytest.raises(InvalidTransition):
        s.set_state(RunState.PREVIEW)


def test_a_user_stop_and_energy_outside_a_run(session):
    s = session
    s.add_energy([(0, 1.0, 1.0, 0.0)])
    assert len(s.energy) == 0  # a preview's energy is not the run's curve
    s.begin_run()
    s.end_run(_frame(3), "boom")
    assert s.stopped_by_user and s.run_error == "boom"
    s.begin_run()
    assert s.result is None and s.run_error is None and len(s.history) == 0


def test_omega_has_one_owner(session):
    s = session
    m = s.mask
    assert m.shape == (40, 36) and s.omega is None and s.prepared.mask is None
    edits = []
    s.omega_changed.connect(lambda: edits.append(1))
    m.radius = 3
    m.begin_stroke(10, 12)
    m.stroke_to(20, 12)
    m.end_stroke()
    assert edits
    assert np.array_equal(s.omega, m.mask) and s.omega is not m.mask  # a copy out, one model in
    assert np.array_equal(s.prepared.mask, m.mask)  # the next run reads the same Ω
    assert s.prepared.mask_model.shape == (32, 32) and s.prepared.mask_model.any()
    m.undo()
    assert s.omega is None and s.prepared.mask is None  # an empty Ω means no mask: anomaly mode
    box = np.zeros((40, 36), bool)
    box[5:15, 5:15] = True
    s.set_omega(box)
    assert m.count == 100 and m.can_undo
    s.set_omega(None)
    assert m.count == 0
    with pytest.raises(ValueError, match="5×5"):
        s.set_omega(np.zeros((5, 5), bool))


def test_a_new_image_brings_a_new_omega_keeping_the_brush(session):
    s = session
    s.mask.radius, s.mask.mode = 6.0, "erase"
    old, replaced = s.mask, []
    s.mask_replaced.connect(replaced.append)
    s.set_image(np.zeros((40, 36), np.float32), "/data/same_size.png")  # the same size: the radius stays
    assert s.mask.radius == 6.0 and s.mask.mode == "erase"
    old, replaced = s.mask, []
    s.mask_replaced.connect(replaced.append)
    omega = np.zeros((20, 30), bool)
    omega[2:6, 3:9] = True
    clean = np.zeros((20, 30), np.float32)
    s.set_image(np.ones((20, 30), np.float32), None, name="x_corrupted", ground_truth=clean, omega=omega)
    assert replaced == [s.mask] and s.mask is not old
    # another size: a radius scaled to it (1/16 of the shorter side), the mode kept
    assert s.mask.radius == 1.0 and s.mask.mode == "erase"
    assert np.array_equal(s.omega, omega) and not s.mask.can_undo
    assert s.image.stem == "x_corrupted" and s.image.ground_truth is clean
    old.set_mask(np.ones((40, 36), bool))  # the old model is no longer listened to
    assert np.array_equal(s.omega, omega)


def test_history_scrubbing_and_following(session):
    s = session
    s.begin_run()
    for i in range(6):
        s.accept_frame(_frame(i))
    assert s.follow and s.current.iteration == 5
    assert s.show_history(0).iteration == 0 and not s.follow
    s.accept_frame(_frame(6))
    assert s.current.iteration == 0  # scrubbed back: the live frame does not take over
    assert s.show_history(len(s.history) - 1).iteration == 6 and s.follow


def test_params_and_display_models(session):
    p, d = session.params, session.display
    p.set_params(ProjectionParams(alpha=0.2, stop="train-q07", max_iter=40))
    assert p.stop_kind == "train-q" and p.percentile == 7 and p.stop_spec() == "train-q07"
    assert p.to_params().alpha == 0.2 and p.to_params().max_iter == 40
    p.stop_kind, p.lr_value = "lr", 0.5
    assert p.to_params().stop == "lr:0.5"
    p.update_from({"alpha": "1e9", "lam": "nan", "optimizer": "bogus", "max_iter": "20", "junk": 1})
    assert p.alpha == 100.0 and p.lam == 0.05 and p.optimizer == "sgd" and p.max_iter == 20
    d.update_from({"compare": "reconstruction", "threshold": "0.35", "fill": "false"})
    assert (d.compare, d.threshold, d.fill, d.contour) == ("reconstruction", 0.35, False, True)
    notes = []
    session.notice.connect(lambda text, ms: notes.append(text))
    session.apply_defaults()
    assert p.alpha == 0.5 and p.stop_kind == "train-min" and d.threshold == 0.2
    assert notes and "paper" in notes[0]  # says where the values come from


def test_model_warnings_and_ready(tmp_path):
    s = Session()
    assert not s.ready and s.prepared is None and s.x0 is None
    s.set_image(np.ones((8, 8, 3), np.float32), "/c.png")
    assert s.x0.shape == (8, 8, 3)
    s.set_model(load_model(make_model_file(tmp_path / "n.safetensors", stats=False), "cpu"))
    assert s.ready and s.prepared.model_input.shape == (32, 32)
    assert any("training-loss statistics" in w for w in s.warnings)
    assert any("colour" in w for w in s.warnings)
    assert s.has_training_stats == (False, False)


def test_a_model_calibrated_with_a_smaller_step_opens_with_it(tmp_path):
    m = load_model(make_model_file(tmp_path / "a.safetensors", calibration={"alpha": 0.15, "threshold": 0.07}), "cpu")
    s = Session()
    s.set_model(m)
    assert s.params.alpha == pytest.approx(0.15) and s.display.threshold == pytest.approx(0.07)
    s.use_paper_defaults(True)
    assert s.params.alpha == pytest.approx(0.5) and s.display.threshold == pytest.approx(0.2)


def test_the_models_calibrated_margin_reaches_the_runs_parameters(tmp_path):
    """A model calibrated with an inspection margin gives the window's runs that margin (the
    parameters the worker projects with), and a model without one gives 0."""
    with_margin = load_model(make_model_file(tmp_path / "m.safetensors", calibration={"margin": 4}), "cpu")
    s = Session()
    s.set_model(with_margin)
    assert s.params.to_params().margin == 4
    s.set_model(load_model(make_model_file(tmp_path / "p.safetensors", calibration={}), "cpu"))
    assert s.params.to_params().margin == 0
