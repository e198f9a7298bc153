"""The score-distribution panel of review mode: a histogram of image scores split by label, with
the verdict threshold T1 (the session's segmentation threshold) and the marginal band's T2 as
draggable lines; the confusion matrix at those thresholds, the ROC curve with its AUROC, and the
suggested thresholds (F1-max, lowest under a false-reject rate), each with a button to apply it.

Every value comes from :meth:`~inspector_app.session.review.session.ReviewSession.stats`; the widgets hold
none. Dragging T1 sets ``session.display.threshold``, which moves every verdict and the
segmentation on screen (one number: :mod:`inspector_app.core.verdict`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)
from superqt.utils import signals_blocked

from ...core.ranges import PAPER_THRESHOLD, RANGES
from ...session.assess import fmt_level
from ...session.review import LOG_FLOOR, ReviewSession
from ..fitted_title import FittedTitlePlot

CLASS_COLORS = {"good": (90, 200, 120), "defective": (255, 95, 80), "unlabelled": (150, 150, 160)}
T1_COLOR = (255, 170, 60)
T2_COLOR = (240, 220, 90)
LABEL_SOURCE_TEXT = {"ground_truth": "Split by ground truth", "reviewer": "Split by your verdicts"}


class _SideScroll(QScrollArea):
    """A vertical-only scroll area at least as wide as its widget's minimum (with the scroll bar):
    with the horizontal scroll bar off, a narrower one cut the widget's right edge (at 1366 px, T1's
    arrows, the matrix's last column and the Apply buttons). Follows the widget's minimum when the
    style or the content changes it."""

    MINIMUM = 310

    def setWidget(self, widget: QWidget) -> None:  # noqa: N802 - Qt
        super().setWidget(widget)
        widget.installEventFilter(self)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt
        if obj is self.widget() and ev.type() in (QEvent.Type.LayoutRequest, QEvent.Type.StyleChange):
            self.updateGeometry()
        return super().eventFilter(obj, ev)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt
        hint = super().minimumSizeHint()
        w = self.widget()
        if w is None:
            return hint
        need = w.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
        return QSize(max(self.MINIMUM, need), hint.height())


class ScorePanel(QWidget):
    """See the module docstring. ``refresh()`` redraws from the review (coalesced to 20 Hz)."""

    def __init__(self, review: ReviewSession, parent=None):
        super().__init__(parent)
        self.review = review
        self.display = review.session.display
        self._stats = None
        self._syncing = False
        self.fit_warning: str | None = None  # the folder-level warning shown in the histogram's title
        self._build()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._redraw)
        for sig in (review.rows_changed, review.verdicts_changed, review.labels_changed, review.opened,
                    review.closed):
            sig.connect(self.refresh)
        self.display.events.threshold.connect(self._on_t1)
        review.band_changed.connect(self._on_band)
        self._on_t1()
        self._on_band(review.marginal_upper)

    # ------------------------------------------------------------------ widgets
    def _build(self) -> None:
        self._build_histogram()
        self._build_roc()
        self._build_controls()
        self._build_suggestions()
        self._lay_out()

    def _build_histogram(self) -> None:
        """The score histogram per class, the marginal band, and the draggable T1 and T2 lines."""
        self.hist = FittedTitlePlot()
        self.hist.setMinimumSize(280, 170)
        pi = self.hist.getPlotItem()
        pi.setTitle("image scores", size="10pt")
        pi.setLabel("bottom", "score (DSSIM)")
        pi.setLabel("left", "images")
        pi.setMouseEnabled(x=False, y=False)
        pi.hideButtons()
        pi.getAxis("bottom").enableAutoSIPrefix(False)
        self.bars: dict[str, pg.PlotDataItem] = {}
        for name, rgb in CLASS_COLORS.items():
            self.bars[name] = pi.plot([0, 1], [0], stepMode="center", fillLevel=0, pen=pg.mkPen(rgb, width=1.5),
                                      brush=pg.mkBrush(*rgb, 90))
        self.classes_shown: tuple = ()  # named in the title, in their colours (a legend inside hid T1's label)
        self.band = pg.LinearRegionItem(values=(PAPER_THRESHOLD, PAPER_THRESHOLD), movable=False, brush=pg.mkBrush(*T2_COLOR, 40),
                                        pen=pg.mkPen(None))
        self.band.setZValue(-5)
        pi.addItem(self.band, ignoreBounds=True)
        self.log_x = False  # x is log10(score) when the scores span two decades (see _set_log)
        self.t1_line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(T1_COLOR, width=2),
                                       hoverPen=pg.mkPen(T1_COLOR, width=4), label="T1",
                                       labelOpts={"position": 0.92, "color": T1_COLOR, "fill": (25, 35, 45, 200)})
        self.t1_line.setToolTip("T1: the verdict and segmentation threshold — drag it")
        self.t2_line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(T2_COLOR, width=2, style=Qt.PenStyle.DashLine),
                                       hoverPen=pg.mkPen(T2_COLOR, width=4), label="T2",
                                       labelOpts={"position": 0.78, "color": T2_COLOR, "fill": (25, 35, 45, 200)})
        self.t2_line.setToolTip("T2: the top of the marginal band — drag it")
        for ln in (self.t1_line, self.t2_line):
            ln.setBounds((0.0, 1.0))
            pi.addItem(ln, ignoreBounds=True)
            ln.sigPositionChanged.connect(lambda line: self._label_line(line))
        self.t1_line.sigPositionChanged.connect(self._t1_dragged)
        self.t2_line.sigPositionChanged.connect(self._t2_dragged)

    def _build_roc(self) -> None:
        self.roc_plot = pg.PlotWidget()
        self.roc_plot.setMinimumSize(170, 170)
        rp = self.roc_plot.getPlotItem()
        rp.setTitle("ROC", size="10pt")
        rp.setLabel("bottom", "FPR")  # short: the panel is narrow (full names in the tooltip)
        rp.setLabel("left", "TPR")
        self.roc_plot.setToolTip("ROC curve of the image scores: true-positive rate (defective parts flagged) "
                                 "against false-positive rate (good parts flagged); the dot is T1")
        rp.setMouseEnabled(x=False, y=False)
        rp.hideButtons()
        rp.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.03)
        rp.plot([0, 1], [0, 1], pen=pg.mkPen((120, 120, 130), width=1, style=Qt.PenStyle.DotLine))
        self.roc_curve = rp.plot([], [], pen=pg.mkPen((80, 200, 255), width=2))
        self.roc_point = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(*T1_COLOR), pen=pg.mkPen(None))
        rp.addItem(self.roc_point)

    def _build_controls(self) -> None:
        """The label source, T1 and T2 as numbers, and the confusion matrix."""
        self.label_combo = QComboBox()
        for k, text in LABEL_SOURCE_TEXT.items():
            self.label_combo.addItem(text, k)
        self.label_combo.setToolTip("The classes of the histogram, the confusion matrix and the ROC curve")
        self.label_combo.currentIndexChanged.connect(
            lambda _i: self.review.set_label_source(self.label_combo.currentData()))
        self.review.labels_changed.connect(self._on_labels)
        self.band_check = QCheckBox("Marginal band up to T2")
        self.band_check.setToolTip("Scores between T1 and T2 are 'marginal' (Cognex's T1/T2): neither passed nor "
                                   "rejected; drag T2 on the histogram")
        self.band_check.toggled.connect(self._band_toggled)
        self.t1_spin = self._spin("T1: the verdict and segmentation threshold")
        self.t1_spin.valueChanged.connect(lambda v: setattr(self.display, "threshold", float(v)))
        self.t2_spin = self._spin("T2: the top of the marginal band")
        self.t2_spin.valueChanged.connect(lambda v: self.review.set_marginal_upper(float(v)))

        self.matrix = QTableWidget(2, 3)
        self.matrix.setHorizontalHeaderLabels(["good", "marginal", "defective"])  # the model's; rows the truth
        self.matrix.setVerticalHeaderLabels(["truly good", "truly defective"])
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.matrix.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.setFixedHeight(80)
        self.matrix.setToolTip("Images by label (rows) and the model's verdict at T1/T2 (columns)")

    def _build_suggestions(self) -> None:
        """The suggested thresholds (F1-max, false-reject rate), each with its Apply, and the figures."""
        self.f1_label = QLabel("F1-max: –")
        self.f1_label.setWordWrap(True)  # never cut: a long line wraps
        self.f1_apply = QPushButton("Apply")
        self.f1_apply.setToolTip("Set T1 to the threshold with the highest F1 on the labelled images")
        self.f1_apply.clicked.connect(lambda: self._apply("f1"))
        self.frr_spin = QDoubleSpinBox()
        frr = RANGES["frr_target"]  # a share in the table, a percentage here
        self.frr_spin.setRange(100.0 * frr.minimum, 100.0 * frr.maximum)
        self.frr_spin.setDecimals(1)
        self.frr_spin.setSingleStep(0.5)
        self.frr_spin.setSuffix(" %")
        self.frr_spin.setValue(100.0 * self.review.frr_target)
        self.frr_spin.setToolTip("The false-reject rate allowed: the share of good parts the threshold may reject")
        self.frr_spin.valueChanged.connect(self._frr_changed)
        self.frr_label = QLabel("–")
        self.frr_label.setWordWrap(True)
        self.frr_apply = QPushButton("Apply")
        self.frr_apply.setToolTip("Set T1 to the lowest threshold that rejects at most this share of good parts")
        self.frr_apply.clicked.connect(lambda: self._apply("frr"))
        self.figures = QLabel("")
        self.figures.setWordWrap(True)

    def _lay_out(self) -> None:
        side = QGridLayout()
        side.setVerticalSpacing(3)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.label_combo, 0, 0, 1, 2)
        t1_row = QHBoxLayout()
        t1_row.addWidget(QLabel("T1"))
        t1_row.addWidget(self.t1_spin, 1)
        side.addLayout(t1_row, 0, 2)
        side.addWidget(self.band_check, 2, 0, 1, 2)
        side.addWidget(self.t2_spin, 2, 2)
        side.addWidget(self.matrix, 3, 0, 1, 3)
        side.addWidget(self.f1_label, 4, 0, 1, 2)
        side.addWidget(self.f1_apply, 4, 2)
        frr_row = QHBoxLayout()
        frr_row.addWidget(QLabel("False rejects ≤"))
        frr_row.addWidget(self.frr_spin)
        frr_row.addStretch(1)
        side.addLayout(frr_row, 5, 0, 1, 2)
        side.addWidget(self.frr_apply, 5, 2)
        side.addWidget(self.frr_label, 6, 0, 1, 3)  # its own line, wrapped: never cut
        side.addWidget(self.figures, 7, 0, 1, 3)
        side.setRowStretch(8, 1)
        box = QWidget()
        box.setLayout(side)
        # in a scroll area: on a short dock the wrapped lines scroll, never overlap nor get cut
        self.side = _SideScroll()
        self.side.setWidget(box)
        self.side.setWidgetResizable(True)
        self.side.setFrameShape(QScrollArea.Shape.NoFrame)
        self.side.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.side.setMaximumWidth(400)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addWidget(self.hist, 5)
        lay.addWidget(self.roc_plot, 2)
        lay.addWidget(self.side)

    @staticmethod
    def _spin(tip: str) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(RANGES["threshold"].minimum, RANGES["threshold"].maximum)
        s.setDecimals(6)  # a calibrated T1 may be 1.4e-05
        s.setSingleStep(0.005)
        s.setKeyboardTracking(False)
        s.setToolTip(tip)
        return s

    # ------------------------------------------------------------------ thresholds
    def _on_t1(self, *_a) -> None:
        t = float(self.display.threshold)
        self._set_line(self.t1_line, t)
        with signals_blocked(self.t1_spin):
            self.t1_spin.setValue(t)
        self._update_band()
        self.refresh()

    def _on_band(self, t2) -> None:
        on = t2 is not None
        with signals_blocked(self.band_check):
            self.band_check.setChecked(on)
        self.t2_line.setVisible(on)
        self.t2_spin.setEnabled(on)
        if on:
            self._set_line(self.t2_line, float(t2))
            with signals_blocked(self.t2_spin):
                self.t2_spin.setValue(float(t2))
        self.matrix.setColumnHidden(1, not on)
        self._update_band()
        self.refresh()

    def _update_band(self) -> None:
        t2 = self.review.marginal_upper
        self.band.setVisible(t2 is not None)
        if t2 is not None:
            self.band.setRegion((self.to_x(float(self.display.threshold)), self.to_x(float(t2))))

    # x coordinates: the score, or log10 of it on a logarithmic histogram
    def to_x(self, value: float) -> float:
        return float(np.log10(max(float(value), LOG_FLOOR))) if self.log_x else float(value)

    def from_x(self, x: float) -> float:
        v = 10.0 ** float(x) if self.log_x else float(x)
        return float(min(1.0, max(0.0, v)))

    def line_value(self, line: pg.InfiniteLine) -> float:
        """The threshold a line stands at (its position is log10 of it on a logarithmic histogram)."""
        return self.from_x(line.value())

    def _label_line(self, line: pg.InfiniteLine) -> None:
        name = "T1" if line is self.t1_line else "T2"
        line.label.setFormat(f"{name} {fmt_level(self.line_value(line))}")

    def _set_log(self, on: bool) -> None:
        """Switch the histogram's x axis between scores and log10(scores); the lines keep their values."""
        if on == self.log_x:
            return
        t2 = self.review.marginal_upper
        self.log_x = on
        if not on:
            self.hist.getPlotItem().getAxis("bottom").setTicks(None)  # the axis's own linear ticks
        self.hist.getPlotItem().setLabel("bottom", "score (DSSIM, log scale)" if on else "score (DSSIM)")
        lo, hi = (self.to_x(LOG_FLOOR), 0.0) if on else (0.0, 1.0)
        self._syncing = True  # new bounds clamp the old positions: not a drag
        try:
            for ln in (self.t1_line, self.t2_line):
                ln.setBounds((lo, hi))
        finally:
            self._syncing = False
        self._set_line(self.t1_line, float(self.display.threshold))
        if t2 is not None:
            self._set_line(self.t2_line, float(t2))
        self._update_band()

    def _log_ticks(self, x_edges: np.ndarray) -> None:
        """On the log axis, one label per decade (every second or third when they would crowd the
        axis's width): pyqtgraph's own log ticks label the minor ticks too, which overlapped."""
        if not self.log_x:
            return
        ax = self.hist.getPlotItem().getAxis("bottom")
        lo, hi = int(np.ceil(x_edges[0])), int(np.floor(x_edges[-1]))
        decades = list(range(lo, hi + 1)) or [int(np.round(x_edges[0]))]
        room = max(1, int(self.hist.width() // 48))  # a label is some 40 px wide
        step = int(np.ceil(len(decades) / room))
        major = [(float(k), _decade(k)) for k in decades[::step]]
        minor = [(float(np.log10(m * 10.0 ** k)), "") for k in range(lo - 1, hi + 1) for m in range(2, 10)
                 if x_edges[0] <= np.log10(m * 10.0 ** k) <= x_edges[-1]]
        ax.setTicks([major, minor])

    def _set_line(self, line: pg.InfiniteLine, value: float) -> None:
        """Move a line to the model's value (its label follows; the move is not taken for a drag)."""
        x = self.to_x(value)
        if abs(line.value() - x) > 1e-12:
            self._syncing = True
            try:
                line.setValue(x)
            finally:
                self._syncing = False
        self._label_line(line)

    def _t1_dragged(self) -> None:
        if not self._syncing:
            self.display.threshold = self.line_value(self.t1_line)

    def _t2_dragged(self) -> None:
        if self._syncing:
            return
        self.review.set_marginal_upper(self.line_value(self.t2_line))
        up = self.review.marginal_upper
        if up is not None and abs(self.line_value(self.t2_line) - up) > 1e-9 * max(up, 1e-9):
            self._set_line(self.t2_line, up)  # held at T1: it cannot go below

    def _band_toggled(self, on: bool) -> None:
        if not on:
            self.review.set_marginal_upper(None)
            return
        s = self._stats
        hi = float(s.scores.max()) if s is not None and s.scores.size else 0.0
        t1 = float(self.display.threshold)
        if self.log_x:  # a quarter of the way to the highest score, on the log axis
            t2 = t1 * (max(hi, t1) / t1) ** 0.25 if t1 > 0 else 0.05
            self.review.set_marginal_upper(min(1.0, max(t2, t1 * 1.5)))
        else:
            self.review.set_marginal_upper(min(1.0, max(t1 + 0.05, t1 + 0.25 * max(hi - t1, 0.0))))

    def _frr_changed(self, v: float) -> None:
        self.review.frr_target = float(v) / 100.0
        self.refresh()

    def _apply(self, which: str) -> None:
        s = self._stats or self.review.stats()
        sug = s.f1 if which == "f1" else s.frr
        if sug is not None:
            self.display.threshold = float(sug.threshold)

    def _on_labels(self, source: str) -> None:
        i = self.label_combo.findData(source)
        with signals_blocked(self.label_combo):
            self.label_combo.setCurrentIndex(i)

    # ------------------------------------------------------------------ drawing
    def refresh(self, *_a) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def redraw_now(self) -> None:
        """Redraw at once (tests, screenshots)."""
        self._timer.stop()
        self._redraw()

    def _redraw(self) -> None:
        rv = self.review
        self.label_combo.setEnabled(rv.scan is not None and rv.scan.has_ground_truth)
        s = self._stats = rv.stats()
        self._set_log(s.log_scale)
        edges = s.edges
        known = ~np.isnan(s.labels)
        groups = {"good": s.scores[known & (s.labels == 0)], "defective": s.scores[known & (s.labels == 1)],
                  "unlabelled": s.scores[~known]}
        top = 1
        for name, vals in groups.items():
            counts = np.histogram(np.clip(vals, edges[0], None) if self.log_x else vals, edges)[0]
            top = max(top, int(counts.max()) if counts.size else 0)
            self.bars[name].setData(np.log10(edges) if self.log_x else edges, counts, stepMode="center", fillLevel=0)
            self.bars[name].setVisible(vals.size > 0)
        self.classes_shown = tuple(n for n, v in groups.items() if v.size)
        pi = self.hist.getPlotItem()
        warning = rv.fit_warning() if rv.is_open else None  # the folder-level "wrong model?"
        self.hist.set_titles(_titles(self.classes_shown, warning))
        self.hist.setToolTip(warning or "")
        self.fit_warning = warning
        x_edges = np.log10(edges) if self.log_x else edges
        self._log_ticks(x_edges)
        pi.setRange(xRange=(float(x_edges[0]), float(x_edges[-1])), yRange=(0, top * 1.1), padding=0.02)
        self._draw_matrix(s.confusion)
        if s.roc is not None:
            self.roc_curve.setData(s.roc.fpr, s.roc.tpr)
            self.roc_plot.getPlotItem().setTitle(f"AUROC {s.roc.auroc:.3f}", size="10pt")
        else:
            self.roc_curve.setData([], [])
            self.roc_plot.getPlotItem().setTitle("ROC: no labels", size="10pt")
        self.roc_point.setData([s.operating_point[0]], [s.operating_point[1]]) if s.operating_point else \
            self.roc_point.setData([], [])
        if s.f1 is not None:
            self.f1_label.setText(f"F1-max: T1 = {fmt_level(s.f1.threshold)} (F1 {s.f1.value:.2f}){_gap(s.f1)}")
        else:
            self.f1_label.setText(f"F1-max: {s.suggestion_note or 'no labelled images'}")
        self.f1_apply.setEnabled(s.f1 is not None)
        if s.frr is not None:
            self.frr_label.setText(f"T1 = {fmt_level(s.frr.threshold)}: rejects {100 * s.frr.value:.1f} % of good "
                                   f"parts, detects {100 * s.frr.detection:.0f} %{_gap(s.frr)}")
        else:
            self.frr_label.setText("–")
        self.frr_apply.setEnabled(s.frr is not None)
        n_lab = int(known.sum())
        parts = [f"{s.scores.size} scored, {n_lab} labelled"]
        if s.pixel_auroc is not None:
            parts.append(f"pixel AUROC {s.pixel_auroc:.3f}")
        if s.mean_iou is not None:
            parts.append(f"mean IoU {s.mean_iou:.2f} (defective images)")
        self.figures.setText(" · ".join(parts))

    def _draw_matrix(self, m) -> None:
        for r in range(2):
            for c in range(3):
                v = "–" if m is None else str(int(m[r, c]))
                item = self.matrix.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.matrix.setItem(r, c, item)
                item.setText(v)
                right = (r == 0 and c == 0) or (r == 1 and c == 2)
                wrong = (r == 0 and c == 2) or (r == 1 and c == 0)
                color = QColor(60, 130, 80) if right else QColor(150, 60, 55) if wrong else QColor(120, 105, 50)
                item.setBackground(QBrush(color))

    @property
    def stats(self):
        return self._stats


def _gap(s) -> str:
    """`` · gap a – b``: the scores on either side of a suggested threshold (its margin)."""
    lo = fmt_level(s.below) if s.below is not None else "0"
    hi = fmt_level(s.above) if s.above is not None else "–"
    return f" · gap {lo} – {hi}"


def _decade(k: int) -> str:
    """10^k as a tick label: 0.001, 0.01, 0.1, 1 written out; 1e-5 beyond."""
    return f"{10.0 ** k:g}" if -3 <= k <= 0 else f"1e{k}"


def _titles(classes: tuple, warning: str | None) -> list[str]:
    """The histogram's titles, longest first (the plot shows the longest that fits): the classes
    shown, in their colours (the legend, which no longer hides T1's label), and the folder-level
    warning when there is one (also the plot's tooltip and the gallery's banner)."""
    names = " ".join(f"<span style='color: rgb{CLASS_COLORS[c]}'>■ {c}</span>" for c in classes)
    text = "image scores" + (f" · {names}" if names else "")
    out = [text + f" — <span style='color: #ff9a5c'>{warning.split(' — ')[0]}</span>"] if warning else []
    return out + [text] + ([names, "scores"] if names else [])
