"""AU-PRO: the exact computation (every distinct score, as MVTec AD's evaluation) against the
previous one (200 evenly spaced thresholds), on ``--n`` maps of ``--size``² pixels.

The maps imitate DSSIM maps: most good pixels near 0 with a heavy tail (a lognormal), a few
rectangular defects whose scores are raised. Both functions run ``--repeats`` times, alternating,
on the same maps; the medians are printed with their ratio (previous / exact: above 1 means the
exact one is faster) and both values.

    python benchmarks/bench_aupro.py [--n 100] [--size 256] [--repeats 5]

Floor (issue 23): the exact computation at least as fast as the previous one (ratio ≥ 1).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from skimage.measure import label

from inspector_app.core.metrics import _as_maps, aupro


def previous_aupro(score_maps, gt_masks, fpr_limit: float = 0.3, num_thresholds: int = 200) -> float:
    """The implementation this replaces (commit 7b1ce95's ``pro_curve`` + ``aupro``), kept here
    to time against: the curve at ``num_thresholds`` evenly spaced thresholds."""
    s, g = _as_maps(score_maps, gt_masks)
    region_scores, region_ids, n_regions = [], [], 0
    for i in range(s.shape[0]):
        if not g[i].any():
            continue
        lab, n = label(g[i], connectivity=2, return_num=True)
        inside = lab > 0
        region_scores.append(s[i][inside])
        region_ids.append(lab[inside].astype(np.int64) - 1 + n_regions)
        n_regions += n
    neg = s[~g]
    rs, rid = np.concatenate(region_scores), np.concatenate(region_ids)
    thr = np.linspace(float(s.min()), float(s.max()), num_thresholds).astype(s.dtype)
    thr[0], thr[-1] = s.min(), s.max()
    neg.sort()
    fpr = (neg.size - np.searchsorted(neg, thr, side="left")) / neg.size
    sizes = np.bincount(rid, minlength=n_regions).astype(np.float64)
    w = 1.0 / (sizes[rid] * n_regions)
    b = np.searchsorted(thr, rs, side="right")
    hist = np.bincount(b, weights=w, minlength=num_thresholds + 1)
    tail = np.cumsum(hist[::-1])[::-1]
    pro = np.clip(tail[1:num_thresholds + 1], 0.0, 1.0)
    fpr = np.concatenate([[0.0], fpr[::-1]])
    pro = np.maximum.accumulate(np.concatenate([[0.0], pro[::-1]]))
    idx = int(np.searchsorted(fpr, fpr_limit, side="right"))
    x, y = fpr[:idx], pro[:idx]
    if idx < fpr.size and x[-1] < fpr_limit:
        x0, y0, x1, y1 = fpr[idx - 1], pro[idx - 1], fpr[idx], pro[idx]
        x = np.append(x, fpr_limit)
        y = np.append(y, y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0))
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) * 0.5)) / fpr_limit


def maps(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = (rng.lognormal(-5.0, 1.2, (n, size, size))).astype(np.float32)
    gt = np.zeros((n, size, size), bool)
    for i in range(n // 2, n):  # half the images have defects
        for _ in range(int(rng.integers(1, 4))):
            y, x = rng.integers(0, size - 40, 2)
            h, w = rng.integers(4, 40, 2)
            gt[i, y:y + h, x:x + w] = True
    s[gt] += rng.lognormal(-3.5, 1.0, int(gt.sum())).astype(np.float32)
    return s, gt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    s, gt = maps(a.n, a.size)
    times: dict[str, list[float]] = {"previous": [], "exact": []}
    values: dict[str, float] = {}
    for r in range(a.repeats):
        order = (("previous", previous_aupro), ("exact", aupro))
        for name, fn in order if r % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            values[name] = fn(s, gt)
            times[name].append(time.perf_counter() - t)
    prev, exact = statistics.median(times["previous"]), statistics.median(times["exact"])
    print(f"{a.n} maps of {a.size}×{a.size}, median of {a.repeats}")
    print(f"previous (200 thresholds): {prev * 1000:.1f} ms, AUPRO {values['previous']:.6f}")
    print(f"exact (every score):       {exact * 1000:.1f} ms, AUPRO {values['exact']:.6f}")
    print(f"previous/exact time ratio: {prev / exact:.2f}")


if __name__ == "__main__":
    main()
