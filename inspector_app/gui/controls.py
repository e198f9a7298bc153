"""The side panel: the projection's parameters (eq. 4–8, section 3.5) and the display settings.

Every widget is bound both ways to the session (:class:`~inspector_app.session.params.ParamsModel`,
:class:`~inspector_app.session.params.Display`, the device) by :func:`bind`, and holds no state
of its own. Ranges and defaults come from :data:`inspector_app.core.ranges.RANGES` only
(``tests/gui/test_ranges_widgets.py`` checks every widget's range against it).
"""

from __future__ import annotations

import math
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QDoubleSlider
from superqt.utils import signals_blocked

from ..core.ranges import PAPER_ALPHA, PAPER_LAM, PAPER_THRESHOLD, RANGES
from ..core.vocabulary import StopKind
from ..session import Session

#: (combo label, stop kind, tooltip) for the stop criterion (section 3.5); short enough for the panel.
STOP_KINDS = (
    ("Max iterations", StopKind.NONE, "Only the maximum number of iterations"),
    ("E converged", StopKind.CONVERGE, "Energy convergence: |ΔE| per pixel below tol for 'patience' iterations"),
    ("Lr < train min", StopKind.TRAIN_MIN, "Lr(x_t) below the minimum training loss (the paper's choice, section 4.1)"),
    ("Lr < train pct", StopKind.TRAIN_Q, "Lr(x_t) below a percentile of the training losses (train-qNN)"),
    ("Lr < value", StopKind.LR, "Lr(x_t) below a typed value (lr:VALUE)"),
)
OPTIMIZER_ITEMS = (("Plain step (eq. 5)", "sgd"), ("Adam (section 3.4)", "adam"))
GRAD_MASK_ITEMS = (("Reconstruction error (eq. 8)", "recon"), ("None (plain ∇ₓE)", "none"))
#: The same choices while Ω is painted: the gradient is then also masked by Ω (eq. 7).
GRAD_MASK_ITEMS_MASKED = (("Ω (eq. 7) × recon. error (eq. 8)", "recon"), ("Ω only (eq. 7)", "none"))
#: λ's slider: logarithmic from this value up; its left end is λ = 0 (no L1 term).
LAM_SLIDER_MIN = 1e-3
#: The threshold's slider: logarithmic from this value up; its left end is 0.
THRESHOLD_SLIDER_MIN = 1e-4
#: Where the model's defaults come from (combo label, paper?).
DEFAULTS_ITEMS = (("the model's calibration", False), (f"the paper ({PAPER_THRESHOLD:g}, single px)", True))
COMPARE_ITEMS = (("x₀ vs x_T (projection)", "projection"), ("x₀ vs f(x_T) (reconstruction)", "reconstruction"))


class LogSpinBox(QDoubleSpinBox):
    """A spin box for values spanning decades: shows ``%.4g``, the arrows multiply by ``factor``
    (from 0, when the range holds it, the up arrow goes to ``floor``)."""

    def __init__(self, minimum: float, maximum: float, factor: float = 10 ** 0.1, parent=None):
        super().__init__(parent)
        self._factor = factor
        self.setDecimals(12)
        self.setRange(minimum, maximum)
        self.setKeyboardTracking(False)
        self.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        self.setMinimumWidth(78)

    def textFromValue(self, v: float) -> str:  # noqa: N802 - Qt
        return f"{v:.4g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt
        if text.strip() == self.textFromValue(self.value()):  # the value shown, untouched: not its 4 digits
            return self.value()
        try:
            return float(text.strip().replace(",", "."))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        t = text.strip().replace(",", ".")  # a decimal comma is a decimal point
        try:
            v = float(t)
        except ValueError:
            ok = all(ch in "0123456789.eE+-" for ch in t)
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid, text, pos)
        if self.minimum() <= v <= self.maximum():
            return (QValidator.State.Acceptable, text, pos)
        return (QValidator.State.Intermediate, text, pos)

    def fixup(self, text: str) -> str:
        """A text that is no value in range, on Enter or leaving the box: a number goes to the
        nearest end of the range, anything else back to the value shown before (Qt's own
        correction bounds a zero: a typo set the threshold to 0, α to its minimum)."""
        try:
            v = float(text.strip().replace(",", "."))
        except ValueError:
            v = math.nan
        if math.isnan(v):
            return self.textFromValue(self.value())
        return self.textFromValue(min(self.maximum(), max(self.minimum(), v)))

    floor = 1e-3  # where the up arrow goes from 0

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt
        v = self.value()
        if v <= 0.0:
            v = self.floor if steps > 0 else 0.0
            steps = max(0, steps - 1)
        self.setValue(min(self.maximum(), max(self.minimum(), v * self._factor ** steps)))


class LogSlider(QWidget):
    """A slider over log10(value) with a typed entry showing the value itself.

    The slider moves in steps of 1/100 of a decade (keys) and 1/10 (page); ``slider_min`` (> 0)
    is its left end when ``minimum`` is 0, and that end means 0 (typed values below it are kept).
    ``slider_row`` lays the slider out on its own, under the entry, for more travel: use
    :attr:`slider` and :attr:`spin` in the form then (see :meth:`ControlPanel._energy_box`).
    """

    valueChanged = Signal(float)

    def __init__(self, minimum: float, maximum: float, value: float, parent=None, slider_min: float | None = None,
                 slider_row: bool = False):
        super().__init__(parent)
        self._zero = minimum <= 0.0
        lo = slider_min if self._zero else minimum
        if lo is None or lo <= 0:
            raise ValueError("a log slider from 0 needs slider_min > 0")
        self.slider = QDoubleSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(math.log10(lo), math.log10(maximum))
        self.slider.setSingleStep(0.01)
        self.slider.setPageStep(0.1)
        self.spin = LogSpinBox(minimum, maximum)
        self.spin.floor = lo
        if not slider_row:
            lay = QHBoxLayout(self)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.setSpacing(6)
            lay.addWidget(self.slider, 1)
            lay.addWidget(self.spin)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)
        self.setValue(value)

    def value(self) -> float:
        return float(self.spin.value())

    def _position(self, v: float) -> float:
        return math.log10(max(v, 10.0 ** self.slider.minimum()))

    def setValue(self, v: float) -> None:  # noqa: N802 - Qt style
        with signals_blocked(self.spin), signals_blocked(self.slider):
            self.spin.setValue(v)
            self.slider.setValue(self._position(self.spin.value()))

    def setToolTip(self, text: str) -> None:  # noqa: N802 - Qt style
        super().setToolTip(text)
        self.slider.setToolTip(text)
        self.spin.setToolTip(text)

    def _from_slider(self, lv: float) -> None:
        if self._zero and lv <= self.slider.minimum() + 1e-9:
            v = 0.0
        else:
            v = float(f"{10.0 ** lv:.3g}")  # round to 3 significant digits, a value one can type
        with signals_blocked(self.spin):
            self.spin.setValue(v)
        self.valueChanged.emit(self.spin.value())

    def _from_spin(self, v: float) -> None:
        with signals_blocked(self.slider):
            self.slider.setValue(self._position(v))
        self.valueChanged.emit(float(v))


def model_summary(loaded) -> str:
    """Two lines: the file's name; its kind, size and channels (the rest is in Help → Model Info)."""
    cfg = loaded.model.config
    name = str(loaded.path).replace("\\", "/").rsplit("/", 1)[-1]
    colour = "colour" if cfg.channels == 3 else "grey"
    ws = loaded.working_scale
    scale = "" if ws is None else ("; tiles at the image's scale" if ws.mode == "crops" else "; whole image")
    return f"{name}\n{loaded.kind}, {cfg.image_size}×{cfg.image_size} {colour}{scale}"


def _combo(items, tooltip: str) -> QComboBox:
    c = QComboBox()
    for label, data in items:
        c.addItem(label, data)
    c.setToolTip(tooltip)
    return c


def _select(combo: QComboBox, data: Any) -> None:
    i = combo.findData(data)
    if i >= 0:
        combo.setCurrentIndex(i)


def _form(box: QGroupBox) -> QFormLayout:
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return form


def bind(model, name: str, widget: QWidget, changed, get: Callable[[], Any], put: Callable[[Any], None]) -> None:
    """Bind ``model.name`` (an evented field) and a widget both ways: the model's event updates the
    widget with its signals blocked; the widget's ``changed`` signal sets the model (an equal value
    emits nothing, so nothing loops). The widget starts showing the model's value."""
    def show(value) -> None:
        with signals_blocked(widget):
            put(value)

    getattr(model.events, name).connect(show)
    changed.connect(lambda *_: setattr(model, name, get()))
    show(getattr(model, name))


def bind_combo(model, name: str, combo: QComboBox) -> None:
    bind(model, name, combo, combo.currentIndexChanged, combo.currentData, lambda v: _select(combo, v))


def bind_value(model, name: str, widget, cast=float) -> None:
    """A widget with ``value()``, ``setValue()`` and ``valueChanged``."""
    bind(model, name, widget, widget.valueChanged, lambda: cast(widget.value()), widget.setValue)


class ControlPanel(QWidget):
    """Parameters of the projection and of the anomaly map, bound to ``session``.

    ``actions`` are the run actions (run, pause, stop, step, reset) its buttons show; ``devices``
    the (label, device) choices. ``extra_layout`` takes other tools' widgets (e.g. the brush).
    """

    def __init__(self, session: Session, actions: dict[str, QAction], devices: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self.session = session
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(6)
        for box in (self._run_box(actions), self._energy_box(), self._stop_box(), self._map_box(),
                    self._model_box(devices)):
            root.addWidget(box)
        #: Other tools (e.g. the mask brush) add their widgets here.
        self.extra_layout = QVBoxLayout()
        self.extra_layout.setSpacing(8)
        root.addLayout(self.extra_layout)
        root.addStretch(1)
        session.params.events.stop_kind.connect(self._update_stop_rows)
        session.model_changed.connect(self._on_model)
        self._update_stop_rows()
        self._on_model(session.loaded)

    # ------------------------------------------------------------------ groups
    def _run_box(self, actions: dict[str, QAction]) -> QGroupBox:
        box = QGroupBox("Projection")
        grid = QGridLayout(box)
        grid.setSpacing(4)
        self.buttons: dict[str, QToolButton] = {}
        places = {"run": (0, 0, 3), "pause": (0, 3, 3), "stop": (1, 0, 2), "step": (1, 2, 2), "reset": (1, 4, 2)}
        for key, (row, col, span) in places.items():
            b = QToolButton()
            b.setDefaultAction(actions[key])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.setMinimumHeight(28)
            self.buttons[key] = b
            grid.addWidget(b, row, col, 1, span)
        for col in range(6):
            grid.setColumnStretch(col, 1)
        return box

    def _energy_box(self) -> QGroupBox:
        r, p = RANGES, self.session.params
        box = QGroupBox("Energy and step (eq. 4–8)")
        form = _form(box)
        # λ and α: a typed entry on the label's row, the logarithmic slider under it across the
        # whole panel (the most travel per decade)
        self.lam = LogSlider(r["lam"].minimum, r["lam"].maximum, r["lam"].default, self,
                             slider_min=LAM_SLIDER_MIN, slider_row=True)
        self.lam.setToolTip(
            f"λ: {r['lam'].help}; logarithmic slider, its left end is λ = 0.\nLarger λ: fewer pixels move "
            f"(the anomaly is kept sparse). Paper: {PAPER_LAM:g}.\nChanging it during a run applies from the next iteration.")
        self.alpha = LogSlider(r["alpha"].minimum, r["alpha"].maximum, r["alpha"].default, self, slider_row=True)
        self.alpha.setToolTip(
            f"α: {r['alpha'].help}; logarithmic slider.\nPaper: {PAPER_ALPHA:g}. With the eq. 8 gradient mask a large α "
            "stays stable.\nChanging it during a run applies from the next iteration.")
        for label, w, paper in (("λ", self.lam, f"paper: {PAPER_LAM:g}"), ("α", self.alpha, f"paper: {PAPER_ALPHA:g}")):
            w.hide()
            row = QWidget()
            rl = QHBoxLayout(row)
            rl.setContentsMargins(0, 0, 0, 0)
            rl.addWidget(w.spin)
            hint = QLabel(paper)
            hint.setStyleSheet("color: #9aa5ad; font-size: 9pt;")
            rl.addWidget(hint)
            rl.addStretch(1)
            form.addRow(label, row)
            form.addRow(w.slider)
        self.optimizer = _combo(OPTIMIZER_ITEMS, "Plain gradient step x ← x − α∇ₓE (eq. 5), or Adam on x "
                                                  "(section 3.4: 'beneficial for quality').")
        form.addRow("Optimizer", self.optimizer)
        self.grad_mask = _combo(GRAD_MASK_ITEMS, "Weight the gradient by the reconstruction error (x − f(x))² "
                                                  "(eq. 8, the anomaly mode: well-reconstructed pixels barely "
                                                  "move), or use the plain gradient.\nWhile Ω is painted the "
                                                  "gradient is also masked by Ω (eq. 7): only its pixels move.")
        form.addRow("Gradient mask", self.grad_mask)
        self.session.omega_changed.connect(self._update_grad_mask_items)
        self.session.mask_replaced.connect(lambda _m: self._update_grad_mask_items())
        bind_value(p, "lam", self.lam)
        bind_value(p, "alpha", self.alpha)
        bind_combo(p, "optimizer", self.optimizer)
        bind_combo(p, "grad_mask", self.grad_mask)
        return box

    def _stop_box(self) -> QGroupBox:
        r, p = RANGES, self.session.params
        box = QGroupBox("Stop criterion (section 3.5)")
        form = self._stop_form = _form(box)
        self.max_iter = QSpinBox()
        self.max_iter.setRange(int(r["max_iter"].minimum), int(r["max_iter"].maximum))
        self.max_iter.setKeyboardTracking(False)
        self.max_iter.setToolTip(f"{r['max_iter'].help} (always applies).")
        form.addRow("Max iterations", self.max_iter)
        self.stop_kind = _combo([(label, kind) for label, kind, _tip in STOP_KINDS],
                                "When to stop besides the maximum number of iterations:\n"
                                "• energy convergence: |ΔE| per pixel below tol for 'patience' "
                                "iterations;\n• Lr(x_t) below the minimum training loss (the paper's "
                                "choice), a training percentile, or a typed value.")
        for i, (_label, _kind, tip) in enumerate(STOP_KINDS):
            self.stop_kind.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        form.addRow("Stop when", self.stop_kind)
        self.tol = LogSpinBox(r["tol"].minimum, r["tol"].maximum, factor=10.0)
        self.tol.setToolTip(r["tol"].help)
        self.patience = QSpinBox()
        self.patience.setRange(int(r["patience"].minimum), int(r["patience"].maximum))
        self.patience.setKeyboardTracking(False)
        self.patience.setToolTip(r["patience"].help)
        self._conv_row = QWidget()
        cl = QHBoxLayout(self._conv_row)
        cl.setContentsMargins(0, 0, 0, 0)
        for w in (self.tol, QLabel("for"), self.patience, QLabel("its")):
            cl.addWidget(w, 1 if w is self.tol else 0)
        form.addRow("tol", self._conv_row)
        self.percentile = QSpinBox()
        self.percentile.setRange(int(r["percentile"].minimum), int(r["percentile"].maximum))
        self.percentile.setSuffix(" %")
        self.percentile.setKeyboardTracking(False)
        self.percentile.setToolTip(f"{r['percentile'].help[0].upper()}{r['percentile'].help[1:]} "
                                   "(the paper suggests a quantile as an alternative to the minimum).")
        form.addRow("Percentile", self.percentile)
        self.lr_value = LogSpinBox(r["lr_value"].minimum, r["lr_value"].maximum, factor=10 ** 0.05)
        self.lr_value.setToolTip(f"{r['lr_value'].help[0].upper()}{r['lr_value'].help[1:]}.")
        form.addRow("Lr value", self.lr_value)
        bind_value(p, "max_iter", self.max_iter, int)
        bind_combo(p, "stop_kind", self.stop_kind)
        for name, cast in (("tol", float), ("patience", int), ("percentile", int), ("lr_value", float)):
            bind_value(p, name, getattr(self, name), cast)
        return box

    def _map_box(self) -> QGroupBox:
        r, d = RANGES, self.session.display
        box = QGroupBox("Anomaly map (section 4.1)")
        form = _form(box)
        self.compare = _combo(COMPARE_ITEMS, "DSSIM between the input x₀ and the projection x_T (keeps the high "
                                              "frequencies; figure 2), or its reconstruction f(x_T).\n"
                                              "Both maps are computed: switching is instant.")
        form.addRow("Compare", self.compare)
        # logarithmic: the calibrated thresholds span 0.0003 (grid) to 0.2 (the paper's)
        self.threshold = LogSlider(r["threshold"].minimum, r["threshold"].maximum, r["threshold"].default, self,
                                   slider_min=THRESHOLD_SLIDER_MIN)
        self.threshold.spin.setMinimumWidth(92)  # room for 0.0002695
        self.threshold.setToolTip(f"{r['threshold'].help}; logarithmic slider, its left end is 0.\n"
                                  "Moves the overlay at once, without a new run.")
        form.addRow("Threshold", self.threshold)
        self.min_area = QSpinBox()
        self.min_area.setRange(int(r["min_area"].minimum), int(r["min_area"].maximum))
        self.min_area.setSuffix(" px")
        self.min_area.setKeyboardTracking(False)
        self.min_area.setToolTip("The smallest defect counted: regions above the threshold with fewer pixels (at the "
                                 "model's size, 8-connected) are texture, not defects.\nThe verdict and the "
                                 "segmentation use it (score > threshold ⟺ a region this large remains).")
        area_row = QWidget()  # the minimum area and the overlay toggles share a row
        al = QHBoxLayout(area_row)
        al.setContentsMargins(0, 0, 0, 0)
        al.addWidget(self.min_area, 1)
        form.addRow("Min. area", area_row)
        self.threshold_source = QLabel()
        self.threshold_source.setWordWrap(True)
        self.threshold_source.setObjectName("threshold_source")
        self.threshold_source.setStyleSheet("color: #9aa5ad; font-size: 9pt;")
        form.addRow(self.threshold_source)
        self.defaults_choice = _combo(DEFAULTS_ITEMS, "Where the threshold, the minimum area, the stop criterion and "
                                                      "the iteration budget come from when a model opens: its "
                                                      "calibration (on its validation images), or the paper's values.")
        form.addRow("Defaults", self.defaults_choice)
        self.show_fill = QCheckBox("fill")
        self.show_fill.setToolTip("Overlay: translucent red over the segmented pixels")
        self.show_contour = QCheckBox("contour")
        self.show_contour.setToolTip("Overlay: the outline of the segmentation (the threshold's isocurve)")
        al.addWidget(self.show_fill)
        al.addWidget(self.show_contour)
        bind_combo(d, "compare", self.compare)
        bind_value(d, "threshold", self.threshold)
        bind_value(d, "min_area", self.min_area, int)
        s = self.session
        for sig in (s.origin_changed, s.defaults_changed, d.events.threshold, d.events.min_area):
            sig.connect(self._update_source)
        self.defaults_choice.currentIndexChanged.connect(
            lambda _i: s.use_paper_defaults(bool(self.defaults_choice.currentData())))
        self._update_source()
        for name, box_ in (("fill", self.show_fill), ("contour", self.show_contour)):
            bind(d, name, box_, box_.toggled, box_.isChecked, box_.setChecked)
        return box

    def _device_row(self, devices: list[tuple[str, str]]) -> QWidget:
        row = QWidget()
        dl = QHBoxLayout(row)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(QLabel("Device"))
        self.device = _combo(devices, "Where the model runs. CUDA is offered when torch finds a GPU.")
        dl.addWidget(self.device, 1)
        s = self.session

        def show(dev: str) -> None:
            with signals_blocked(self.device):
                _select(self.device, dev)

        s.device_changed.connect(show)
        self.device.currentIndexChanged.connect(lambda _i: setattr(s, "device", self.device.currentData()))
        show(s.device)
        return row

    def _model_box(self, devices: list[tuple[str, str]]) -> QGroupBox:
        """The model in two lines (the whole description in the tooltip and Help → Model Info) and
        the device it runs on."""
        self.model_box = QGroupBox("Model")
        ml = QVBoxLayout(self.model_box)
        ml.setSpacing(4)
        self.model_info = QLabel("no model")
        self.model_info.setWordWrap(True)
        self.model_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_info.setStyleSheet("font-size: 9pt;")
        ml.addWidget(self.model_info)
        ml.addWidget(self._device_row(devices))
        return self.model_box

    # ------------------------------------------------------------------ session → widgets
    def _update_source(self, *_a) -> None:
        """The line under the threshold: where its value comes from; the defaults choice."""
        s = self.session
        self.threshold_source.setText(s.threshold_source)
        self.threshold_source.setToolTip(s.defaults.method)
        has = s.defaults.has_calibration or s.loaded is None
        with signals_blocked(self.defaults_choice):  # shows what is in force; the preference stays
            _select(self.defaults_choice, s.paper_defaults or not has)
        item = self.defaults_choice.model().item(0)
        item.setEnabled(has)
        item.setToolTip("" if has else "This model file carries no calibration: the paper's values are used.")

    def _update_grad_mask_items(self, *_a) -> None:
        """Name the gradient's masks as the next run will use them: with Ω painted, eq. 7 too."""
        items = GRAD_MASK_ITEMS_MASKED if self.session.omega is not None else GRAD_MASK_ITEMS
        for i, (label, _data) in enumerate(items):
            self.grad_mask.setItemText(i, label)

    def _update_stop_rows(self, *_a) -> None:
        kind = self.session.params.stop_kind
        f = self._stop_form
        f.setRowVisible(self._conv_row, kind == StopKind.CONVERGE)
        f.setRowVisible(self.percentile, kind == StopKind.TRAIN_Q)
        f.setRowVisible(self.lr_value, kind == StopKind.LR)

    def _on_model(self, loaded) -> None:
        """Describe the model; offer the train-* stop criteria only when it carries their statistics."""
        self.model_info.setText(model_summary(loaded) if loaded is not None else "no model")
        self.model_info.setToolTip(loaded.describe() if loaded is not None else "")
        if loaded is None:
            return
        has, has_q = self.session.has_training_stats
        model = self.stop_kind.model()
        for i in range(self.stop_kind.count()):
            kind = self.stop_kind.itemData(i)
            ok = has if kind == StopKind.TRAIN_MIN else has_q if kind == StopKind.TRAIN_Q else True
            model.item(i).setEnabled(ok)
            model.item(i).setToolTip(STOP_KINDS[i][2] if ok else "The model file carries no training-loss statistics.")
        p = self.session.params
        if (p.stop_kind == StopKind.TRAIN_MIN and not has) or (p.stop_kind == StopKind.TRAIN_Q and not has_q):
            p.stop_kind = StopKind.NONE.value
        if has and abs(p.lr_value - 1.0) < 1e-12:
            p.lr_value = float(loaded.training_stats["min"])
