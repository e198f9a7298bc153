"""``evaluate`` end to end on a tiny generated category, its JSON, and bad categories (exit 2)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from inspector_app.cli import main
from inspector_app.core.evaluation import HistogramAUROC, hist_bins, load_category, plateau_iteration

from conftest import make_model_file


@pytest.fixture(scope="module")
def tiny_category(tmp_path_factory):
    from inspector_app.core.datasets import make_dataset

    root = tmp_path_factory.mktemp("cat") / "brick"
    make_dataset("brick", root, n_train=4, n_test=10, seed=0, image_size=48)
    return root


def test_histogram_auroc_close_to_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.random(20000) < 0.2
    scores = np.clip(rng.normal(0.3 + 0.2 * labels, 0.1), 0, 1).astype(np.float32)
    h = HistogramAUROC()
    h.add(scores[:7000], labels[:7000])
    h.add(scores[7000:], labels[7000:])
    assert abs(h.value() - roc_auc_score(labels, scores)) < 1e-3


def test_evaluate_end_to_end(tmp_path, tiny_category, capsys):
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["evaluate", "--model", str(model), "--data", str(tiny_category), "--iterations", "4", "--max-iter", "4", "--stop", "none",
               "--json", str(out_json), "--plot", str(out_png), "--quiet", "--batch", "4"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "| brick | l2ae |" in out.out
    r = json.loads(out_json.read_text())
    assert {"model", "category", "n_images", "baseline", "grad", "curve"} <= set(r)
    assert r["n_images"] == 10 and r["category"] == "brick"
    # the figures are those of DSSIM(x0, f(x0)) and DSSIM(x0, x_T) over every test pixel, recomputed here
    import torch

    from inspector_app.core.evaluation import _load_batch
    from inspector_app.core.losses import dssim_map
    from inspector_app.core.modelio import load_model
    from inspector_app.core.params import ProjectionParams
    from inspector_app.core.projection import run_to_end

    loaded = load_model(model, "cpu")
    items = load_category(tiny_category).images
    base, grad, gts = [], [], []
    params = ProjectionParams(**r["params"])
    for i in range(0, len(items), 4):
        (grp,) = _load_batch(items[i:i + 4], loaded)
        x0, gt = grp.x0, grp.gt
        with torch.no_grad():
            base.append(dssim_map(x0, loaded.model.reconstruct(x0)).numpy())
        grad.append(run_to_end(loaded.model, x0, params)[1].dssim_projection.numpy())
        gts.append(gt)
    gt_all = np.concatenate(gts).ravel()
    assert r["baseline"]["pixel_auroc"] == pytest.approx(roc_auc_score(gt_all, np.concatenate(base).ravel()), abs=1e-9)
    assert r["grad"]["pixel_auroc"] == pytest.approx(roc_auc_score(gt_all, np.concatenate(grad).ravel()), abs=1e-9)
    assert r["baseline"]["pixel_auroc"] != r["grad"]["pixel_auroc"]
    assert {"pixel_auroc", "pixel_auroc_recon", "iterations"} <= set(r["grad"])
    assert r["grad"]["iterations"] == 4
    assert [c["iteration"] for c in r["curve"]] == [0, 1, 2, 3, 4]
    assert {"pixel_auroc_plain", "pixel_auroc_tuned"} <= set(r["curve"][0])
    assert cv2.imread(str(out_png)) is not None


def test_the_curve_counts_the_images_each_update_diverged_on(tmp_path, tiny_category, capsys):
    """A step size at which the plain step diverges makes its figure-5 curve read its fallback
    maps; the curve says on how many images, and so do the plot's legend and the summary line."""
    from inspector_app.core.evaluation import _load_batch, diverged_note
    from inspector_app.core.modelio import load_model
    from inspector_app.core.params import ProjectionParams
    from inspector_app.core.projection import run_to_end

    model = make_model_file(tmp_path / "m.safetensors", size=32, seed=0)
    out_json = tmp_path / "r.json"
    rc = main(["evaluate", "--model", str(model), "--data", str(tiny_category), "--iterations", "3", "--max-iter", "3",
               "--stop", "none", "--alpha", "100", "--json", str(out_json), "--quiet", "--batch", "4"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    r = json.loads(out_json.read_text())
    # the same count, from the projection engine directly
    loaded = load_model(model, "cpu")
    items = load_category(tiny_category).images
    want = {"plain": 0, "tuned": 0}
    for mask, key in (("none", "plain"), ("recon", "tuned")):
        params = ProjectionParams(alpha=100.0, grad_mask=mask, stop="none", max_iter=3)
        for i in range(0, len(items), 4):
            (grp,) = _load_batch(items[i:i + 4], loaded)
            x0 = grp.x0
            want[key] += run_to_end(loaded.model, x0, params)[1].stop_reasons.count("diverged")
    assert want["plain"] > 0
    assert [r["curve"][-1][f"diverged_{k}"] for k in ("plain", "tuned")] == [want["plain"], want["tuned"]]
    assert r["curve"][0]["diverged_plain"] == 0
    assert all(a["diverged_plain"] <= b["diverged_plain"] for a, b in zip(r["curve"], r["curve"][1:]))
    assert f"diverged on {want['plain']} of 10 images (plain step)" in out.out
    assert diverged_note(r, "plain") == f", diverged on {want['plain']} of 10 images"
    r["curve"][-1]["diverged_plain"] = 0
    assert diverged_note(r, "plain") == ""


def test_plateau_iteration():
    curve = [{"iteration": i, "a": v} for i, v in enumerate([0.5, 0.6, 0.7, 0.79, 0.8, 0.8])]
    assert plateau_iteration(curve, "a") == 3
    assert plateau_iteration([{"iteration": 0, "a": 0.5}, {"iteration": 1, "a": 0.4}], "a") is None


def _bad(capsys, rc, text):
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and text in err, err


def test_not_an_mvtec_layout(tmp_path, tiny_model_file, capsys):
    (tmp_path / "flat").mkdir()
    rc = main(["evaluate", "--model", str(tiny_model_file), "--data", str(tmp_path / "flat"), "--quiet"])
    _bad(capsys, rc, "not an MVTec AD category")


def test_category_without_ground_truth(tmp_path, tiny_category, tiny_model_file, capsys):
    c = tmp_path / "c"
    shutil.copytree(tiny_category, c)
    shutil.rmtree(c / "ground_truth")
    rc = main(["evaluate", "--model", str(tiny_model_file), "--data", str(c), "--quiet"])
    _bad(capsys, rc, "no ground truth")


def test_mask_of_another_size(tmp_path, tiny_category, tiny_model_file, capsys):
    c = tmp_path / "c"
    shutil.copytree(tiny_category, c)
    m = next((c / "ground_truth" / "stain").glob("*_mask.png"))
    cv2.imwrite(str(m), np.zeros((20, 30), np.uint8))
    rc = main(["evaluate", "--model", str(tiny_model_file), "--data", str(c), "--quiet", "--iterations", "2"])
    _bad(capsys, rc, "ground-truth mask is 30×20")


def test_empty_test_folder(tmp_path, tiny_model_file, capsys):
    (tmp_path / "c" / "test" / "good").mkdir(parents=True)
    rc = main(["evaluate", "--model", str(tiny_model_file), "--data", str(tmp_path / "c"), "--quiet"])
    _bad(capsys, rc, "empty test folder")


def test_load_category_lists_masks(tiny_category):
    cat = load_category(tiny_category)
    assert cat.defects == ["hole", "patch", "scratch", "stain"]
    assert all((t.mask_path is None) == (t.defect == "good") for t in cat.images)


@pytest.mark.parametrize("positives", [0.1, 0.9])
def test_histogram_auroc_counts_ties_one_half(positives):
    """Scores a decade apart fall in distinct bins and equal scores in one: the histogram loses
    nothing, so it must equal the exact AUROC, ties between classes (most pairs here) included."""
    rng = np.random.default_rng(2)
    labels = rng.random(4000) < positives
    levels = rng.integers(0, 6, 4000) + (rng.random(4000) < 0.3) * labels
    scores = (10.0 ** -levels.astype(np.float64)).astype(np.float32)  # 1, 0.1, … 1e-6
    assert len(np.unique(hist_bins(scores))) == len(np.unique(scores))
    h = HistogramAUROC()
    h.add(scores[:1000], labels[:1000])
    h.add(scores[1000:], labels[1000:])
    assert h.value() == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    # all in one bin: one half
    h = HistogramAUROC()
    h.add(np.full(10, 0.3, np.float32), np.arange(10) < 4)
    assert h.value() == 0.5
    # hand-computed, 10 bins of 0.6 decades: positives 1e-4 (bin 4) and 0.5 (bin 9), negatives
    # 1e-4 (bin 4) and 0 (bin 0) → (½ + 1 + 1 + 1) / 4
    h = HistogramAUROC(bins=10)
    h.add(np.array([1e-4, 0.5, 1e-4, 0.0]), np.array([1, 1, 0, 0]))
    assert (h.pos[4], h.pos[9], h.neg[4], h.neg[0]) == (1, 1, 1, 1)
    assert h.value() == 0.875
    # scores outside [0, 1] (and NaN) fall in the end bins; one class only is undefined
    h = HistogramAUROC(bins=10)
    h.add(np.array([-3.0, 7.0, np.nan]), np.array([0, 1, 0]))
    assert h.value() == 1.0 and (h.neg[0], h.pos[9]) == (2, 1)
    h = HistogramAUROC()
    h.add(np.array([0.5]), np.array([1]))
    assert np.isnan(h.value())


def test_histogram_auroc_of_a_calibrated_models_tiny_dssim_values():
    """A model that reconstructs its texture closely has DSSIM maps of 1e-4 … 1e-2: the binned AUROC
    must still be the exact one (bins linear over [0, 1] put them all in the first bin: 0.5)."""
    rng = np.random.default_rng(3)
    labels = rng.random(50_000) < 0.1
    scores = (3e-4 * np.exp(rng.normal(0.0, 0.6, labels.size) + 1.2 * labels)).astype(np.float32)
    assert scores.max() < 0.02
    h = HistogramAUROC()
    h.add(scores, labels)
    exact = roc_auc_score(labels, scores)
    assert exact > 0.9 and abs(h.value() - exact) < 1e-3


def test_evaluate_ray_without_the_extra_is_one_line_naming_it(tmp_path, tiny_category, monkeypatch, capsys):
    import sys

    model = make_model_file(tmp_path / "m.safetensors", size=32)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where Ray is not installed
    rc = main(["evaluate", "--model", str(model), "--data", str(tiny_category), "--ray", "--quiet",
               "--json", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "--ray needs Ray" in err and "pip install 'inspector-app[cluster]'" in err
    assert not (tmp_path / "r.json").exists()
