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
    fpr, pro, thr = pro_curve(s[None], gt[None])
    np.testing.assert_allclose(thr, [np.inf, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(pro, [0, 0.75, 0.75, 1.0])
    np.testing.assert_allclose(fpr, [0, 0, 1 / 12, 1.0])
    # full area: 0.75·(1/12) + (11/12)·(0.75 + 1)/2
    assert aupro(s, gt, fpr_limit=1.0) == pytest.approx(0.75 / 12 + 11 / 12 * 1.75 / 2)
    # up to 0.3, PRO interpolated at 0.3 between (1/12, 0.75) and (1, 1)
    p03 = 0.75 + 0.25 * (0.3 - 1 / 12) / (11 / 12)
    expected = (0.75 / 12 + (0.3 - 1 / 12) * (0.75 + p03) / 2) / 0.3
    assert aupro(s, gt, fpr_limit=0.3) == pytest.approx(expected)


def test_pro_curve_matches_naive_loop():
    gt = _masks(seed=2)
    s = np.random.default_rng(7).random(gt.shape).astype(np.float32) + gt * 0.4
    fpr, pro, thr = pro_curve(s, gt)
    regions = []
    for i in range(len(gt)):
        lab = label(gt[i], connectivity=2)
        regions += [(i, lab == r) for r in range(1, lab.max() + 1)]
    for k in list(range(1, len(thr), 397)) + [len(thr) - 1]:
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
    c = rng.random((16, 16, 3))
    assert ssim(c, c) == pytest.approx(1.0)
    assert ssim(c[..., :1], c[..., :1]) == pytest.approx(1.0)
    # H×W×1 is grey: the same value as the H×W image
    d = np.clip(c + 0.05 * rng.standard_normal(c.shape), 0, 1)
    assert ssim(c[..., :1], d[..., :1]) == ssim(c[..., 0], d[..., 0])
    with pytest.raises(ValueError, match="shape"):
        psnr(a, c)


# ------------------------------------------------------------------------------ AUROC with ties

@pytest.mark.parametrize("positives", [0.1, 0.9])
@pytest.mark.parametrize("levels", [2, 5, 40])
def test_pixel_auroc_integer_scores_shared_by_both_classes(positives, levels):
    """Plain integer scores, no shift: most positive/negative pairs are ties (counted one half)."""
    rng = np.random.default_rng(levels)
    labels = rng.random(5000) < positives
    scores = rng.integers(0, levels, 5000) + (rng.random(5000) < 0.3) * labels  # positives a bit higher
    assert set(np.unique(scores[labels])) & set(np.unique(scores[~labels]))  # shared values
    want = roc_auc_score(labels, scores)
    assert pixel_auroc(scores, labels) == pytest.approx(want, abs=1e-12)
    assert pixel_auroc(scores.astype(np.float32), labels.astype(np.int64)) == pytest.approx(want, abs=1e-12)


def test_pixel_auroc_hand_computed_ties():
    # positives {1, 2}, negatives {0, 1}: pairs (1,0)=1, (1,1)=½, (2,0)=1, (2,1)=1 → 3.5 / 4
    assert pixel_auroc(np.array([1, 2, 0, 1]), np.array([1, 1, 0, 0])) == 0.875
    # more positives than negatives: positives {1, 2, 3}, negative {2} → (0 + ½ + 1) / 3
    assert pixel_auroc(np.array([1, 2, 3, 2]), np.array([1, 1, 1, 0])) == 0.5
    # more negatives than positives, the positive tied with one of three: (1 + ½ + 0) / 3
    assert pixel_auroc(np.array([2.0, 1.0, 2.0, 3.0]), np.array([True, False, False, False])) == 0.5
    assert pixel_auroc(np.array([5.0, 1.0, 5.0, 3.0]), np.array([True, False, False, False])) == pytest.approx(2.5 / 3)
    assert pixel_auroc(np.array([True, False, True]), np.array([1, 0, 0])) == 0.75  # bool scores


@pytest.mark.parametrize("n_pos", [1, 3, 7, 9])
def test_all_equal_scores_give_one_half(n_pos):
    labels = np.arange(10) < n_pos
    assert pixel_auroc(np.full(10, 0.3, np.float32), labels) == 0.5
    assert image_auroc([7] * 10, labels.astype(int)) == 0.5


@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
@pytest.mark.parametrize("positives", [0.2, 0.8])
def test_pixel_auroc_is_the_same_in_chunks(monkeypatch, chunk, positives):
    import inspector_app.core.metrics as metrics

    rng = np.random.default_rng(1)
    labels = rng.random(301) < positives
    scores = rng.integers(0, 7, 301).astype(np.float64)
    monkeypatch.setattr(metrics, "_CHUNK", chunk)
    assert pixel_auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_pixel_auroc_refuses_empty_and_non_numeric():
    with pytest.raises(ValueError, match="^scores and labels are empty$"):
        pixel_auroc(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="numeric"):
        pixel_auroc(np.array(["a", "b"]), np.array([0, 1]))
    with pytest.raises(ValueError, match="^scores contain NaN$"):
        pixel_auroc(np.array([0.0, 1.0, np.nan]), np.array([0, 0, 1]))  # NaN among the negatives
    with pytest.raises(ValueError, match=r"^labels must be binary \(bool, or 0/1\)$"):
        pixel_auroc(np.arange(3.0), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"one class \(all 3 are positive"):
        pixel_auroc(np.arange(3.0), np.ones(3, bool))
    with pytest.raises(ValueError, match=r"one class \(all 3 are negative"):
        pixel_auroc(np.arange(3.0), np.zeros(3, bool))


def test_roc_curve_points_hand_computed():
    # scores 3, 2, 2, 1 with labels 1, 1, 0, 0; a sample is positive when score >= t
    fpr, tpr, thr = roc_curve_points(np.array([3.0, 2.0, 2.0, 1.0]), np.array([1, 1, 0, 0]))
    np.testing.assert_array_equal(thr, [np.inf, 3.0, 2.0, 1.0])
    np.testing.assert_array_equal(tpr, [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(fpr, [0.0, 0.0, 0.5, 1.0])
    # at most num_thresholds values, evenly spaced in rank, the extremes kept
    fpr, tpr, thr = roc_curve_points(np.arange(10.0), np.arange(10) >= 5, num_thresholds=4)
    np.testing.assert_array_equal(thr, [np.inf, 9.0, 6.0, 3.0, 0.0])
    np.testing.assert_array_equal(tpr, [0.0, 0.2, 0.8, 1.0, 1.0])
    np.testing.assert_array_equal(fpr, [0.0, 0.0, 0.0, 0.4, 1.0])
    assert len(roc_curve_points(np.arange(10.0), np.arange(10) >= 5, num_thresholds=2)[2]) == 3
    assert len(roc_curve_points(np.arange(3.0), np.arange(3) >= 1, num_thresholds=3)[2]) == 4
    with pytest.raises(ValueError, match="at least 2"):
        roc_curve_points(np.arange(10.0), np.arange(10) >= 5, num_thresholds=1)


# ------------------------------------------------------------------------------ PRO: 8-connected regions

def test_pro_regions_are_8_connected_diagonal_chain_against_a_bar():
    """A diagonal chain of 3 pixels is one region (8-connectivity), as is a bar of 3.
    The chain has 1 of its 3 pixels detected, the bar all 3: PRO = (1/3 + 1) / 2 = 2/3.
    (With 4-connectivity the chain would be 3 regions: PRO = (1 + 0 + 0 + 1) / 4 = 1/2.)"""
    gt = np.zeros((8, 8), bool)
    gt[1, 1] = gt[2, 2] = gt[3, 3] = True  # chain
    gt[6, 2:5] = True  # bar
    s = np.zeros((8, 8))
    s[1, 1] = 1.0
    s[6, 2:5] = 1.0
    fpr, pro, thr = pro_curve(s, gt)
    np.testing.assert_array_equal(thr, [np.inf, 1.0, 0.0])
    assert pro[1] == pytest.approx(2 / 3, abs=1e-12)
    np.testing.assert_array_equal(fpr, [0.0, 0.0, 1.0])
    assert pro[2] == 1.0
    # the same regions in two images count as four regions
    fpr, pro, _ = pro_curve(np.stack([s, s]), np.stack([gt, gt]))
    assert pro[1] == pytest.approx(2 / 3, abs=1e-12)
    # region weight does not depend on its size: a 9-pixel block fully detected and one missed pixel
    gt2 = np.zeros((8, 8), bool)
    gt2[0:3, 0:3] = True
    gt2[6, 6] = True
    s2 = gt2 * 1.0
    s2[6, 6] = 0.0
    assert pro_curve(s2, gt2)[1][1] == pytest.approx(0.5, abs=1e-12)


def test_pro_curve_refuses_bad_input():
    with pytest.raises(ValueError, match="no normal pixel"):
        pro_curve(np.zeros((4, 4)), np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="NaN"):
        pro_curve(np.full((4, 4), np.nan), np.eye(4, dtype=bool))
    with pytest.raises(ValueError, match="one shape"):
        pro_curve(np.zeros((4, 4)), np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match="fpr_limit"):
        aupro(np.zeros((4, 4)), np.eye(4, dtype=bool), fpr_limit=1.5)
    # integer maps are accepted (converted to float)
    fpr, pro, _ = pro_curve(np.eye(4, dtype=np.uint8) * 3, np.eye(4, dtype=bool))
    assert pro[1] == 1.0 and fpr[1] == 0.0


def test_aupro_at_a_limit_that_falls_on_a_curve_point():
    # one region of 2 px (scores 1 and 0.5), 4 normal pixels (1 at 0.5): points (0,0) (0,0.5) (0.25,1) (1,1)
    gt = np.zeros((1, 2, 3), bool)
    gt[0, 0, :2] = True
    s = np.array([[[1.0, 0.5, 0.5], [0.0, 0.0, 0.0]]])
    fpr, pro, _ = pro_curve(s, gt)
    np.testing.assert_allclose(fpr, [0, 0, 0.25, 1])
    np.testing.assert_allclose(pro, [0, 0.5, 1, 1])
    # up to 0.25 exactly: the trapezoid (0, 0.5)–(0.25, 1), no interpolation
    assert aupro(s, gt, fpr_limit=0.25) == pytest.approx(0.25 * 0.75 / 0.25)
    # up to 0.5: plus a rectangle of height 1
    assert aupro(s, gt, fpr_limit=0.5) == pytest.approx((0.25 * 0.75 + 0.25) / 0.5)
    assert aupro(s, gt, fpr_limit=1.0) == pytest.approx(0.25 * 0.75 + 0.75)


# ------------------------------------------------------------------------------ PSNR and SSIM, exact

def test_psnr_exact_values():
    a = np.zeros((8, 8))
    b = np.full((8, 8), 0.1)
    assert psnr(a, b) == pytest.approx(20.0)  # 10·log10(1 / 0.01)
    assert psnr(a, b, data_range=2.0) == pytest.approx(10 * np.log10(4 / 0.01))
    assert psnr(a, np.full((8, 8), 0.5)) == pytest.approx(10 * np.log10(4))


def test_ssim_of_constant_images_is_the_luminance_term():
    # constant images: σ = 0, so SSIM = (2·μa·μb + C1) / (μa² + μb² + C1), C1 = 0.01²
    c1 = 0.01 ** 2
    a = np.full((16, 16), 0.2)
    b = np.full((16, 16), 0.4)
    assert ssim(a, b) == pytest.approx((2 * 0.2 * 0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1), rel=1e-9)
    # colour: the mean over channels
    ca = np.stack([a, a, a], axis=2)
    cb = np.stack([b, a, a], axis=2)
    want = ((2 * 0.2 * 0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1) + 2) / 3
    assert ssim(ca, cb) == pytest.approx(want, rel=1e-9)
    # small images: the largest odd window that fits (5×5 → 5, 4×4 → 3), too small refused
    assert ssim(a[:5, :5], b[:5, :5]) == pytest.approx((2 * 0.2 * 0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1), rel=1e-9)
    assert ssim(a[:5, :16], b[:5, :16]) == pytest.approx((2 * 0.2 * 0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1), rel=1e-9)
    assert ssim(a[:4, :4], a[:4, :4]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="too small"):
        ssim(a[:2, :2], a[:2, :2])
    with pytest.raises(ValueError, match="H×W"):
        ssim(np.zeros((4, 4, 4, 4)), np.zeros((4, 4, 4, 4)))


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    a = rng.random((20, 24))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    assert ssim(a, b) == pytest.approx(structural_similarity(a, b, data_range=1.0, win_size=7), rel=1e-12)
    c = rng.random((20, 24, 3))
    d = np.clip(c + rng.normal(0, 0.1, c.shape), 0, 1)
    assert ssim(c, d) == pytest.approx(structural_similarity(c, d, data_range=1.0, channel_axis=-1, win_size=7),
                                       rel=1e-12)


# ------------------------------------------------------------------------------ what the first audits let through

def test_pro_counts_regions_of_every_image_whatever_their_order():
    gt = np.zeros((3, 4, 4), bool)
    gt[1, 0, 0] = True  # the first image is normal, the last has two regions
    gt[2, 3, 3] = gt[2, 0, 3] = True
    s = gt * 1.0
    s[2, 0, 3] = 0.0  # one of the three regions missed
    fpr, pro, thr = pro_curve(s, gt)
    assert pro[1] == pytest.approx(2 / 3, abs=1e-12) and fpr[1] == 0.0


def test_pro_when_the_highest_score_is_a_false_positive():
    gt = np.zeros((4, 4), bool)
    gt[0, 0:2] = True
    s = np.zeros((4, 4))
    s[0, 0] = 0.5
    s[3, 3] = 1.0  # highest score: a normal pixel
    fpr, pro, thr = pro_curve(s, gt)
    np.testing.assert_array_equal(thr, [np.inf, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(pro, [0, 0, 0.5, 1])
    np.testing.assert_allclose(fpr, [0, 1 / 14, 1 / 14, 1])


def test_pro_thresholds_in_the_maps_dtype_count_a_pixel_at_the_threshold():
    """float32 maps: the thresholds are float32 too, so a pixel whose score is the shown threshold counts."""
    gt = np.zeros((4, 4), bool)
    gt[0, 0] = True
    s = np.zeros((4, 4), np.float32)
    s[1, 1] = 1.0
    s[0, 0] = np.float32(0.7)  # float32(0.7) < 0.7: below the float64 threshold, equal to the float32 one
    fpr, pro, thr = pro_curve(s, gt)
    k = int(np.flatnonzero(thr == np.float64(np.float32(0.7)))[0])
    assert pro[k] == 1.0 and pro[k - 1] == 0.0


def test_pro_keeps_float64_precision_and_converts_integer_maps():
    gt = np.zeros((1, 2, 2), bool)
    gt[0, 0, 0] = True
    s = np.full((1, 2, 2), 0.5)
    s[0, 0, 0] = 0.5 + 1e-12  # separable in float64 only
    fpr, pro, _ = pro_curve(s, gt)
    assert (fpr[1], pro[1]) == (0.0, 1.0)
    # integer maps: thresholds between the integers
    fpr, pro, thr = pro_curve(np.array([[1, 0], [0, 0]], np.uint8), np.array([[True, False], [False, False]]))
    np.testing.assert_array_equal(thr, [np.inf, 1.0, 0.0])


def test_every_distinct_score_is_a_threshold():
    gt = _masks(seed=4)
    s = np.random.default_rng(9).random(gt.shape) + 0.3 * gt
    assert aupro(s, gt) == aupro(s, gt, 0.3)
    assert len(pro_curve(s, gt)[2]) == np.unique(s).size + 1


def test_metric_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"^num_thresholds must be at least 2$"):
        roc_curve_points(np.arange(4.0), np.arange(4) > 1, num_thresholds=1)
    with pytest.raises(ValueError, match=r"^the ground truth has no anomalous region: PRO is undefined$"):
        pro_curve(np.zeros((4, 4)), np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match=r"^the ground truth has no normal pixel: the false positive rate is undefined$"):
        pro_curve(np.zeros((4, 4)), np.ones((4, 4), bool))
    with pytest.raises(ValueError, match=r"^score_maps contain NaN$"):
        pro_curve(np.full((4, 4), np.nan), np.eye(4, dtype=bool))
    with pytest.raises(ValueError, match=r"got \(4, 4\) and \(4, 5\)$"):
        pro_curve(np.zeros((4, 4)), np.zeros((4, 5), bool))


def test_psnr_and_ssim_of_8_bit_images():
    a = np.array([[0, 10], [20, 30]], np.uint8)
    b = np.array([[10, 0], [30, 20]], np.uint8)  # |a − b| = 10 everywhere; a − b in uint8 would wrap
    assert psnr(a, b, data_range=255) == pytest.approx(10 * np.log10(255 ** 2 / 100))
    img = np.random.default_rng(0).integers(0, 256, (16, 16)).astype(np.uint8)
    assert ssim(img, img) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="too small"):
        ssim(np.zeros((8, 1)), np.zeros((8, 1)))
