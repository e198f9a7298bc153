"""Segmentation, image score and verdict (core/verdict.py, core/anomaly.py) on hand-made maps.

Map values are multiples of 1/4 (exact in float32), so "at the threshold" really is equal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inspector_app.core.verdict import image_score, scaled_area, segment, verdict


def _map():
    """6×6: background 0.125; a diagonal chain of 3 at 0.75; a bar of 4 at 0.5; one speck at 1."""
    d = np.full((6, 6), 0.125, np.float32)
    d[0, 0] = d[1, 1] = d[2, 2] = 0.75  # 8-connected only
    d[5, 1:5] = 0.5
    d[0, 5] = 1.0
    return d


# ------------------------------------------------------------------------------ the boundary: > not ≥

def test_segment_is_strictly_above_the_threshold():
    d = _map()
    seg = segment(d, 0.5)
    assert not seg[5, 1:5].any()  # exactly at the threshold: not anomalous
    assert seg[0, 0] and seg[1, 1] and seg[2, 2] and seg[0, 5]
    assert seg.sum() == 4
    assert segment(d, 0.4999).sum() == 8
    assert segment(d, 1.0).sum() == 0
    assert segment(d, 0.125).sum() == 8 and segment(d, 0.124).sum() == 36


def test_verdict_is_strictly_above_the_threshold():
    assert verdict(0.5, 0.5) == "good"
    assert verdict(float(np.nextafter(0.5, 1.0)), 0.5) == "defective"
    assert verdict(0.0, 0.0) == "good"
    assert verdict(0.2, 0.25) == "good" and verdict(0.3, 0.25) == "defective"


# ------------------------------------------------------------------------------ minimum area, 8-connectivity

def test_segment_keeps_regions_of_at_least_min_area_8_connected():
    d = _map()
    # threshold 0.25: chain (3, diagonal: one region), bar (4), speck (1)
    assert segment(d, 0.25, 1).sum() == 8
    assert segment(d, 0.25, 2).sum() == 7  # the speck goes
    assert segment(d, 0.25, 2).dtype == bool
    assert segment(d, 0.25, 3).sum() == 7  # the chain is one region of exactly 3: kept
    seg4 = segment(d, 0.25, 4)
    assert seg4.sum() == 4 and seg4[5, 1:5].all()  # only the bar
    assert segment(d, 0.25, 5).sum() == 0
    assert segment(d, 0.25, 0).sum() == 8  # 0 means no minimum
    assert segment(np.zeros((3, 3), np.float32), 0.0, 2).dtype == bool


def test_image_score_hand_computed():
    d = _map()
    assert image_score(d, 1) == 1.0  # the maximum
    assert image_score(d) == 1.0  # min_area 1 by default
    assert image_score(d, 0) == 1.0
    assert image_score(d, 2) == 0.75  # the speck is too small; the diagonal chain holds at 0.75
    assert image_score(d, 3) == 0.75  # a region of exactly min_area pixels
    assert image_score(d, 4) == 0.5  # the bar
    # from 5 pixels on, only {d ≥ 0.125} (everything) holds a region large enough
    assert image_score(d, 5) == 0.125
    assert image_score(d, 36) == 0.125
    assert image_score(d, 37) == 0.0  # larger than the map
    # the chain grown by two 0.75 pixels down to the bar: 5 pixels at 0.75, 5 + 4 = 9 at ≥ 0.5
    d2 = d.copy()
    d2[3, 2] = d2[4, 1] = 0.75
    assert image_score(d2, 5) == 0.75 and image_score(d2, 6) == 0.5
    assert image_score(d2, 9) == 0.5 and image_score(d2, 10) == 0.125


def test_image_score_treats_nan_and_infinities():
    d = np.full((4, 4), 0.25, np.float32)
    d[0, 0] = np.nan  # → 0
    assert image_score(d, 1) == 0.25
    d[1, 1] = np.inf  # → 1
    assert image_score(d, 1) == 1.0
    d[1, 1] = -np.inf  # → 0
    assert image_score(d, 1) == 0.25
    assert image_score(d, 16) == 0.0  # the whole map: its lowest value, the −∞ made 0
    # maps are float32: the score is a float32 value
    assert image_score(np.full((2, 2), 0.1), 4) == float(np.float32(0.1)) != 0.1
    assert segment(np.array([[np.nan, np.inf]], np.float32), 0.5).tolist() == [[False, True]]
    with pytest.raises(ValueError, match="H×W"):
        image_score(np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="H×W"):
        segment(np.zeros(4), 0.1)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("min_area", [1, 2, 5, 12])
def test_score_verdict_and_segmentation_agree(seed, min_area):
    """verdict defective ⟺ score > threshold ⟺ segment not empty, the threshold at the score included."""
    rng = np.random.default_rng(seed)
    d = (rng.integers(0, 9, (12, 12)) / 8).astype(np.float32)
    d = np.maximum(d, np.roll(d, 1, axis=0)) * (rng.random((12, 12)) < 0.8)  # blobs of various sizes
    score = image_score(d, min_area)
    values = np.unique(d)
    assert score in values
    below = values[values < score]
    for thr in [score, *below[-1:], *values[values > score][:1], 0.3, 0.6]:
        seg = segment(d, float(thr), min_area)
        assert (verdict(score, float(thr)) == "defective") == (score > thr) == bool(seg.any()), thr
    # the definition, by brute force over every value
    from skimage.measure import label

    def holds(t):
        lab = label(d >= t, connectivity=2)
        return lab.max() > 0 and np.bincount(lab.ravel())[1:].max() >= min_area

    assert score == max(t for t in values if holds(t))


def test_scaled_area():
    assert scaled_area(1, 32, (64, 64)) == 1
    assert scaled_area(0, 32, (64, 64)) == 1
    assert scaled_area(4, 32, (64, 64)) == 16  # 4 × (64·64)/(32·32)
    assert scaled_area(4, 32, (16, 16)) == 1  # 4 × 1/4
    assert scaled_area(4, 32, (8, 8)) == 1  # never below 1
    assert scaled_area(4, 32, (45, 45)) == 8  # 4 × 2025/1024 = 7.9
    assert scaled_area(10, 32, (32, 32)) == 10
    assert scaled_area(2, 32, (64, 64)) == 8
    assert scaled_area(3, 32, (40, 32)) == 4  # 3.75


def test_levels_under_a_hundredth_keep_two_significant_digits():
    from inspector_app.core.verdict import fmt_level

    assert fmt_level(0.031) == "0.031" and fmt_level(0.2) == "0.200" and fmt_level(0.0) == "0.000"
    assert fmt_level(0.00026949) == "0.00027" and fmt_level(0.0027) == "0.0027"


def test_the_colour_scale_follows_a_small_threshold_and_keeps_the_fixed_one_otherwise():
    from inspector_app.core.verdict import dssim_scale_top

    assert dssim_scale_top(0.2) == 0.5  # the paper's threshold: the fixed 0 … 0.5 scale
    assert dssim_scale_top(0.3) == 0.5
    assert dssim_scale_top(0.8) >= 0.88  # grows to hold a threshold above 0.5
    for t in (0.046, 0.0105, 0.0027, 0.00027, 3e-6):
        top = dssim_scale_top(t)
        assert 1 / 6 <= t / top <= 1 / 4 or top == 1e-4  # the threshold sits at 17–25 % of the scale
        mant = top / 10 ** math.floor(math.log10(top) + 1e-12)
        assert any(abs(mant - s) < 1e-6 for s in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8)), top  # round, for the colour bar
    assert dssim_scale_top(0.0027) == pytest.approx(0.015) and dssim_scale_top(0.00027) == pytest.approx(0.0015)
    assert dssim_scale_top(0.0) == 0.5 and dssim_scale_top(float("nan")) == 0.5


def test_the_dssim_png_uses_the_threshold_scale():
    from inspector_app.core.pipeline import dssim_visual

    d = np.full((8, 8), 0.004, np.float32)
    fixed, scaled = dssim_visual(d), dssim_visual(d, threshold=0.0027)
    assert scaled.mean() > fixed.mean() + 40  # 0.004 of 0.02 is visible; of 0.5 it is black
    assert (dssim_visual(d, threshold=0.2) == fixed).all()


def test_verdict_and_segmentation_agree_when_the_threshold_is_not_a_float32():
    """The issue's case: a float32 map at 0.2 (float32(0.2) > 0.2) and the threshold 0.2; the score
    and the segmentation compare the same way (in float64)."""
    d = np.full((4, 4), 0.2, np.float32)
    assert verdict(image_score(d), 0.2) == "defective"
    assert segment(d, 0.2).sum() == 16
    d = np.full((4, 4), 0.7, np.float32)  # float32(0.7) < 0.7
    assert verdict(image_score(d), 0.7) == "good" and segment(d, 0.7).sum() == 0


@pytest.mark.parametrize("seed", range(3))
def test_verdict_and_segmentation_agree_on_thresholds_near_the_map_values(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        d = rng.choice(np.array([0.1, 0.2, 0.3, 0.7], np.float32), (6, 6)) * (rng.random((6, 6)) < 0.7)
        d = d.astype(np.float32)
        for min_area in (1, 3):
            score = image_score(d, min_area)
            for thr in (0.1, 0.2, 0.3, 0.7, float(np.float32(0.2)), float(np.nextafter(np.float32(0.3), 0))):
                assert (verdict(score, thr) == "defective") == bool(segment(d, thr, min_area).any()), (thr, min_area)


def test_the_contour_lowers_exactly_the_pixels_the_segmentation_drops():
    """session.assess.contour_data uses the segmentation's comparison: a region too small to keep,
    at float32(0.2) > 0.2, is lowered under the threshold (none of it above 0.2 in float64)."""
    from inspector_app.session.assess import contour_data

    d = np.full((4, 4), 0.2, np.float32)
    seg = segment(d, 0.2, 20)  # 16 pixels < 20: dropped
    assert not seg.any()
    assert not np.greater(contour_data(d, seg, 0.2).astype(np.float64), 0.2).any()
    kept = segment(d, 0.2, 16)
    assert kept.all() and (contour_data(d, kept, 0.2) == d).all()


def test_the_score_of_a_flat_image_is_not_negative():
    """DSSIM is at least 0, but its float32 sums round a flat image's map a hair below it: project
    printed "good (score -1.7e-05, …)" for a uniform grey photograph."""
    d = np.full((16, 16), -1.7e-5, np.float32)
    assert image_score(d, 1) == 0.0 and image_score(d, 4) == 0.0
    assert verdict(image_score(d, 1), 0.0) == "good" and not segment(d, 0.0, 1).any()  # still one decision
