"""``evaluate`` on images larger than the model, at the model's working scale (issue 22): maps and
ground truth at the working size, images of several working sizes, the exact AUPRO over them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from inspector_app.cli import main
from inspector_app.core.evaluation import _figures, load_category

from conftest import make_model_file, make_tiled_model_file, write_stain_category


def _aupro_reference(maps, gts, limit=0.3):
    """AUPRO from its definition: every distinct score a threshold, each 8-connected region of
    each image one overlap, the normal pixels of all images the FPR, the area up to ``limit``
    (interpolated there) over ``limit``."""
    regions, neg = [], []
    for m, g in zip(maps, gts):
        lab, n = ndimage.label(g, structure=np.ones((3, 3)))
        regions += [m[lab == i] for i in range(1, n + 1)]
        neg.append(m[~g])
    neg = np.concatenate(neg)
    thr = np.unique(np.concatenate([neg, *regions]))[::-1]
    fpr = np.array([0.0] + [np.mean(neg >= t) for t in thr])
    pro = np.array([0.0] + [np.mean([np.mean(r >= t) for r in regions]) for t in thr])
    i = int(np.searchsorted(fpr, limit, side="right"))
    y = pro[i - 1] + (pro[i] - pro[i - 1]) * (limit - fpr[i - 1]) / (fpr[i] - fpr[i - 1])
    x, y = np.append(fpr[:i], limit), np.append(pro[:i], y)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / limit)


@pytest.mark.parametrize("shapes", [[(12, 12)] * 4, [(12, 12), (10, 15), (12, 12), (7, 9)]])
def test_figures_over_maps_of_several_sizes_are_exact(shapes):
    rng = np.random.default_rng(5)
    maps = [np.round(rng.random(s), 2).astype(np.float32) for s in shapes]  # ties included
    gts = [np.zeros(s, bool) for s in shapes]
    gts[0][2:5, 3:6] = gts[0][8:10, 8:11] = True
    gts[1][4:8, 1:4] = True
    for m, g in zip(maps, gts):
        m[g] += 0.3
    labels = np.array([g.any() for g in gts])
    f = _figures(maps, gts, labels)
    flat_m = np.concatenate([m.ravel() for m in maps])
    flat_g = np.concatenate([g.ravel() for g in gts])
    assert f["pixel_auroc"] == pytest.approx(roc_auc_score(flat_g, flat_m), abs=1e-12)
    assert f["aupro"] == pytest.approx(_aupro_reference(maps, gts), abs=1e-9)
    assert f["image_auroc"] == pytest.approx(roc_auc_score(labels, [m.max() for m in maps]), abs=1e-12)


def _model_with_working_scale(tmp_path, max_side):
    return make_tiled_model_file(tmp_path, max_side)


@pytest.fixture
def big_category(tmp_path):
    """Brick images of 96×96 and 80×64 with square stains, masks beside them."""
    from skimage import data

    brick = data.brick()

    def image(i, rng):
        h, w = (96, 96) if i < 2 else (80, 64)
        y, x = rng.integers(0, 512 - 96, 2)
        return brick[y:y + h, x:x + w].copy()

    return write_stain_category(tmp_path / "cat", (("good", 3), ("stain", 3)), image, ((21, 17), 10, 30), seed=0)


def test_evaluate_scores_larger_images_at_the_working_scale(tmp_path, big_category, capsys):
    """96-px and 80×64 images meet a 32-px model whose working scale brings them to 64 px on their
    longer side: the maps, the ground truth, the figures and the verdicts are those at 64×64 and
    64×51 (recomputed here from prepare() and the projection), not at the model's 32 px."""
    from inspector_app.core.data import read_image, resize_image, to_tensor
    from inspector_app.core.metrics import aupro
    from inspector_app.core.modelio import load_model
    from inspector_app.core.params import ProjectionParams
    from inspector_app.core.pipeline import prepare
    from inspector_app.core.projection import run_to_end
    from inspector_app.core.verdict import image_score

    model = _model_with_working_scale(tmp_path, 64)
    out = tmp_path / "r.json"
    rc = main(["evaluate", "--model", str(model), "--data", str(big_category), "--max-iter", "3", "--stop", "none",
               "--iterations", "2", "--min-area", "4", "--threshold", "0.3", "--json", str(out), "--quiet", "--batch", "4"])
    err = capsys.readouterr().err
    assert rc == 0, err
    r = json.loads(out.read_text())
    assert r["working_scale"] == {"mode": "crops", "max_side": 64}
    assert r["working_sizes"] == {"64x64": 4, "51x64": 2}

    loaded = load_model(model, "cpu")
    params = ProjectionParams(**r["params"])
    maps, gts = [], []
    for t in load_category(big_category).images:
        img = read_image(t.path, 1)
        prep = prepare(t.path.name, img, loaded)
        assert prep.working_shape == ((64, 64) if img.shape == (96, 96) else (64, 51))
        gt = np.zeros(img.shape, bool) if t.mask_path is None else read_image(t.mask_path) > 0.5
        gts.append(resize_image(gt.astype(np.float32), prep.working_shape) > 0.5)
        maps.append(run_to_end(loaded.model, to_tensor([prep.model_input]), params)[1].dssim_projection[0].numpy())
    flat_g = np.concatenate([g.ravel() for g in gts])
    assert 0 < flat_g.sum() < flat_g.size
    assert r["grad"]["pixel_auroc"] == pytest.approx(
        roc_auc_score(flat_g, np.concatenate([m.ravel() for m in maps])), abs=1e-6)
    assert r["grad"]["aupro"] == pytest.approx(_aupro_reference(maps, gts), abs=1e-4)
    square = [i for i, m in enumerate(maps) if m.shape == (64, 64)]
    assert r["grad"]["aupro"] != pytest.approx(aupro(np.stack([maps[i] for i in square]),
                                                     np.stack([gts[i] for i in square])), abs=1e-6)
    scores = [s["score"] for s in r["verdicts"]["scores"]]
    assert scores == pytest.approx([image_score(m, 4) for m in maps], abs=1e-6)
    assert r["verdicts"]["min_area"] == 4
    # the figure-5 curves run on the same working-scale images (x_0 = x0: no signal at t = 0)
    assert [c["iteration"] for c in r["curve"]] == [0, 1, 2]
    assert r["curve"][0]["pixel_auroc_plain"] == 0.5
    assert all(0.5 < r["curve"][-1][f"pixel_auroc_{k}"] <= 1 for k in ("plain", "tuned"))


def test_a_model_size_image_is_scored_as_before(tmp_path, big_category, capsys):
    """Without a working scale the same images are resized to the model's 32 px (today's behaviour)."""
    model = make_model_file(tmp_path / "plain.safetensors", size=32)
    out = tmp_path / "r.json"
    rc = main(["evaluate", "--model", str(model), "--data", str(big_category), "--max-iter", "2", "--stop", "none",
               "--no-curve", "--json", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    r = json.loads(out.read_text())
    assert r["working_scale"] is None and r["working_sizes"] == {"32x32": 6}


def test_large_images_are_read_a_few_at_a_time(tmp_path, big_category, monkeypatch):
    """However large ``batch``, images are read and projected only until their working-scale
    pixels reach BATCH_PIXELS; the figures are those of the one-batch run."""
    from inspector_app.core import evaluation, projection
    from inspector_app.core.modelio import load_model
    from inspector_app.core.params import ProjectionParams

    loaded = load_model(_model_with_working_scale(tmp_path, 64), "cpu")
    cat = load_category(big_category)
    params = ProjectionParams(max_iter=2, stop="none")
    one = evaluation.evaluate(loaded, cat, params, batch=16, curve=False)
    sizes = []
    real_project = projection.project

    def counting(model, x0, *args, **kw):
        sizes.append(x0.shape[0])
        return real_project(model, x0, *args, **kw)

    monkeypatch.setattr(projection, "project", counting)
    monkeypatch.setattr(evaluation, "BATCH_PIXELS", 2 * 64 * 64)
    few = evaluation.evaluate(loaded, cat, params, batch=16, curve=False)
    assert max(sizes) <= 2 and sum(sizes) == len(cat.images)
    for part in ("baseline", "grad"):
        for key in ("pixel_auroc", "aupro"):
            assert few[part][key] == pytest.approx(one[part][key], abs=1e-6)
    assert [s["score"] for s in few["verdicts"]["scores"]] == pytest.approx(
        [s["score"] for s in one["verdicts"]["scores"]], abs=1e-6)
