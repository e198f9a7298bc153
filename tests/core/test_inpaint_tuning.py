"""Masked inpainting's schedule tuned on validation images: where Ω starts (the corrupted pixels or
the Telea fill), α and the iteration count; stored in the model file and used by inpaint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inspector_app.core.inpainting import InpaintJob, inpaint_params, telea_inpaint
from inspector_app.core.inpaint_tuning import TUNE_ALPHAS, choose_schedule, tune_masked_inpainting
from inspector_app.core.modelio import load_model, save_model

from conftest import make_model_file
from test_inpaint_cli import face, make_case, run_cli


@pytest.fixture(scope="module")
def faces():
    return [np.roll(face(32, 32), s, axis=1) for s in (-2, 0, 2)]


def test_tuner_picks_the_best_mean_psnr_inside_omega(tmp_path, faces):
    loaded = load_model(make_model_file(tmp_path / "m.safetensors", kind="vae"), "cpu")
    block = tune_masked_inpainting(loaded.model, faces, repeats=2, max_iter=5, seed=3)
    m, f = block["masked"], block["figures"]
    assert block["init"] in ("input", "telea") and m["alpha"] in TUNE_ALPHAS and 1 <= m["max_iter"] <= 5
    assert m["lam"] == 0.0 and m["grad_mask"] == "none" and m["stop"] == "none"
    assert f["cases"] == 6 and f["psnr_mask"] == pytest.approx(f["telea_psnr_mask"] + f["gain_over_telea"])
    assert 0.0 <= f["beats_telea"] <= 1.0
    # the choice is the argmax of the mean gain; ties go to fewer iterations; t = 0 is never chosen
    g = {"input": {0.1: np.zeros((2, 4)), 0.5: np.zeros((2, 4))}, "telea": {0.1: np.zeros((2, 4))}}
    g["input"][0.5][:, 0] = 9.0
    g["telea"][0.1][:, 2] = [1.0, 2.0]
    g["telea"][0.1][:, 3] = [2.0, 1.0]
    assert choose_schedule(g) == ("telea", 0.1, 2, 1.5)
    with pytest.raises(ValueError, match="validation images"):
        tune_masked_inpainting(loaded.model, [])


def test_telea_start_and_the_model_schedule_reach_inpaint(tmp_path, capsys):
    path = make_model_file(tmp_path / "vae.safetensors", kind="vae")
    loaded = load_model(path, "cpu")
    meta = {k: v for k, v in loaded.meta.items() if k in ("training", "training_stats")}
    meta["inpainting"] = {"init": "telea", "method": "test schedule",
                          "masked": {"alpha": 0.2, "lam": 0.0, "optimizer": "sgd", "grad_mask": "none",
                                     "stop": "none", "max_iter": 3}}
    tuned = tmp_path / "tuned.safetensors"
    save_model(loaded.model, tuned, meta)
    tl = load_model(tuned, "cpu")
    p = inpaint_params("masked", loaded=tl)
    assert (p.alpha, p.max_iter, str(p.stop)) == (0.2, 3, "none")
    assert inpaint_params("masked").alpha == 0.5  # without a model: the paper's step
    assert inpaint_params("blind", loaded=tl).alpha == 2.0  # the blind run keeps its defaults

    mask = make_case(tmp_path, 32, 32)
    from inspector_app.core.data import read_image

    img = read_image(tmp_path / "face.png")
    job = InpaintJob(tl, img, mask)
    start = job.start_image("masked")
    np.testing.assert_array_equal(start[~mask], job.prep.model_input[~mask])
    np.testing.assert_allclose(start, telea_inpaint(job.prep.model_input, mask))
    assert not np.array_equal(start[mask], job.prep.model_input[mask])
    np.testing.assert_array_equal(job.start_image("blind"), job.prep.model_input)
    np.testing.assert_array_equal(InpaintJob(tl, img, mask, masked_init="input").start_image("masked"),
                                  job.prep.model_input)
    with pytest.raises(ValueError, match="starts from one of"):
        InpaintJob(tl, img, mask, masked_init="zeros")

    base = ["--model", str(tuned), str(tmp_path / "face.png"), "--mask", str(tmp_path / "face_mask.png"),
            "--ground-truth", str(tmp_path / "face_clean.png"), "--quiet"]
    assert run_cli([*base, "--out", str(tmp_path / "a")]) == 0
    info = json.loads((tmp_path / "a" / "face_inpaint.json").read_text())
    assert info["masked_init"] == "telea" and info["schedule"] == "test schedule" and info["omega_thin"] is False
    assert info["runs"]["masked"]["iterations"] == 3 and info["runs"]["masked"]["params"]["alpha"] == 0.2
    assert run_cli([*base, "--out", str(tmp_path / "b"), "--init", "input", "--max-iter", "4"]) == 0
    info = json.loads((tmp_path / "b" / "face_inpaint.json").read_text())
    assert info["masked_init"] == "input" and info["runs"]["masked"]["iterations"] == 4


def test_calibrate_inpainting_stores_the_schedule(tmp_path, capsys):
    from inspector_app import cli
    from inspector_app.core.data import write_image

    folder = tmp_path / "val"
    folder.mkdir()
    for i in range(3):
        write_image(folder / f"{i}.png", np.roll(face(32, 32), i - 1, axis=0))
    path = make_model_file(tmp_path / "m.safetensors", kind="l2ae")
    out = tmp_path / "cal.safetensors"
    rc = cli.main(["calibrate", "--model", str(path), "--data", str(folder), "--val-dir", "--out", str(out),
                   "--max-iter", "3", "--inpainting", "--quiet"])
    assert rc == 0
    block = load_model(out, "cpu").meta["inpainting"]
    # by default 2 masks of each of the 8 families per validation image
    assert block["figures"]["all_cases"] == 3 * 2 * 8 and block["init"] in ("input", "telea")
    assert "8 families" in block["method"]
    assert "masked inpainting:" in capsys.readouterr().err
    rc = cli.main(["calibrate", "--model", str(path), "--data", str(folder), "--val-dir", "--out",
                   str(tmp_path / "rect.safetensors"), "--max-iter", "3", "--inpainting", "--inpainting-masks",
                   "rect", "--quiet"])
    block = load_model(tmp_path / "rect.safetensors", "cpu").meta["inpainting"]
    assert rc == 0 and block["figures"]["cases"] == 9 and "noise rectangles" in block["method"]


def test_tuning_on_mask_families(tmp_path, faces):
    """masks="families": each validation image gets ``repeats`` masks of every family a user may
    paint; the cases hold masks of many sizes, not only 25-40 % rectangles."""
    from inspector_app.core.inpaint_tuning import _cases

    cases = _cases(faces, 2, "families", np.random.default_rng(0))
    assert len(cases) == len(faces) * 2 * 8
    shares = [m.mean() for _c, _b, m in cases]
    assert min(shares) < 0.05 and max(shares) > 0.2
    for clean, bad, m in cases:
        np.testing.assert_array_equal(bad[~m], clean[~m])
    with pytest.raises(ValueError, match="masks must be one of"):
        _cases(faces, 1, "circles", np.random.default_rng(0))


def test_families_tuning_adds_a_schedule_for_thin_masks(tmp_path, faces):
    """Tuned on the families, thick Ω (the file's ``masked``) and thin or small Ω (``thin``) each
    get the schedule best on their own validation cases."""
    loaded = load_model(make_model_file(tmp_path / "m.safetensors", kind="vae"), "cpu")
    block = tune_masked_inpainting(loaded.model, faces, repeats=1, max_iter=3, seed=1, masks="families")
    thin, f = block["thin"], block["figures"]
    assert thin["init"] in ("input", "telea") and 1 <= thin["masked"]["max_iter"] <= 3
    assert f["cases"] + thin["figures"]["cases"] == f["all_cases"] == len(faces) * 8
    assert 0 < f["cases"] < f["all_cases"] and np.isfinite(f["all_cases_gain"])
    assert "thin or small Ω" in block["method"]
    assert "thin" not in tune_masked_inpainting(loaded.model, faces, repeats=1, max_iter=2, masks="rect")


def test_a_thin_mask_runs_the_models_thin_schedule(tmp_path):
    from inspector_app.core.inpaint_masks import family_mask, thin_mask
    from inspector_app.core.inpainting import model_inpainting, run_comparison

    path = make_model_file(tmp_path / "vae.safetensors", kind="vae")
    loaded = load_model(path, "cpu")
    meta = {k: v for k, v in loaded.meta.items() if k in ("training", "training_stats")}
    sched = {"alpha": 0.2, "lam": 0.0, "optimizer": "sgd", "grad_mask": "none", "stop": "none", "max_iter": 3}
    meta["inpainting"] = {"init": "telea", "method": "test", "masked": sched,
                          "thin": {"init": "input", "masked": {**sched, "alpha": 0.1, "max_iter": 1}}}
    tuned = tmp_path / "tuned.safetensors"
    save_model(loaded.model, tuned, meta)
    tl = load_model(tuned, "cpu")
    assert model_inpainting(tl, thin=True)["init"] == "input" and model_inpainting(tl)["init"] == "telea"
    img = face(32, 32)
    stroke = family_mask("strokes", (32, 32), np.random.default_rng(1))
    box = np.zeros((32, 32), bool)
    box[8:24, 6:26] = True
    assert thin_mask(stroke) and not thin_mask(box)
    for mask, thin, its, alpha in ((stroke, True, 1, 0.1), (box, False, 3, 0.2)):
        res = run_comparison(tl, img, mask, modes=("masked",))
        assert res.thin is thin
        assert res.runs["masked"].iterations == its and res.runs["masked"].params["alpha"] == alpha
    # the command line's flags change the schedule chosen for Ω's shape
    res = run_comparison(tl, img, stroke, modes=("masked",), changes={"masked": {"max_iter": 2}})
    assert res.runs["masked"].iterations == 2 and res.runs["masked"].params["alpha"] == 0.1


def test_masked_from_telea_at_a_camera_size_keeps_the_full_size_fill(tmp_path):
    """An image larger than the model (a 160-px face for a 32-px model): masked inpainting from
    the Telea fill adds the projection's change, upsampled, to the Telea fill made at the image's
    own size, so a thin stroke keeps the fill's detail; the 32-px result pasted into Ω (before)
    was the 32-px Telea fill's blur, 17 dB worse on a 256-px face's strokes."""
    from inspector_app.core.projection import run_to_end

    loaded = load_model(make_model_file(tmp_path / "m.safetensors", kind="vae"), "cpu")
    clean = np.clip(face(160, 160) + 0.15 * np.sin(np.arange(160) / 2.0)[None, :], 0, 1).astype(np.float32)
    mask = np.zeros((160, 160), bool)
    mask[40:120, 78:81] = True  # a 3-px stroke: under a pixel at the model's size
    bad = clean.copy()
    bad[mask] = np.random.default_rng(0).uniform(0, 1, int(mask.sum()))
    job = InpaintJob(loaded, bad, mask, clean, masked_init="telea")
    assert job.prep.resized
    full = telea_inpaint(bad, mask)
    unchanged = job.panel("masked", job.start("masked")[0])  # a run that moved nothing: the fill itself
    np.testing.assert_allclose(unchanged, full, atol=1e-6)
    np.testing.assert_array_equal(unchanged[~mask], bad[~mask])  # outside Ω: the input's own pixels
    _, last, _ = run_to_end(loaded.model, job.start("masked"), inpaint_params("masked", loaded=loaded).replace(max_iter=3),
                            mask=job.mask_tensor)
    panel = job.panel("masked", last.x[0])
    change = panel[mask] - full[mask]
    assert np.abs(change).max() > 0  # the projection's change is there
    np.testing.assert_array_equal(panel[~mask], bad[~mask])
    # from the corrupted pixels there is no full-size fill to keep: x_T, upsampled, inside Ω
    job_in = InpaintJob(loaded, bad, mask, clean, masked_init="input")
    small = last.x[0].detach().numpy()[0]
    from inspector_app.core.imageops import composite

    np.testing.assert_array_equal(job_in.panel("masked", last.x[0]), composite(bad, small, mask))
