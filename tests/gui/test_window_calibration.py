"""The window and a model's calibration (issue 8): defaults, where the threshold comes from, the
minimum defect area, the verdict, the fit warnings as a banner, and an export equal to the CLI's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gui_helpers import make_model_file, open_model, set_params, wait_idle, write_png
from inspector_app.core.verdict import image_score, segment

CAL = {"threshold": 0.031, "min_area": 4, "stop": "none", "max_iter": 37, "lr_out_of_range": 1e9,
       "method": "calibrated on 12 test images (fixture)"}


@pytest.fixture(scope="module")
def calibrated_file(tmp_path_factory):
    return make_model_file(tmp_path_factory.mktemp("cal") / "brick_cal.safetensors", seed=1, calibration=CAL)


@pytest.fixture
def cwindow(qtbot, calibrated_file, image_file):
    from inspector_app.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    assert open_model(qtbot, win, calibrated_file)
    assert win.open_image(image_file)
    wait_idle(qtbot, win)
    yield win
    win.close()


def _run(qtbot, win):
    win.runs.run()
    assert win.session.running
    wait_idle(qtbot, win)
    return win.session.result


def test_a_calibrated_model_sets_its_defaults_and_the_window_says_where_they_come_from(qtbot, cwindow):
    w, s = cwindow, cwindow.session
    d, p = s.display, s.params
    assert (d.threshold, d.min_area, p.max_iter, p.stop_spec()) == (0.031, 4, 37, "none")
    assert w.controls.threshold.value() == pytest.approx(0.031) and w.controls.min_area.value() == 4
    line = w.controls.threshold_source.text()
    assert "0.031" in line and "model's calibration" in line
    assert w.controls.threshold_source.toolTip() == CAL["method"]
    # the paper's values one choice away
    w.controls.defaults_choice.setCurrentIndex(w.controls.defaults_choice.findData(True))
    assert (d.threshold, d.min_area, p.stop_spec(), p.max_iter) == (0.2, 1, "train-min", 100)
    assert "paper's default" in w.controls.threshold_source.text() and w.act_paper_defaults.isChecked()
    w.act_paper_defaults.setChecked(False)  # and back, from the menu
    assert (d.threshold, d.min_area) == (0.031, 4) and "model's calibration" in w.controls.threshold_source.text()
    # the user's own value
    w.controls.threshold.spin.setValue(0.05)
    line = w.controls.threshold_source.text()
    assert "set by you" in line and "0.050" in line and "0.031" in line and "≥ 4 px" in line
    w.act_defaults.trigger()  # Projection → Reset Parameters to Defaults
    assert d.threshold == 0.031 and "model's calibration" in w.controls.threshold_source.text()


def test_a_model_without_calibration_gets_the_papers_values(qtbot, window):
    s = window.session
    assert (s.display.threshold, s.display.min_area, s.params.stop_spec()) == (0.2, 1, "train-min")
    assert "paper's default" in window.controls.threshold_source.text()
    item = window.controls.defaults_choice.model().item(0)
    assert not item.isEnabled()  # "the model's calibration" cannot be chosen: it has none
    assert window.controls.defaults_choice.currentData() is True  # the paper's values are shown as in force
    assert not s.paper_defaults  # while the preference (a calibrated model's calibration) stays


def test_verdict_badge_and_segmentation_agree_with_the_core(qtbot, cwindow):
    w, s = cwindow, cwindow.session
    assert "no verdict" in w.verdict_badge.verdict_text  # before any run
    set_params(w, stop="none", max_iter=20, alpha=2.0)
    s.display.min_area = 4
    r = _run(qtbot, w)
    d = r.dssim("projection")
    score = image_score(d, 4)
    for thr in (score * 0.5, score * 1.5):  # moves the verdict without a new run
        w.controls.threshold.spin.setValue(thr)
        t = s.display.threshold
        seg = segment(d, t, 4)
        overlay = w.input_view.overlay_data[..., 3] > 0
        assert np.array_equal(overlay, seg)
        text = w.verdict_badge.verdict_text
        if score > t:
            assert text.startswith("DEFECTIVE") and f"{score:.3f} > {t:.3f}" in text and seg.any()
            assert "b3261e" in w.verdict_badge.badge.styleSheet()  # red
        else:
            assert text.startswith("GOOD") and not seg.any()
            assert "1e7a3c" in w.verdict_badge.badge.styleSheet()  # green


def test_the_minimum_area_drops_small_regions_from_the_overlay(qtbot, cwindow):
    w, s = cwindow, cwindow.session
    set_params(w, stop="none", max_iter=20, alpha=2.0)
    r = _run(qtbot, w)
    d = r.dssim("projection")
    # a threshold (a value the slider can show) at which some regions above it are smaller than 30 px
    cands = [round(float(np.quantile(d, q)), 3) for q in np.linspace(0.5, 0.995, 60)]
    t = next(t for t in cands if 0 < segment(d, t, 30).sum() < (d > t).sum())
    w.controls.threshold.spin.setValue(t)
    assert s.display.threshold == pytest.approx(t)
    w.controls.min_area.setValue(1)
    n1 = int((w.input_view.overlay_data[..., 3] > 0).sum())
    assert n1 == int((d > t).sum())
    w.controls.min_area.setValue(30)
    n30 = int((w.input_view.overlay_data[..., 3] > 0).sum())
    assert n30 == int(segment(d, t, 30).sum()) and n30 < n1
    assert "regions ≥ 30 px" in w.verdict_badge.detail.text()  # said in the verdict line, not the view's title


def _lr0(qtbot, w):
    qtbot.waitUntil(lambda: w.session.lr0 is not None, timeout=20000)
    return w.session.lr0


def test_a_wrong_model_shows_a_visible_banner(qtbot, tmp_path, image_file):
    from inspector_app.gui.main_window import MainWindow

    m = make_model_file(tmp_path / "wrong.safetensors", calibration=dict(CAL, lr_out_of_range=1e-6))
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert open_model(qtbot, w, m) and w.open_image(image_file)
    wait_idle(qtbot, w)
    _lr0(qtbot, w)  # Lr(x0) from the worker's preview frame: no model code on the GUI thread
    assert "out_of_range" in w.banner.codes
    assert w.banner.isVisible() and "wrong model?" in w.banner.text
    w.close()


def test_an_image_that_already_looks_normal_says_so_and_the_run_says_why_it_stopped(qtbot, tmp_path, image_file):
    from inspector_app.gui.main_window import MainWindow

    m = make_model_file(tmp_path / "normal.safetensors", calibration=dict(CAL, stop="lr:1e9", max_iter=50))
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert open_model(qtbot, w, m) and w.open_image(image_file)
    wait_idle(qtbot, w)
    qtbot.waitUntil(lambda: "already_normal" in w.banner.codes, timeout=20000)
    assert w.banner.isVisible() and "already looks normal" in w.banner.text
    r = _run(qtbot, w)
    assert r.iteration == 0 and r.stop_reason == "threshold"
    reason = w.status.labels["reason"].text()
    assert "t = 0" in reason and "already under the stop threshold" in reason and "wrong model?" in reason
    # another stop criterion: the warning goes
    w.controls.stop_kind.setCurrentIndex(w.controls.stop_kind.findData("none"))
    assert "already_normal" not in w.banner.codes
    w.close()


def test_resized_and_converted_images_are_named_in_the_banner(qtbot, window, tmp_path, texture_images):
    img = np.dstack([np.tile(texture_images[1], (2, 2))[:40, :48]] * 3)
    assert window.open_image(write_png(tmp_path / "colour.png", img))
    wait_idle(qtbot, window)
    codes = window.banner.codes
    assert "resized" in codes and "channels" in codes and window.banner.isVisible()
    assert "48×40" in window.banner.text


def test_export_json_matches_the_project_command(qtbot, cwindow, image_file, tmp_path, calibrated_file):
    from inspector_app.cli import main

    w, s = cwindow, cwindow.session
    s.params.alpha = 2.0  # everything else as the calibration has it (37 iterations, no Lr stop)
    _run(qtbot, w)
    files = w.export_results(tmp_path / "gui")
    gui = json.loads(Path(files["json"]).read_text())
    out = tmp_path / "cli"
    assert main(["project", "--model", str(calibrated_file), str(image_file), "--out", str(out), "--alpha", "2.0",
                 "--quiet", "--device", "cpu"]) == 0
    cli = json.loads((out / "defect.json").read_text())
    for key in ("verdict", "threshold", "min_area", "threshold_source", "score_definition", "compare", "iterations",
                "stop_reason", "masked", "model_size", "image_size"):
        assert gui[key] == cli[key], key
    assert gui["threshold_source"] == CAL["method"]
    assert gui["params"] == cli["params"]
    assert gui["score"] == pytest.approx(cli["score"], abs=1e-4)
    assert gui["anomalous_fraction"] == pytest.approx(cli["anomalous_fraction"], abs=2e-3)
    assert [x["code"] for x in gui["warnings"]] == [x["code"] for x in cli["warnings"]]
    assert gui["recon_loss_x0"] == pytest.approx(cli["recon_loss_x0"], rel=1e-5)


def test_a_model_whose_calibration_cannot_be_used_is_refused_and_the_previous_one_stays(qtbot, window, tmp_path,
                                                                                      boxes):
    import torch

    from inspector_app.core.modelio import save_model
    from inspector_app.core.models import ModelConfig, create_model

    model = create_model(ModelConfig("l2ae", 32, 1, 16))
    with torch.no_grad():
        lr, _ = model.forward_loss(torch.rand(4, 1, 32, 32))
    bad = tmp_path / "bad_cal.safetensors"  # a percentile stop, but no quantiles to read it from
    save_model(model, bad, {"training_stats": {"min": float(lr.min()), "mean": float(lr.mean())},
                            "calibration": dict(CAL, stop="train-q05")})
    w, s = window, window.session
    _run(qtbot, w)
    before = (s.loaded, s.model_path, w.controls.model_info.text(), s.result, s.display.threshold)
    assert not open_model(qtbot, w, bad)
    assert len(boxes["critical"]) == 1 and "bad_cal.safetensors" in boxes["critical"][0][1]
    assert "calibration" in boxes["critical"][0][1]
    assert (s.loaded, s.model_path, w.controls.model_info.text(), s.result, s.display.threshold) == before
    assert s.state.value == "idle" and w.act_run.isEnabled()


def test_a_model_change_that_fails_midway_changes_nothing(qtbot, window, tmp_path, boxes, monkeypatch):
    import inspector_app.session.model as session_model

    w, s = window, window.session
    _run(qtbot, w)
    before = (s.loaded, s.model_path, w.controls.model_info.text(), s.result, s.prepared, s.params.as_dict())

    def broken(*_a, **_k):
        raise ValueError("cannot convert this image for the model")

    monkeypatch.setattr(session_model, "prepare", broken)
    other = make_model_file(tmp_path / "other.safetensors", seed=4, calibration=CAL)
    assert not open_model(qtbot, w, other)
    assert boxes["critical"] and "other.safetensors" in boxes["critical"][0][1]
    after = (s.loaded, s.model_path, w.controls.model_info.text(), s.result, s.prepared, s.params.as_dict())
    assert after == before


def test_a_tiny_calibrated_threshold_is_shown_and_the_slider_is_logarithmic(qtbot, tmp_path):
    from inspector_app.gui.main_window import MainWindow

    m = make_model_file(tmp_path / "grid.safetensors", calibration=dict(CAL, threshold=0.00027))
    win = MainWindow()
    qtbot.addWidget(win)
    assert open_model(qtbot, win, m)
    t = win.controls.threshold
    assert t.value() == pytest.approx(0.00027) and t.spin.text() == "0.00027"
    assert "threshold 0.00027 from the model's calibration" in win.controls.threshold_source.text()
    t.slider.setValue(-2.0)  # a decade per unit of travel: the user drags to 10⁻²
    assert win.session.display.threshold == pytest.approx(0.01)
    t.slider.setValue(t.slider.minimum())  # the left end is 0
    assert win.session.display.threshold == 0.0
    win.close()


def test_no_verdict_before_the_first_iterate(qtbot, window):
    """Issue 25, item 6: at t = 0 the projection is x0 itself (a DSSIM map of zeros): the badge says
    "running…", not GOOD; the first iterate brings the verdict, marked "so far"."""
    w, s = window, window.session
    seen = []
    s.frame_shown.connect(lambda f: seen.append((f.iteration, s.running, w.verdict_badge.verdict_text)))
    set_params(w, stop="none", max_iter=6)
    w.runs.run()
    wait_idle(qtbot, w)
    first = [text for it, running, text in seen if it == 0 and running]
    assert first and all(text == "running…" for text in first)
    later = [text for it, running, text in seen if it > 0 and running]
    assert later and all(text.startswith(("GOOD", "DEFECTIVE")) and text.endswith("(so far)") for text in later)
    assert w.verdict_badge.verdict_text.startswith(("GOOD", "DEFECTIVE"))  # the result's
    from types import SimpleNamespace

    from inspector_app.session.assess import can_decide
    t0 = SimpleNamespace(iteration=0)
    assert not can_decide(t0, "projection") and can_decide(t0, "reconstruction")  # DSSIM(x0, f(x0)): a real map
