"""The bounded frame history behind the iteration slider (no Qt needed)."""

from __future__ import annotations

import numpy as np

from inspector_app.gui.history import Frame, FrameHistory


def _frame(i: int, size: int = 8) -> Frame:
    a = np.full((size, size), i / 1000.0, np.float32)
    return Frame(i, a, a, a, a, float(i), float(i), 0.0, 0.5, 0.05)


def test_keeps_every_frame_up_to_capacity():
    h = FrameHistory(capacity=10)
    for i in range(10):
        h.append(_frame(i))
    assert h.iterations() == list(range(10))
    assert h[0].x.dtype == np.float16


def test_thins_evenly_and_keeps_the_newest():
    h = FrameHistory(capacity=10)
    for i in range(1000):
        h.append(_frame(i))
        assert len(h) <= 11
        assert h[-1].iteration == i  # the right end is always the newest frame
    its = h.iterations()
    assert its[0] == 0
    steps = np.diff(its[:-1])
    assert len(set(steps.tolist())) == 1  # evenly spread
    assert h.stride > 1


def test_memory_budget_lowers_capacity():
    h = FrameHistory(capacity=200, max_bytes=10 * 4 * 64 * 64 * 2)
    for i in range(50):
        h.append(_frame(i, size=64))
    assert len(h) <= 11


def test_expanded_is_float32():
    h = FrameHistory()
    h.append(_frame(3))
    f = h[0].expanded()
    assert f.x.dtype == np.float32 and f.iteration == 3
