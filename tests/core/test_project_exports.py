"""What ``project`` writes is what the projection computed: the exported x_T, f(x_T), DSSIM map,
score, segmentation and energy curve, recomputed here with the engine on the same image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from inspector_app.cli import main
from inspector_app.core.data import read_image, write_image
from inspector_app.core.modelio import load_model
from inspector_app.core.params import ProjectionParams
from inspector_app.core.projection import run_to_end
from inspector_app.core.verdict import image_score

FLAGS = ["--alpha", "0.5", "--lam", "0.05", "--optimizer", "sgd", "--grad-mask", "none", "--stop", "none",
         "--max-iter", "5", "--threshold", "0.1", "--min-area", "1", "--quiet"]


def test_exported_projection_is_the_final_iterate_not_x0(tmp_path, tiny_model_file, texture_images, capsys):
    img = tmp_path / "part.png"
    write_image(img, texture_images[0])  # 32×32 grey: no resize, no mask
    out = tmp_path / "out"
    rc = main(["project", "--model", str(tiny_model_file), str(img), "--out", str(out), *FLAGS])
    assert rc == 0, capsys.readouterr().err

    x0 = torch.from_numpy(read_image(img))[None, None]
    loaded = load_model(tiny_model_file, "cpu")
    params = ProjectionParams(alpha=0.5, lam=0.05, optimizer="sgd", grad_mask="none", stop="none", max_iter=5)
    _, last, curves = run_to_end(loaded.model, x0, params)
    x_t = last.x[0, 0].numpy()

    proj = read_image(out / "part_projection.png")
    assert np.abs(proj - x_t).max() <= 1 / 255 + 1e-6
    assert np.abs(proj - x0[0, 0].numpy()).max() > 2 / 255
    rec = read_image(out / "part_reconstruction.png")
    assert np.abs(rec - last.reconstruction[0, 0].numpy()).max() <= 1 / 255 + 1e-6

    dssim = np.load(out / "part_dssim.npy")
    np.testing.assert_allclose(dssim, last.dssim_projection[0].numpy(), atol=1e-6)
    info = json.loads((out / "part.json").read_text())
    assert info["iterations"] == 5 and info["stop_reason"] == "max_iter"
    assert info["energy_curve"] == pytest.approx(curves[0], rel=1e-6)
    assert info["energy"] == pytest.approx(float(last.energy[0]), rel=1e-6)
    assert info["recon_loss"] == pytest.approx(float(last.recon_loss[0]), rel=1e-6)
    assert info["reg"] == pytest.approx(float(last.reg[0]), rel=1e-6)
    assert info["score"] == pytest.approx(float(dssim.max()), abs=1e-7)  # min_area 1: the maximum
    assert info["score"] == pytest.approx(image_score(dssim, 1), abs=1e-7)
    assert info["verdict"] == ("defective" if info["score"] > 0.1 else "good")
    seg = read_image(out / "part_segmentation.png") > 0.5
    np.testing.assert_array_equal(seg, dssim > 0.1)
    assert info["anomalous_fraction"] == pytest.approx(float((dssim > 0.1).mean()))
    # the colour PNG spans 0 … dssim_png_max: for threshold 0.1, about 4 × it
    assert info["dssim_png_max"] == pytest.approx(0.4)
    from inspector_app.core.pipeline import dssim_visual

    png = read_image(out / "part_dssim.png", 3)
    assert np.abs(png - dssim_visual(dssim, 0.1).astype(np.float32) / 255).max() <= 1 / 255 + 1e-6


def test_compare_reconstruction_exports_dssim_of_f_of_x_t(tmp_path, tiny_model_file, texture_images, capsys):
    img = tmp_path / "part.png"
    write_image(img, texture_images[1])
    out = tmp_path / "out"
    rc = main(["project", "--model", str(tiny_model_file), str(img), "--out", str(out), "--compare", "reconstruction",
               *FLAGS])
    assert rc == 0, capsys.readouterr().err
    x0 = torch.from_numpy(read_image(img))[None, None]
    params = ProjectionParams(alpha=0.5, lam=0.05, optimizer="sgd", grad_mask="none", stop="none", max_iter=5)
    _, last, _ = run_to_end(load_model(tiny_model_file, "cpu").model, x0, params)
    np.testing.assert_allclose(np.load(out / "part_dssim.npy"), last.dssim_reconstruction[0].numpy(), atol=1e-6)
    assert json.loads((out / "part.json").read_text())["compare"] == "reconstruction"
