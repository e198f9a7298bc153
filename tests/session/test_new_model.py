"""A new model from a folder, without Qt (issue 24): the folder's scan and its problems, the
proposed settings, and the training in another process — progress, pause/resume, cancel."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector_app.core.modelio import load_model
from inspector_app.session.new_model import (FolderProblem, NewModelSettings, free_path, preview_tile, propose,
                                             scan_folder, train_command)
from inspector_app.session.training_run import TrainingRun


def write_folder(d: Path, images, colour=False) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        u8 = (im * 255).astype(np.uint8)
        cv2.imwrite(str(d / f"{i:03d}.png"), np.dstack([u8, u8 // 2, u8]) if colour else u8)
    return d


def tiny(settings: NewModelSettings, steps: int = 6) -> NewModelSettings:
    return replace(settings, image_size=32, max_steps=steps, minutes=5.0, calibrate_minutes=0.0003, eval_every=3,
                   eval_seconds=600.0,
                   batch=4)


def run_until(run: TrainingRun, states, timeout=120.0):
    events = []
    t = time.monotonic()
    while run.state not in states:
        assert time.monotonic() - t < timeout, f"still {run.state} after {timeout} s; stderr {run._stderr}"
        events += run.poll()
        time.sleep(0.05)
    return events


def test_an_mvtec_category_is_found_and_described(tmp_path, texture_images):
    write_folder(tmp_path / "carpet" / "train" / "good", texture_images, colour=True)
    (tmp_path / "carpet" / "train" / "good" / "broken.png").write_bytes(b"not a png")
    scan = scan_folder(tmp_path / "carpet")
    assert scan.folder == tmp_path / "carpet" / "train" / "good" and scan.category == "carpet"
    assert scan.n == 8 and scan.sizes == {(32, 32): 8} and dict(scan.channels) == {3: 8}
    assert [n for n, _ in scan.unreadable] == ["broken.png"]
    assert "8 images in" in scan.summary() and "32×32, colour; 1 unreadable file skipped" in scan.summary()
    w = scan.warnings()
    assert any("only 8 images" in x for x in w) and any("broken.png" in x for x in w)
    s = propose(scan, tmp_path / "models")
    assert s.crop and s.channels == 3 and s.kind == "l2ae" and s.minutes == 8.0
    assert s.out == tmp_path / "models" / "carpet_l2ae.safetensors" and s.skip == ("broken.png",)
    assert "--skip-unreadable" in train_command(s, tmp_path / "p") and "--crop" in train_command(s, tmp_path / "p")
    tile = preview_tile(scan, replace(s, image_size=32))
    assert tile.shape == (32, 32, 3)


def test_objects_are_learned_whole_and_the_output_never_overwrites(tmp_path, texture_images):
    write_folder(tmp_path / "bottle" / "train" / "good", texture_images)
    models = tmp_path / "models"
    models.mkdir()
    (models / "bottle_l2ae.safetensors").write_bytes(b"someone's")
    (models / "bottle_l2ae-2.checkpoint").write_bytes(b"a run's")
    s = propose(scan_folder(tmp_path / "bottle"), models)
    assert not s.crop and s.channels == 1 and s.out == models / "bottle_l2ae-3.safetensors"
    assert free_path(models, "x") == models / "x.safetensors"
    with pytest.raises(ValueError, match="never overwritten"):
        replace(s, out=models / "bottle_l2ae.safetensors").check()


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "no images found"),
    (lambda d: write_folder(d, [np.zeros((32, 32), np.float32)] * 3), "3 readable images of 3; a model needs at least 4"),
    (lambda d: [(d / f"{i}.png").write_bytes(b"x") for i in range(5)], "0 readable images of 5"),
])
def test_a_folder_that_cannot_be_trained_on_says_why(tmp_path, make, message):
    d = tmp_path / "parts"
    d.mkdir()
    make(d)
    with pytest.raises(FolderProblem, match=message):
        scan_folder(d)


def test_mixed_sizes_are_a_warning(tmp_path, texture_images):
    d = write_folder(tmp_path / "parts", texture_images)
    cv2.imwrite(str(d / "big.png"), np.zeros((64, 48), np.uint8))
    w = scan_folder(d).warnings()
    assert any("2 different sizes" in x for x in w)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_destination_is_refused_before_training(tmp_path, texture_images):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    s = propose(scan_folder(write_folder(tmp_path / "parts", texture_images)), ro)
    with pytest.raises(ValueError, match="cannot write there"):
        s.check()


def test_a_destination_that_is_not_a_folder_is_refused_before_training(tmp_path, texture_images):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    s = propose(scan_folder(write_folder(tmp_path / "parts", texture_images)), blocker / "models")
    with pytest.raises(ValueError, match="is not a folder"):
        s.check()
    assert blocker.read_text() == "mine"


def test_a_run_reports_progress_and_ends_with_a_calibrated_model(tmp_path, texture_images):
    d = write_folder(tmp_path / "parts", texture_images)
    (d / "broken.png").write_bytes(b"not a png")
    run = TrainingRun(tiny(propose(scan_folder(d), tmp_path / "models")).check())
    run.start()
    events = run_until(run, ("finished", "failed"))
    assert run.state == "finished", run.message
    assert [o["step"] for o in events if o["event"] == "eval"] == [3, 6]
    assert run.val_curve and run.train_curve and run.samples[0][1].shape == (32, 32)
    assert len(run.samples) == 1  # 10 % of 8 images: one validation image
    assert [n for n, _ in run.skipped] == ["broken.png"]
    meta = load_model(run.out).meta
    assert run.done["val_fve"] == meta["training"]["best_val_fve"] and "calibration" in meta
    assert events[-1] == {"event": "exit", "status": 0, "state": "finished", "message": ""}
    assert not run.checkpoint.exists()


def test_cancel_leaves_nothing_behind_and_pause_resume_continues(tmp_path, texture_images):
    d = write_folder(tmp_path / "parts", texture_images)
    models = tmp_path / "models"
    run = TrainingRun(tiny(propose(scan_folder(d), models), steps=100000))
    run.start()
    run_until(run, ("running",))
    while not run.train_curve:  # training has begun
        run.poll()
        time.sleep(0.05)
    run.pause()
    run_until(run, ("paused",))
    first = run.latest["step"]
    assert run.checkpoint.exists() and not run.out.exists()
    run.start()  # resume
    while not run.latest or run.latest["step"] <= first or run.state != "running":
        run.poll()
        time.sleep(0.05)
        assert run.state == "running", run.message
    run.cancel()
    assert run.state == "cancelled" and (not models.exists() or list(models.iterdir()) == [])


def test_a_run_that_fails_says_why_in_one_line_and_keeps_nothing(tmp_path, texture_images):
    d = write_folder(tmp_path / "parts", texture_images)
    s = tiny(propose(scan_folder(d), tmp_path / "models")).check()
    for f in d.iterdir():  # the folder emptied after the scan
        f.unlink()
    run = TrainingRun(s)
    run.start()
    events = run_until(run, ("finished", "failed"))
    assert run.state == "failed" and "no images found" in run.message and "\n" not in run.message
    assert "Traceback" not in run.message and events[-1]["event"] == "exit" and events[-1]["status"] == 2
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []
