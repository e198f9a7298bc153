"""A blank photograph (flat grey, black, white, a lens cap: almost no texture) is not passed without
a word: it gets the ``blank`` fit warning (``core.checks.blank_warning``) in ``project``'s JSON,
summary.csv and one stderr line, in ``inpaint`` and in the window's session; no bundled sample and no
``make-dataset`` image of brick, grid or faces gets it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import make_model_file
from inspector_app.cli import main
from inspector_app.core.data import read_image
from inspector_app.core.modelio import load_model
from inspector_app.core.pipeline import prepare
from inspector_app.resources import resource

CAL = {"threshold": 0.2, "min_area": 1, "stop": "none", "max_iter": 2, "method": "test calibration"}


def _blanks() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "grey": np.full((40, 40), 0.5, np.float32),
        "black": np.zeros((40, 40), np.float32),
        "white": np.ones((40, 40), np.float32),
        "lens cap": np.clip(0.02 + rng.normal(0, 1.5 / 255, (40, 40)), 0, 1).astype(np.float32),
        "flat red": np.dstack([np.ones((40, 40)), np.zeros((40, 40)), np.zeros((40, 40))]).astype(np.float32),
    }


@pytest.mark.parametrize("name", list(_blanks()))
def test_an_image_with_almost_no_texture_is_blank(name):
    from inspector_app.core.checks import BLANK_STD_LEVELS, blank_warning, fit_warnings, texture_levels

    img = _blanks()[name]
    assert texture_levels(img) < BLANK_STD_LEVELS
    w = blank_warning(img)
    assert w is not None and w["code"] == "blank" and "almost no texture" in w["message"]
    assert [x["code"] for x in fit_warnings(img.shape[:2], 1, 40, 1, pixels=img)] == ["blank"]


def test_no_bundled_sample_and_no_make_dataset_image_is_blank(tmp_path):
    """At each bundled model's working scale, as ``project`` checks them."""
    from inspector_app.core.checks import BLANK_STD_LEVELS, blank_warning, texture_levels

    for source in ("brick", "grid", "faces"):
        assert main(["make-dataset", "--source", source, "--out", str(tmp_path / source), "--n-train", "2",
                     "--n-test", "2", "--seed", "3"]) == 0
    for source in ("brick", "grid", "faces"):
        loaded = load_model(resource(f"models/{source}_vae.safetensors"), "cpu")
        files = [f for root in (Path(resource(f"samples/{source}")), tmp_path / source)
                 for f in sorted(root.rglob("*.png")) if "mask" not in f.name]
        assert len(files) >= 6
        for f in files:
            small = prepare(f.stem, read_image(f, loaded.model.channels), loaded).model_input
            assert blank_warning(small) is None, f
            assert texture_levels(small) > 5 * BLANK_STD_LEVELS, f


@pytest.fixture
def model(tmp_path):
    return make_model_file(tmp_path / "m.safetensors", calibration=CAL)


def test_project_warns_on_a_blank_photograph_and_still_writes_its_result(tmp_path, model, texture_images, capsys):
    d = tmp_path / "parts"
    d.mkdir()
    cv2.imwrite(str(d / "blank.png"), np.full((32, 32), 128, np.uint8))
    cv2.imwrite(str(d / "part.png"), (texture_images[0] * 255).astype(np.uint8))
    out = tmp_path / "out"
    assert main(["project", "--model", str(model), str(d), "--out", str(out), "--quiet"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "almost no texture" in line]
    assert len(err) == 1 and "blank.png" in err[0] and err[0].startswith("inspector-app: warning:")
    info = json.loads((out / "blank.json").read_text())
    assert "blank" in [w["code"] for w in info["warnings"]] and info["verdict"] in ("good", "defective")
    assert "blank" not in [w["code"] for w in json.loads((out / "part.json").read_text())["warnings"]]
    with open(out / "summary.csv", newline="") as f:
        rows = {r["output"]: r for r in csv.DictReader(f)}
    assert "blank" in rows["blank"]["warnings"].split(";") and "blank" not in rows["part"]["warnings"].split(";")


def test_inpaint_warns_on_a_blank_image(tmp_path, model, capsys):
    img = tmp_path / "black.png"
    cv2.imwrite(str(img), np.zeros((32, 32), np.uint8))
    assert main(["inpaint", "--model", str(model), str(img), "--blind", "--out", str(tmp_path / "o"),
                 "--max-iter", "2", "--quiet"]) == 0
    assert "almost no texture" in capsys.readouterr().err


def test_the_window_session_warns_on_a_blank_image(model, texture_images):
    from inspector_app.session import Session

    s = Session()
    s.set_model(load_model(model, "cpu"))
    s.set_image(np.full((32, 32), 0.5, np.float32))
    assert "blank" in [w["code"] for w in s.warning_items]
    s.set_image(texture_images[0])
    assert "blank" not in [w["code"] for w in s.warning_items]

