"""``train --crop --calibrate-minutes`` on whole photographs: the calibration projects each
validation photograph's working-scale tiles, so its estimate and its budget count tiles. It counted
photographs: 2 validation photographs of 1500×1200 px at 64 px were "2 validation images, about
7 s" under --calibrate-minutes 1, and the calibration then projected their 96 tiles for 2.2 minutes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.core.data import eval_image_count
from inspector_app.core.modelio import load_model
from inspector_app.core.models import ModelConfig
from inspector_app.core.training import TrainConfig, model_sized_groups


@pytest.fixture
def photos(tmp_path):
    """Four grey 96×128 photographs of brick: 12 tiles of 32 px each."""
    from skimage import data

    b = data.brick()
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(4):
        cv2.imwrite(str(d / f"p{i}.png"), np.ascontiguousarray(b[40 * i:40 * i + 96, 50 * i:50 * i + 128]))
    return d


def _train(tmp_path, folder, *extra):
    return main(["train", "--arch", "l2ae", "--data", str(folder), "--out", str(tmp_path / "m.safetensors"),
                 "--image-size", "32", "--latent", "8", "--max-steps", "2", "--batch", "4", "--val-fraction", "0.5",
                 "--eval-every", "1", "--crop", *extra])


def test_the_budget_counts_the_tiles_it_projects(tmp_path, photos, capfd):
    import json

    log = tmp_path / "p.jsonl"
    assert _train(tmp_path, photos, "--calibrate-minutes", "0.0002", "--progress-jsonl", str(log)) == 0
    phase = next(e for e in map(json.loads, log.read_text().splitlines()) if e.get("phase") == "calibrating")
    assert (phase["n_images"], phase["n_photographs"]) == (2, 2)  # the window's line: "2 tiles of the 2 …"
    meta = load_model(tmp_path / "m.safetensors").meta
    f = meta["calibration"]["figures"]
    assert f["reduced_for_time"] == "1 iteration instead of 100; 2 of the 24 validation tiles"
    assert f["n_good"] + f["n_stop_fit"] == 2  # the plan's tiles, not every tile of the plan's 2 photographs
    assert meta["training_stats"]["n"] == 24  # the 2 training photographs' tiles: what the statistics' estimate counts
    err = capfd.readouterr().err
    line = next(ln for ln in err.splitlines() if ln.startswith("training for up to"))
    assert line.endswith("for the calibration (2 tiles of the 2 validation images, 1 iteration; to fit "
                         "--calibrate-minutes 0.0002: 1 iteration instead of 100; 2 of the 24 validation tiles)"), line
    assert "calibrating on 2 tiles of the 2 validation images before saving" in err


def test_the_count_is_that_of_the_tiles():
    cfg = TrainConfig(ModelConfig("l2ae", 32, 1, 8), crop=True)
    shapes = [(96, 128), (1200, 1500), (977, 1501), (20, 50), (32, 32), (600, 40)]
    images = [np.zeros(s, np.float32) for s in shapes]
    assert eval_image_count(shapes, 32, crop=True) == len(model_sized_groups(images, cfg)[0])
    assert eval_image_count(shapes, 32, crop=False) == len(shapes)


def test_the_windows_line_names_tiles():
    from inspector_app.gui.training_view import calibration_text

    info = {"n_images": 96, "n_photographs": 2, "estimate_s": 40.0, "limit_s": 120.0}
    assert calibration_text(info, {}).startswith("calibrating on 96 tiles of the 2 validation images (estimated 40 s")
    plain = {"n_images": 12, "estimate_s": 40.0, "limit_s": None}
    assert calibration_text(plain, {}).startswith("calibrating on 12 validation images (estimated 40 s)")
