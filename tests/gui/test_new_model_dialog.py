"""File → New Model from Folder… (issue 24 item 5): the dialog on a small generated folder, a few
steps of a 32-px model, ending with the new model open in the window and its calibration applied;
Cancel leaves nothing behind; Pause and Resume continue from the checkpoint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from gui_helpers import wait_idle


@pytest.fixture
def parts(tmp_path, texture_images):
    d = tmp_path / "carpet" / "train" / "good"  # an MVTec category: train/good is found by itself
    d.mkdir(parents=True)
    for i, im in enumerate(texture_images * 2):
        cv2.imwrite(str(d / f"{i:03d}.png"), (im * 255).astype(np.uint8))
    (d / "broken.png").write_bytes(b"not an image")
    return tmp_path / "carpet"


def _dialog(qtbot, parts, tmp_path, steps):
    from inspector_app.gui.main_window import MainWindow
    from inspector_app.gui.new_model_dialog import NewModelDialog

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    dlg = NewModelDialog(win, parts, out_folder=tmp_path / "models")
    win.new_model_dialog = dlg
    dlg.show()
    qtbot.waitUntil(lambda: not dlg.scanning, timeout=20000)
    assert dlg.scan is not None and dlg.train_button.isEnabled()
    dlg.size.addItem("32")  # a tiny model for the test
    dlg.size.setCurrentText("32")
    dlg.settings = replace(dlg.settings, max_steps=steps, eval_every=3, eval_seconds=600.0, batch=4,
                           calibrate_minutes=0.0003)
    return win, dlg


def test_the_dialog_trains_calibrates_and_opens_the_new_model(qtbot, parts, tmp_path):
    win, dlg = _dialog(qtbot, parts, tmp_path, steps=9)
    text = dlg.summary.text()
    assert "16 images in " + str(parts / "train" / "good") in text and "32×32, grey" in text
    assert "1 unreadable file skipped" in text and "broken.png" in text
    assert dlg.out_edit.text() == str(tmp_path / "models" / "carpet_l2ae.safetensors")
    assert dlg.protocol.currentIndex() == 0 and not dlg.tile.pixmap().isNull()
    dlg.train_button.click()
    qtbot.waitUntil(lambda: dlg.card != "", timeout=120000)
    wait_idle(qtbot, win)
    out = tmp_path / "models" / "carpet_l2ae.safetensors"
    assert win.session.model_path == str(out)
    cal = win.session.loaded.meta["calibration"]
    assert win.session.threshold_origin == "model" and win.session.defaults.threshold == cal["threshold"]
    assert "learned: f(x) explains" in dlg.card and "synthetic defects are caught" in dlg.card
    assert [s for s, _ in dlg.run.val_curve] == [3, 6, 9]
    assert dlg.view.val_line.getData()[0].tolist() == [3, 6, 9]
    assert not dlg.view.sample_labels[0][1].pixmap().isNull()  # f(x) of a validation image shown
    assert "step 9 of at most 9" in dlg.view.figures.text()
    assert dlg.run.calibration["done"] == dlg.run.calibration["total"] > 0  # the calibration's progress reached the window
    assert not dlg.view.calibration_bar.isVisible()  # shown only while it runs
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["carpet_l2ae.safetensors"]
    win.close()


def test_pause_resume_then_cancel_leaves_nothing(qtbot, parts, tmp_path):
    win, dlg = _dialog(qtbot, parts, tmp_path, steps=100000)
    dlg.train_button.click()
    qtbot.waitUntil(lambda: dlg.run.train_curve != [], timeout=60000)
    dlg.view.pause_button.click()
    qtbot.waitUntil(lambda: dlg.run.state == "paused", timeout=60000)
    assert dlg.view.pause_button.text() == "Resume" and dlg.run.checkpoint.exists()
    paused_at = dlg.run.latest["step"]
    dlg.view.pause_button.click()  # resume from the checkpoint
    qtbot.waitUntil(lambda: dlg.run.latest["step"] > paused_at and dlg.run.state == "running", timeout=60000)
    dlg.view.cancel_button.click()
    assert dlg.run.state == "cancelled" and dlg.pages.currentIndex() == 0
    models = tmp_path / "models"
    assert not models.exists() or list(models.iterdir()) == []
    assert win.session.model_path is None
    win.close()


def test_an_empty_folder_says_so(qtbot, tmp_path, boxes):
    from inspector_app.gui.main_window import MainWindow
    from inspector_app.gui.new_model_dialog import NewModelDialog

    win = MainWindow()
    qtbot.addWidget(win)
    (tmp_path / "empty").mkdir()
    dlg = NewModelDialog(win, tmp_path / "empty", out_folder=tmp_path / "models")
    qtbot.waitUntil(lambda: not dlg.scanning, timeout=20000)
    assert "no images found" in dlg.summary.text() and not dlg.train_button.isEnabled()
    assert boxes["warning"] and boxes["warning"][0][0] == "Cannot train on this folder"
    win.close()


def test_the_welcome_and_the_file_menu_open_the_dialog(qtbot):
    from inspector_app.gui.app import open_start
    from inspector_app.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    open_start(win, None, None)
    win.welcome.buttons["welcome_new_model"].click()
    dlg = win.new_model_dialog
    assert dlg.isVisible() and dlg.windowTitle() == "New Model from Folder"
    dlg.close()
    assert "New Model from Folder…" in [a.text().replace("&", "") for a in win.menuBar().actions()[0].menu().actions()]
    win.act_new_model.trigger()
    assert win.new_model_dialog is not dlg and win.new_model_dialog.isVisible()
    win.close()


def test_closing_the_window_during_a_run_cancels_it_and_one_run_at_a_time(qtbot, parts, tmp_path):
    win, dlg = _dialog(qtbot, parts, tmp_path, steps=100000)
    dlg.train_button.click()
    qtbot.waitUntil(lambda: dlg.run.train_curve != [], timeout=60000)
    assert win.new_model_from_folder() is dlg  # the running one comes to the front
    win.close()
    assert dlg.run.state == "cancelled"
    models = tmp_path / "models"
    assert not models.exists() or list(models.iterdir()) == []
