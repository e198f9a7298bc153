"""Tests of inspector_app.core.metrics: exact AUROC, the PRO curve / AU-PRO, PSNR and SSIM."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import label
from sklearn.metrics import roc_auc_score, roc_curve

from inspector_app.core.metrics import aupro, image_auroc, pixel_auroc, pro_curve, psnr, roc_curve_points, ssim


@pytest.mark.parametrize("seed", range(6))
def test_pixel_auroc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    for n, levels, p in [(7, 3, 0.4), (500, 5, 0.1), (20_000, 50, 0.03), (20_000, 1000, 0.9)]:
        labels = rng.random(n) < p
        labels[0], labels[1] = True, False
        scores = rng.integers(0, levels, n).astype(np.float32) + labels * rng.random() * 2
        assert abs(pixel_auroc(scores, labels) - roc_auc_score(labels, scores)) < 1e-9
        # maps of any shape, 0/1 integer labels
        maps = scores.reshape(1, -1)
        assert abs(pixel_auroc(maps, labels.astype(np.uint8).reshape(1, -1)) - roc_auc_score(labels, scores)) < 1e-9


def test_pixel_auroc_continuous_and_extremes():
    rng = np.random.default_rng(42)
    s = rng.normal(size=10_000).astype(np.float32)
    y = rng.random(10_000) < 0.2
    assert abs(pixel_auroc(s, y) - roc_auc_score(y, s)) < 1e-9
    assert pixel_auroc(y.astype(np.float32), y) == 1.0
    assert pixel_auroc(-y.astype(np.float32), y) == 0.0
    assert pixel_auroc(np.zeros(10), np.arange(10) < 3) == 0.5


def test_image_auroc():
    scores = [0.1, 0.4, 0.35, 0.8, 0.8]
    labels = [0, 0, 1, 1, 0]
    assert abs(image_auroc(scores, labels) - roc_auc_score(labels, scores)) < 1e-12


@pytest.mark.parametrize("labels", [np.zeros(10, bool), np.ones(10, bool), np.ones(10, np.int64)])
def test_one_class_raises(labels):
    with pytest.raises(ValueError, match="one class"):
        pixel_auroc(np.arange(10, dtype=np.float32), labels)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="binary"):
        pixel_auroc(np.arange(4.0), np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="size"):
        pixel_auroc(np.arange(4.0), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="NaN"):
        pixel_auroc(np.array([0.0, np.nan, 1.0]), np.array([0, 1, 1]))


def test_roc_curve_points_matches_sklearn():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 30, 2000).astype(np.float64)
    y = rng.random(2000) < 0.3
    fpr, tpr, thr = roc_curve_points(s, y)
    f2, t2, th2 = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])
    assert abs(np.trapezoid(tpr, fpr) - pixel_auroc(s, y)) < 1e-12
    fpr, tpr, thr = roc_curve_points(s, y, num_thresholds=10)
    assert len(fpr) <= 11 and fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1


def _masks(seed=0, n=6, size=48):
    rng = np.random.default_rng(seed)
    gt = np.zeros((n, size, size), bool)
    for i in range(n - 1):  # the last image is normal
        for _ in range(rng.integers(1, 4)):
            y, x = rng.integers(0, size - 10, 2)
            h, w = rng.integers(2, 10, 2)
            gt[i, y:y + h, x:x + w] = True
    return gt


def test_aupro_perfect_detector_is_one():
    gt = _masks()
    assert aupro(gt.astype(np.float32), gt) == pytest.approx(1.0, abs=1e-12)
    noisy = gt * 2.0 + np.random.default_rng(1).random(gt.shape) * 0.9  # still perfectly separated
    assert aupro(noisy, gt) == pytest.approx(1.0, abs=1e-12)


def test_aupro_random_and_constant_are_low():
    gt = _masks()
    r = aupro(np.random.default_rng(5).random(gt.shape), gt)
    assert 0.05 < r < 0.3  # a random detector sits near fpr_limit / 2 = 0.15
    assert aupro(np.zeros(gt.shape), gt) == pytest.approx(0.15)
    assert aupro(-gt.astype(float), gt) < 0.01


def test_pro_hand_computed():
    # 4×4, two regions of 2 px, not 8-connected: A at (0,0),(0,1); B at (3,2),(3,3)
    gt = np.zeros((4, 4), bool)
    gt[0, 0:2] = True
    gt[3, 2:4] = True
    s = np.zeros((4, 4))
    s[0, 0:2] = 1.0  # A fully detected
    s[3, 2] = 1.0    # B half detected
    s[1, 3] = 0.5    # one false positive at the middle threshold, of 12 normal pixels
    fpr, pro, thr = pro_curve(s[None], gt[None], num_thresholds=3)
    np.testing.assert_allclose(thr, [np.inf, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(pro, [0, 0.75, 0.75, 1.0])
    np.testing.assert_allclose(fpr, [0, 0, 1 / 12, 1.0])
    # full area: 0.75·(1/12) + (11/12)·(0.75 + 1)/2
    assert aupro(s, gt, fpr_limit=1.0, num_thresholds=3) == pytest.approx(0.75 / 12 + 11 / 12 * 1.75 / 2)
    # up to 0.3, PRO interpolated at 0.3 between (1/12, 0.75) and (1, 1)
    p03 = 0.75 + 0.25 * (0.3 - 1 / 12) / (11 / 12)
    expected = (0.75 / 12 + (0.3 - 1 / 12) * (0.75 + p03) / 2) / 0.3
    assert aupro(s, gt, fpr_limit=0.3, num_thresholds=3) == pytest.approx(expected)


def test_pro_curve_matches_naive_loop():
    gt = _masks(seed=2)
    s = np.random.default_rng(7).random(gt.shape).astype(np.float32) + gt * 0.4
    fpr, pro, thr = pro_curve(s, gt, num_thresholds=25)
    regions = []
    for i in range(len(gt)):
        lab = label(gt[i], connectivity=2)
        regions += [(i, lab == r) for r in range(1, lab.max() + 1)]
    for k in range(1, len(thr)):
        t = thr[k]
        want_pro = np.mean([np.mean(s[i][m] >= t) for i, m in regions])
        want_fpr = np.mean(s[~gt] >= t)
        assert pro[k] == pytest.approx(want_pro, abs=1e-12)
        assert fpr[k] == pytest.approx(want_fpr, abs=1e-12)


def test_aupro_no_region_raises():
    with pytest.raises(ValueError, match="no anomalous region"):
        aupro(np.random.default_rng(0).random((2, 8, 8)), np.zeros((2, 8, 8), bool))
    with pytest.raises(ValueError, match="fpr_limit"):
        aupro(np.zeros((1, 4, 4)), np.ones((1, 4, 4), bool), fpr_limit=0.0)


def test_psnr_and_ssim():
    rng = np.random.default_rng(0)
    a = rng.random((32, 32))
    assert psnr(a, a) == float("inf")
    b = np.clip(a + 0.1, 0, 1)
    mse = np.mean((a - b) ** 2)
    assert psnr(a, b) == pytest.approx(10 * np.log10(1 / mse))
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, rng.random((32, 32))) < 0.2
    c = rng.random((16, 16, 3))
    assert ssim(c, c) == pytest.approx(1.0)
    assert ssim(c[..., :1], c[..., :1]) == pytest.approx(1.0)
    assert 0 < ssim(c, np.clip(c + 0.05 * rng.standard_normal(c.shape), 0, 1)) < 1
    with pytest.raises(ValueError, match="shape"):
        psnr(a, c)
