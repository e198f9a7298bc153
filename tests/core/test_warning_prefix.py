"""Every command's warnings start alike, ``inspector-app: warning:`` (``cli.common.warn``, as
``project``, ``evaluate`` and ``inpaint`` said them): ``train`` and ``calibrate`` said ``warning:``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import make_model_file, make_tiled_model_file
from inspector_app.cli import main
from inspector_app.core.data import write_image

PREFIX = "inspector-app: warning: "


def _warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "warning:" in line]


def _images(folder, texture_images, n):
    folder.mkdir()
    for i, im in enumerate(texture_images[:n]):
        write_image(folder / f"{i}.png", im)
    return folder


@pytest.fixture
def weak(monkeypatch):
    """Every calibration is weak (its figures say it hardly separates good images from defects)."""
    import inspector_app.cli.calibrate as cli_calibrate

    monkeypatch.setattr(cli_calibrate, "weak_calibration", lambda figures: True)


def test_train_warnings(tmp_path, texture_images, capsys):
    one = _images(tmp_path / "one", texture_images, 1)  # no validation image
    assert main(["train", "--arch", "l2ae", "--data", str(one), "--out", str(tmp_path / "a.safetensors"),
                 "--image-size", "32", "--latent", "8", "--max-steps", "2", "--quiet"]) == 0
    lines = _warning_lines(capsys.readouterr().err)
    assert lines and all(line.startswith(PREFIX) for line in lines), lines
    assert any("no validation images" in line for line in lines)
    four = _images(tmp_path / "four", texture_images, 4)  # 2 steps: the model has not learned its images
    assert main(["train", "--arch", "l2ae", "--data", str(four), "--out", str(tmp_path / "b.safetensors"),
                 "--image-size", "32", "--latent", "8", "--max-steps", "2", "--val-fraction", "0.5", "--no-calibrate",
                 "--quiet"]) == 0
    lines = _warning_lines(capsys.readouterr().err)
    assert any("has not learned its images" in line for line in lines), lines
    assert all(line.startswith(PREFIX) for line in lines), lines


def test_calibrate_warnings(tmp_path, texture_images, capsys, weak, monkeypatch):
    import inspector_app.core.calibration as cal_mod

    val = _images(tmp_path / "val", texture_images, 4)
    model = make_model_file(tmp_path / "m.safetensors", calibration={"stop": "none", "max_iter": 2})
    figures = {"good_passed": 0.0, "defects_flagged": 1.0, "robust_accuracy": 0.5}
    monkeypatch.setattr(cal_mod, "calibrate", lambda *a, **k: cal_mod.Calibration(
        threshold=0.05, min_area=4, stop="none", max_iter=2, method="m", figures=dict(figures)))
    assert main(["calibrate", "--model", str(model), "--data", str(val), "--val-dir", "--out",
                 str(tmp_path / "c.safetensors"), "--quiet"]) == 0
    lines = _warning_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith(PREFIX + "this calibration hardly separates"), lines
    photos = tmp_path / "photos"
    photos.mkdir()
    from skimage import data

    cv2.imwrite(str(photos / "0.png"), data.brick()[:96, :96])
    tiled = make_tiled_model_file(tmp_path, 96, calibration={"stop": "none", "max_iter": 2})
    assert main(["calibrate", "--model", str(tiled), "--data", str(photos), "--val-dir", "--whole-images", "--out",
                 str(tmp_path / "w.safetensors"), "--quiet"]) == 0
    lines = _warning_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith(PREFIX + "this calibration hardly separates"), lines


def test_project_warnings_keep_their_prefix(tmp_path, capsys):
    model = make_model_file(tmp_path / "m.safetensors", calibration={"stop": "none", "max_iter": 2})
    img = tmp_path / "big.png"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (40, 40, 3)).astype(np.uint8))
    assert main(["project", "--model", str(model), str(img), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    lines = _warning_lines(capsys.readouterr().err)
    assert len(lines) == 2 and all(line.startswith(PREFIX) for line in lines), lines  # resized, channels
