"""The image views and the energy plot (pyqtgraph). Items are created once; updates only set data.

Every view is an :class:`ImagePanel`: a title, a :class:`pyqtgraph.ViewBox` holding an
:class:`pyqtgraph.ImageItem`, and for the maps a colour bar. :class:`ImageGrid` lays out the five
views of the inspection window and links their zoom and pan; :class:`EnergyPlot` draws E, Lr and
λ‖x−x0‖₁ (eq. 4) against the iteration, with the Lr stop threshold (section 3.5).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGridLayout, QWidget

from ..core.ranges import PAPER_THRESHOLD
from ..core.verdict import DSSIM_SCALE_MAX
from ..session.assess import fmt_level, iso_segments
from ..session.frames import EnergyTrace, Frame
from .fitted_title import FittedTitlePlot

#: Colours shared by the views and the plot. The segmentation is red; Ω (brush.MASK_COLOR) is blue
#: and the ground truth (GT_COLOR) green, so that the three never look alike.
SEGMENTATION_RGBA = (255, 64, 48, 105)
CONTOUR_COLOR = (255, 90, 60)
GT_COLOR = (70, 230, 110)
THRESHOLD_MARK_COLOR = (255, 255, 255)
ENERGY_COLORS = {"E": (250, 250, 250), "Lr": (80, 200, 255), "reg": (255, 120, 210)}
#: DSSIM levels of the colour bar before a threshold sets them (core.verdict.dssim_scale_top).
DSSIM_LEVELS = (0.0, DSSIM_SCALE_MAX)
DIFF_LEVELS = (0.0, 0.25)
#: Width of the colour-bar column (kept empty in views without one).
SIDE_COLUMN = 58
#: Colour-bar ranges under this get their tick labels scaled by a power of ten (see ImagePanel.set_levels).
SCALED_BELOW = 0.005
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _grey_or_rgb(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


class ImagePanel(pg.GraphicsLayoutWidget):
    """A titled image view: ``view_box`` (pan/zoom) holding ``image_item``; optional colour bar."""

    def __init__(self, title: str, tooltip: str = "", colormap: str | None = None,
                 levels: tuple[float, float] = (0.0, 1.0), colorbar_label: str | None = None, parent=None):
        super().__init__(parent=parent)
        self.setMinimumSize(160, 160)
        self.ci.layout.setContentsMargins(2, 2, 2, 9)  # room for the colour bar's lowest label
        self.ci.layout.setSpacing(2)
        self.title = self.addLabel(title, row=0, col=0, colspan=2, size="10pt")
        self._title_text = title
        self.axis_scale = 1.0  # the colour bar's tick labels are values × this (see set_levels)
        self.view_box: pg.ViewBox = self.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMenu=True)
        self.view_box.setDefaultPadding(0.01)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self.levels = levels
        self.colorbar: pg.ColorBarItem | None = None
        self.marker: pg.InfiniteLine | None = None
        if colormap is not None:
            # not interactive: its level handles looked like threshold markers; the threshold has
            # its own mark (set_marker)
            self.colorbar = pg.ColorBarItem(values=levels, colorMap=pg.colormap.get(colormap), width=12,
                                            interactive=False, rounding=0.01, limits=(0.0, 1.0),
                                            label=colorbar_label)
            self.colorbar.setImageItem(self.image_item)
            self.colorbar.setFixedWidth(SIDE_COLUMN)
            self.addItem(self.colorbar, row=1, col=1)
        else:  # an empty column as wide as a colour bar, so that every view has the same size
            spacer = pg.GraphicsWidget()
            spacer.setFixedWidth(SIDE_COLUMN)
            self.addItem(spacer, row=1, col=1)
        if tooltip:
            self.setToolTip(tooltip)
        self._shape: tuple[int, int] | None = None
        self._stretched = False
        self.hint = pg.TextItem("", color=(210, 210, 210), anchor=(0.5, 0.5))
        self.hint.setZValue(50)
        self.view_box.addItem(self.hint, ignoreBounds=True)
        self.view_box.sigRangeChanged.connect(self._centre_hint)  # a resize or a new frame moves the centre

    def set_levels(self, lo: float, hi: float) -> None:
        """The value range the colour map spans (the colour bar's ends). Under
        :data:`SCALED_BELOW` the bar's labels (0.0005 …) would not fit beside it: they are then
        shown × 10ᵏ (0.5, 1, 1.5) and the title says "(×10⁻ᵏ)"."""
        self.levels = (float(lo), float(hi))
        if self.colorbar is not None:
            self.colorbar.setLevels(self.levels)
            span = max(abs(self.levels[0]), abs(self.levels[1]))
            k = -math.floor(math.log10(span)) if 0 < span < SCALED_BELOW else 0
            if 10.0 ** k != self.axis_scale:
                self.axis_scale = 10.0 ** k
                self.colorbar.axis.setScale(self.axis_scale)
                suffix = f" (×10{str(-k).translate(_SUPERSCRIPT)})" if k else ""
                self.title.setText(self._title_text + suffix)
            self._place_marker()

    def set_marker(self, value: float | None) -> None:
        """A line across the colour bar at ``value`` (the segmentation threshold), its value in the
        tooltip (a text label would be clipped by the bar's 12-px view)."""
        if self.colorbar is None:
            return
        if self.marker is None:
            self.marker = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(THRESHOLD_MARK_COLOR, width=2))
            self.marker.setZValue(2000)
            self.colorbar.addItem(self.marker)
        self._marker_value = value
        self._place_marker()

    def _place_marker(self) -> None:
        if self.marker is None:
            return
        value = getattr(self, "_marker_value", None)
        if value is None:
            self.marker.setVisible(False)
            return
        lo, hi = self.levels
        y = 256.0 * (float(value) - lo) / max(hi - lo, 1e-12)
        self.marker.setVisible(0.0 <= y <= 256.0)
        self.marker.setValue(min(256.0, max(0.0, y)))
        self.marker.setToolTip(f"threshold {fmt_level(value)}")

    @property
    def marker_value(self) -> float | None:
        """The value the colour bar's mark shows (None when hidden)."""
        if self.marker is None or not self.marker.isVisible():
            return None
        return getattr(self, "_marker_value", None)

    def set_hint(self, text: str) -> None:
        """A line of text over the view's centre (empty: none), kept there as the view's range moves."""
        self.hint.setText(text)
        self.hint.setVisible(bool(text))
        self._centre_hint()

    def _centre_hint(self, *_) -> None:
        self.hint.setPos(self.view_box.viewRect().center())

    def set_image(self, arr: np.ndarray | None, frame_shape: tuple[int, int] | None = None) -> None:
        """Draw ``arr`` (H×W or H×W×3, float in [0, 1]) with fixed levels (no min/max pass).

        ``frame_shape`` (rows, cols) stretches the image over that many view units: an image shown
        at its own resolution inside the model's pixel frame. View coordinates stay the frame's
        pixels; ``image_item.mapFromScene`` gives the image's own pixel coordinates.
        """
        if arr is None:
            self.image_item.clear()
            return
        a = _grey_or_rgb(arr)
        if self.colorbar is None:
            self.image_item.setImage(a, levels=self.levels, autoLevels=False)
        else:  # keep the levels the colour bar holds (the user may have moved them)
            self.image_item.setImage(a, autoLevels=False)
        shape = tuple(frame_shape) if frame_shape is not None else a.shape[:2]
        if frame_shape is not None or self._stretched:
            self.image_item.setRect(QRectF(0, 0, shape[1], shape[0]))
            self._stretched = frame_shape is not None
        if shape != self._shape:
            self._shape = shape
            self.view_box.autoRange(padding=0.01)

    def image_pos(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(row, col) of the image pixel under a scene position, or None outside the image."""
        if self._shape is None or not self.view_box.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.view_box.mapSceneToView(scene_pos)
        r, c = int(np.floor(p.y())), int(np.floor(p.x()))
        h, w = self._shape
        return (r, c) if 0 <= r < h and 0 <= c < w else None


class ContourItem(pg.IsocurveItem):
    """An :class:`pyqtgraph.IsocurveItem` whose path comes from numpy marching squares.

    pyqtgraph's own isocurve is pure Python (≈ 20–30 ms for a 128×128 map, as long as an
    iteration), ``skimage.measure.find_contours`` 15–30 ms on a noisy map (joining its segments
    into lines, in Python, is most of it); :func:`~inspector_app.session.assess.iso_segments`
    gives the same segments (the same vertices; tests/gui/test_views.py) in about 2 ms, drawn
    as separate segments, so the contour costs the window little per frame. Contours are closed
    along the image border. Row-major data, drawn in the data's pixel coordinates: add it to the
    ViewBox (or parent it to an ImageItem of the data's size).
    """

    def generatePath(self):  # noqa: N802 - pyqtgraph API
        if self.data is None:
            self.path = None
            return
        d = np.nan_to_num(np.asarray(self.data, dtype=np.float32))
        level = float(self.level)
        # a one-pixel frame just below the level, mirrored so that a region touching the border is
        # closed exactly along the image's edge
        padded = np.pad(d, 1, mode="edge")
        frame = np.ones(padded.shape, bool)
        frame[1:-1, 1:-1] = False
        padded[frame] = np.minimum(2.0 * level - padded[frame], np.nextafter(np.float32(level), np.float32(-np.inf)))
        seg = iso_segments(padded, level)
        if not len(seg):
            self.path = QPainterPath()
            return
        # (row, col) of the padded array → image coordinates (pixel centres at +0.5); segment pairs
        pts = seg.reshape(-1, 2)
        y = np.clip(pts[:, 0] - 0.5, 0.0, d.shape[0])
        x = np.clip(pts[:, 1] - 0.5, 0.0, d.shape[1])
        self.path = pg.arrayToQPath(x, y, connect="pairs")


class InputPanel(ImagePanel):
    """The input x0 with the segmentation (DSSIM > threshold) as a translucent fill and a contour.

    ``image_item`` shows x0 at the image's own resolution stretched over the model's pixel frame
    (``set_image(original, frame_shape=model size)``); the fill and the contour are in the frame's
    (model pixel) coordinates, as are the other views.
    """

    def __init__(self, title: str, tooltip: str = "", parent=None):
        super().__init__(title, tooltip, parent=parent)
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        self.view_box.addItem(self.overlay_item)
        self.contour = ContourItem(level=PAPER_THRESHOLD, pen=pg.mkPen(CONTOUR_COLOR, width=1.5), axisOrder="row-major")
        self.contour.setZValue(20)
        self.view_box.addItem(self.contour)  # in view (model pixel) coordinates, like the overlay
        self._seg_rgba: np.ndarray | None = None

    def set_segmentation(self, seg: np.ndarray | None, dssim: np.ndarray | None, threshold: float,
                         fill: bool = True, contour: bool = True) -> None:
        """Show ``seg`` (bool H×W) as a translucent fill and the ``threshold`` isocurve of ``dssim``."""
        if seg is None or not fill:
            self.overlay_item.clear()
            self._seg_rgba = None
        else:
            rgba = np.zeros(seg.shape + (4,), np.uint8)
            rgba[seg] = SEGMENTATION_RGBA
            self._seg_rgba = rgba
            self.overlay_item.setImage(rgba, levels=(0, 255), autoLevels=False)
        if dssim is None or not contour:
            self.contour.setData(None)
        else:
            self.contour.setData(np.ascontiguousarray(dssim, dtype=np.float32), level=float(threshold))

    @property
    def overlay_data(self) -> np.ndarray | None:
        """The RGBA segmentation fill on screen (tests read it)."""
        return self._seg_rgba


class ImageGrid(QWidget):
    """The five views of the inspection window, zoom and pan linked; reports the hovered pixel."""

    hovered = Signal(object)  # (row, col) or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.input_panel = InputPanel(
            "input x₀ · segmentation",
            "The input image x₀ with the segmentation: pixels whose DSSIM exceeds the threshold (figure 3)."
            "\nDrag to pan, wheel to zoom (all views follow).",
        )
        self.iterate_panel = ImagePanel(
            "projection x_t", "The current iterate x_t of the projection (eq. 5: x ← x − α ∇ₓE(x)).")
        self.reconstruction_panel = ImagePanel(
            "reconstruction f(x_t)", "The autoencoder's reconstruction of the current iterate, f(x_t).")
        self.dssim_panel = ImagePanel(
            "anomaly map DSSIM", "DSSIM = (1 − SSIM)/2 per pixel (11×11 windows, section 4.1) between x₀ and "
            "x_t (or f(x_t), see 'compare').\nDrag the colour bar's ends to change its levels.",
            colormap="inferno", levels=DSSIM_LEVELS)
        self.diff_panel = ImagePanel(
            "|x_t − x₀|", "How far each pixel has moved: the L1 term of eq. 4 per pixel.",
            colormap="viridis", levels=DIFF_LEVELS)
        self.panels = [self.input_panel, self.iterate_panel, self.reconstruction_panel, self.dssim_panel,
                       self.diff_panel]
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.input_panel, 0, 0)
        lay.addWidget(self.iterate_panel, 0, 1)
        lay.addWidget(self.reconstruction_panel, 0, 2)
        lay.addWidget(self.dssim_panel, 1, 0)
        lay.addWidget(self.diff_panel, 1, 1)
        self.grid_layout = lay  # cell (1, 2) is the energy plot, placed by the main window
        vb0 = self.input_panel.view_box
        for p in self.panels[1:]:
            p.view_box.setXLink(vb0)
            p.view_box.setYLink(vb0)
        for p in self.panels:
            p.scene().sigMouseMoved.connect(lambda pos, panel=p: self._on_mouse(panel, pos))
        # Linked, aspect-locked views widen their range on every resize (the images shrank to a few
        # pixels when review mode's docks opened or closed): while the user has not zoomed or panned,
        # a resize fits the image again.
        self.fitted = True
        self._refit_timer = QTimer(self)
        self._refit_timer.setSingleShot(True)
        self._refit_timer.setInterval(0)  # once the layout has settled
        self._refit_timer.timeout.connect(self.reset_zoom)
        for p in self.panels:
            p.view_box.sigRangeChangedManually.connect(self._user_zoomed)
            p.view_box.sigResized.connect(self._on_resized)

    def _user_zoomed(self, *_a) -> None:
        self.fitted = False

    def _on_resized(self, *_a) -> None:
        if self.fitted:
            self._refit_timer.start()

    def _on_mouse(self, panel: ImagePanel, pos) -> None:
        self.hovered.emit(panel.image_pos(pos))

    def leaveEvent(self, ev) -> None:  # noqa: N802 - Qt
        self.hovered.emit(None)
        super().leaveEvent(ev)

    def reset_zoom(self) -> None:
        """Fit the image in the views (they follow it on resizes again)."""
        self.input_panel.view_box.autoRange(padding=0.01)
        self.fitted = True

    def set_rest_hints(self, on: bool) -> None:
        """Before any run the maps of x0 against itself are empty: say how to fill them."""
        self.dssim_panel.set_hint("Run (F5) to project x₀" if on else "")
        self.diff_panel.set_hint("Run (F5) to project x₀" if on else "")

    def show_frame(self, x0: np.ndarray | None, frame: Frame | None, compare: str) -> None:
        """Draw the iterate, its reconstruction, the DSSIM map and |x_t − x0| of ``frame``."""
        if frame is None or x0 is None:
            for p in self.panels[1:]:
                p.set_image(None)
            if x0 is not None:
                self.iterate_panel.set_image(x0)
            return
        self.iterate_panel.set_image(frame.x)
        self.reconstruction_panel.set_image(frame.reconstruction)
        self.dssim_panel.set_image(frame.dssim(compare))
        diff = np.abs(frame.x - x0)
        self.diff_panel.set_image(diff if diff.ndim == 2 else diff.mean(axis=2))


class IntegerAxis(pg.AxisItem):
    """An axis of whole numbers (iterations): no tick between two integers."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph API
        out = []
        for spacing, values in super().tickValues(minVal, maxVal, size):
            whole = [v for v in values if abs(v - round(v)) < 1e-6]
            if whole:
                out.append((max(float(spacing), 1.0), whole))
        if not out and maxVal - minVal >= 0:  # a range under one: its whole numbers, if any
            out.append((1.0, [float(v) for v in range(int(np.ceil(minVal)), int(np.floor(maxVal)) + 1)]))
        return out


def _hex(rgb) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


#: The plot's title names the three curves in their colours: a legend that covers no curve.
ENERGY_TITLE = (f"energy <span style='color:{_hex(ENERGY_COLORS['E'])}'>━ E</span> = "
                f"<span style='color:{_hex(ENERGY_COLORS['Lr'])}'>━ Lr</span> + "
                f"<span style='color:{_hex(ENERGY_COLORS['reg'])}'>━ λ‖x − x₀‖₁</span> (eq. 4)")
#: The title on a narrower plot, longest first (a title wider than the plot widens it past its view).
ENERGY_TITLES = (ENERGY_TITLE, ENERGY_TITLE.removeprefix("energy ").removesuffix(" (eq. 4)"),
                 ENERGY_TITLE.removeprefix("energy ").removesuffix(" (eq. 4)").replace(" = ", " ").replace(" + ", " "))


class EnergyPlot(FittedTitlePlot):
    """E, Lr and λ‖x−x0‖₁ against the iteration (eq. 4), with the Lr stop threshold (section 3.5).

    The iteration axis has whole-number ticks only; the curves are named in the title, in their
    colours, instead of a legend box over them."""

    def __init__(self, parent=None):
        super().__init__(parent=parent, axisItems={"bottom": IntegerAxis("bottom")})
        self.setMinimumSize(200, 160)
        pi = self.getPlotItem()
        self.set_titles(list(ENERGY_TITLES))  # the longest that fits beside the value axis
        pi.setLabel("bottom", "iteration t")
        # no grid: pyqtgraph draws it with the axes, which would then be repainted with every curve update
        pi.setClipToView(True)
        pi.setDownsampling(auto=True, mode="peak")
        self.legend = None
        self.curves = {
            "E": pi.plot([], [], pen=pg.mkPen(ENERGY_COLORS["E"], width=2), name="E"),
            "Lr": pi.plot([], [], pen=pg.mkPen(ENERGY_COLORS["Lr"], width=1.5), name="Lr"),
            "reg": pi.plot([], [], pen=pg.mkPen(ENERGY_COLORS["reg"], width=1.5), name="λ‖x − x₀‖₁"),
        }
        self.threshold_line = pg.InfiniteLine(
            angle=0, movable=False, pen=pg.mkPen((80, 200, 255), width=1, style=Qt.PenStyle.DashLine),
            label="Lr stop {value:.4g}", labelOpts={"position": 0.1, "color": (80, 200, 255), "anchors": [(0, 1), (0, 1)]},
        )
        self.threshold_line.setVisible(False)
        pi.addItem(self.threshold_line, ignoreBounds=True)
        self.hint = pg.TextItem("E, Lr and λ‖x − x₀‖₁ of each iteration\nare drawn here during a run",
                                color=(190, 190, 190), anchor=(0.5, 0.5))
        self.hint.setVisible(False)
        pi.addItem(self.hint, ignoreBounds=True)
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((255, 200, 0, 160), width=1))
        self.cursor.setVisible(False)
        pi.addItem(self.cursor, ignoreBounds=True)
        self._n = 0
        # During a run the ranges only grow by steps (doubling the iterations shown, 1.5× the
        # energy), so the axes are not re-laid out on every update; fitted at the end of the run.
        self.max_iter: int | None = None
        self._xmax = 0.0
        self._ymax = 0.0
        self._ymin = 0.0

    # ------------------------------------------------------------------ data
    def clear_curves(self, max_iter: int | None = None) -> None:
        """Forget the curves; a new run of at most ``max_iter`` iterations follows."""
        self._n = 0
        for c in self.curves.values():
            c.setData([], [])
        self.cursor.setVisible(False)
        self.max_iter = max_iter
        self._xmax = self._ymax = self._ymin = 0.0
        self.getPlotItem().enableAutoRange(False)

    def fit(self) -> None:
        """Fit the view to the curves (at the end of a run)."""
        self.getPlotItem().enableAutoRange()

    def _grow_ranges(self, trace: EnergyTrace) -> None:
        n_last = trace.column("iteration")[-1]
        cols = [trace.column(k) for k in ("E", "Lr", "reg")]
        top = max(float(c.max()) for c in cols)
        bottom = min([0.0] + [float(c.min()) for c in cols])
        changed = False
        if n_last > self._xmax or self._xmax == 0.0:
            cap = float(self.max_iter) if self.max_iter else float("inf")
            x = max(self._xmax, 20.0)
            while x < n_last:
                x *= 2.0
            self._xmax = max(min(x, cap), 1.0)
            changed = True
        if not np.isfinite(top) or not np.isfinite(bottom):
            return
        if top > self._ymax or bottom < self._ymin:
            self._ymax = top * 1.08 if top > self._ymax else self._ymax
            if top > 0 and self._ymax < top * 1.02:
                self._ymax = top * 1.5
            self._ymin = bottom * 1.08 if bottom < self._ymin else self._ymin
            changed = True
        if changed:
            self.getPlotItem().setRange(xRange=(0, self._xmax), yRange=(self._ymin, self._ymax or 1.0), padding=0.02)
            self._fit()  # the value axis may have widened

    def draw(self, trace: EnergyTrace) -> None:
        """Draw the three curves of ``trace`` (the session's; every iteration of the run)."""
        self._n = len(trace)
        if not self._n:
            return
        it = trace.column("iteration")
        one = self._n == 1  # a line through one point draws nothing (a run stopped at t = 0): a dot
        for k in ("E", "Lr", "reg"):
            dot = {"symbol": "o", "symbolSize": 7, "symbolPen": None, "symbolBrush": ENERGY_COLORS[k]} if one else {}
            self.curves[k].setData(it, trace.column(k), skipFiniteCheck=True, symbol=dot.pop("symbol", None), **dot)
        self._grow_ranges(trace)

    def set_hint(self, on: bool) -> None:
        self.hint.setVisible(on and self._n == 0)
        if on:
            self.hint.setPos(self.getPlotItem().getViewBox().viewRect().center())

    def set_threshold(self, value: float | None) -> None:
        self.threshold_line.setVisible(value is not None)
        if value is not None:
            self.threshold_line.setValue(float(value))

    def set_cursor(self, iteration: int | None) -> None:
        self.cursor.setVisible(iteration is not None)
        if iteration is not None:
            self.cursor.setValue(iteration)

    @property
    def point_count(self) -> int:
        """How many iterations the curves show."""
        return self._n
