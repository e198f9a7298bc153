"""A Run starts from the x0 preview's frame: iteration 0 is not made again in the worker, and a new
image gets a new preview for its runs; the worker starts before the window redraws."""

from __future__ import annotations

import numpy as np
from gui_helpers import set_params, wait_idle, write_png


def _run_from_preview(qtbot, w, preview, runs: int = 2) -> None:
    s = w.session
    from_worker: list[int] = []
    conn = w.runner.frame.connect(lambda f: from_worker.append(f.iteration))
    for _ in range(runs):  # every Run of this x0 starts from the preview's frame
        from_worker.clear()
        w.runs.run()
        first = s.history[0]
        assert first.iteration == 0 and first.params.max_iter == 30 and not first.finished
        np.testing.assert_allclose(first.x, preview.x, atol=2e-3)  # (the history keeps float16)
        np.testing.assert_allclose(first.reconstruction, preview.reconstruction, atol=2e-3)
        wait_idle(qtbot, w)
        assert s.result is not None and s.result.iteration == 30
        assert 0 not in from_worker  # the worker did not make iteration 0 again
    w.runner.frame.disconnect(conn)


def test_a_run_starts_from_the_preview_frame(qtbot, window, tmp_path, texture_images):
    w, s = window, window.session
    set_params(w, stop="none", max_iter=30)
    preview = s.current
    assert preview is not None and preview.iteration == 0 and s.result is None  # evaluated when the image opened
    _run_from_preview(qtbot, w, preview)
    assert w.open_image(write_png(tmp_path / "other.png", texture_images[3]))  # a new x0: a new preview
    wait_idle(qtbot, w)
    assert s.current is not preview and s.current.iteration == 0
    assert not np.allclose(s.current.x, preview.x, atol=2e-3)
    _run_from_preview(qtbot, w, s.current, runs=1)


def test_the_worker_projects_while_the_window_shows_iteration_0(qtbot, window):
    """Run starts the worker first: the window clears the last run and draws iteration 0 while the
    projection already runs (the worker did not wait for the drawing)."""
    w, s = window, window.session
    set_params(w, stop="none", max_iter=20)
    seen: list[tuple[int, bool]] = []
    s.frame_shown.connect(lambda f: seen.append((f.iteration, w.runner.running)) if f is not None else None)
    w.runs.run()
    assert seen and seen[0] == (0, True)
    wait_idle(qtbot, w)
    assert s.result is not None and s.result.iteration == 20
