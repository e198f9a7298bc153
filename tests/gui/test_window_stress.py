"""Stress (issue 11): 100 slider changes within a running projection, then Stop, Run, and Open
Image while running. No crash (an exception in any slot fails the test), no thread left behind
(the conftest fixture fails a test that leaves one), and a final state that adds up."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gui_helpers import set_params, wait_idle, write_png


def _consistent_run(s) -> None:
    its = s.energy.column("iteration")
    assert np.all(np.diff(its) == 1) and (len(its) == 0 or its[0] == 0)
    hist = s.history.iterations()
    assert hist == sorted(hist)


def test_slider_storm_then_stop_run_and_open_image_mid_run(qtbot, window, tmp_path, texture_images):
    w, s = window, window.session
    c = w.controls
    set_params(w, stop="none", max_iter=100000, alpha=0.5)
    w.runs.run()
    qtbot.waitUntil(lambda: len(s.energy) > 3, timeout=20000)
    starts = w.runner.starts
    rng = np.random.default_rng(0)
    for i in range(100):  # λ and α (live), the threshold and the minimum area (display only)
        k = i % 4
        if k == 0:
            c.lam.slider.setValue(float(rng.uniform(c.lam.slider.minimum(), c.lam.slider.maximum())))
        elif k == 1:
            c.alpha.slider.setValue(float(rng.uniform(math.log10(0.02), math.log10(1.0))))
        elif k == 2:
            c.threshold.setValue(float(rng.uniform(0.0, 0.6)))
        else:
            c.min_area.setValue(int(rng.integers(1, 20)))
        qtbot.wait(3)  # the event loop runs between changes: frames and energy keep arriving
    assert w.runner.running and s.running and w.runner.starts == starts  # the same run, never restarted
    lam, alpha = s.params.lam, s.params.alpha
    assert c.lam.value() == pytest.approx(lam) and c.alpha.value() == pytest.approx(alpha)
    qtbot.waitUntil(lambda: s.latest is not None and s.latest.params.lam == pytest.approx(lam)
                    and s.latest.params.alpha == pytest.approx(alpha), timeout=20000)

    w.act_stop.trigger()  # Stop
    assert not w.runner.running and s.state.value == "idle"
    r = s.result
    assert r is not None and r.stop_reason is None and (r.params.lam, r.params.alpha) == (pytest.approx(lam),
                                                                                        pytest.approx(alpha))
    assert w.energy_plot.point_count == len(s.energy) == r.iteration + 1
    _consistent_run(s)
    v = s.verdict_of(r)
    assert w.verdict_badge.verdict_text.startswith(v.verdict.upper())
    seg = _seg(r, s)
    assert np.array_equal(w.input_view.overlay_data[..., 3] > 0, seg) and seg.any() == v.defective

    w.act_run.trigger()  # Run again, with the values the storm left
    assert s.running and w.runner.starts == starts + 1
    qtbot.waitUntil(lambda: len(s.energy) > 5, timeout=20000)
    assert s.latest.params.lam == pytest.approx(lam) and s.latest.params.alpha == pytest.approx(alpha)

    other = np.tile(texture_images[4], (2, 2))[:48, :40]
    assert w.open_image(write_png(tmp_path / "other.png", other))  # Open Image while running
    assert not s.running and s.result is None and len(s.history) == 0
    wait_idle(qtbot, w)
    assert not w.runner.running and s.state.value == "idle"
    assert s.image.path.endswith("other.png") and s.prepared.original.shape == (48, 40)
    assert s.current is not None and s.current.iteration == 0  # x0 of the new image, evaluated in the worker
    assert len(s.energy) == 0 and w.energy_plot.point_count == 0
    assert "no verdict" in w.verdict_badge.verdict_text
    assert w.act_run.isEnabled() and not w.act_stop.isEnabled() and not w.act_export.isEnabled()
    assert w.grid.iterate_panel.image_item.image.shape == (32, 32)
    from inspector_app.gui.worker import running_workers, thread_pool

    thread_pool().waitForDone(5000)
    assert thread_pool().activeThreadCount() == 0 and running_workers() == 0


def _seg(frame, s):
    from inspector_app.core.verdict import segment

    d = s.display
    return segment(frame.dssim(d.compare), d.threshold, d.min_area)
