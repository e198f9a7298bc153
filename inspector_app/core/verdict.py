"""From a DSSIM anomaly map to a segmentation, an image score and a verdict (numpy only).

A defect is a connected region (8-connectivity) of pixels whose DSSIM is above the threshold
and whose area is at least ``min_area`` pixels; smaller specks are texture the model could not
reproduce, not defects.

The **image score** is the highest threshold at which the map still holds such a region:

    score(d) = max { τ : {d ≥ τ} has an 8-connected component of at least min_area pixels }

(0 when the map has fewer than ``min_area`` pixels). With ``min_area = 1`` it is the maximum of
the map. Its point is that one number decides both outputs consistently:

    verdict "defective"  ⟺  score > threshold  ⟺  segment(d, threshold, min_area) is not empty

so moving the threshold on a histogram of scores moves the verdicts and the segmentations
together. Both compare through :func:`exceeds` — one comparison, in float64 — so they agree in
every case: a float32 map value and a float64 threshold are compared exactly (float32 → float64
is exact), never with the threshold rounded to float32.
"""

from __future__ import annotations

import math

from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike

from .vocabulary import ModelVerdict

VERDICTS = (ModelVerdict.GOOD, ModelVerdict.DEFECTIVE)


def exceeds(values: ArrayLike, threshold: float) -> Any:
    """``values > threshold``, compared in float64 (an array for an array, a bool for a number).

    The one comparison of the verdict and the segmentation: a map's float32 values and the
    image score (a float32 value as a Python float) are compared with the same float64 threshold,
    so ``verdict(image_score(d), t)`` is "defective" exactly when ``segment(d, t)`` is not empty."""
    return np.greater(values, float(threshold), signature="dd->?")


def _largest_component(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0


def _as_map(dssim: ArrayLike) -> np.ndarray:
    d = np.asarray(dssim, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"expected an H×W anomaly map, got shape {d.shape}")
    if np.isfinite(d).all():  # the usual map: used as it is, not copied (a 6,000-px map is 144 MB)
        return d
    return np.nan_to_num(d, nan=0.0, posinf=1.0, neginf=0.0)


def image_score(dssim: ArrayLike, min_area: int = 1) -> float:
    """The image score defined in the module docstring (exact: a binary search over the map's values).
    Never below 0, as DSSIM is not: float32 sums round a flat image's map a hair under it."""
    d = _as_map(dssim)
    a = max(int(min_area), 1)
    if d.size < a:
        return 0.0
    if a == 1:
        return max(0.0, float(d.max()))
    values = np.unique(d)
    lo, hi = 0, len(values) - 1  # {d ≥ values[0]} is the whole map: a component of d.size ≥ a pixels
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _largest_component(d >= values[mid]) >= a:
            lo = mid
        else:
            hi = mid - 1
    return max(0.0, float(values[lo]))


def segment(dssim: ArrayLike, threshold: float, min_area: int = 1) -> np.ndarray:
    """Boolean mask of the defects: components of {DSSIM > threshold} with at least ``min_area`` pixels."""
    d = _as_map(dssim)
    mask: np.ndarray = np.asarray(exceeds(d, threshold))
    a = int(min_area)
    if a <= 1 or not mask.any():
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= a
    kept: np.ndarray = keep[labels]
    return kept


def fmt_level(v: float) -> str:
    """A DSSIM threshold or score for people: three decimals, or two significant digits under
    0.01 (a model that reconstructs its texture almost exactly has thresholds like 0.00027)."""
    v = float(v)
    return f"{v:.3f}" if v == 0 or abs(v) >= 0.01 else f"{v:.2g}"


#: The fixed top of the DSSIM colour scale (the paper's figure-3 threshold 0.2 sits at 40 % of it).
DSSIM_SCALE_MAX = 0.5
#: Under a quarter of :data:`DSSIM_SCALE_MAX`, the scale's top follows the threshold: this many times it.
SCALE_PER_THRESHOLD = 4.0
#: Round tops of the scale within a decade.
SCALE_STEPS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def dssim_scale_top(threshold: float) -> float:
    """The top of the DSSIM colour scale for a threshold: 0.5, grown to fit a threshold near or
    above it, or, for a small calibrated threshold, the first round number of :data:`SCALE_STEPS`
    at or above 4 × threshold (so a model whose defects reach only 0.01 does not draw a black
    map; the threshold sits at 17–25 % of the scale)."""
    t = float(threshold)
    if not math.isfinite(t) or t <= 0:
        return DSSIM_SCALE_MAX
    if t * SCALE_PER_THRESHOLD >= DSSIM_SCALE_MAX:
        if t <= DSSIM_SCALE_MAX * 0.95:
            return DSSIM_SCALE_MAX
        return min(1.0, math.ceil(t * 1.1 * 20.0) / 20.0)
    want = max(t * SCALE_PER_THRESHOLD, 1e-4)
    decade = 10.0 ** math.floor(math.log10(want))
    return next(s * decade for s in SCALE_STEPS if s * decade >= want * (1 - 1e-9))  # 10 × decade > want


def verdict(score: float, threshold: float) -> ModelVerdict:
    """``"defective"`` when the image score is above the threshold (:func:`exceeds`), else ``"good"``."""
    return ModelVerdict.DEFECTIVE if exceeds(score, threshold) else ModelVerdict.GOOD


def scaled_area(min_area: int, model_size: "int | tuple[int, int]", shape: tuple[int, int]) -> int:
    """``min_area`` (pixels of a map of ``model_size`` — a side, or (H, W) at the working scale)
    in pixels of an image of ``shape`` (H, W)."""
    if min_area <= 1:
        return int(max(min_area, 1))
    ref = (model_size, model_size) if isinstance(model_size, int) else tuple(model_size)
    scale = (shape[0] * shape[1]) / float(ref[0] * ref[1])
    return max(1, int(round(min_area * scale)))
