"""The gallery of review mode: one sortable, filterable row per image, bound to a
:class:`~inspector_app.session.review.ReviewSession` (which holds every value shown).

Columns: the thumbnail and name, the image score, the model's verdict (good / marginal /
defective at T1, T2), the reviewer's verdict, the ground truth, the anomalous area and the IoU
with the ground truth. Below the table: the folder run's progress, ETA and Cancel; the verdict
buttons (keys O, D, U; Delete clears) and a comment line.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...core.vocabulary import REVIEW_TO_MODEL, ModelVerdict, ReviewVerdict
from ...session.assess import fmt_level
from ...session.review import FILTERS, ReviewSession

COLUMNS = ("image", "score", "model", "reviewer", "truth", "area %", "IoU")
TIPS = (
    "The image (its path relative to the folder)",
    "Image score: the highest DSSIM threshold at which the map still holds a region of at least "
    "min_area pixels (the maximum of the map when min_area = 1)",
    "The model's verdict: good (score ≤ T1), marginal (T1 < score ≤ T2), defective (score > T2)",
    "Your verdict: O = OK, D = defective, U = unsure (Delete clears)",
    "Ground truth (MVTec ground_truth/ or NAME_mask files)",
    "Anomalous area: share of pixels segmented at T1 (at the model's size)",
    "IoU of the segmentation with the ground-truth mask (at the model's size)",
)
FILTER_LABELS = {"all": "All images", "unreviewed": "Unreviewed only", "disagreements": "Disagreements",
                 "marginal": "Marginal (T1 < score ≤ T2)"}
MODEL_COLORS = {ModelVerdict.GOOD: QColor(90, 200, 120), ModelVerdict.MARGINAL: QColor(240, 190, 60),
                ModelVerdict.DEFECTIVE: QColor(255, 95, 80)}
#: A reviewer's verdict takes the colour of the model's it maps to (core.vocabulary.REVIEW_TO_MODEL);
#: unsure, the marginal band's.
VERDICT_COLORS = {**MODEL_COLORS, **{r: MODEL_COLORS[m] for r, m in REVIEW_TO_MODEL.items()},
                  ReviewVerdict.UNSURE: MODEL_COLORS[ModelVerdict.MARGINAL]}
REVIEW_TEXT = {ReviewVerdict.OK: "OK", ReviewVerdict.DEFECTIVE: "defective", ReviewVerdict.UNSURE: "unsure"}
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


def _pixmap(thumb: np.ndarray) -> QPixmap:
    h, w = thumb.shape[:2]
    img = QImage(np.ascontiguousarray(thumb).data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(img.copy())


class GalleryModel(QAbstractTableModel):
    """The review's images as rows (no state but a thumbnail cache)."""

    def __init__(self, review: ReviewSession, parent=None):
        super().__init__(parent)
        self.review = review
        self._pix: dict[int, QIcon] = {}
        review.opened.connect(self._reset)
        review.closed.connect(self._reset)
        review.rows_changed.connect(self._rows_changed)
        review.verdicts_changed.connect(self._verdicts_changed)

    def _reset(self) -> None:
        self.beginResetModel()
        self._pix.clear()
        self.endResetModel()

    def _rows_changed(self, rows) -> None:
        if rows is None:
            self._pix.clear()
            if self.rowCount():
                self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(COLUMNS) - 1))
            return
        for r in rows:
            self._pix.pop(r, None)
        lo, hi = min(rows), max(rows)
        self.dataChanged.emit(self.index(lo, 0), self.index(hi, len(COLUMNS) - 1))

    def _verdicts_changed(self) -> None:
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 1), self.index(self.rowCount() - 1, len(COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt
        return 0 if parent.isValid() else len(self.review)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return TIPS[section]
        return None

    def values(self, row: int) -> tuple:
        """(name, score, model verdict, reviewer verdict, truth, area, IoU) of ``row``; None where unknown."""
        rv, res = self.review, self.review.results[row]
        review = rv.reviews[row]
        return (rv.items[row].rel, rv.score(row), rv.model_verdict(row), review.verdict if review else None,
                rv.items[row].gt, res.area if res is not None else None, res.iou if res is not None else None)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        rv = self.review
        if row >= len(rv):
            return None
        v = self.values(row)[col]
        err = rv.errors[row]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return shown_name(v, rv.scan is not None and rv.scan.mvtec)
            if err is not None and col == 2:
                return "unreadable"
            if v is None:
                return "…" if col in (1, 2) and rv.running else "–"
            if col == 1:
                return fmt_level(v)  # calibrated scores of good parts are often under 0.001
            if col == 3:
                return REVIEW_TEXT.get(v, v)
            if col == 5:
                return f"{100.0 * v:.1f}"
            if col == 6:
                return f"{v:.2f}"
            return str(v)
        if role == SORT_ROLE:
            if isinstance(v, str) or v is None:
                return v or ""
            return float(v) if not (isinstance(v, float) and math.isnan(v)) else -1.0
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            res = rv.results[row]
            if res is None:
                return None
            if row not in self._pix:  # an icon: drawn at the table's icon size (a pixmap is drawn at its own)
                self._pix[row] = QIcon(_pixmap(res.thumbnail))
            return self._pix[row]
        if role == Qt.ItemDataRole.ForegroundRole and col in (2, 3, 4):
            if err is not None and col == 2:
                return QBrush(QColor(255, 95, 80))
            c = VERDICT_COLORS.get(v if col != 4 else ("good" if v == "good" else "defective" if v else ""))
            return QBrush(c) if c is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter) if col in (1, 5, 6) else None
        return None

    def _tooltip(self, row: int) -> str:
        rv = self.review
        lines = [str(rv.items[row].path)]
        if rv.errors[row]:
            lines.append(f"unreadable: {rv.errors[row]}")
        res = rv.results[row]
        if res is not None:
            lines.append(f"{res.iterations} iterations ({res.stop_reason or 'stopped'}), Lr(x₀) {res.recon_loss_x0:.4g}")
            lines += [w["message"] for w in res.warnings if w.get("code") not in ("resized",)]
        r = rv.reviews[row]
        if r is not None:
            lines.append(f"reviewed {r.time}: {REVIEW_TEXT[r.verdict]}" + (f" — {r.comment}" if r.comment else ""))
        return "\n".join(lines)


def shown_name(rel: str, mvtec: bool = False) -> str:
    """A part's name in the gallery: the file's name first, then its folder (``003.png · swirl``), so
    that a narrow column cuts the folder, never the number; an MVTec category's ``test/`` left out."""
    parts = rel.split("/")
    if mvtec and parts[0] == "test" and len(parts) > 1:
        parts = parts[1:]
    return parts[-1] + (f" · {'/'.join(parts[:-1])}" if len(parts) > 1 else "")


class GalleryProxy(QSortFilterProxyModel):
    """Sorts by each column's value and keeps the rows the review's filter accepts."""

    def __init__(self, review: ReviewSession, parent=None):
        super().__init__(parent)
        self.review = review
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(False)  # rows must not jump under the reviewer during a drag
        review.filter_changed.connect(lambda _f: self.refilter())

    def refilter(self) -> None:
        """Ask the filter again (Qt ≥ 6.10 has begin/endFilterChange instead of invalidateFilter)."""
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def filterAcceptsRow(self, row, parent) -> bool:  # noqa: N802 - Qt
        return self.review.matches(row)

    def lessThan(self, a, b) -> bool:  # noqa: N802 - Qt
        va, vb = a.data(SORT_ROLE), b.data(SORT_ROLE)
        if type(va) is not type(vb):
            return str(type(va)) < str(type(vb))
        return va < vb


class GalleryPanel(QWidget):
    """The filter, the table, the run's progress and the verdict controls.

    Signals: ``cancel_requested()``, ``reproject_requested()``.
    """

    cancel_requested = Signal()
    reproject_requested = Signal()

    def __init__(self, review: ReviewSession, parent=None):
        super().__init__(parent)
        self.review = review
        self.model = GalleryModel(review, self)
        self.proxy = GalleryProxy(review, self)
        self.proxy.setSourceModel(self.model)
        self.filter_combo = QComboBox()
        for f in FILTERS:
            self.filter_combo.addItem(FILTER_LABELS[f], f)
        self.filter_combo.setToolTip("Which images the gallery lists (PageDown / PageUp walk through them)")
        self.count_label = QLabel("")
        self.fit_banner = QLabel("")  # the folder-level "wrong model?" warning
        self.fit_banner.setWordWrap(True)
        self.fit_banner.setStyleSheet("background: #7a2e12; color: #ffffff; border-radius: 3px; padding: 3px 6px;")
        self.fit_banner.hide()
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # folder order until a header is clicked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)  # one line: the file's name first, its folder after (cut first)
        self.table.verticalHeader().setDefaultSectionSize(36)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setMinimumSectionSize(40)
        self.table.setIconSize(self.table.iconSize().scaled(28, 28, Qt.AspectRatioMode.KeepAspectRatio))
        fm = self.table.fontMetrics()
        hh.ensurePolished()  # the header's own width in its style (bold, padded), without the sort arrow's room
        hh.setSortIndicatorShown(False)
        heads = [hh.sectionSizeFromContents(c).width() for c in range(len(COLUMNS))]
        hh.setSortIndicatorShown(True)
        for c, sample in enumerate(("", "0.0000", "unreadable", "defective", "defective", "100.0", "0.00"), start=0):
            if c:  # fixed widths: sizing to the contents would ask every row on every update
                hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
                text = max(fm.horizontalAdvance(sample), fm.horizontalAdvance(COLUMNS[c])) + 12
                hh.resizeSection(c, max(text, heads[c]))
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.eta_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop projecting the folder (the results so far are kept)")
        self.reproject_button = QPushButton("Project folder")
        self.reproject_button.setToolTip("Project the images without a result, or all of them again with the "
                                         "current model and parameters")
        self.verdict_buttons: dict[str, QPushButton] = {}
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment on this image (C), Enter to save")
        self.comment.setClearButtonEnabled(True)

        top = QHBoxLayout()
        top.addWidget(self.filter_combo, 1)
        top.addWidget(self.count_label)
        run = QHBoxLayout()
        run.addWidget(self.progress, 1)
        run.addWidget(self.eta_label)
        run.addWidget(self.cancel_button)
        run.addWidget(self.reproject_button)
        self.verdict_row = QHBoxLayout()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.fit_banner)
        lay.addWidget(self.table, 1)
        lay.addLayout(run)
        lay.addLayout(self.verdict_row)
        lay.addWidget(self.comment)

        self.filter_combo.currentIndexChanged.connect(lambda _i: review.set_filter(self.filter_combo.currentData()))
        review.filter_changed.connect(self._on_filter)
        self.table.selectionModel().currentRowChanged.connect(self._on_row)
        review.selection_changed.connect(self._follow_selection)
        review.rows_changed.connect(self._on_rows)
        review.verdicts_changed.connect(self._update_count)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.reproject_button.clicked.connect(self.reproject_requested)
        self.comment.editingFinished.connect(self._commit_comment)
        self.set_running(False)

    def add_verdict_button(self, action) -> None:
        """A button for a verdict action (its text, shortcut in the tooltip, enabled state)."""
        b = QPushButton(action.text().replace("&", ""))
        b.setToolTip(action.toolTip())
        b.clicked.connect(action.trigger)
        action.changed.connect(lambda: b.setEnabled(action.isEnabled()))
        b.setEnabled(action.isEnabled())
        self.verdict_row.addWidget(b)
        self.verdict_buttons[action.text()] = b

    # ------------------------------------------------------------------ selection
    def order(self) -> list[int]:
        """The source rows in the table's current (sorted, filtered) order."""
        p = self.proxy
        return [p.mapToSource(p.index(r, 0)).row() for r in range(p.rowCount())]

    def _on_row(self, current, _previous) -> None:
        if not current.isValid():
            return
        row = self.proxy.mapToSource(current).row()
        if row != self.review.current:
            self.review.select(row)

    def _follow_selection(self, row: int) -> None:
        self._show_comment(row)
        if row < 0:
            return
        idx = self.proxy.mapFromSource(self.model.index(row, 0))
        if idx.isValid() and self.table.currentIndex().row() != idx.row():
            self.table.setCurrentIndex(idx)
        if idx.isValid():
            self.table.scrollTo(idx)

    def _show_comment(self, row: int) -> None:
        r = self.review.reviews[row] if row >= 0 else None
        self.comment.setText(r.comment if r is not None else "")
        self.comment.setEnabled(row >= 0)

    def _commit_comment(self) -> None:
        row = self.review.current
        if row < 0:
            return
        text = self.comment.text().strip()
        r = self.review.reviews[row]
        if text != (r.comment if r is not None else ""):
            self.review.set_comment(row, text)
        self.table.setFocus()

    def _show_truth_columns(self, *_a) -> None:
        """'truth' and 'IoU' only for a folder with ground truth: a camera's folder has none, and its
        names (IMG_2004.JPG) need the room (at 1366 px they read 'IMG_200…', every part alike)."""
        has = self.review.scan is not None and self.review.scan.has_ground_truth
        for c in (COLUMNS.index("truth"), COLUMNS.index("IoU")):
            self.table.setColumnHidden(c, not has)

    def _on_rows(self, rows) -> None:
        if rows is None:  # every row: also a folder just opened
            self._show_truth_columns()
        if rows is None or self.review.current in rows:
            self._show_comment(self.review.current)
        self._update_count()

    def _on_filter(self, flt: str) -> None:
        i = self.filter_combo.findData(flt)
        if i != self.filter_combo.currentIndex():
            self.filter_combo.setCurrentIndex(i)
        self._update_count()

    def refilter(self) -> None:
        """Apply the filter again (verdicts moved; rows may enter or leave it)."""
        if self.review.filter != "all":
            self.proxy.refilter()
        self._update_count()

    def _update_count(self, *_a) -> None:
        rv = self.review
        self.count_label.setText(f"{self.proxy.rowCount()} / {len(rv)} · reviewed {rv.n_reviewed}")
        warning = rv.fit_warning() if rv.is_open else None
        self.fit_banner.setText(warning or "")
        self.fit_banner.setVisible(bool(warning))

    # ------------------------------------------------------------------ progress
    def set_running(self, running: bool) -> None:
        self.cancel_button.setVisible(running)
        self.reproject_button.setVisible(not running)
        if not running:
            self.eta_label.setText("")

    def set_progress(self, done: int, total: int, eta: float | None) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} / {total} projected")
        if eta is not None:
            m, s = divmod(int(round(eta)), 60)
            self.eta_label.setText(f"ETA {m}:{s:02d}")
