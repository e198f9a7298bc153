"""Evaluation metrics for anomaly detection and localisation, in plain numpy.

* :func:`pixel_auroc` / :func:`image_auroc` — exact area under the ROC curve (rank statistic,
  ties counted one half, which is what ``sklearn.metrics.roc_auc_score`` computes), written to
  cope with tens of millions of pixels;
* :func:`roc_curve_points` — the ROC curve itself, for plotting;
* :func:`pro_curve` / :func:`aupro` — the per-region-overlap curve of the MVTec AD papers
  (Bergmann et al., CVPR 2019 / IJCV 2021) and its normalised area up to a false-positive-rate limit,
  exact (every distinct score a threshold), as MVTec AD's evaluation code computes them;
* :func:`psnr` / :func:`ssim` — image similarity of a reconstruction or projection to a reference.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

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


def _split_by_label(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
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


def image_auroc(image_scores: ArrayLike, image_labels: ArrayLike) -> float:
    """Image-level ROC AUC: one anomaly score per image against its 0/1 label (see :func:`pixel_auroc`)."""
    return pixel_auroc(np.asarray(image_scores), np.asarray(image_labels))


def roc_curve_points(scores: ArrayLike, labels: ArrayLike,
                     num_thresholds: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _as_maps(score_maps: ArrayLike, gt_masks: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
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


def _regions(s: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The anomalous pixels' scores, their weights ``1 / (region size · number of regions)`` (each
    8-connected region of each image weighs the same) and the normal pixels' scores.

    Raises ``ValueError`` when there is no anomalous region or no normal pixel."""
    import cv2

    pos_parts, weight_parts, n_regions = [], [], 0
    for i in np.flatnonzero(g.reshape(g.shape[0], -1).any(axis=1)):
        rows = np.flatnonzero(g[i].any(axis=1))
        cols = np.flatnonzero(g[i].any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # only the regions' bounding box
        gi = g[i][box]
        n_lab, lab, stats, _ = cv2.connectedComponentsWithStats(gi.view(np.uint8), connectivity=8,
                                                                 ltype=cv2.CV_32S)
        ids = lab[gi]
        pos_parts.append(s[i][box][gi])
        weight_parts.append(1.0 / stats[ids, cv2.CC_STAT_AREA].astype(np.float64))
        n_regions += n_lab - 1
    if n_regions == 0:
        raise ValueError("the ground truth has no anomalous region: PRO is undefined")
    neg = s[~g]
    if neg.size == 0:
        raise ValueError("the ground truth has no normal pixel: the false positive rate is undefined")
    return np.concatenate(pos_parts), np.concatenate(weight_parts) / n_regions, neg


def pro_curve(score_maps: ArrayLike, gt_masks: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-region-overlap curve ``(fpr, pro, thresholds)`` of the MVTec AD papers, exact.

    Every connected component (8-connectivity) of every ground-truth mask is one region; at
    threshold t its overlap is the fraction of its pixels with score >= t, and PRO(t) is the mean
    overlap over all regions of all images (each region weighs the same, whatever its size).
    FPR(t) is the fraction of normal pixels (all images) with score >= t. Every distinct score is a
    threshold, as in MVTec AD's evaluation code.

    Returned in order of decreasing threshold, with a leading point (0, 0) for t = +inf, so both
    ``fpr`` and ``pro`` are non-decreasing and the curve ends at (1, 1).
    Raises ``ValueError`` when there is no anomalous region or no normal pixel.
    """
    s, g = _as_maps(score_maps, gt_masks)
    pos, w, neg = _regions(s, g)
    order = np.argsort(pos, kind="stable")
    pos = pos[order]
    suffix = np.concatenate([np.cumsum(w[order][::-1])[::-1], [0.0]])  # suffix[i] = weight of pos[i:]
    neg.sort()
    thr = np.unique(np.concatenate([pos, neg]))[::-1]
    fpr = (neg.size - np.searchsorted(neg, thr, side="left")) / neg.size
    pro = np.clip(suffix[np.searchsorted(pos, thr, side="left")], 0.0, 1.0)
    pro = np.maximum.accumulate(pro)  # guard against rounding in the weighted sums
    pro[-1] = 1.0  # every pixel is at or above the lowest score (the sum of the weights, rounded)
    return (np.concatenate([[0.0], fpr]), np.concatenate([[0.0], pro]),
            np.concatenate([[np.inf], thr.astype(np.float64)]))


def aupro(score_maps: ArrayLike, gt_masks: ArrayLike, fpr_limit: float = 0.3) -> float:
    """Normalised area under the PRO curve for FPR from 0 to ``fpr_limit`` (MVTec AD's AU-PRO), exact.

    ``score_maps`` (N, H, W) anomaly scores, higher = more anomalous; ``gt_masks`` (N, H, W) bool.
    The curve is the one of :func:`pro_curve` (every distinct score a threshold), integrated with
    the trapezoidal rule, its value at ``fpr_limit`` interpolated linearly between the points on
    either side, and the area divided by ``fpr_limit``: what MVTec AD's ``evaluate_experiment.py``
    computes. A perfect detector scores 1.0, a constant (uninformative) one ``fpr_limit / 2``.

    Computed without building the curve. Only the points where the FPR rises add area: at a
    distinct normal score v the curve runs from (FPR(> v), PRO(> v)) to (FPR(≥ v), PRO(≥ v)),
    so the area of the segments above the normal score ``cut`` at which the FPR passes the limit
    is a weighted rank sum, Σ over anomalous pixels p above ``cut`` of w_p · (#normal scores
    above ``cut`` and under p, plus half those equal to p) / #normal — a region's pixel carries
    w_p = 1 / (its region's size · number of regions). The segment at ``cut`` is added up to the
    limit, interpolated. Only the normal scores above ``cut`` are sorted (a partition first).
    Raises ``ValueError`` when there is no anomalous region.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    s, g = _as_maps(score_maps, gt_masks)
    pos, w, neg = _regions(s, g)
    n = neg.size
    k = min(n, int(np.floor(fpr_limit * n)) + 1)  # FPR(≥ the k-th highest normal score) > fpr_limit
    neg.partition(n - k)  # (a copy) neg[n - k] is that score, "cut"; everything after it is >= cut
    cut = neg[n - k]
    above = np.sort(neg[n - k + 1:])
    above = above[np.searchsorted(above, cut, side="right"):]  # the normal scores > cut, ascending
    m = above.size
    c = int(np.count_nonzero(neg[:n - k + 1] == cut)) + (k - 1 - m)  # the normal scores == cut
    hi = pos > cut
    order = np.argsort(pos[hi])  # sorted queries: searchsorted walks the sorted scores in order
    p, wp = pos[hi][order], w[hi][order]
    ranks = np.searchsorted(above, p, side="left") + np.searchsorted(above, p, side="right")
    area = float(np.dot(wp, ranks)) * 0.5 / n
    # the segment at cut: from (m/n, PRO(> cut)) to ((m + c)/n, PRO(≥ cut)), up to the limit
    x0, x1 = m / n, (m + c) / n
    y0 = float(wp.sum())
    y1 = y0 + float(w[pos == cut].sum())
    xe = min(fpr_limit, x1)
    ye = y0 + (y1 - y0) * (xe - x0) / (x1 - x0)
    area += 0.5 * (xe - x0) * (y0 + ye)
    return area / fpr_limit


def _check_pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
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
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=channel_axis,  # type: ignore[no-untyped-call]
                                       win_size=win))
