"""``evaluate`` end to end on a tiny generated category, its JSON, and bad categories (exit 2)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from inspector_app.cli import main
from inspector_app.core.evaluation import HistogramAUROC, load_category, plateau_iteration

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
    assert 0 <= r["baseline"]["pixel_auroc"] <= 1
    assert {"pixel_auroc", "pixel_auroc_recon", "iterations"} <= set(r["grad"])
    assert r["grad"]["iterations"] == 4
    assert [c["iteration"] for c in r["curve"]] == [0, 1, 2, 3, 4]
    assert {"pixel_auroc_plain", "pixel_auroc_tuned"} <= set(r["curve"][0])
    assert cv2.imread(str(out_png)) is not None


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
