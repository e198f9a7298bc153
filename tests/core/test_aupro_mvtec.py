"""AU-PRO against a port of MVTec AD's own evaluation (``evaluate_experiment.py``).

The port below follows the published algorithm step by step (Bergmann et al.'s ``compute_pro``
and ``trapezoid``): each pixel carries how much it changes the false positives (1 for a normal
pixel) and the PRO (1 / size of its 8-connected ground-truth region, from
``scipy.ndimage.label`` with a 3×3 structure); all pixels of all images are sorted by decreasing
score, both changes summed cumulatively, only the last point of each run of equal scores kept
(every distinct score is a threshold), FPR divided by all normal pixels of all images and PRO by
the number of regions, the curve framed by (0, 0) and (1, 1), and integrated with the trapezoidal
rule up to the limit, the value at the limit interpolated between its neighbours, then divided by
the limit. (MVTec's script stores the FPRs as float32; the port keeps float64.)
"""

from __future__ import annotations

from bisect import bisect

import numpy as np
import pytest
from scipy.ndimage import label

from inspector_app.core.metrics import aupro, pro_curve


def _mvtec_pro_curve(maps, gts):
    structure = np.ones((3, 3), dtype=int)
    fp_change = np.zeros(maps.shape, np.int64)
    pro_change = np.zeros(maps.shape, np.float64)
    n_ok = 0
    n_regions = 0
    for i, gt in enumerate(gts):
        labeled, n = label(gt, structure)
        n_regions += n
        ok = labeled == 0
        n_ok += int(ok.sum())
        fp_change[i][ok] = 1
        for r in range(1, n + 1):
            region = labeled == r
            pro_change[i][region] = 1.0 / region.sum()
    scores = maps.ravel()
    order = np.argsort(scores)[::-1]
    scores = scores[order]
    fprs = np.cumsum(fp_change.ravel()[order]) / n_ok
    pros = np.cumsum(pro_change.ravel()[order]) / n_regions
    keep = np.append(np.diff(scores) != 0, True)
    fprs = np.clip(fprs[keep], None, 1.0)
    pros = np.clip(pros[keep], None, 1.0)
    return np.concatenate(([0.0], fprs, [1.0])), np.concatenate(([0.0], pros, [1.0]))


def _mvtec_trapezoid(x, y, x_max):
    correction = 0.0
    if x_max not in x:
        ins = bisect(x, x_max)
        assert 0 < ins < len(x)
        y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x, y = x[mask], y[mask]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1]))) + correction


def mvtec_aupro(maps, gts, limit=0.3):
    fpr, pro = _mvtec_pro_curve(np.asarray(maps), np.asarray(gts, bool))
    return _mvtec_trapezoid(fpr, pro, limit) / limit


def test_the_issues_minimal_case_gives_one_third():
    maps = np.array([[[0, .001, .002, .003, 1.0, .0045]]], np.float32)
    gts = np.array([[[0, 0, 0, 0, 0, 1]]], bool)
    assert mvtec_aupro(maps, gts) == pytest.approx(1 / 3, abs=1e-12)
    assert aupro(maps, gts) == pytest.approx(1 / 3, abs=1e-12)


def _case(rng: np.random.Generator, kind: str):
    n = int(rng.integers(1, 5))
    h, w = (int(v) for v in rng.integers(3, 24, 2))
    gts = np.zeros((n, h, w), bool)
    for i in range(n):
        for _ in range(int(rng.integers(0, 4))):
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            gts[i, y:y + int(rng.integers(1, 6)), x:x + int(rng.integers(1, 6))] = True
        if rng.random() < 0.3:  # scattered pixels: diagonal neighbours join (8-connectivity)
            gts[i] |= rng.random((h, w)) < 0.05
    if not gts.any():
        gts[0, 0, 0] = True
    if gts.all():
        gts[-1, -1, -1] = False
    shape = gts.shape
    if kind == "uniform":
        maps = rng.random(shape)
    elif kind == "pareto":  # heavy tail: most scores tiny, a few huge
        maps = rng.pareto(1.2, shape) * 1e-3
    elif kind == "spiky":  # the issue's pattern: most good pixels under a small step, a few high
        maps = rng.random(shape) * 1e-3
        maps[rng.random(shape) < 0.03] = rng.random() + 0.5
    elif kind == "ties":  # a handful of levels: many ties between good and anomalous pixels
        maps = rng.integers(0, int(rng.integers(1, 6)), shape).astype(np.float64)
    else:  # "separated": anomalous pixels higher, with noise
        maps = rng.random(shape) * 0.5 + gts * rng.random() * 0.8
    if rng.random() < 0.5:
        maps = maps.astype(np.float32)
    return maps, gts


@pytest.mark.parametrize("kind", ["uniform", "pareto", "spiky", "ties", "separated"])
def test_aupro_equals_mvtec_on_random_and_heavy_tailed_cases(kind):
    rng = np.random.default_rng(["uniform", "pareto", "spiky", "ties", "separated"].index(kind))
    for _ in range(80):
        maps, gts = _case(rng, kind)
        for limit in (0.3, float(rng.uniform(0.01, 1.0)), 1.0):
            assert aupro(maps, gts, fpr_limit=limit) == pytest.approx(mvtec_aupro(maps, gts, limit), abs=1e-6), \
                (kind, limit)


def test_pro_curve_is_mvtecs_curve():
    rng = np.random.default_rng(11)
    for kind in ("uniform", "ties", "spiky"):
        for _ in range(10):
            maps, gts = _case(rng, kind)
            fpr, pro, thr = pro_curve(maps, gts)
            f2, p2 = _mvtec_pro_curve(maps, gts)
            # the same points, but for MVTec's closing (1, 1), which the lowest score already reaches
            np.testing.assert_allclose(fpr, f2[:-1], atol=1e-12)
            np.testing.assert_allclose(pro, p2[:-1], atol=1e-9)
            assert fpr[-1] == pro[-1] == 1.0
            np.testing.assert_array_equal(thr[1:], np.unique(maps)[::-1])
