"""Evaluation metrics for anomaly detection and localisation, in plain numpy.

* :func:`pixel_auroc` / :func:`image_auroc` — exact area under the ROC curve (rank statistic,
  ties counted one half, which is what ``sklearn.metrics.roc_auc_score`` computes), written to
  cope with tens of millions of pixels;
* :func:`roc_curve_points` — the ROC curve itself, for plotting;
* :func:`pro_curve` / :func:`aupro` — the per-region-overlap curve of the MVTec AD papers
  (Bergmann et al., CVPR 2019 / IJCV 2021) and its normalised area up to a false-positive-rate limit;
* :func:`psnr` / :func:`ssim` — image similarity of a reconstruction or projection to a reference.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "pixel_auroc",
    "image_auroc",
    "roc_curve_points",
    "pro_curve",
    "aupro",
    "psnr",
    "ssim",
]

# Queries are counted against the sorted reference in chunks of this many values, so the int64
# temporaries of searchsorted stay small whatever the number of pixels.
_CHUNK = 1 << 20


def _split_by_label(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """Sorted scores of the positive and of the negative samples (flattened; validated)."""
    s = np.asarray(scores)
    y = np.asarray(labels)
    if s.size != y.size:
        raise ValueError(f"scores and labels differ in size: {s.shape} vs {y.shape}")
    if s.size == 0:
        raise ValueError("scores and labels are empty")
    if not (np.issubdtype(s.dtype, np.number) or s.dtype == bool):
        raise ValueError(f"scores must be numeric, not {s.dtype}")
    if s.dtype == bool or np.issubdtype(s.dtype, np.integer):
        s = s.astype(np.float64)
    s = s.ravel()  # a view when contiguous: no copy
    y = y.ravel()
    if y.dtype != bool:
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("labels must be binary (bool, or 0/1)")
        y = y != 0
    pos = s[y]  # these two copies are the only per-pixel float buffers
    neg = s[~y]
    if pos.size == 0 or neg.size == 0:
        only = "positive (anomalous)" if neg.size == 0 else "negative (normal)"
        raise ValueError(
            f"ROC AUC is undefined: the labels contain only one class (all {pos.size + neg.size} are {only})"
        )
    pos.sort()
    neg.sort()
    # NaN sorts last
    if np.isnan(pos[-1]) or np.isnan(neg[-1]):
        raise ValueError("scores contain NaN")
    return pos, neg


def _auc_from_sorted(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score_pos > score_neg) + ½·P(equal), exactly, from the sorted positive and negative scores.

    Twice the Mann–Whitney U is accumulated as an integer: for each value of the smaller set, the
    number of values of the larger set below it plus the number at or below it.
    """
    n_pos, n_neg = pos.size, neg.size
    twice_u = 0
    if n_pos <= n_neg:
        for i in range(0, n_pos, _CHUNK):
            q = pos[i:i + _CHUNK]
            left = np.searchsorted(neg, q, side="left")    # negatives  < p
            right = np.searchsorted(neg, q, side="right")  # negatives <= p
            twice_u += int(left.sum(dtype=np.int64)) + int(right.sum(dtype=np.int64))
    else:
        for i in range(0, n_neg, _CHUNK):
            q = neg[i:i + _CHUNK]
            left = np.searchsorted(pos, q, side="left")    # positives  < n
            right = np.searchsorted(pos, q, side="right")  # positives <= n
            # positives > n count 2, positives == n count 1
            twice_u += 2 * n_pos * q.size - int(left.sum(dtype=np.int64)) - int(right.sum(dtype=np.int64))
    return twice_u / (2.0 * n_pos * n_neg)


def pixel_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher = more anomalous) against binary ``labels``.

    Both arrays are flattened (any shape, same number of elements); labels are bool or 0/1, 1 meaning
    anomalous. The value is exact and equals ``sklearn.metrics.roc_auc_score(labels, scores)``,
    ties included (a tied positive/negative pair counts one half, as the trapezoidal rule does).
    Memory: one copy of the scores (split into positives and negatives and sorted in place) plus a
    few bytes per pixel of boolean temporaries — float32 maps of tens of millions of pixels are fine.

    Raises ``ValueError`` when the labels hold a single class, are not binary, or scores hold NaN.
    """
    pos, neg = _split_by_label(scores, labels)
    return _auc_from_sorted(pos, neg)


def image_auroc(image_scores, image_labels) -> float:
    """Image-level ROC AUC: one anomaly score per image against its 0/1 label (see :func:`pixel_auroc`)."""
    return pixel_auroc(np.asarray(image_scores), np.asarray(image_labels))


def roc_curve_points(scores, labels, num_thresholds: int | None = None):
    """ROC curve ``(fpr, tpr, thresholds)``, thresholds decreasing, a sample is positive when score >= t.

    The first point is (0, 0) at threshold +inf and the last is (1, 1). With ``num_thresholds=None``
    every distinct score is a threshold (like ``sklearn.metrics.roc_curve(drop_intermediate=False)``);
    otherwise at most that many distinct scores, evenly spaced in rank, are used (enough for a plot).
    """
    pos, neg = _split_by_label(scores, labels)
    values = np.unique(np.concatenate([pos, neg]))
    if num_thresholds is not None:
        if num_thresholds < 2:
            raise ValueError("num_thresholds must be at least 2")
        if values.size > num_thresholds:
            values = values[np.unique(np.linspace(0, values.size - 1, num_thresholds).round().astype(np.int64))]
    thr = values[::-1]
    tp = pos.size - np.searchsorted(pos, thr, side="left")
    fp = neg.size - np.searchsorted(neg, thr, side="left")
    tpr = np.concatenate([[0.0], tp / pos.size])
    fpr = np.concatenate([[0.0], fp / neg.size])
    thresholds = np.concatenate([[np.inf], thr.astype(np.float64)])
    return fpr, tpr, thresholds


def _as_maps(score_maps, gt_masks) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(score_maps)
    g = np.asarray(gt_masks)
    if s.ndim == 2:
        s = s[None]
    if g.ndim == 2:
        g = g[None]
    if s.ndim != 3 or s.shape != g.shape:
        raise ValueError(f"score_maps and gt_masks must both be (N, H, W) of one shape, got {np.shape(score_maps)} "
                         f"and {np.shape(gt_masks)}")
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float32)
    g = g.astype(bool, copy=False)
    if np.isnan(s).any():
        raise ValueError("score_maps contain NaN")
    return s, g


def pro_curve(score_maps: np.ndarray, gt_masks: np.ndarray, num_thresholds: int = 200):
    """Per-region-overlap curve ``(fpr, pro, thresholds)`` of the MVTec AD papers.

    Every connected component (8-connectivity, ``skimage.measure.label``) of every ground-truth mask
    is one region; at threshold t its overlap is the fraction of its pixels with score >= t, and PRO(t)
    is the mean overlap over all regions of all images (each region weighs the same, whatever its
    size). FPR(t) is the fraction of normal pixels (all images) with score >= t. The thresholds are
    ``num_thresholds`` values evenly spaced from the lowest to the highest score.

    Returned in order of decreasing threshold, with a leading point (0, 0) for t = +inf, so both
    ``fpr`` and ``pro`` are non-decreasing and the curve ends at (1, 1).
    Raises ``ValueError`` when there is no anomalous region or no normal pixel.
    """
    from skimage.measure import label

    if num_thresholds < 2:
        raise ValueError("num_thresholds must be at least 2")
    s, g = _as_maps(score_maps, gt_masks)

    region_scores = []
    region_ids = []
    n_regions = 0
    for i in range(s.shape[0]):
        if not g[i].any():
            continue
        lab, n = label(g[i], connectivity=2, return_num=True)
        inside = lab > 0
        region_scores.append(s[i][inside])
        region_ids.append(lab[inside].astype(np.int64) - 1 + n_regions)
        n_regions += n
    if n_regions == 0:
        raise ValueError("the ground truth has no anomalous region: PRO is undefined")
    neg = s[~g]
    if neg.size == 0:
        raise ValueError("the ground truth has no normal pixel: the false positive rate is undefined")
    rs = np.concatenate(region_scores)
    rid = np.concatenate(region_ids)

    lo, hi = float(s.min()), float(s.max())
    thr = np.linspace(lo, hi, num_thresholds).astype(s.dtype)  # same dtype: searchsorted copies nothing
    thr[0], thr[-1] = s.min(), s.max()

    # FPR: normal pixels >= t
    neg.sort()
    fpr = (neg.size - np.searchsorted(neg, thr, side="left")) / neg.size

    # PRO: a pixel of score v counts for every threshold t <= v, i.e. for indices k < b with
    # b = searchsorted(thr, v, 'right'); each pixel carries 1 / (size of its region · number of regions)
    sizes = np.bincount(rid, minlength=n_regions).astype(np.float64)
    w = 1.0 / (sizes[rid] * n_regions)
    b = np.searchsorted(thr, rs, side="right")
    hist = np.bincount(b, weights=w, minlength=num_thresholds + 1)
    tail = np.cumsum(hist[::-1])[::-1]  # tail[j] = sum of hist[j:]
    pro = np.clip(tail[1:num_thresholds + 1], 0.0, 1.0)

    order = slice(None, None, -1)
    fpr = np.concatenate([[0.0], fpr[order]])
    pro = np.concatenate([[0.0], pro[order]])
    pro = np.maximum.accumulate(pro)  # guard against rounding in the weighted sums
    thresholds = np.concatenate([[np.inf], thr[order].astype(np.float64)])
    return fpr, pro, thresholds


def aupro(score_maps: np.ndarray, gt_masks: np.ndarray, fpr_limit: float = 0.3, num_thresholds: int = 200) -> float:
    """Normalised area under the PRO curve for FPR from 0 to ``fpr_limit`` (MVTec AD's AU-PRO).

    ``score_maps`` (N, H, W) anomaly scores, higher = more anomalous; ``gt_masks`` (N, H, W) bool.
    The PRO curve of :func:`pro_curve` is integrated with the trapezoidal rule, the value at
    ``fpr_limit`` interpolated linearly, and the area divided by ``fpr_limit``: a perfect detector
    scores 1.0, a constant (uninformative) one ``fpr_limit / 2``.
    Raises ``ValueError`` when there is no anomalous region.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    fpr, pro, _ = pro_curve(score_maps, gt_masks, num_thresholds)
    idx = int(np.searchsorted(fpr, fpr_limit, side="right"))  # first point beyond the limit
    x = fpr[:idx]
    y = pro[:idx]
    if idx < fpr.size and x[-1] < fpr_limit:
        x0, y0, x1, y1 = fpr[idx - 1], pro[idx - 1], fpr[idx], pro[idx]
        y_lim = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
        x = np.append(x, fpr_limit)
        y = np.append(y, y_lim)
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) * 0.5))
    return area / fpr_limit


def _check_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB, 10·log10(data_range² / MSE); ``inf`` for identical images.

    With a boolean H×W ``mask``, over the pixels inside it only (``nan`` when it is empty)."""
    a, b = _check_pair(a, b)
    if mask is not None:
        m = np.asarray(mask, bool)
        if m.shape != a.shape[:2]:
            raise ValueError(f"the mask is {m.shape} but the images are {a.shape[:2]}")
        if not m.any():
            return float("nan")
        a, b = a[m], b[m]
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range ** 2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two images in [0, 1] (``skimage.metrics.structural_similarity``,
    data_range 1): grey H×W, or H×W×C colour (channel axis last; H×W×1 is treated as grey).
    Images smaller than the default 7×7 window use the largest odd window that fits."""
    from skimage.metrics import structural_similarity

    a, b = _check_pair(a, b)
    if a.ndim == 3 and a.shape[-1] == 1:
        a, b = a[..., 0], b[..., 0]
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an H×W or H×W×C image, got shape {a.shape}")
    channel_axis = -1 if a.ndim == 3 else None
    side = min(a.shape[0], a.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise ValueError(f"image too small for SSIM: {a.shape}")
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=channel_axis, win_size=win))
