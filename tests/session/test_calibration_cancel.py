"""Issue 24 item 3: the calibration that follows the training reports its progress to the window's
run and Cancel stops it there too, leaving nothing behind (without Qt)."""

from __future__ import annotations

import time
from dataclasses import replace

import cv2
import numpy as np

from inspector_app.session.new_model import propose, scan_folder
from inspector_app.session.training_run import TrainingRun


def test_cancel_during_the_calibration_leaves_nothing(tmp_path, texture_images):
    d = tmp_path / "parts"
    d.mkdir()
    for i, im in enumerate(texture_images * 2):
        cv2.imwrite(str(d / f"{i:03d}.png"), (im * 255).astype(np.uint8))
    models = tmp_path / "models"
    s = replace(propose(scan_folder(d), models), image_size=32, max_steps=2, minutes=5.0, calibrate_minutes=5.0,
                eval_every=1, eval_seconds=600.0, batch=4)
    run = TrainingRun(s.check())
    run.start()
    t = time.monotonic()
    while not run.calibration.get("total"):  # the calibration's first line: it has begun
        assert run.state == "running" and time.monotonic() - t < 120, (run.state, run.message)
        run.poll()
        time.sleep(0.02)
    assert run.phase == "calibrating" and run.calibration["done"] <= run.calibration["total"]
    assert run.phase_info["limit_s"] == 300.0
    run.cancel()
    assert run.state == "cancelled" and run.wait(0) is not None
    assert not models.exists() or list(models.iterdir()) == []
