"""The inspection window, driven as a user would (offscreen)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox, QPushButton

from gui_helpers import make_model_file, open_model, set_params, wait_idle, write_png
from inspector_app.core.data import read_image


def _run(qtbot, win, n=12, **kw):
    set_params(win, stop="none", max_iter=n, **kw)
    win.runs.run()
    assert win.session.running
    wait_idle(qtbot, win)


def test_opens_with_model_and_image(window):
    w, s = window, window.session
    assert s.loaded is not None and s.prepared is not None
    assert w.input_view.image_item.image.shape == (32, 32)
    assert s.current is not None and s.current.iteration == 0  # x0 evaluated in the worker
    assert w.grid.iterate_panel.image_item.image.shape == (32, 32)
    assert "tiny_l2ae" in w.windowTitle() and "defect" in w.windowTitle()
    assert w.act_run.isEnabled() and not w.act_stop.isEnabled()


def test_run_streams_iterations_into_views_and_plot(qtbot, window):
    w = window
    frames = []
    w.runner.frame.connect(frames.append)
    # long enough (about 0.5 s here) that the window takes mail while it runs: a run that ends
    # before the GUI looks streams nothing but its final frame (stale frames are dropped)
    n = 300
    _run(qtbot, w, n)
    assert w.energy_plot.point_count == n + 1  # iterations 0 (x0) … n
    xs, ys = w.energy_plot.curves["E"].getData()
    assert len(xs) == n + 1 and xs[-1] == n
    assert len(w.energy_plot.curves["Lr"].getData()[0]) == n + 1
    s = w.session
    assert frames and s.result.iteration == n and isinstance(frames[0].x, np.ndarray)
    assert s.current.iteration == n
    img = w.grid.iterate_panel.image_item.image
    assert img is not None and np.allclose(img, s.current.x)
    assert w.grid.dssim_panel.image_item.image is not None
    assert w.grid.diff_panel.image_item.image is not None
    assert len(s.history) >= 2 and s.history[-1].iteration == n
    assert "max iterations" in w.status.labels["reason"].text()
    assert w.act_export.isEnabled()


def test_stop_stops_the_worker(qtbot, window):
    w = window
    set_params(w, stop="none", max_iter=10000)
    w.runs.run()
    qtbot.waitUntil(lambda: w.energy_plot.point_count > 3, timeout=20000)
    assert w.act_stop.isEnabled()
    w.act_stop.trigger()
    assert not w.runner.running and w.session.state.value == "idle"
    assert "stopped" in w.status.labels["reason"].text()
    assert w.energy_plot.point_count == w.session.result.iteration + 1 == len(w.session.energy)


def test_threshold_moves_overlay_without_a_new_run(qtbot, window):
    w = window
    _run(qtbot, w, 30, alpha=2.0)
    d = w.session.current.dssim(w.session.display.compare)
    assert d.max() > d.min()
    starts = w.runner.starts
    t1, t2 = (float(np.quantile(d, q)) for q in (0.3, 0.9))
    w.controls.threshold.spin.setValue(t1)
    ov1 = w.input_view.overlay_data.copy()
    iso1 = w.input_view.contour.level
    w.controls.threshold.spin.setValue(t2)
    ov2 = w.input_view.overlay_data.copy()
    assert not np.array_equal(ov1, ov2)
    assert (ov2[..., 3] > 0).sum() == (d > w.session.display.threshold).sum()
    assert w.input_view.contour.level != iso1
    assert w.runner.starts == starts and not w.runner.running


def test_compare_switch_is_instant(qtbot, window):
    w = window
    _run(qtbot, w, 5)
    starts = w.runner.starts
    w.controls.compare.setCurrentIndex(w.controls.compare.findData("reconstruction"))
    assert w.session.display.compare == "reconstruction"
    assert np.allclose(w.grid.dssim_panel.image_item.image, w.session.current.dssim_reconstruction)
    assert w.runner.starts == starts


def test_bad_image_keeps_the_previous_one(qtbot, window, tmp_path, boxes):
    w = window
    before = w.session.image
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    assert not w.open_image(bad)
    assert len(boxes["critical"]) == 1
    title, text = boxes["critical"][0]
    assert "broken.png" in text and "not a readable image" in text and "\n" not in text
    assert w.session.image is before
    assert not w.open_image(tmp_path / "missing.png")
    assert "no such file" in boxes["critical"][-1][1]
    wait_idle(qtbot, w)


def test_bad_model_keeps_the_previous_one(qtbot, window, tmp_path, boxes):
    w = window
    before = w.session.loaded
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 64)
    assert not open_model(qtbot, w, bad)
    assert len(boxes["critical"]) == 1
    assert "broken.safetensors" in boxes["critical"][0][1]
    pickle = tmp_path / "ckpt.pt"
    pickle.write_bytes(b"\x80\x04\x95" + b"\x00" * 32)
    assert not open_model(qtbot, w, pickle)
    assert "pickle" in boxes["critical"][-1][1]
    assert w.session.loaded is before and w.session.state.value == "idle"
    _run(qtbot, w, 3)  # still usable
    assert w.session.result.iteration == 3


def test_export_writes_all_files(qtbot, window, tmp_path):
    w = window
    n = 8
    _run(qtbot, w, n)
    out = tmp_path / "export"
    files = w.export_results(out)
    seg = "segmentation" if "segmentation" in files else "mask"  # the core renames the segmentation file
    for key in ("projection", "reconstruction", "dssim_png", seg, "overlay", "json"):
        assert Path(files[key]).is_file(), key
    for key in ("projection", "reconstruction", "dssim_png", seg, "overlay"):
        assert files[key].endswith(".png")
        assert read_image(files[key]).shape[:2] == (32, 32)
    info = json.loads(Path(files["json"]).read_text())
    assert info["params"]["max_iter"] == n and info["params"]["stop"] == "none"
    assert len(info["energy_curve"]) == n + 1
    assert info["energy_terms"]["iteration"] == list(range(n + 1))
    assert info["iterations"] == n and info["threshold"] == pytest.approx(w.session.display.threshold)
    assert info["stopped_by_user"] is False and info["model"] == w.session.model_path
    assert not list(out.glob("*.part"))


def test_live_alpha_change_reaches_the_generator(qtbot, window):
    w = window
    seen = []
    w.runner.frame.connect(lambda r: seen.append(r.params.alpha))
    set_params(w, stop="none", max_iter=10000, alpha=0.5)
    w.runs.run()
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=20000)
    w.controls.alpha.spin.setValue(0.02)  # as a typed entry does
    assert w.session.params.alpha == pytest.approx(0.02)
    qtbot.waitUntil(lambda: seen[-1] == pytest.approx(0.02), timeout=20000)
    assert seen[0] == 0.5
    assert w.runner.running  # the same run continued from x_t
    assert w.runner.starts == 2  # the preview on load, then this run
    w.runs.stop()
    assert w.session.result.params.alpha == pytest.approx(0.02)


def test_step_runs_exactly_one_iteration(qtbot, window):
    w = window
    set_params(w, stop="none", max_iter=20)
    s = w.session
    w.act_step.trigger()
    qtbot.waitUntil(lambda: s.latest is not None and s.latest.iteration == 1, timeout=20000)
    assert w.runner.paused and w.act_pause.text() == "Resume" and s.state.value == "paused"
    qtbot.wait(150)
    assert w.energy_plot.point_count == 2 and s.latest.iteration == 1
    w.runs.step()
    qtbot.waitUntil(lambda: s.latest.iteration == 2, timeout=20000)
    qtbot.wait(150)
    assert w.energy_plot.point_count == 3
    w.runs.toggle_pause()  # resume to the end
    assert s.state.value == "running" and w.act_pause.text() == "Pause"
    wait_idle(qtbot, w)
    assert s.result.iteration == 20


def test_other_setting_during_a_run_asks_to_restart(qtbot, window, boxes):
    w = window
    set_params(w, stop="none", max_iter=10000, alpha=0.01)
    w.runs.run()
    qtbot.waitUntil(lambda: w.energy_plot.point_count > 2, timeout=20000)
    starts = w.runner.starts
    boxes["answer"] = QMessageBox.StandardButton.No
    w.controls.optimizer.setCurrentIndex(w.controls.optimizer.findData("adam"))
    assert len(boxes["question"]) == 1 and w.runner.starts == starts and w.runner.running
    boxes["answer"] = QMessageBox.StandardButton.Yes
    w.controls.grad_mask.setCurrentIndex(w.controls.grad_mask.findData("none"))
    assert len(boxes["question"]) == 1  # declined once: not asked again during this run
    w.runs.stop()
    w.runs.run()
    qtbot.waitUntil(lambda: w.energy_plot.point_count > 2, timeout=20000)
    w.controls.max_iter.setValue(20)
    assert len(boxes["question"]) == 2 and w.runner.starts == starts + 2
    wait_idle(qtbot, w)
    r = w.session.result
    assert r.params.optimizer == "adam" and r.params.grad_mask == "none" and r.iteration == 20


def test_mask_limits_the_pixels_that_move(qtbot, window):
    w, s = window, window.session
    mask = np.zeros((32, 32), bool)
    mask[8:20, 8:20] = True
    got = []
    s.omega_changed.connect(lambda: got.append(s.omega))
    s.set_omega(mask)
    assert got and np.array_equal(got[-1], mask) and w.act_clear_mask.isEnabled()
    _run(qtbot, w, 10, alpha=0.05, grad_mask="none")
    x, x0 = s.result.x, s.prepared.model_input
    assert np.array_equal(x[~mask], x0[~mask])
    assert not np.array_equal(x[mask], x0[mask])
    with pytest.raises(ValueError):
        s.set_omega(np.zeros((5, 5), bool))
    w.act_clear_mask.trigger()
    assert s.prepared.mask is None and not w.act_clear_mask.isEnabled()


def test_image_of_another_size_is_resized(qtbot, window, tmp_path, texture_images):
    w = window
    img = np.tile(texture_images[1], (2, 2))[:40, :48]
    p = write_png(tmp_path / "big.png", img)
    assert w.open_image(p)
    wait_idle(qtbot, w)
    assert w.session.prepared.original.shape == (40, 48)
    assert w.session.prepared.model_input.shape == (32, 32)
    # x0 is shown at its own resolution, stretched over the model's 32×32 pixel frame
    item = w.input_view.image_item
    assert item.image.shape == (40, 48)
    r = item.mapRectToParent(item.boundingRect())
    assert (r.x(), r.y(), r.width(), r.height()) == (0, 0, 32, 32)
    p = item.mapFromParent(QPointF(16, 16))  # the frame's centre is the image's centre
    assert (p.x(), p.y()) == pytest.approx((24, 20))
    assert w.grid.iterate_panel.image_item.image.shape == (32, 32)
    _run(qtbot, w, 3)
    assert w.input_view.overlay_data.shape[:2] == (32, 32)
    files = w.export_results(tmp_path / "out")
    assert read_image(files["projection"]).shape == (40, 48)


def test_model_files_open_off_the_gui_thread(qtbot, window, tmp_path, monkeypatch):
    import threading

    import inspector_app.session.jobs as jobs

    threads, real = [], jobs.load_model

    def spy(path, device):
        threads.append(threading.get_ident())
        return real(path, device)

    monkeypatch.setattr(jobs, "load_model", spy)
    m = make_model_file(tmp_path / "again.safetensors", seed=5)
    w = window
    w.open_model(m)
    assert w.session.state.value == "loading" and not w.act_run.isEnabled()
    assert "opening" in w.status.labels["reason"].text()
    wait_idle(qtbot, w)
    assert threads and threads[0] != threading.get_ident()
    assert w.session.model_path == str(m) and w.act_run.isEnabled()


def test_drop_opens_model_and_image(qtbot, window, tmp_path, texture_images):
    w = window
    m = make_model_file(tmp_path / "other.safetensors", seed=3)
    img = write_png(tmp_path / "other.png", texture_images[2])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(img)), QUrl.fromLocalFile(str(m))])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    w.dropEvent(ev)
    wait_idle(qtbot, w)
    assert w.session.model_path == str(m) and w.session.image.path == str(img)
    assert w.session.prepared.model_input.shape == (32, 32)


def test_hover_shows_values_in_every_view(qtbot, window):
    w = window
    _run(qtbot, w, 3)
    w.grid.hovered.emit((5, 7))
    t = w.hover_label.text()
    for part in ("x    7", "y    5", "x₀", "x_t", "f(x_t)", "DSSIM", "|x_t − x₀|"):
        assert part in t
    w.grid.hovered.emit(None)
    assert w.hover_label.text().strip() == ""


def test_history_slider_scrubs_back(qtbot, window):
    w, s = window, window.session
    set_params(w, stop="none", max_iter=15)
    for t in range(1, 6):  # stepped iterates are always drawn: the history holds exactly these
        w.runs.step()
        qtbot.waitUntil(lambda t=t: s.latest is not None and s.latest.iteration == t, timeout=20000)
    assert s.history.iterations() == [0, 1, 2, 3, 4, 5]
    slider = w.history_bar.slider
    assert slider.isEnabled() and slider.maximum() == 5 and w.history_bar.label.text() == "t = 5 (paused)"
    slider.setValue(0)
    assert s.current.iteration == 0 and not s.follow
    assert w.energy_plot.cursor.isVisible() and w.history_bar.label.text() == "t = 0 / 5"
    slider.setValue(2)
    assert s.current.iteration == 2 and w.status.labels["iteration"].text() == "t = 2"
    slider.setValue(slider.maximum())
    assert s.current.iteration == 5 and s.follow and not w.energy_plot.cursor.isVisible()
    w.runs.toggle_pause()
    wait_idle(qtbot, w)
    assert s.result.iteration == 15 and s.history[-1].iteration == 15


def test_shortcuts(qtbot, window):
    w = window
    assert "F5" in [s.toString() for s in w.act_run.shortcuts()]
    assert "Ctrl+R" in [s.toString() for s in w.act_run.shortcuts()]
    assert {"Esc", "Shift+F5"} <= {s.toString() for s in w.act_stop.shortcuts()}
    assert {"F10", "Ctrl+T"} <= {s.toString() for s in w.act_step.shortcuts()}


def test_keyboard_runs_steps_and_stops(qtbot, window):
    w = window
    w.activateWindow()
    qtbot.waitUntil(lambda: w.isActiveWindow(), timeout=5000)
    set_params(w, stop="none", max_iter=10000)
    qtbot.keyClick(w, Qt.Key.Key_F5)
    assert w.session.running and w.runner.running
    qtbot.waitUntil(lambda: w.energy_plot.point_count > 2, timeout=20000)
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert not w.runner.running
    qtbot.keyClick(w, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)  # step from x0
    qtbot.waitUntil(lambda: w.session.latest is not None and w.session.latest.iteration == 1, timeout=20000)
    qtbot.keyClick(w, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    assert not w.runner.running


def test_settings_persist_in_the_test_folder(qtbot, model_file, _isolated_settings):
    from inspector_app.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    assert open_model(qtbot, w, model_file)  # a model sets its own threshold: the user's comes after
    w.controls.lam.spin.setValue(0.3)
    w.controls.threshold.spin.setValue(0.35)
    w.controls.alpha.spin.setValue(2.0)
    assert (w.session.params.lam, w.session.display.threshold, w.session.params.alpha) == (0.3, 0.35, 2.0)
    w.close()
    assert list(Path(_isolated_settings).rglob("*.ini"))
    w2 = MainWindow()
    qtbot.addWidget(w2)
    assert w2.controls.lam.value() == pytest.approx(0.3) == w2.session.params.lam
    assert w2.controls.threshold.value() == pytest.approx(0.35) == w2.session.display.threshold
    assert w2.controls.alpha.value() == pytest.approx(2.0) == w2.session.params.alpha
    from inspector_app.gui.settings import recent_files

    assert recent_files("models") == [str(model_file)]
    w2.close()


def test_no_demo_resources_opens_empty(qtbot, tmp_path, monkeypatch):
    (tmp_path / "res" / "models").mkdir(parents=True)
    monkeypatch.setenv("INSPECTOR_APP_RESOURCES", str(tmp_path / "res"))
    from inspector_app.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert not w.open_demo()
    assert "not installed" in w.statusBar().currentMessage()
    assert w.session.loaded is None and w.session.image is None
    assert not w.act_run.isEnabled()
    w.runs.run()  # nothing to run: a message, no crash
    w.runs.step()
    assert not w.runner.running
    w.close()


def test_run_app_without_arguments(qtbot, tmp_path, monkeypatch):
    (tmp_path / "res" / "models").mkdir(parents=True)
    monkeypatch.setenv("INSPECTOR_APP_RESOURCES", str(tmp_path / "res"))
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from inspector_app.gui.app import run_app
    from inspector_app.gui.main_window import MainWindow

    seen = []

    def close_all():  # closing the last window ends run_app's event loop (no extra quit(): a second,
        # posted quit would reach the next test's event loops and end them at once)
        for wdg in QApplication.topLevelWidgets():
            if isinstance(wdg, MainWindow) and wdg.isVisible():
                seen.append(wdg.statusBar().currentMessage())
                wdg.close()

    QTimer.singleShot(400, close_all)
    assert run_app() == 0
    assert seen and "not installed" in seen[0]


def test_divergent_step_size_shows_a_dialog_and_keeps_the_best_iterate(qtbot, window):
    w = window
    _run(qtbot, w, 40, alpha=100.0, grad_mask="none")
    rec = w.session.result
    assert rec.stop_reason == "diverged"
    assert np.isfinite(rec.x).all()
    box = w.findChild(QMessageBox, "diverged_dialog")
    assert box is not None and box.isVisible()
    assert "α = 100" in box.text() and "Lower α" in box.text()
    # one click runs again from x0 a decade lower
    again = box.findChild(QPushButton, "diverged_retry")
    assert again is not None and again.text() == "Run again with α = 10"
    qtbot.mouseClick(again, Qt.MouseButton.LeftButton)
    assert w.session.params.alpha == pytest.approx(10.0)
    wait_idle(qtbot, w)
    assert w.session.result is not rec and w.session.result.params.alpha == pytest.approx(10.0)
    for b in w.findChildren(QMessageBox, "diverged_dialog"):
        b.close()
