"""``calibrate --whole-images``: the threshold and minimum area placed on whole validation
photographs projected as ``project`` projects them (tiled at the working scale)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from conftest import make_tiled_model_file

CAL = {"threshold": 0.0005, "min_area": 1, "stop": "none", "max_iter": 3, "alpha": 0.2,
       "method": "calibrated on crops (test)"}


def _model(tmp_path, max_side=96):
    return make_tiled_model_file(tmp_path, max_side, calibration=CAL)


@pytest.fixture
def photos(tmp_path):
    """Three whole 'photographs' of brick at its own scale: 96×96, 96×80, 80×96."""
    from skimage import data

    b = data.brick()
    d = tmp_path / "photos"
    d.mkdir()
    for i, (y, x, h, w) in enumerate([(0, 0, 96, 96), (200, 100, 96, 80), (300, 300, 80, 96)]):
        cv2.imwrite(str(d / f"{i:03d}.png"), b[y:y + h, x:x + w])
    return d


def test_whole_images_threshold_passes_the_photographs_as_project_scores_them(tmp_path, photos, capsys):
    """The new threshold passes every validation photograph when ``project`` inspects it whole (the
    tile-calibrated 0.0005 of the fixture flags them: the test fails without the new pass); step
    size, stop and iterations are kept; the file says how the threshold was placed."""
    from inspector_app.core.modelio import load_model

    model = _model(tmp_path)
    before = main(["project", "--model", str(model), str(photos), "--out", str(tmp_path / "before"), "--quiet"])
    assert before == 0
    flagged = [json.loads(p.read_text())["verdict"] for p in sorted((tmp_path / "before").glob("*.json"))]
    assert flagged.count("defective") >= 2  # the crop-calibrated threshold fails whole photographs
    out = tmp_path / "whole.safetensors"
    assert main(["calibrate", "--model", str(model), "--data", str(photos), "--val-dir", "--whole-images",
                 "--out", str(out), "--quiet"]) == 0
    cal = load_model(out, "cpu").meta["calibration"]
    assert (cal["stop"], cal["max_iter"], cal["alpha"]) == ("none", 3, 0.2)
    assert cal["threshold"] > CAL["threshold"] and "3 whole validation photographs" in cal["method"]
    f = cal["figures"]
    assert f["n_good_photographs"] == 3 and f["good_passed"] == 1.0 and f["n_defects"] == 12
    assert sorted(f["photo_shapes"]) == ["80x96", "96x80", "96x96"]
    assert main(["project", "--model", str(out), str(photos), "--out", str(tmp_path / "after"), "--quiet"]) == 0
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "after").glob("*.json"))]
    assert [r["verdict"] for r in results] == ["good"] * 3
    assert all(r["working_size"] != [32, 32] for r in results)  # inspected whole, not resized
    # and the scores project gives are the ones the calibration placed its threshold on (same maps)
    scores = sorted(r["score"] for r in results)
    area_scores = sorted(f["area_table"][str(cal["min_area"])]["good_scores"])
    assert all(s <= a + 1e-6 for s, a in zip(scores, area_scores))
    assert "threshold" in capsys.readouterr().err


def test_whole_images_synthetic_defects_are_flagged(tmp_path, photos):
    from inspector_app.core.calibration_whole import calibrate_whole
    from inspector_app.core.data import list_images, read_image
    from inspector_app.core.modelio import load_model

    loaded = load_model(_model(tmp_path), "cpu")
    imgs = [read_image(p, 1) for p in list_images(photos)]
    calls = []
    cal = calibrate_whole(loaded, imgs, progress=calls.append)
    assert sum(calls) == 3 * (1 + 2 + 4)  # each photograph, its two lightings, its four defects
    f = cal.figures
    assert set(f["flagged_by_kind"]) == {"stain", "scratch", "hole", "patch"}
    assert 0.5 < f["pixel_auroc"] <= 1.0
    assert np.isfinite(cal.threshold) and cal.min_area in (1, 4, 9, 16, 25, 36, 49, 64, 100, 144)


def test_whole_images_geometric_paints_every_kind_on_each_photograph(tmp_path, photos, capsys):
    """``--whole-images --geometric``: one defect of each of the eight kinds (intensity and
    geometric) on each photograph, and the threshold placed against all of them."""
    from inspector_app.core.geodefects import ALL_DEFECTS
    from inspector_app.core.modelio import load_model

    out = tmp_path / "geo.safetensors"
    assert main(["calibrate", "--model", str(_model(tmp_path)), "--data", str(photos), "--val-dir", "--whole-images",
                 "--geometric", "--out", str(out), "--quiet"]) == 0
    f = load_model(out, "cpu").meta["calibration"]["figures"]
    assert f["n_defects"] == 3 * len(ALL_DEFECTS) == 24
    assert set(f["flagged_by_kind"]) == set(ALL_DEFECTS)
    assert "24 synthetic defects" in load_model(out, "cpu").meta["calibration"]["method"]


@pytest.mark.parametrize("extra, message", [
    ([], "--whole-images needs --val-dir"),
    (["--val-dir", "--inpainting"], "places the threshold only"),
    (["--val-dir", "--minutes", "0"], "--minutes must be positive"),
])
def test_whole_images_refuses_bad_combinations(tmp_path, photos, capsys, extra, message):
    out = tmp_path / "x.safetensors"
    code = main(["calibrate", "--model", str(_model(tmp_path)), "--data", str(photos), "--whole-images",
                 "--out", str(out), *extra])
    assert code == 2 and message in capsys.readouterr().err and not out.exists()


def test_whole_images_that_cannot_fit_the_minutes_are_refused_at_once(tmp_path, photos, capsys, monkeypatch):
    """The estimate (one photograph's projection measured) refuses a run that cannot fit, in one line,
    before any of the calibration's projections: it used to run until the time ran out."""
    import inspector_app.core.calibration_whole as cw

    def never(*_a, **_k):
        raise AssertionError("the calibration started")

    monkeypatch.setattr(cw, "calibrate_whole", never)
    out = tmp_path / "x.safetensors"
    code = main(["calibrate", "--model", str(_model(tmp_path)), "--data", str(photos), "--val-dir", "--whole-images",
                 "--minutes", "1e-9", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and not out.exists()
    assert "it would take about" in err[0] and "21 images to project and score" in err[0]
    assert "nothing was written: give --minutes" in err[0]


def test_whole_images_minutes_say_the_estimate_and_an_overrun_still_writes_nothing(tmp_path, photos, capsys,
                                                                                     monkeypatch):
    model = _model(tmp_path)
    out = tmp_path / "fits.safetensors"
    assert main(["calibrate", "--model", str(model), "--data", str(photos), "--val-dir", "--whole-images",
                 "--minutes", "30", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "calibrating on whole photographs for about" in err and "21 images to project and score" in err and out.exists()
    # an estimate that said it fits, wrongly: the deadline still stops the run, and nothing is written
    import inspector_app.cli.calibrate as cli_calibrate

    monkeypatch.setattr(cli_calibrate, "_whole_fits", lambda *a, **k: None)
    out = tmp_path / "x.safetensors"
    code = main(["calibrate", "--model", str(model), "--data", str(photos), "--val-dir", "--whole-images",
                 "--minutes", "1e-9", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "time limit ran out after 0 of 21 images" in err and "nothing was written" in err
    assert not out.exists()


def test_the_whole_images_estimate_counts_every_projection(tmp_path, photos):
    """Photographs, lighting variants at the measured iterations; defects at max_iter: the estimate is
    the measured rate per pixel and iteration times them (stop none, 3 iterations: each photograph's
    pixels 7 times — itself, 2 lighting variants, 4 defects — at 4 evaluations), and the measured
    scoring per pixel times the 7 maps of each photograph."""
    from inspector_app.core.calibration_whole import estimate_whole
    from inspector_app.core.data import list_images, read_image
    from inspector_app.core.modelio import load_model

    loaded = load_model(_model(tmp_path), "cpu")
    imgs = [read_image(f, 1) for f in list_images(photos)]
    est = estimate_whole(loaded, imgs)
    assert est.n_images == 21 and est.iterations == 3 and est.measured > 0 and est.scoring > 0
    px = 96 * 96 + 2 * 96 * 80
    assert est.seconds == pytest.approx(px / (96 * 96) * (est.measured / 4 * 7 * 4 + est.scoring * 7))


def test_the_margin_zeroes_the_outermost_pixels_of_every_map():
    import torch

    from inspector_app.core.losses import uninspected_margin

    m = torch.rand(2, 20, 30) + 0.1
    inner = m[:, 3:-3, 3:-3].clone()
    out = uninspected_margin(m.clone(), 3)
    assert (out[:, :3] == 0).all() and (out[:, -3:] == 0).all() and (out[:, :, :3] == 0).all()
    assert (out[:, :, -3:] == 0).all() and torch.equal(out[:, 3:-3, 3:-3], inner)
    assert torch.equal(uninspected_margin(m.clone(), 0), m)


def test_project_applies_the_margin_of_the_flag_and_of_the_calibration(tmp_path, photos):
    """``--margin`` (and, without it, the model's calibrated margin) leaves the outermost pixels
    of the map at 0; the result JSON records it; out of range is one line, exit 2."""
    from inspector_app.core.modelio import load_model, save_model

    model = _model(tmp_path)
    img = str(photos / "000.png")
    assert main(["project", "--model", str(model), img, "--out", str(tmp_path / "a"), "--margin", "5",
                 "--quiet"]) == 0
    d = np.load(tmp_path / "a" / "000_dssim.npy")
    assert d.shape == (96, 96) and not d[:5].any() and not d[:, -5:].any() and d[5:-5, 5:-5].any()
    assert json.loads((tmp_path / "a" / "000.json").read_text())["params"]["margin"] == 5
    loaded = load_model(model, "cpu")
    meta = {**loaded.meta, "calibration": {**loaded.meta["calibration"], "margin": 3}}
    m3 = save_model(loaded.model, tmp_path / "m3.safetensors", meta)
    assert main(["project", "--model", str(m3), img, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    d3 = np.load(tmp_path / "b" / "000_dssim.npy")
    assert not d3[:3].any() and d3[3:-3, 3:-3].any()
    assert np.array_equal(d3[5:-5, 5:-5], d[5:-5, 5:-5])  # the inside is untouched
    assert main(["project", "--model", str(m3), img, "--out", str(tmp_path / "c"), "--margin", "-1"]) == 2


def test_whole_images_calibration_chooses_and_stores_a_margin(tmp_path, photos):
    from inspector_app.core.calibration_whole import MARGINS
    from inspector_app.core.modelio import load_model

    out = tmp_path / "whole.safetensors"
    assert main(["calibrate", "--model", str(_model(tmp_path)), "--data", str(photos), "--val-dir", "--whole-images",
                 "--out", str(out), "--quiet"]) == 0
    cal = load_model(out, "cpu").meta["calibration"]
    assert cal["margin"] in MARGINS and set(cal["figures"]["margin_table"]) == {str(m) for m in MARGINS}
    best = cal["figures"]["margin_table"][str(cal["margin"])]["robust_accuracy"]
    assert all(v["robust_accuracy"] <= best + 1e-9 for v in cal["figures"]["margin_table"].values())


def test_a_margin_that_covers_a_model_size_image_is_refused(tmp_path, photos, capsys):
    code = main(["project", "--model", str(_model(tmp_path)), str(photos / "000.png"), "--out", str(tmp_path / "o"),
                 "--margin", "16"])
    assert code == 2 and "--margin 16 leaves nothing of a 32-px image inspected" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_weak_whole_images_calibration_is_said(tmp_path, photos, capsys, monkeypatch):
    """A model whose good photographs score above its synthetic defects: ``calibrate`` and ``train``
    warned that the calibration hardly separates them, ``--whole-images`` wrote a threshold that
    fails every good photograph without a word (seen on a 3-minute gravel model: 0 % passed)."""
    from inspector_app.core import calibration_whole

    real = calibration_whole.calibrate_whole

    def weak(*a, **k):  # the same calibration, with the figures of that gravel model
        cal = real(*a, **k)
        cal.figures.update(good_passed=0.0, robust_accuracy=0.5)
        return cal

    monkeypatch.setattr(calibration_whole, "calibrate_whole", weak)
    out = tmp_path / "weak.safetensors"
    assert main(["calibrate", "--model", str(_model(tmp_path)), "--data", str(photos), "--val-dir", "--whole-images",
                 "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert ("warning: this calibration hardly separates good whole photographs from synthetic defects (robust "
            "accuracy 0.50, 0% of the photographs passed): its verdicts are not to be trusted") in err, err
    assert out.exists()  # written all the same: the warning says what it is worth
