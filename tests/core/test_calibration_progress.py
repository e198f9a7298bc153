"""The calibration reports its progress (images projected of the total, the time left) through the
progress protocol and as a progress line on stderr, and honours its time limit (issue 24 item 0)."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import torch

from inspector_app.cli import main
from inspector_app.core import calibration as cal_mod
from inspector_app.core import progress_protocol as pp
from inspector_app.core.calibration import ALPHA_FACTORS, images_projected
from inspector_app.core.modelio import load_model, loss_statistics
from inspector_app.core.models import ModelConfig, create_model


def _train(tmp_path, folder, *extra):
    return main(["train", "--arch", "l2ae", "--data", str(folder), "--out", str(tmp_path / "m.safetensors"),
                 "--image-size", "32", "--latent", "8", "--max-steps", "2", "--batch", "4", "--val-fraction", "0.5",
                 "--eval-every", "1", *extra])


def _calibration_lines(log):
    objs = [pp.parse_line(ln) for ln in log.read_text().splitlines()]
    assert all(o is not None for o in objs)
    return objs, [o for o in objs if o["event"] == "calibration"]


def test_train_reports_the_calibrations_progress_and_its_limit_binds(tmp_path, folder):
    log = tmp_path / "progress.jsonl"
    # 12 ms: 2 validation images, 1 iteration, and no time for a second step size
    assert _train(tmp_path, folder, "--calibrate-minutes", "0.0002", "--quiet", "--progress-jsonl", str(log)) == 0
    objs, cal = _calibration_lines(log)
    phase = next(o for o in objs if o["event"] == "phase" and o["phase"] == "calibrating")
    assert phase["limit_s"] == pytest.approx(0.012) and phase["n_images"] == 2
    per_step_size = images_projected(2) // len(ALPHA_FACTORS)  # one good image, 2 lightings, 4 defects
    assert cal[0]["done"] == 0 and cal[0]["total"] == images_projected(2) and cal[0]["eta_s"] is None
    assert cal[-1]["done"] == cal[-1]["total"] == per_step_size  # the step sizes the limit left out are not owed
    assert all(o["phase"] == "calibrating" and o["limit_s"] == pytest.approx(0.012) for o in cal)
    assert [o["done"] for o in cal] == sorted(o["done"] for o in cal)
    assert objs.index(phase) < objs.index(cal[0]) and objs[-1]["phase"] == "done"
    figures = load_model(tmp_path / "m.safetensors").meta["calibration"]["figures"]
    assert figures["skipped_for_time"] == "step sizes α = 0.15, 1.5 not tried: the time limit"
    assert list(figures["diverged_share"]) == ["0.5"]


def test_without_a_limit_every_step_size_runs_and_the_line_shows_on_a_log(tmp_path, folder, capfd):
    log = tmp_path / "progress.jsonl"
    assert _train(tmp_path, folder, "--progress-jsonl", str(log), "--val-fraction", "0.25") == 0
    objs, cal = _calibration_lines(log)
    total = images_projected(2)  # 2 validation images: one sets the stop levels, one is scored
    assert cal[-1]["done"] == cal[-1]["total"] == total and cal[-1]["limit_s"] is None
    assert cal[-1]["eta_s"] == 0 and cal[-1]["images_per_s"] > 0
    figures = load_model(tmp_path / "m.safetensors").meta["calibration"]["figures"]
    assert "skipped_for_time" not in figures and len(figures["diverged_share"]) == len(ALPHA_FACTORS)
    err = capfd.readouterr().err  # stderr is not a terminal here: the progress line is written all the same
    assert "calibrating on validation" in err and f"{total}/{total}" in err and "image/s" in err


def test_the_writer_counts_images_and_the_time_left():
    stream = io.StringIO()
    w = pp.ProgressWriter(stream, max_steps=10, max_minutes=None, every_s=3600.0)
    w.phase("calibrating", n_images=4, estimate_s=2.0, limit_s=60.0)
    first = w.calibration(0, 42, 60.0)
    assert first["done"] == 0 and first["total"] == 42 and first["eta_s"] is None and first["limit_s"] == 60.0
    assert w.calibration(7, 42, 60.0) is None  # throttled
    time.sleep(0.05)
    last = w.calibration(21, 42, 60.0, force=True)
    assert last["eta_s"] == pytest.approx(last["seconds"], rel=0.2, abs=0.02)  # half done: as long again
    assert w.calibration(42, 42, 60.0)["eta_s"] == 0  # the end is never throttled
    objs = [pp.parse_line(ln) for ln in stream.getvalue().splitlines()]
    assert [o["event"] for o in objs] == ["phase", "calibration", "calibration", "calibration"]
    assert json.loads(stream.getvalue().splitlines()[1])["v"] == pp.VERSION


def test_the_deadline_binds_between_step_sizes():
    model = create_model(ModelConfig("l2ae", 32, 1, 8))
    rng = np.random.default_rng(0)
    val = [rng.random((32, 32)).astype(np.float32) for _ in range(4)]
    stats = loss_statistics(np.linspace(1.0, 2.0, 50))
    done, left_out = [], []
    cal = cal_mod.calibrate(model, val, torch.device("cpu"), stats, max_iter=3, progress=done.append,
                            deadline=time.monotonic(), time_up=left_out.append)
    per_step_size = images_projected(4) // len(ALPHA_FACTORS)
    assert sum(done) == per_step_size and left_out == [2 * per_step_size]  # the first step size always runs
    assert done == [3, 4, 3, 4]  # 14 images in one batch, told as its 4 iterations (t = 0…3) go
    assert cal.alpha == 0.5 and list(cal.figures["diverged_share"]) == ["0.5"]
    assert cal.figures["skipped_for_time"] == "step sizes α = 0.15, 1.5 not tried: the time limit"
    done.clear()
    cal = cal_mod.calibrate(model, val, torch.device("cpu"), stats, max_iter=3, progress=done.append,
                            deadline=time.monotonic() + 600, time_up=left_out.append)
    assert sum(done) == images_projected(4) and len(left_out) == 1 and "skipped_for_time" not in cal.figures


def test_calibrate_on_its_own_shows_its_progress_and_fits_its_minutes(tmp_path, folder, capfd):
    from conftest import make_model_file

    model = make_model_file(tmp_path / "m.safetensors")
    rc = main(["calibrate", "--model", str(model), "--data", str(folder), "--val-dir", "--out",
               str(tmp_path / "c.safetensors"), "--minutes", "0.0002"])
    err = capfd.readouterr().err
    assert rc == 0
    said = next(ln for ln in err.splitlines() if ln.startswith("calibrating for about "))
    assert "(2 validation images, 1 iteration; to fit --minutes 0.0002: 1 iteration instead of 100; 2 of the 8" in said
    total = images_projected(2) // len(ALPHA_FACTORS)  # the time limit left two step sizes out
    assert "calibrating on validation" in err and f"{total}/{total}" in err  # the progress line, on a log too
    assert "calibration: step sizes α = 0.15, 1.5 not tried: the time limit" in err
    figures = load_model(tmp_path / "c.safetensors").meta["calibration"]["figures"]
    assert figures["reduced_for_time"] == "1 iteration instead of 100; 2 of the 8 validation images"
    assert figures["skipped_for_time"] and figures["n_good"] + figures["n_stop_fit"] == 2
    assert main(["calibrate", "--model", str(model), "--data", str(folder), "--val-dir", "--out",
                 str(tmp_path / "d.safetensors"), "--minutes", "0"]) == 2
    assert capfd.readouterr().err == "inspector-app: error: --minutes must be positive, got 0\n"
