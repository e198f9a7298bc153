"""session.assess.iso_segments: numpy marching squares with the segments of skimage's find_contours."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import find_contours

from inspector_app.session.assess import iso_segments


def _segments_of_lines(lines) -> set:
    out = set()
    for ln in lines:
        for a, b in zip(ln[:-1], ln[1:]):
            a, b = tuple(np.round(a, 6)), tuple(np.round(b, 6))
            if a != b:
                out.add(frozenset((a, b)))
    return out


def _segments(seg: np.ndarray) -> set:
    return {frozenset((tuple(np.round(a, 6)), tuple(np.round(b, 6)))) for a, b in seg}


@pytest.mark.parametrize("kind", ["noise", "binary", "saddles", "blobs"])
def test_the_segments_are_find_contours_segments(kind):
    rng = np.random.default_rng(3)
    if kind == "noise":  # a DSSIM map of a model that does not fit: thousands of small contours
        d = rng.random((64, 48)).astype(np.float32)
    elif kind == "binary":
        d = (rng.random((40, 40)) > 0.5).astype(np.float32)
    elif kind == "saddles":  # a checkerboard: every inner cell is a saddle
        d = (np.indices((20, 20)).sum(0) % 2).astype(np.float32) * 0.8 + 0.1
    else:
        d = np.zeros((30, 30), np.float32)
        d[5:12, 4:20] = 0.7
        d[18:, 20:] = np.linspace(0.2, 0.9, 12)[None, :10]
    seg = iso_segments(d, 0.5)
    ref = _segments_of_lines(find_contours(d, 0.5))
    assert len(seg) == len(ref) > 0
    assert _segments(seg) == ref


def test_no_crossing_no_segment():
    assert iso_segments(np.zeros((8, 8), np.float32), 0.5).shape == (0, 2, 2)
    assert iso_segments(np.ones((1, 8), np.float32), 0.5).shape == (0, 2, 2)
