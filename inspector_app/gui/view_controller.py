"""Draws the session into the views: x0 with the segmentation, the frame on screen, the energy
curve, the hover readout. Holds no state: everything is read from the session when it changes."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QLabel

from ..session import RunState, Session
from ..core.verdict import dssim_scale_top
from ..session.assess import contour_data, fmt_level, segmentation
from .views import DSSIM_LEVELS, GT_COLOR, ContourItem, EnergyPlot, ImageGrid

EMPTY_HINT = "Open a model (Ctrl+M)\nand an image (Ctrl+O),\nor drop them here"
LOADING_HINT = "loading the model…"


def _fmt(v) -> str:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return f"{float(a):.3f}"
    return "(" + ", ".join(f"{x:.2f}" for x in a.ravel()) + ")"


class ViewController:
    """Binds ``session`` to the image grid, the energy plot and the hover label."""

    def __init__(self, session: Session, grid: ImageGrid, plot: EnergyPlot, hover_label: QLabel):
        self.session, self.grid, self.plot, self.hover_label = session, grid, plot, hover_label
        self.input_view = grid.input_panel
        self._hover: tuple[int, int] | None = None
        s = session
        s.model_changed.connect(self._on_input)
        s.image_changed.connect(self._on_input)
        s.run_cleared.connect(self._on_cleared)
        s.frame_shown.connect(self._on_frame)
        s.state_changed.connect(lambda _state: self.show_hint())  # "loading the model…" while it opens
        s.energy_added.connect(lambda _t: plot.draw(s.energy))
        s.result_changed.connect(lambda r: plot.fit() if r is not None else None)
        s.display.events.compare.connect(self.redraw)
        for name in ("threshold", "min_area", "fill", "contour"):
            getattr(s.display.events, name).connect(self.update_segmentation)
        s.display.events.threshold.connect(self._update_colorbar)
        # the defect ground truth (Tools → Load Ground Truth…): a dashed green outline, never Ω
        self.gt_contour = ContourItem(level=0.5, pen=pg.mkPen(GT_COLOR, width=1.6, style=Qt.PenStyle.DashLine),
                                      axisOrder="row-major")
        self.gt_contour.setZValue(24)
        self.gt_contour.setVisible(False)
        self.input_view.view_box.addItem(self.gt_contour)
        s.ground_truth_changed.connect(self._draw_gt)
        grid.hovered.connect(self._on_hover)
        self._update_colorbar()
        self._on_input()

    # ------------------------------------------------------------------ session → views
    def _on_input(self, *_a) -> None:
        """A new model or image: show x0 at its own resolution in the model's pixel frame."""
        s = self.session
        p = s.prepared
        if p is not None:
            self.input_view.set_image(p.original, frame_shape=p.model_input.shape[:2])
        else:
            self.input_view.set_image(s.image.pixels if s.image is not None else None)
        self._on_cleared()
        if s.x0 is not None:
            self.grid.reset_zoom()
        self.show_hint()
        self._draw_gt()

    def _draw_gt(self) -> None:
        """The ground truth's outline over x0, in the model's pixel frame like the segmentation."""
        s = self.session
        gt = s.gt_mask
        if gt is None or s.image is None or gt.shape != s.image.shape:
            self.gt_contour.setData(None)
            self.gt_contour.setVisible(False)
            return
        p = s.prepared
        fh, fw = p.model_input.shape[:2] if p is not None else gt.shape
        self.gt_contour.setData(gt.astype(np.float32), level=0.5)
        self.gt_contour.setTransform(QTransform.fromScale(fw / gt.shape[1], fh / gt.shape[0]))
        self.gt_contour.setVisible(True)

    @property
    def gt_shown(self) -> bool:
        return self.gt_contour.isVisible() and self.gt_contour.data is not None

    def _update_colorbar(self, *_a) -> None:
        """The DSSIM colour bar spans the threshold (beyond 0.5 it grows; a small threshold shrinks
        it, :func:`dssim_scale_top`) and marks it."""
        t = float(self.session.display.threshold)
        top = dssim_scale_top(t)
        panel = self.grid.dssim_panel
        if panel.levels != (DSSIM_LEVELS[0], top):
            panel.set_levels(DSSIM_LEVELS[0], top)
        panel.set_marker(t)

    def show_hint(self) -> None:
        s = self.session
        hint = ""
        if s.state == RunState.LOADING and s.image is None:
            hint = LOADING_HINT
        elif s.loaded is None and s.image is None:
            hint = EMPTY_HINT
        elif s.image is None:
            hint = "Open an image (Ctrl+O)\nor drop one here"
        if hint:
            self.input_view.view_box.setRange(xRange=(0, 100), yRange=(0, 100), padding=0)
        self.input_view.set_hint(hint)

    def _on_cleared(self) -> None:
        s = self.session
        self.plot.clear_curves(int(s.params.max_iter))
        self.plot.set_threshold(None)
        self.grid.show_frame(s.x0, None, s.display.compare)
        self.update_segmentation()
        self._rest_hints()

    def _rest_hints(self) -> None:
        s = self.session
        at_rest = not s.running and s.result is None
        self.grid.set_rest_hints(at_rest and s.current is not None and s.current.iteration == 0)
        self.plot.set_hint(at_rest and s.current is not None)

    def _on_frame(self, frame) -> None:
        s = self.session
        if frame is not None:
            self.input_view.set_hint("")
            if s.running and frame.lr_threshold is not None:
                self.plot.set_threshold(frame.lr_threshold)
        self.plot.set_cursor(None if s.follow or frame is None else frame.iteration)
        self._rest_hints()
        self.redraw()

    def redraw(self, *_a) -> None:
        s = self.session
        self.grid.show_frame(s.x0, s.current, s.display.compare)
        self.update_segmentation()
        self._update_hover_text()

    def update_segmentation(self, *_a) -> None:
        """The overlay on x0 from the shown frame's DSSIM map (no new run)."""
        s, d = self.session, self.session.display
        f = s.current
        if f is None:
            self.input_view.set_segmentation(None, None, d.threshold)
            return
        dmap = f.dssim(d.compare)
        seg = segmentation(dmap, d.threshold, d.min_area)
        # the contour outlines the segmentation exactly (regions under the minimum area are not drawn)
        self.input_view.set_segmentation(seg, contour_data(dmap, seg, d.threshold), d.threshold, fill=d.fill,
                                         contour=d.contour)
        # short enough for a third of the window; the minimum area is in the verdict line above
        text = f"input x₀ · {float(seg.mean()) * 100.0:.1f} % with DSSIM > {fmt_level(d.threshold)}"
        if text != self.input_view.title.text:  # a new label text re-lays the panel out: only on change
            self.input_view.title.setText(text)

    # ------------------------------------------------------------------ hover
    def _on_hover(self, pos) -> None:
        self._hover = pos
        self._update_hover_text()

    def _update_hover_text(self) -> None:
        s, pos = self.session, self._hover
        x0 = s.x0
        if pos is None or x0 is None or pos[0] >= x0.shape[0] or pos[1] >= x0.shape[1]:
            self.hover_label.setText(" ")
            return
        r, c = pos
        parts = [_where(s.prepared, r, c), f"x₀ {_fmt(x0[r, c])}"]
        f = s.current
        if f is not None and f.x.shape[:2] == x0.shape[:2]:
            parts += [
                f"x_t {_fmt(f.x[r, c])}",
                f"f(x_t) {_fmt(f.reconstruction[r, c])}",
                f"DSSIM {_fmt(f.dssim(s.display.compare)[r, c])}",
                f"|x_t − x₀| {_fmt(np.abs(np.asarray(f.x[r, c], np.float64) - x0[r, c]))}",
            ]
        self.hover_label.setText("   │   ".join(parts))


def _where(prep, r: int, c: int) -> str:
    """The hovered pixel in the photograph's own pixels (what the user's other tools show); the
    views show the working scale, whose pixel is also given when the two differ."""
    if prep is None or not prep.resized:
        return f"x {c:4d}  y {r:4d}"
    (h, w), (wh, ww) = prep.original.shape[:2], prep.working_shape
    pr, pc = min(h - 1, int((r + 0.5) * h / wh)), min(w - 1, int((c + 0.5) * w / ww))
    return f"x {pc:4d}  y {pr:4d} (working scale {c}, {r})"
