"""View pieces: the fast contour matches pyqtgraph's isocurve; the drawing cost reaches the pacing; hints."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from gui_helpers import set_params, wait_idle


def _interior_points(item, h, w):
    """The path's vertices off the image border (along the border the two items place collinear
    vertices differently; the bounding rectangles check that both close contours on the edge)."""
    p = item.path
    pts = {(round(p.elementAt(i).x, 4), round(p.elementAt(i).y, 4)) for i in range(p.elementCount())}
    return sorted((x, y) for x, y in pts if 0 < x < w and 0 < y < h)


def test_contour_item_matches_pyqtgraph_isocurve(qapp):
    from inspector_app.gui.views import ContourItem

    rng = np.random.default_rng(0)
    d = np.zeros((12, 15), np.float32)
    d[2:5, 3:7] = 0.6
    d[8:, 11:] = 0.9  # touches the border: closed along the image edge
    d[6, 1] = 0.3 + 0.2 * rng.random()
    for level in (0.2, 0.5):
        ref = pg.IsocurveItem(d, level, axisOrder="row-major")
        fast = ContourItem(d, level, axisOrder="row-major")
        a, b = fast.boundingRect(), ref.boundingRect()
        assert np.allclose([a.x(), a.y(), a.width(), a.height()], [b.x(), b.y(), b.width(), b.height()], atol=1e-5)
        assert _interior_points(fast, *d.shape) == _interior_points(ref, *d.shape)


def test_drawing_cost_is_reported_to_the_pacing(qtbot, window):
    w = window
    set_params(w, stop="none", max_iter=30)
    w.runs.run()
    wait_idle(qtbot, w)
    assert w.runs.draw_cost > 0  # measured on the GUI thread, sent to the worker's pacing generator


def test_rest_hints(qtbot, window):
    w = window
    assert w.grid.dssim_panel.hint.isVisible()  # x0 evaluated, nothing projected yet
    assert w.energy_plot.hint.isVisible()
    set_params(w, stop="none", max_iter=3)
    w.runs.run()
    wait_idle(qtbot, w)
    assert not w.grid.dssim_panel.hint.isVisible() and not w.energy_plot.hint.isVisible()
    w.runs.reset()
    wait_idle(qtbot, w)
    assert w.grid.dssim_panel.hint.isVisible() and w.energy_plot.point_count == 0


def test_a_run_that_stops_at_t0_shows_its_one_point(qapp):
    """A line through one point draws nothing: a run stopped at t = 0 (an image already normal to the
    model) left the energy plot empty but for its axes."""
    from inspector_app.gui.views import EnergyPlot
    from inspector_app.session.frames import EnergyTrace

    plot = EnergyPlot()
    trace = EnergyTrace()
    trace.extend([[0, 2.986, 2.986, 0.0]])
    plot.draw(trace)
    plot.fit()
    for curve in plot.curves.values():
        assert curve.scatter.isVisible() and len(curve.scatter.data) == 1
    trace.extend([[1, 2.9, 2.8, 0.1]])
    plot.draw(trace)  # two points: the lines alone, no markers on every iteration
    assert all(curve.opts["symbol"] is None for curve in plot.curves.values())


def test_the_energy_plot_fits_a_narrow_cell(qtbot):
    """At 1280×720 the plot's cell is about 275 px: its one-line title (about 290 px) made the plot
    wider than its view, which cut the title's end and the iteration axis's right part. The title
    gets shorter as the cell narrows and always names the three curves."""
    from inspector_app.gui.views import EnergyPlot

    plot = EnergyPlot()
    qtbot.addWidget(plot)
    plot.show()
    full = plot.getPlotItem().titleLabel.text
    for width in (600, 275, 210):
        plot.resize(width, 220)
        qtbot.wait(20)
        pi = plot.getPlotItem()
        assert pi.sceneBoundingRect().right() <= plot.width() + 0.5, width  # pyqtgraph sizes it to the widget
        for name in ("E", "Lr", "λ‖x − x₀‖₁"):
            assert name in pi.titleLabel.text
        assert (pi.titleLabel.text == full) == (width == 600)
