"""The headless commands end to end, and bad input: exit status 2 with one line, no traceback."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inspector_app.cli import main


@pytest.fixture
def tiny_folder(tmp_path, texture_images):
    d = tmp_path / "normal"
    d.mkdir()
    for i, im in enumerate(texture_images[:6]):
        cv2.imwrite(str(d / f"{i:03d}.png"), (im * 255).astype(np.uint8))
    return d


def _one_line_error(capsys, code, rc=2, match=None):
    out = capsys.readouterr()
    assert code == rc, out
    lines = [ln for ln in out.err.splitlines() if ln.startswith("inspector-app: error")]
    assert len(lines) == 1, out.err
    assert "Traceback" not in out.err
    if match:
        assert match in lines[0], lines[0]
    return lines[0]


def test_train_then_project_end_to_end(tmp_path, tiny_folder, capsys):
    model = tmp_path / "m.safetensors"
    rc = main(["train", "--arch", "l2ae", "--data", str(tiny_folder), "--out", str(model), "--image-size", "32",
               "--latent", "8", "--max-steps", "3", "--batch", "4", "--quiet"])
    assert rc == 0, capsys.readouterr()
    assert model.exists()
    from inspector_app.core.modelio import load_model

    loaded = load_model(model)
    stats = loaded.training_stats
    assert stats["n"] == 5 and len(stats["quantiles"]) == 101 and stats["min"] <= stats["mean"]
    assert loaded.meta["training"]["steps"] == 3

    # a larger colour image is converted and resized, outputs come back at its size
    big = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "big.png"), big)
    out = tmp_path / "out"
    rc = main(["project", "--model", str(model), str(tiny_folder / "000.png"), str(tmp_path / "big.png"),
               "--out", str(out), "--max-iter", "5", "--stop", "none", "--quiet"])
    assert rc == 0, capsys.readouterr()
    # two inputs from different folders: the outputs mirror their folders under --out
    for name, shape in (("normal/000", (32, 32)), ("big", (50, 70))):
        for suffix in ("_projection.png", "_reconstruction.png", "_dssim.png", "_segmentation.png", "_dssim.npy", ".json"):
            assert (out / f"{name}{suffix}").exists(), suffix
        assert np.load(out / f"{name}_dssim.npy").shape == shape
        assert cv2.imread(str(out / f"{name}_projection.png"), cv2.IMREAD_UNCHANGED).shape[:2] == shape
        info = json.loads((out / f"{name}.json").read_text())
        assert info["iterations"] == 5 and info["stop_reason"] == "max_iter"
        assert len(info["energy_curve"]) == 6
        # the calibrated step size (0.15, 0.5 or 1.5 for this tiny model) and the paper's λ
        assert info["params"]["alpha"] == loaded.meta["calibration"]["alpha"] and info["params"]["lam"] == 0.05
        assert (info["verdict"] == "defective") == (info["score"] > info["threshold"])
    # at the model's size (no resize) the score is the map's image score (core/verdict.py)
    from inspector_app.core.verdict import image_score

    info = json.loads((out / "normal/000.json").read_text())
    assert info["score"] == pytest.approx(image_score(np.load(out / "normal/000_dssim.npy"), info["min_area"]), abs=1e-7)


def test_project_with_mask_keeps_outside_bit_identical(tmp_path, tiny_model_file, capsys):
    rng = np.random.default_rng(1)
    img = (rng.random((45, 45)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "img.png"), img)
    mask = np.zeros((45, 45), np.uint8)
    mask[10:25, 5:30] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    rc = main(["project", "--model", str(tiny_model_file), str(tmp_path / "img.png"), "--mask",
               str(tmp_path / "mask.png"), "--out", str(tmp_path / "o"), "--stop", "none", "--max-iter", "5",
               "--grad-mask", "none", "--quiet"])
    assert rc == 0, capsys.readouterr()
    proj = cv2.imread(str(tmp_path / "o" / "img_projection.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(proj[mask == 0], img[mask == 0])
    assert not np.array_equal(proj[mask > 0], img[mask > 0])


def test_mask_of_wrong_size_is_refused(tmp_path, tiny_model_file, capsys):
    cv2.imwrite(str(tmp_path / "img.png"), np.zeros((40, 40), np.uint8))
    cv2.imwrite(str(tmp_path / "mask.png"), np.zeros((20, 30), np.uint8))
    rc = main(["project", "--model", str(tiny_model_file), str(tmp_path / "img.png"), "--mask",
               str(tmp_path / "mask.png"), "--out", str(tmp_path / "o")])
    _one_line_error(capsys, rc, match="40×40")


def test_unreadable_image_among_many_is_reported_and_the_rest_processed(tmp_path, tiny_model_file, capsys):
    cv2.imwrite(str(tmp_path / "good.png"), np.full((32, 32), 128, np.uint8))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    rc = main(["project", "--model", str(tiny_model_file), str(tmp_path / "good.png"), str(tmp_path / "bad.png"),
               "--out", str(tmp_path / "o"), "--max-iter", "2", "--quiet"])
    out = capsys.readouterr()
    assert rc == 2
    assert "bad.png: is not a readable image" in out.err
    assert "Traceback" not in out.err
    assert (tmp_path / "o" / "good_projection.png").exists()


@pytest.mark.parametrize(
    "args, match",
    [
        (["project", "--model", "{model}", "{img}", "--out", "{o}", "--alpha", "-1"], "alpha"),
        (["project", "--model", "{model}", "{img}", "--out", "{o}", "--stop", "whenever"], "stop criterion"),
        (["project", "--model", "{bad}", "{img}", "--out", "{o}"], "is not a model file"),
        (["project", "--model", "{model}", "{missing}", "--out", "{o}"], "missing: no such file"),
        (["project", "--model", "{model}", "{img}", "--out", "{o}", "--optimizer", "lbfgs"], "invalid choice"),
        (["train", "--arch", "l2ae", "--data", "{empty}", "--out", "{o}/m.safetensors"], "no images found"),
        (["train", "--arch", "l2ae", "--data", "{missing}", "--out", "{o}/m.safetensors"], "no such folder"),
        (["train", "--arch", "l2ae", "--data", "{empty}", "--out", "{o}/m.pt"], ".safetensors"),
        (["evaluate", "--model", "{model}", "--data", "{missing}"], "missing: no such folder"),
        (["evaluate", "--model", "{model}", "--data", "{img}"], "img.png: not a folder"),
        (["train", "--arch", "l2ae", "--data", "{empty}", "--out", "{o}/m.safetensors", "--image-size", "100"],
         "multiple of 32"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, tiny_model_file, capsys, args, match):
    cv2.imwrite(str(tmp_path / "img.png"), np.zeros((32, 32), np.uint8))
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "empty").mkdir()
    subs = {"model": tiny_model_file, "img": tmp_path / "img.png", "o": tmp_path / "o", "bad": tmp_path / "bad.safetensors",
            "missing": tmp_path / "missing", "empty": tmp_path / "empty"}
    rc = main([a.format(**subs) for a in args])
    _one_line_error(capsys, rc, match=match)


def test_training_says_when_the_steps_end_and_the_calibration_begins(tmp_path, tiny_folder, capsys):
    # without --quiet, the progress bar stops at the last step and the statistics and calibration
    # follow for minutes: a line says so, so that a log does not look stuck
    out = tmp_path / "m.safetensors"
    rc = main(["train", "--arch", "l2ae", "--data", str(tiny_folder), "--out", str(out), "--image-size", "32",
               "--latent", "8", "--max-steps", "2", "--batch", "2", "--val-fraction", "0.4"])
    err = capsys.readouterr().err
    assert rc == 0, err
    line = next(x for x in err.splitlines() if "training ended" in x)
    assert "after 2 steps (max_steps)" in line and "calibrating on 2 validation images" in line
    rc = main(["train", "--arch", "l2ae", "--data", str(tiny_folder), "--out", str(tmp_path / "n.safetensors"),
               "--image-size", "32", "--latent", "8", "--max-steps", "2", "--batch", "2", "--no-calibrate"])
    err = capsys.readouterr().err
    assert rc == 0 and "training ended after 2 steps" in err and "calibrating" not in err


def test_ctrl_c_during_training_saves_what_was_trained(tmp_path, tiny_folder, capsys, monkeypatch):
    from inspector_app.core import models

    calls = {"n": 0}
    real = models.DeterministicAE.training_loss

    def interrupted(self, x, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, x, **kw)

    monkeypatch.setattr(models.DeterministicAE, "training_loss", interrupted)
    out = tmp_path / "m.safetensors"
    rc = main(["train", "--arch", "l2ae", "--data", str(tiny_folder), "--out", str(out), "--image-size", "32",
               "--latent", "8", "--max-steps", "10", "--batch", "2", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0 and "interrupted after 2 steps" in err
    from inspector_app.core.modelio import load_model

    meta = load_model(out).meta
    assert meta["training"]["interrupted"] is True and meta["training"]["steps"] == 2
    assert meta["training_stats"]["n"] == 5


def test_a_missing_component_is_one_line_not_a_traceback(monkeypatch, capsys):
    from inspector_app.cli import make_dataset

    def broken(a):
        raise ImportError("No module named 'pooch'")

    monkeypatch.setattr(make_dataset, "run", broken)
    monkeypatch.setattr(make_dataset, "add_parser", lambda sub: sub.add_parser("make-dataset").set_defaults(func=broken))
    rc = main(["make-dataset"])
    line = _one_line_error(capsys, rc, match="missing from this installation")
    assert "pooch" in line
