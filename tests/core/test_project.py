"""The ``project`` command's results: verdicts, sources, names that never collide, nothing
overwritten, warnings where model and image do not fit, and the folder summary."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import torch

from inspector_app.cli import main
from inspector_app.cli.project import unique_names


@pytest.fixture
def calibrated_model(tmp_path):
    """A tiny l2ae whose file carries a calibration (threshold 0.05, regions of ≥ 4 px)."""
    from inspector_app.core.modelio import loss_statistics, save_model
    from inspector_app.core.models import ModelConfig, create_model

    torch.manual_seed(0)
    model = create_model(ModelConfig("l2ae", 32, 1, 8))
    with torch.no_grad():
        lr, _ = model.forward_loss(torch.rand(8, 1, 32, 32))
    cal = {"threshold": 0.05, "min_area": 4, "stop": "none", "max_iter": 3, "lr_out_of_range": 1e6,
           "method": "test calibration", "figures": {}}
    meta = {"training_stats": loss_statistics(lr.numpy()), "calibration": cal}
    return save_model(model, tmp_path / "cal.safetensors", meta)


def _png(path, value=None, size=32, seed=0, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size, size) if channels == 1 else (size, size, 3)
    img = rng.integers(0, 255, shape).astype(np.uint8) if value is None else np.full(shape, value, np.uint8)
    cv2.imwrite(str(path), img)
    return path


def test_result_carries_verdict_source_and_the_calibrated_threshold(tmp_path, calibrated_model, capsys):
    img = _png(tmp_path / "in" / "part.png")
    out = tmp_path / "out"
    rc = main(["project", "--model", str(calibrated_model), str(img), "--out", str(out), "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    info = json.loads((out / "part.json").read_text())
    assert info["source"] == str(img)
    assert info["verdict"] in ("good", "defective")
    assert info["threshold"] == 0.05 and info["min_area"] == 4 and info["threshold_source"] == "test calibration"
    assert info["params"]["max_iter"] == 3 and info["params"]["stop"] == "none" and info["iterations"] == 3
    assert (info["verdict"] == "defective") == (info["score"] > 0.05)
    seg = cv2.imread(str(out / "part_segmentation.png"), cv2.IMREAD_UNCHANGED)
    assert (seg.any()) == (info["verdict"] == "defective")
    assert f"{img}: {info['verdict']} (score" in cap.out
    # the paper's defaults are one flag away
    rc = main(["project", "--model", str(calibrated_model), str(img), "--out", str(tmp_path / "paper"),
               "--paper-defaults", "--quiet"])
    info = json.loads((tmp_path / "paper" / "part.json").read_text())
    assert rc == 0 and info["threshold"] == 0.2 and info["min_area"] == 1 and info["params"]["stop"] == "train-min"
    assert "paper" in info["threshold_source"]


def test_colliding_stems_give_separate_results(tmp_path, calibrated_model, capsys):
    a1 = _png(tmp_path / "d1" / "a.png", seed=1)
    a2 = _png(tmp_path / "d2" / "a.png", seed=2)
    a3 = _png(tmp_path / "d3" / "a_1.png", seed=3)
    out = tmp_path / "out"
    rc = main(["project", "--model", str(calibrated_model), str(a1), str(a2), str(a3), "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    sources = {json.loads(p.read_text())["source"] for p in out.rglob("*.json")}
    assert sources == {str(a1), str(a2), str(a3)}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.json")} == {"d1/a.json", "d2/a.json", "d3/a_1.json"}
    # same folder, same stem: a name another input owns is never taken
    assert unique_names(["a", "a", "a_1"]) == ["a", "a_2", "a_1"]
    assert unique_names(["x/a", "x/a", "x/a"]) == ["x/a", "x/a_1", "x/a_2"]
    same = tmp_path / "same"
    _png(same / "a.png", seed=4)
    _png(same / "a.bmp", seed=5)
    _png(same / "a_1.png", seed=6)
    rc = main(["project", "--model", str(calibrated_model), str(same), "--out", str(tmp_path / "o2"), "--quiet"])
    assert rc == 0
    names = sorted(p.name for p in (tmp_path / "o2").glob("*.json"))
    assert names == ["a.json", "a_1.json", "a_2.json"]


def test_a_folder_run_skips_masks_mirrors_folders_and_overwrites_nothing(tmp_path, calibrated_model, capsys):
    cat = tmp_path / "cat"
    _png(cat / "test" / "good" / "000.png", seed=1)
    _png(cat / "test" / "hole" / "000.png", seed=2)
    _png(cat / "test" / "hole" / "000_mask.png", value=255)  # a mask beside its image
    _png(cat / "ground_truth" / "hole" / "000_mask.png", value=255)
    rc = main(["project", "--model", str(calibrated_model), str(cat), "--out", str(cat), "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    rows = list(csv.DictReader((cat / "summary.csv").read_text().splitlines()))
    assert sorted(r["output"] for r in rows) == ["test/good/000", "test/hole/000"]
    assert {"source", "verdict", "score", "anomalous_fraction"} <= set(rows[0])
    # the ground truth is untouched: the segmentation has its own name
    gt = cv2.imread(str(cat / "ground_truth" / "hole" / "000_mask.png"), cv2.IMREAD_UNCHANGED)
    assert (gt == 255).all()
    assert (cat / "test" / "hole" / "000_segmentation.png").exists()
    # a second run into the same folder refuses, before computing anything, and changes nothing
    before = {p: p.stat().st_mtime_ns for p in cat.rglob("*") if p.is_file()}
    rc = main(["project", "--model", str(calibrated_model), str(cat / "test"), "--out", str(cat / "test"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "--overwrite" in err and err.count("\n") == 1
    assert before == {p: p.stat().st_mtime_ns for p in cat.rglob("*") if p.is_file()}
    rc = main(["project", "--model", str(calibrated_model), str(cat / "test"), "--out", str(cat / "test"),
               "--overwrite", "--quiet"])
    assert rc == 0


def test_warnings_where_model_and_image_do_not_fit(tmp_path, calibrated_model, capsys):
    from inspector_app.core.modelio import load_model, save_model

    colour = _png(tmp_path / "big.png", size=40, channels=3)
    out = tmp_path / "o1"
    rc = main(["project", "--model", str(calibrated_model), str(colour), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    codes = [w["code"] for w in json.loads((out / "big.json").read_text())["warnings"]]
    assert rc == 0 and codes == ["resized", "channels"]
    assert "40×40 but the model takes 32×32" in err and "colour but the model is grey" in err

    img = _png(tmp_path / "p.png")
    rc = main(["project", "--model", str(calibrated_model), str(img), "--out", str(tmp_path / "o2"), "--stop", "lr:1e9",
               "--quiet"])
    info = json.loads((tmp_path / "o2" / "p.json").read_text())
    assert rc == 0 and [w["code"] for w in info["warnings"]] == ["already_normal"]
    assert info["iterations"] == 0 and info["verdict"] == "good"
    assert "already looks normal to this model" in capsys.readouterr().err

    loaded = load_model(calibrated_model)
    meta = dict(loaded.meta)
    meta["calibration"] = dict(meta["calibration"], lr_out_of_range=1e-3)
    narrow = save_model(loaded.model, tmp_path / "narrow.safetensors",
                        {k: v for k, v in meta.items() if k in ("training_stats", "calibration")})
    rc = main(["project", "--model", str(narrow), str(img), "--out", str(tmp_path / "o3"), "--quiet"])
    info = json.loads((tmp_path / "o3" / "p.json").read_text())
    assert rc == 0 and [w["code"] for w in info["warnings"]] == ["out_of_range"]
    assert "wrong model?" in capsys.readouterr().err


def test_a_diverged_projection_gives_no_verdict_but_one_line_and_exit_2(tmp_path, calibrated_model, capsys):
    """A step size that makes the energy rise: x_T falls back to an early iterate, so calling the part
    'good' would be a lie; the image is reported and skipped (one line, exit 2), nothing is written."""
    bad = _png(tmp_path / "in" / "a.png", seed=1)
    out = tmp_path / "out"
    rc = main(["project", "--model", str(calibrated_model), str(bad), "--out", str(out), "--quiet",
               "--alpha", "100", "--grad-mask", "none", "--max-iter", "30"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "diverged with α = 100" in err[0] and "a.png" in err[0], err
    assert "--alpha (e.g. 10)" in err[0]  # the next decade down, as the window offers
    assert not (out / "a.json").exists()
    # the same image with the calibrated step: a verdict
    rc = main(["project", "--model", str(calibrated_model), str(bad), "--out", str(tmp_path / "ok"), "--quiet"])
    assert rc == 0 and json.loads((tmp_path / "ok" / "a.json").read_text())["verdict"] in ("good", "defective")


def test_the_calibrated_step_size_is_the_default_and_the_flags_override_it(tmp_path, capsys):
    from conftest import make_model_file

    model = make_model_file(tmp_path / "m.safetensors", calibration={"alpha": 0.15, "max_iter": 2})
    img = _png(tmp_path / "in" / "part.png")
    for name, flags, alpha in (("cal", [], 0.15), ("flag", ["--alpha", "0.3"], 0.3),
                               ("paper", ["--paper-defaults"], 0.5)):
        rc = main(["project", "--model", str(model), str(img), "--out", str(tmp_path / name), "--quiet", *flags])
        assert rc == 0, capsys.readouterr().err
        assert json.loads((tmp_path / name / "part.json").read_text())["params"]["alpha"] == alpha
    # evaluate reads the same default
    from inspector_app.core.calibration import model_defaults
    from inspector_app.core.modelio import load_model

    assert model_defaults(load_model(model, "cpu").meta).alpha == 0.15


def test_a_calibrated_step_size_out_of_range_is_one_line(tmp_path, capsys):
    from conftest import make_model_file

    model = make_model_file(tmp_path / "m.safetensors", calibration={"alpha": 1e6})
    img = _png(tmp_path / "in" / "part.png")
    rc = main(["project", "--model", str(model), str(img), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "calibration.alpha" in err


@pytest.mark.parametrize("margin", [-1, 1000, 2.5, "x"])
def test_a_calibrated_margin_out_of_range_is_one_line(tmp_path, capsys, margin):
    from conftest import make_model_file

    model = make_model_file(tmp_path / "m.safetensors", calibration={"margin": margin})
    img = _png(tmp_path / "in" / "part.png")
    rc = main(["project", "--model", str(model), str(img), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "calibration.margin" in err
