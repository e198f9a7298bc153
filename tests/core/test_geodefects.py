"""Geometric defects (issue 29): deterministic per seed, masks that cover every changed and every
moved pixel, brightness kept, and their place in make-dataset and in the calibration's synthetic set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inspector_app.core import geodefects
from inspector_app.core.calibration import synthetic_defects
from inspector_app.core.datasets import DEFECTS, load_source, make_dataset
from inspector_app.core.defects import TEXTURE_DEFECTS
from inspector_app.core.geodefects import GEOMETRIC_DEFECTS, apply_geometric, paint_defect, texture_period


@pytest.fixture(scope="module")
def crops():
    return {s: load_source(s)[200:328, 384:512] for s in ("brick", "grid", "gravel")}


@pytest.mark.parametrize("kind", GEOMETRIC_DEFECTS)
@pytest.mark.parametrize("source", ["brick", "grid", "gravel"])
def test_geometric_defect_deterministic_mask_covers_changes(crops, kind, source):
    img = crops[source]
    bad, mask = apply_geometric(img, kind, np.random.default_rng(7))
    again, mask2 = apply_geometric(img, kind, np.random.default_rng(7))
    assert np.array_equal(bad, again) and np.array_equal(mask, mask2)  # a seed gives the same defect
    other, _ = apply_geometric(img, kind, np.random.default_rng(8))
    assert not np.array_equal(bad, other)
    assert bad.dtype == np.uint8 and mask.dtype == bool and bad.shape == mask.shape == img.shape
    changed = bad != img
    assert changed.sum() > 0.004 * img.size  # visible
    assert not changed[~mask].any()  # every changed pixel is in the mask
    assert 0.01 <= mask.mean() <= 0.25  # a local defect
    # the texture moved, its brightness did not: the image's mean stays within a grey level or two
    assert abs(float(bad.mean()) - float(img.mean())) < 2.5


@pytest.mark.parametrize("kind", ["warp", "fold"])
def test_mask_covers_every_warped_pixel(crops, kind):
    img = crops["brick"]
    x = img.astype(np.float64) / 255.0
    fields = {"warp": geodefects._warp, "fold": geodefects._fold}
    for seed in range(4):
        _, moved = fields[kind](x, np.random.default_rng(seed))  # the first draw's displacement field
        bad, mask = apply_geometric(img, kind, np.random.default_rng(seed))
        ref, _ = geodefects._finalize(img, moved, fields[kind](x, np.random.default_rng(seed))[0])
        if not np.array_equal(ref, bad):
            continue  # the first draw was too faint and was drawn again
        assert mask[moved >= geodefects.MOVED_PX].all()
        assert (moved >= geodefects.MOVED_PX).sum() > 0.01 * img.size


def test_warp_keeps_mean_brightness_and_bends_lines(crops):
    img = crops["grid"]
    bad, mask = apply_geometric(img, "warp", np.random.default_rng(3))
    diff = np.abs(bad.astype(int) - img.astype(int))[mask]
    assert diff.max() > 60  # grid lines moved off their place ...
    assert abs(float(bad[mask].mean()) - float(img[mask].mean())) < 6  # ... without a change of brightness


def test_texture_period_of_the_grid():
    grid = load_source("grid")[100:228, 380:508] / 255.0
    p = texture_period(grid)
    assert 19 <= np.hypot(*p) <= 23  # the generated grid's period is 21 px


def test_paint_defect_dispatches_and_rejects_unknown(crops):
    img = crops["brick"]
    a, _ = paint_defect(img, "stain", np.random.default_rng(1))
    from inspector_app.core.defects import apply_defect

    b, _ = apply_defect(img, "stain", np.random.default_rng(1))
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="unknown"):
        paint_defect(img, "dent", np.random.default_rng(1))
    with pytest.raises(ValueError, match="unknown geometric"):
        apply_geometric(img, "stain", np.random.default_rng(1))


def test_make_dataset_geometric_adds_kinds_and_keeps_default(tmp_path):
    plain = make_dataset("grid", tmp_path / "a", n_train=2, n_test=5, seed=4)
    assert plain["defects"] == list(DEFECTS["grid"]) == list(TEXTURE_DEFECTS)
    geo = make_dataset("grid", tmp_path / "b", n_train=2, n_test=9, seed=4, geometric=True)
    assert geo["defects"] == [*TEXTURE_DEFECTS, *GEOMETRIC_DEFECTS]
    assert geo["counts"]["test/good"] == 1 and all(geo["counts"][f"test/{k}"] == 1 for k in GEOMETRIC_DEFECTS)
    for k in GEOMETRIC_DEFECTS:
        import cv2

        bad = cv2.imread(str(tmp_path / "b" / "test" / k / "000.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(tmp_path / "b" / "ground_truth" / k / "000_mask.png"), cv2.IMREAD_UNCHANGED)
        assert bad.shape == mask.shape == (128, 128) and mask.max() == 255
    meta = json.loads((tmp_path / "b" / "dataset.json").read_text())
    assert {f.get("defect") for f in meta["files"]} >= set(GEOMETRIC_DEFECTS)
    with pytest.raises(ValueError, match="textures"):
        make_dataset("faces", tmp_path / "c", n_train=2, n_test=2, geometric=True)


def test_calibration_synthetic_set_takes_geometric_kinds(crops):
    imgs = [crops["brick"].astype(np.float32) / 255.0, crops["grid"].astype(np.float32) / 255.0]
    default = synthetic_defects(imgs, 4, seed=0)
    assert default[2] == list(TEXTURE_DEFECTS) * 2  # the intensity kinds, unchanged by default
    kinds = TEXTURE_DEFECTS + GEOMETRIC_DEFECTS
    out, masks, got = synthetic_defects(imgs, 4, seed=0, defect_kinds=kinds)
    assert got == list(kinds)
    assert [np.array_equal(a, b) for a, b in zip(out[:4], default[0][:4])] == [True] * 4
    for im, m, k in zip(out[4:], masks[4:], got[4:]):
        diff = np.abs(im - imgs[1]) > 0
        assert diff.any() and not diff[~m].any(), k


def test_calibration_scores_geometric_kinds_when_asked(crops):
    import torch

    from inspector_app.core.calibration import calibrate
    from inspector_app.core.geodefects import ALL_DEFECTS
    from inspector_app.core.models import ModelConfig, create_model

    torch.manual_seed(0)
    model = create_model(ModelConfig("l2ae", 32, 1, 8)).eval()
    src = crops["brick"]
    val = [src[y:y + 32, x:x + 32].astype(np.float32) / 255.0 for y in (0, 48, 96) for x in (0, 64)]
    cal = calibrate(model, val, torch.device("cpu"), None, max_iter=2, defects_per_image=len(ALL_DEFECTS),
                    alpha_factors=(1.0,), lighting=(), defect_kinds=ALL_DEFECTS)
    f = cal.figures
    assert f["defect_kinds"] == list(ALL_DEFECTS) and f["n_defects"] == 3 * len(ALL_DEFECTS)
    assert set(f["defects_flagged_by_kind"]) == set(ALL_DEFECTS)
    plain = calibrate(model, val, torch.device("cpu"), None, max_iter=2, alpha_factors=(1.0,), lighting=())
    assert plain.figures["defect_kinds"] == list(TEXTURE_DEFECTS)
    assert set(plain.figures["defects_flagged_by_kind"]) == set(TEXTURE_DEFECTS)


def test_calibrate_command_geometric_flag(tmp_path, crops):
    from conftest import make_model_file

    from inspector_app import cli
    from inspector_app.core.data import write_image
    from inspector_app.core.geodefects import ALL_DEFECTS
    from inspector_app.core.modelio import load_model

    folder = tmp_path / "val"
    folder.mkdir()
    for i, (y, x) in enumerate([(0, 0), (40, 64), (90, 16), (60, 90)]):
        write_image(folder / f"{i}.png", crops["brick"][y:y + 32, x:x + 32])
    path = make_model_file(tmp_path / "m.safetensors", kind="l2ae")
    for flag, kinds in (([], TEXTURE_DEFECTS), (["--geometric"], ALL_DEFECTS)):
        out = tmp_path / f"cal{len(flag)}.safetensors"
        rc = cli.main(["calibrate", "--model", str(path), "--data", str(folder), "--val-dir", "--out", str(out),
                       "--max-iter", "2", "--quiet", *flag])
        assert rc == 0
        fig = load_model(out, "cpu").meta["calibration"]["figures"]
        assert fig["defect_kinds"] == list(kinds) and set(fig["defects_flagged_by_kind"]) == set(kinds)


def test_brick_l2ae_at_its_defaults_catches_a_displaced_piece_and_passes_the_crop(crops):
    """Issue 29 item 5, as far as it was achieved: a piece of the brick pattern shifted by a
    fraction of its period is caught by the bundled brick_l2ae at its calibrated defaults, and the
    same crop (from the source's test strip, never trained on) passes. A local warp is not caught
    reliably by any bundled model (the model card's per-kind table), so no test claims it."""
    from pathlib import Path

    from inspector_app.core.calibration import model_defaults
    from inspector_app.core.data import to_tensor
    from inspector_app.core.modelio import load_model
    from inspector_app.core.projection import run_to_end
    from inspector_app.core.verdict import image_score

    path = Path(__file__).resolve().parents[2] / "resources" / "models" / "brick_l2ae.safetensors"
    lm = load_model(path, "cpu")
    cal = model_defaults(lm.meta)
    good = crops["brick"]
    bad, mask = apply_geometric(good, "displaced", np.random.default_rng(0))
    params = cal.projection_params()
    _, last, _ = run_to_end(lm.model, to_tensor([good.astype(np.float32) / 255, bad.astype(np.float32) / 255]),
                            params, stats=lm.training_stats)
    maps = last.dssim_projection.numpy()
    assert image_score(maps[0], cal.min_area) <= cal.threshold < image_score(maps[1], cal.min_area)
    assert maps[1][mask].mean() > 5 * maps[1][~mask].mean()  # found where the piece moved


def test_make_dataset_command_geometric(tmp_path, capsys):
    from inspector_app import cli

    assert cli.main(["make-dataset", "--source", "faces", "--out", str(tmp_path / "f"), "--geometric"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--geometric is for textures" in err[0] and not (tmp_path / "f").exists()
    assert cli.main(["make-dataset", "--source", "brick", "--out", str(tmp_path / "b"), "--n-train", "1",
                     "--n-test", "9", "--geometric"]) == 0
    assert "test/warp 1" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "b" / "test").iterdir()) == sorted(["good", *ALL_KINDS])


ALL_KINDS = TEXTURE_DEFECTS + GEOMETRIC_DEFECTS
