"""File → New Model from Folder… (issue 24): the calibration after training shows its progress in
the dialog (images projected of the total, the time left, the limit); a full disk when the model
is saved is a dialog that loses nothing, and Resume saves the model once there is space."""

from __future__ import annotations

import io
import os
import textwrap
from dataclasses import replace

import cv2
import numpy as np

from gui_helpers import wait_idle
from inspector_app.core import progress_protocol as pp
from inspector_app.session.new_model import NewModelSettings
from inspector_app.session.training_run import TrainingRun


def _window_and_dialog(qtbot, folder=None, out_folder=None):
    from inspector_app.gui.main_window import MainWindow
    from inspector_app.gui.new_model_dialog import NewModelDialog

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    dlg = NewModelDialog(win, folder, out_folder=out_folder)
    win.new_model_dialog = dlg
    dlg.show()
    return win, dlg


def test_the_dialog_shows_the_calibrations_progress(qtbot, tmp_path):
    win, dlg = _window_and_dialog(qtbot)
    run = TrainingRun(NewModelSettings(tmp_path, tmp_path / "m.safetensors"))
    run.state = "running"  # the lines below arrive as the training process would write them
    stream = io.StringIO()
    w = pp.ProgressWriter(stream, max_steps=100, max_minutes=8.0, every_s=0.0)
    w.phase("calibrating", n_images=4, estimate_s=80.0, limit_s=120.0)
    w.calibration(0, 42, 120.0)
    dlg.view.run = run
    dlg.pages.setCurrentIndex(1)

    def feed():
        for line in stream.getvalue().splitlines(keepends=True):
            run._queue.put(("line", line))
        stream.seek(0)
        stream.truncate()
        dlg.view.poll()

    feed()
    bar, label = dlg.view.calibration_bar, dlg.view.phase_label
    assert bar.isVisible() and bar.value() == 0 and bar.maximum() == 42
    assert label.text().startswith("calibrating on 4 validation images: 0 of 42 images projected, estimated 80 s "
                                   "of at most 2.0 min")
    w._cal_t0 -= 10.0  # 14 images in 10 s
    w.calibration(14, 42, 120.0)
    feed()
    assert bar.value() == 14 and bar.text() == "14 of 42 images projected"
    assert "14 of 42 images projected, about 20 s left of at most 2.0 min" in label.text()
    assert "Cancel stops it" in label.text()
    w.calibration(14, 14, 120.0)  # the time limit left two step sizes out
    feed()
    assert bar.maximum() == 14 and bar.value() == 14
    w.phase("saving")
    feed()
    assert not bar.isVisible() and label.text() == "saving the model…"
    dlg.close()
    win.close()


SITECUSTOMIZE = '''
"""Test only: the disk is full whenever a model file (not a checkpoint) is written."""
import errno, os
from pathlib import Path

import safetensors.torch
from safetensors import SafetensorError

_real = safetensors.torch.save_file


def _save_file(tensors, filename, metadata=None):
    if ".safetensors." not in Path(filename).name:
        return _real(tensors, filename, metadata=metadata)
    with open(filename, "wb") as f:
        f.write(bytes(4096))
    raise SafetensorError(f"Error while serializing: I/O error: {os.strerror(errno.ENOSPC)} (os error 28)")


safetensors.torch.save_file = _save_file
'''


def test_a_full_disk_is_a_dialog_that_loses_nothing_and_resume_saves_the_model(qtbot, tmp_path, texture_images,
                                                                               boxes, monkeypatch):
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, im in enumerate(texture_images):
        cv2.imwrite(str(parts / f"{i:03d}.png"), (im * 255).astype(np.uint8))
    inject = tmp_path / "full_disk"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    old_path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(inject)] + ([old_path] if old_path else [])))
    models = tmp_path / "models"
    win, dlg = _window_and_dialog(qtbot, parts, models)
    qtbot.waitUntil(lambda: not dlg.scanning, timeout=20000)
    dlg.size.addItem("32")
    dlg.size.setCurrentText("32")
    dlg.settings = replace(dlg.settings, max_steps=4, eval_every=2, eval_seconds=600.0, batch=4,
                           calibrate_minutes=0.0003)
    dlg.train_button.click()
    qtbot.waitUntil(lambda: dlg.run.state == "failed", timeout=120000)
    out = models / "parts_l2ae.safetensors"
    title, text = boxes["warning"][-1]
    assert title == "The training stopped" and "\n" not in text and "Traceback" not in text
    assert text.startswith(f"cannot write {out}: no space left on device (nothing was written); "
                           f"the training is kept in {out.with_suffix('.checkpoint')}: free some space")
    assert dlg.view.pause_button.text() == "Resume" and dlg.view.pause_button.isEnabled()
    assert sorted(p.name for p in models.iterdir()) == ["parts_l2ae.checkpoint"]  # no model, no half file
    if old_path is None:  # space again
        monkeypatch.delenv("PYTHONPATH")
    else:
        monkeypatch.setenv("PYTHONPATH", old_path)
    dlg.view.pause_button.click()  # Resume: the checkpoint's model is calibrated and saved
    qtbot.waitUntil(lambda: dlg.card != "", timeout=120000)
    wait_idle(qtbot, win)
    assert win.session.model_path == str(out) and win.session.threshold_origin == "model"
    assert sorted(p.name for p in models.iterdir()) == ["parts_l2ae.safetensors"]
    win.close()


def test_a_destination_that_cannot_be_written_is_a_dialog_before_anything_starts(qtbot, tmp_path, texture_images,
                                                                                 boxes):
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, im in enumerate(texture_images):
        cv2.imwrite(str(parts / f"{i:03d}.png"), (im * 255).astype(np.uint8))
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    win, dlg = _window_and_dialog(qtbot, parts, tmp_path / "models")
    qtbot.waitUntil(lambda: not dlg.scanning, timeout=20000)
    dlg.out_edit.setText(str(blocker / "models" / "m.safetensors"))
    dlg.train_button.click()
    title, text = boxes["warning"][-1]
    assert title == "Cannot train" and "is not a folder" in text and "\n" not in text
    assert dlg.run is None and dlg.pages.currentIndex() == 0 and blocker.read_text() == "mine"
    dlg.close()
    win.close()
