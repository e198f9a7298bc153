"""The ``inpaint`` command and ``run_comparison``: every panel, the JSON figures, Ω bit-exact."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from inspector_app.core.data import read_image, write_image
from inspector_app.core.inpainting import (
    PANELS,
    corrupt_with_noise,
    inpaint_params,
    run_comparison,
)
from inspector_app.core.mask import save_mask_png
from inspector_app.core.modelio import load_model

from conftest import make_model_file

FAST = ["--max-iter", "6"]


def run_cli(argv: list[str]) -> int:
    """``inspector-app inpaint ...`` through the real main()."""
    from inspector_app import cli

    return cli.main(["inpaint", *argv])


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    return make_model_file(tmp_path_factory.mktemp("m") / "vae.safetensors", kind="vae", size=32)


def face(h, w, seed=0):
    """A smooth face-like grey image (an ellipse on a gradient)."""
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 0.25 + 0.3 * rr / h + 0.1 * cc / w
    e = ((rr - h / 2) / (0.4 * h)) ** 2 + ((cc - w / 2) / (0.3 * w)) ** 2 < 1
    img[e] += 0.3
    return np.clip(img, 0, 1).astype(np.float32)


def make_case(tmp_path, h, w, seed=0):
    clean = face(h, w)
    mask = np.zeros((h, w), bool)
    mask[h // 4: h // 2, w // 3: 2 * w // 3] = True
    corrupted = corrupt_with_noise(clean, mask, seed=seed)
    write_image(tmp_path / "face.png", corrupted)
    write_image(tmp_path / "face_clean.png", clean)
    save_mask_png(tmp_path / "face_mask.png", mask)
    return mask


@pytest.mark.parametrize("h, w", [(32, 32), (25, 25), (40, 50)])
def test_inpaint_writes_every_panel_and_json(tmp_path, vae_file, h, w):
    mask = make_case(tmp_path, h, w)
    out = tmp_path / "out"
    rc = run_cli(["--model", str(vae_file), str(tmp_path / "face.png"), "--mask", str(tmp_path / "face_mask.png"),
                  "--out", str(out), "--ground-truth", str(tmp_path / "face_clean.png"), "--quiet", *FAST])
    assert rc == 0
    for panel in PANELS:
        img = read_image(out / f"face_{panel}.png")
        assert img.shape == (h, w), panel
    info = json.loads((out / "face_inpaint.json").read_text())
    assert info["image_size"] == [w, h] and info["model_size"] == 32
    assert set(info["runs"]) == {"blind", "masked"}
    assert info["runs"]["masked"]["params"]["grad_mask"] == "none"
    assert info["runs"]["blind"]["params"]["grad_mask"] == "recon"
    assert info["runs"]["blind"]["params"]["stop"] == "converge"
    from inspector_app.core.inpainting import comparison_metrics

    truth = read_image(tmp_path / "face_clean.png")
    for panel in ("corrupted", "reconstruction", "blind", "masked", "telea"):
        m = info["metrics"][panel]
        assert set(m) >= {"psnr", "ssim", "psnr_mask"}
        # the figures are those of the written panel against the ground truth (up to its 8-bit rounding)
        img = read_image(out / f"face_{panel}.png")
        want = comparison_metrics(img, truth)
        assert m["psnr"] == pytest.approx(want["psnr"], abs=0.05), panel
        assert m["ssim"] == pytest.approx(want["ssim"], abs=5e-3), panel
        mse_in = float(np.mean((img[mask] - truth[mask]) ** 2))
        assert m["psnr_mask"] == pytest.approx(10 * np.log10(1 / mse_in), abs=0.05), panel
    # the corrupted input was read from a PNG: exact
    assert info["metrics"]["corrupted"]["psnr"] == pytest.approx(
        comparison_metrics(read_image(tmp_path / "face.png"), truth)["psnr"], rel=1e-9)
    # eq. 7: outside Ω the written masked panel is the corrupted input, bit for bit,
    # even when the image was resized to the model's 32×32 and back
    corrupted = (read_image(out / "face_corrupted.png") * 255).round()
    masked = (read_image(out / "face_masked.png") * 255).round()
    original = (read_image(tmp_path / "face.png") * 255).round()
    np.testing.assert_array_equal(masked[~mask], original[~mask])
    np.testing.assert_array_equal(corrupted, original)
    assert not np.array_equal(masked[mask], original[mask])


def test_blind_only_without_mask(tmp_path, vae_file):
    make_case(tmp_path, 32, 32)
    out = tmp_path / "out"
    rc = run_cli(["--model", str(vae_file), str(tmp_path / "face.png"), "--blind", "--out", str(out),
                  "--ground-truth", str(tmp_path / "face_clean.png"), "--name", "x", "--quiet", *FAST])
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["x_blind.png", "x_corrupted.png", "x_ground_truth.png", "x_inpaint.json", "x_reconstruction.png"]
    info = json.loads((out / "x_inpaint.json").read_text())
    assert info["modes"] == ["blind"] and "psnr_mask" not in info["metrics"]["blind"]


def test_bad_inputs_exit_2_with_one_line(tmp_path, vae_file, capsys):
    make_case(tmp_path, 32, 32)
    save_mask_png(tmp_path / "wrong.png", np.ones((20, 24), bool))
    base = ["--model", str(vae_file), str(tmp_path / "face.png"), "--out", str(tmp_path / "o"), "--quiet", *FAST]
    assert run_cli(base + ["--mask", str(tmp_path / "wrong.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "24×20" in err and "32×32" in err
    assert run_cli(base) == 2  # no mask and not --blind
    assert "--mask" in capsys.readouterr().err
    write_image(tmp_path / "gt.png", np.zeros((10, 10), np.float32))
    assert run_cli(base + ["--mask", str(tmp_path / "face_mask.png"), "--ground-truth", str(tmp_path / "gt.png")]) == 2
    assert "10×10" in capsys.readouterr().err
    assert run_cli(base + ["--mask", str(tmp_path / "face_mask.png"), "--alpha", "-1"]) == 2
    assert not (tmp_path / "o").exists()


def test_run_comparison_headless(vae_file):
    loaded = load_model(vae_file, "cpu")
    clean = face(32, 32)
    mask = np.zeros((32, 32), bool)
    mask[8:20, 10:22] = True
    corrupted = corrupt_with_noise(clean, mask, seed=1)
    seen = []
    res = run_comparison(loaded, corrupted, mask, clean, max_iter=4, on_record=lambda m, r: seen.append(m))
    assert list(res.panels) == list(PANELS)
    assert set(seen) == {"blind", "masked"}
    assert res.runs["masked"].iterations <= 4
    masked = res.panels["masked"]
    assert masked.dtype == corrupted.dtype
    assert np.array_equal(masked[~mask].view(np.uint32), corrupted[~mask].view(np.uint32))
    assert set(res.metrics) == {"corrupted", "reconstruction", "blind", "masked", "telea"}
    # no ground truth: no metrics; no mask: only the blind run
    res2 = run_comparison(loaded, corrupted, None, None, max_iter=2)
    assert set(res2.panels) == {"corrupted", "reconstruction", "blind"} and res2.metrics == {}
    with pytest.raises(ValueError, match="mask"):
        run_comparison(loaded, corrupted, np.ones((10, 10), bool), None, max_iter=1)


def test_inpaint_params_modes():
    m = inpaint_params("masked")
    b = inpaint_params("blind")
    assert m.grad_mask == "none" and b.grad_mask == "recon"
    assert m.stop == b.stop == "converge"
    assert inpaint_params("blind", m).grad_mask == "recon"  # the mode decides the weighting
    assert inpaint_params("masked", lam=0.01, alpha=None).lam == 0.01
    with pytest.raises(ValueError):
        inpaint_params("other")


def test_inpaint_says_what_project_says_about_the_images_fit(tmp_path, capsys):
    """A grey image given to a colour model: ``project`` warns that it was converted; ``inpaint``
    converted it without a word (QA of the command line)."""
    import json

    import numpy as np

    from conftest import make_model_file
    from inspector_app.cli import main
    from inspector_app.core.data import write_image

    rng = np.random.default_rng(0)
    write_image(tmp_path / "grey.png", rng.random((32, 32)).astype(np.float32))
    mask = np.zeros((32, 32), np.float32)
    mask[8:20, 8:20] = 1
    write_image(tmp_path / "omega.png", mask)
    model = make_model_file(tmp_path / "rgb.safetensors", size=32, channels=3)
    assert main(["inpaint", "--model", str(model), str(tmp_path / "grey.png"), "--mask", str(tmp_path / "omega.png"),
                 "--out", str(tmp_path / "o"), "--max-iter", "2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"inspector-app: warning: {tmp_path / 'grey.png'}: the image is grey but the model is colour" in err, err
    info = json.loads((tmp_path / "o" / "grey_inpaint.json").read_text())
    assert [w["code"] for w in info["warnings"]] == ["channels"]
