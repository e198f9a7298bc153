"""The side panel: the projection's parameters (eq. 4–8, section 3.5) and the display settings.

Ranges and defaults come from :data:`inspector_app.core.params.RANGES` only. The panel holds no
algorithm: it turns widget values into a :class:`ProjectionParams` and reports changes.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
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
from superqt import QDoubleSlider, QLabeledDoubleSlider
from superqt.utils import signals_blocked

from ..core.params import RANGES, ProjectionParams

#: (combo label, stop-spec kind) for the stop criterion (section 3.5).
STOP_KINDS = (
    ("Max iterations only", "none"),
    ("Energy convergence (|ΔE| < tol)", "converge"),
    ("Lr < training minimum (paper)", "train-min"),
    ("Lr < training percentile", "train-q"),
    ("Lr < typed value", "lr"),
)
OPTIMIZER_ITEMS = (("Plain step (eq. 5)", "sgd"), ("Adam (section 3.4)", "adam"))
GRAD_MASK_ITEMS = (("Reconstruction error (eq. 8)", "recon"), ("None (plain ∇ₓE)", "none"))
COMPARE_ITEMS = (("x₀ vs x_T (projection)", "projection"), ("x₀ vs f(x_T) (reconstruction)", "reconstruction"))


class LogSpinBox(QDoubleSpinBox):
    """A spin box for values spanning decades: shows ``%.4g``, the arrows multiply by ``factor``."""

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
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        t = text.strip()
        try:
            v = float(t)
        except ValueError:
            ok = all(ch in "0123456789.eE+-" for ch in t)
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid, text, pos)
        if self.minimum() <= v <= self.maximum():
            return (QValidator.State.Acceptable, text, pos)
        return (QValidator.State.Intermediate, text, pos)

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt
        self.setValue(min(self.maximum(), max(self.minimum(), self.value() * self._factor ** steps)))


class LogSlider(QWidget):
    """A slider over log10(value) with a typed entry showing the value itself."""

    valueChanged = Signal(float)

    def __init__(self, minimum: float, maximum: float, value: float, parent=None):
        super().__init__(parent)
        self.slider = QDoubleSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(math.log10(minimum), math.log10(maximum))
        self.spin = LogSpinBox(minimum, maximum)
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

    def setValue(self, v: float) -> None:  # noqa: N802 - Qt style
        with signals_blocked(self.spin), signals_blocked(self.slider):
            self.spin.setValue(v)
            self.slider.setValue(math.log10(max(self.spin.value(), self.spin.minimum())))

    def _from_slider(self, lv: float) -> None:
        v = 10.0 ** lv
        v = float(f"{v:.3g}")  # round to 3 significant digits, a value one can type
        with signals_blocked(self.spin):
            self.spin.setValue(v)
        self.valueChanged.emit(self.spin.value())

    def _from_spin(self, v: float) -> None:
        with signals_blocked(self.slider):
            self.slider.setValue(math.log10(v))
        self.valueChanged.emit(float(v))


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


class ControlPanel(QWidget):
    """Parameters of the projection and of the anomaly map.

    Signals: ``live_changed(dict)`` (α and/or λ: applied to a running projection from its next
    iteration), ``restart_needed(str)`` (a setting a running projection cannot change),
    ``threshold_changed(float)``, ``display_changed()`` (compare, overlay toggles),
    ``device_changed(str)``.
    """

    live_changed = Signal(dict)
    restart_needed = Signal(str)
    threshold_changed = Signal(float)
    display_changed = Signal()
    device_changed = Signal(str)

    def __init__(self, actions: dict[str, QAction], devices: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self._has_stats = True
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(8)

        # ---------------------------------------------------------------- run buttons
        run_box = QGroupBox("Projection")
        grid = QGridLayout(run_box)
        grid.setSpacing(4)
        self.buttons: dict[str, QToolButton] = {}
        for i, key in enumerate(("run", "pause", "stop", "step", "reset")):
            b = QToolButton()
            b.setDefaultAction(actions[key])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.setMinimumHeight(28)
            self.buttons[key] = b
        grid.addWidget(self.buttons["run"], 0, 0, 1, 3)
        grid.addWidget(self.buttons["pause"], 0, 3, 1, 3)
        grid.addWidget(self.buttons["stop"], 1, 0, 1, 2)
        grid.addWidget(self.buttons["step"], 1, 2, 1, 2)
        grid.addWidget(self.buttons["reset"], 1, 4, 1, 2)
        for col in range(6):
            grid.setColumnStretch(col, 1)
        root.addWidget(run_box)

        # ---------------------------------------------------------------- energy
        r = RANGES
        energy_box = QGroupBox("Energy and step (eq. 4–8)")
        form = QFormLayout(energy_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.lam = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.lam.setRange(r["lam"].minimum, r["lam"].maximum)
        self.lam.setDecimals(3)
        self.lam.setSingleStep(0.005)
        self.lam.setValue(r["lam"].default)
        self.lam.setToolTip(
            f"λ: {r['lam'].help}.\nLarger λ: fewer pixels move (the anomaly is kept sparse). Paper: 0.05."
            "\nChanging it during a run applies from the next iteration.")
        form.addRow("λ", self.lam)
        self.alpha = LogSlider(r["alpha"].minimum, r["alpha"].maximum, r["alpha"].default)
        self.alpha.setToolTip(
            f"α: {r['alpha'].help}; logarithmic slider.\nPaper: 0.5. With the eq. 8 gradient mask a large α "
            "stays stable.\nChanging it during a run applies from the next iteration.")
        form.addRow("α", self.alpha)
        self.optimizer = _combo(OPTIMIZER_ITEMS, "Plain gradient step x ← x − α∇ₓE (eq. 5), or Adam on x "
                                                  "(section 3.4: 'beneficial for quality').")
        form.addRow("Optimizer", self.optimizer)
        self.grad_mask = _combo(GRAD_MASK_ITEMS, "Weight the gradient by the reconstruction error (x − f(x))² "
                                                  "(eq. 8, the anomaly mode: well-reconstructed pixels barely "
                                                  "move), or use the plain gradient.")
        form.addRow("Gradient mask", self.grad_mask)
        root.addWidget(energy_box)

        # ---------------------------------------------------------------- stop
        stop_box = QGroupBox("Stop criterion (section 3.5)")
        sform = QFormLayout(stop_box)
        sform.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        sform.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.max_iter = QSpinBox()
        self.max_iter.setRange(int(r["max_iter"].minimum), int(r["max_iter"].maximum))
        self.max_iter.setValue(int(r["max_iter"].default))
        self.max_iter.setKeyboardTracking(False)
        self.max_iter.setToolTip(f"{r['max_iter'].help} (always applies).")
        sform.addRow("Max iterations", self.max_iter)
        self.stop_kind = _combo(STOP_KINDS, "When to stop besides the maximum number of iterations:\n"
                                             "• energy convergence: |ΔE| per pixel below tol for 'patience' "
                                             "iterations;\n• Lr(x_t) below the minimum training loss (the paper's "
                                             "choice), a training percentile, or a typed value.")
        _select(self.stop_kind, "train-min")
        sform.addRow("Stop when", self.stop_kind)
        self.tol = LogSpinBox(r["tol"].minimum, r["tol"].maximum, factor=10.0)
        self.tol.setValue(r["tol"].default)
        self.tol.setToolTip(r["tol"].help)
        self.patience = QSpinBox()
        self.patience.setRange(int(r["patience"].minimum), int(r["patience"].maximum))
        self.patience.setValue(int(r["patience"].default))
        self.patience.setKeyboardTracking(False)
        self.patience.setToolTip(r["patience"].help)
        conv = QWidget()
        cl = QHBoxLayout(conv)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.tol, 1)
        cl.addWidget(QLabel("for"))
        cl.addWidget(self.patience)
        cl.addWidget(QLabel("its"))
        self._conv_row = conv
        sform.addRow("tol", conv)
        self.percentile = QSpinBox()
        self.percentile.setRange(0, 99)
        self.percentile.setValue(5)
        self.percentile.setSuffix(" %")
        self.percentile.setKeyboardTracking(False)
        self.percentile.setToolTip("Stop when Lr(x_t) falls below this percentile of the training losses "
                                   "(train-qNN; the paper suggests a quantile as an alternative to the minimum).")
        sform.addRow("Percentile", self.percentile)
        self.lr_value = LogSpinBox(1e-9, 1e9, factor=10 ** 0.05)
        self.lr_value.setValue(1.0)
        self.lr_value.setToolTip("Stop when Lr(x_t) falls below this value (lr:VALUE).")
        sform.addRow("Lr value", self.lr_value)
        self._stop_form = sform
        root.addWidget(stop_box)

        # ---------------------------------------------------------------- anomaly map
        map_box = QGroupBox("Anomaly map (section 4.1)")
        mform = QFormLayout(map_box)
        mform.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        mform.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.compare = _combo(COMPARE_ITEMS, "DSSIM between the input x₀ and the projection x_T (keeps the high "
                                              "frequencies; figure 2), or its reconstruction f(x_T).\n"
                                              "Both maps are computed: switching is instant.")
        mform.addRow("Compare", self.compare)
        self.threshold = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(r["threshold"].minimum, r["threshold"].maximum)
        self.threshold.setDecimals(3)
        self.threshold.setSingleStep(0.01)
        self.threshold.setValue(r["threshold"].default)
        self.threshold.setToolTip(f"{r['threshold'].help}.\nMoves the overlay at once, without a new run.")
        mform.addRow("Threshold", self.threshold)
        toggles = QWidget()
        tl = QHBoxLayout(toggles)
        tl.setContentsMargins(0, 0, 0, 0)
        self.show_fill = QCheckBox("fill")
        self.show_fill.setChecked(True)
        self.show_fill.setToolTip("Translucent red over the segmented pixels")
        self.show_contour = QCheckBox("contour")
        self.show_contour.setChecked(True)
        self.show_contour.setToolTip("The threshold's isocurve of the DSSIM map")
        tl.addWidget(self.show_fill)
        tl.addWidget(self.show_contour)
        tl.addStretch(1)
        mform.addRow("Overlay", toggles)
        root.addWidget(map_box)

        # ---------------------------------------------------------------- device
        dev_box = QGroupBox("Device")
        dl = QHBoxLayout(dev_box)
        self.device = QComboBox()
        for label, data in devices:
            self.device.addItem(label, data)
        self.device.setToolTip("Where the model runs. CUDA is offered when torch finds a GPU.")
        dl.addWidget(self.device, 1)
        root.addWidget(dev_box)

        # ---------------------------------------------------------------- model info + extensions
        self.model_box = QGroupBox("Model")
        ml = QVBoxLayout(self.model_box)
        self.model_info = QLabel("no model")
        self.model_info.setWordWrap(True)
        self.model_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_info.setStyleSheet("font-size: 9pt;")
        ml.addWidget(self.model_info)
        root.addWidget(self.model_box)
        #: Other tools (e.g. the mask brush) add their widgets here.
        self.extra_layout = QVBoxLayout()
        self.extra_layout.setSpacing(8)
        root.addLayout(self.extra_layout)
        root.addStretch(1)

        # ---------------------------------------------------------------- wiring
        self.lam.valueChanged.connect(lambda v: self.live_changed.emit({"lam": float(v)}))
        self.alpha.valueChanged.connect(lambda v: self.live_changed.emit({"alpha": float(v)}))
        self.optimizer.currentIndexChanged.connect(lambda _i: self.restart_needed.emit("optimizer"))
        self.grad_mask.currentIndexChanged.connect(lambda _i: self.restart_needed.emit("gradient mask"))
        self.max_iter.valueChanged.connect(lambda _v: self.restart_needed.emit("max iterations"))
        self.stop_kind.currentIndexChanged.connect(self._on_stop_kind)
        for w in (self.tol, self.lr_value):
            w.valueChanged.connect(lambda _v: self.restart_needed.emit("stop criterion"))
        for w in (self.patience, self.percentile):
            w.valueChanged.connect(lambda _v: self.restart_needed.emit("stop criterion"))
        self.threshold.valueChanged.connect(lambda v: self.threshold_changed.emit(float(v)))
        self.compare.currentIndexChanged.connect(lambda _i: self.display_changed.emit())
        self.show_fill.toggled.connect(lambda _b: self.display_changed.emit())
        self.show_contour.toggled.connect(lambda _b: self.display_changed.emit())
        self.device.currentIndexChanged.connect(lambda _i: self.device_changed.emit(self.device_name()))
        self._update_stop_rows()

    # ------------------------------------------------------------------ stop rows
    def _on_stop_kind(self, _i: int) -> None:
        self._update_stop_rows()
        self.restart_needed.emit("stop criterion")

    def _update_stop_rows(self) -> None:
        kind = self.stop_kind.currentData()
        f = self._stop_form
        f.setRowVisible(self._conv_row, kind == "converge")
        f.setRowVisible(self.percentile, kind == "train-q")
        f.setRowVisible(self.lr_value, kind == "lr")

    def set_training_stats(self, stats: dict | None) -> None:
        """Enable the train-* stop criteria only when the model carries its training-loss statistics."""
        has = bool(stats and "min" in stats)
        has_q = bool(stats and stats.get("quantiles") and len(stats["quantiles"]) == 101)
        model = self.stop_kind.model()
        for i in range(self.stop_kind.count()):
            kind = self.stop_kind.itemData(i)
            ok = has if kind == "train-min" else has_q if kind == "train-q" else True
            model.item(i).setEnabled(ok)
            tip = "" if ok else "The model file carries no training-loss statistics."
            model.item(i).setToolTip(tip)
        if not self.stop_kind.model().item(self.stop_kind.currentIndex()).isEnabled():
            _select(self.stop_kind, "none")
        if has:
            with signals_blocked(self.lr_value):
                if abs(self.lr_value.value() - 1.0) < 1e-12:
                    self.lr_value.setValue(float(stats["min"]))

    # ------------------------------------------------------------------ values
    def stop_spec(self) -> str:
        """The ``ProjectionParams.stop`` string: none, converge, train-min, train-qNN or lr:VALUE."""
        kind = self.stop_kind.currentData()
        if kind == "train-q":
            return f"train-q{self.percentile.value():02d}"
        if kind == "lr":
            return f"lr:{self.lr_value.value():.6g}"
        return kind

    def params(self) -> ProjectionParams:
        return ProjectionParams(
            alpha=self.alpha.value(), lam=float(self.lam.value()), optimizer=self.optimizer.currentData(),
            grad_mask=self.grad_mask.currentData(), max_iter=int(self.max_iter.value()), stop=self.stop_spec(),
            tol=float(self.tol.value()), patience=int(self.patience.value()),
        ).validated()

    def set_params(self, p: ProjectionParams) -> None:
        """Show ``p`` in the widgets (no signals)."""
        blockers = [self.lam, self.alpha, self.optimizer, self.grad_mask, self.max_iter, self.stop_kind,
                    self.tol, self.patience, self.percentile, self.lr_value]
        for w in blockers:
            w.blockSignals(True)
        try:
            self.lam.setValue(p.lam)
            self.alpha.setValue(p.alpha)
            _select(self.optimizer, p.optimizer)
            _select(self.grad_mask, p.grad_mask)
            self.max_iter.setValue(p.max_iter)
            self.tol.setValue(p.tol)
            self.patience.setValue(p.patience)
            stop = p.stop
            if stop.startswith("train-q"):
                _select(self.stop_kind, "train-q")
                self.percentile.setValue(int(stop[len("train-q"):]))
            elif stop.startswith("lr:"):
                _select(self.stop_kind, "lr")
                self.lr_value.setValue(float(stop[3:]))
            else:
                _select(self.stop_kind, stop)
        finally:
            for w in blockers:
                w.blockSignals(False)
        self._update_stop_rows()

    @property
    def compare_mode(self) -> str:
        return self.compare.currentData()

    @property
    def threshold_value(self) -> float:
        return float(self.threshold.value())

    def device_name(self) -> str:
        return self.device.currentData()

    # ------------------------------------------------------------------ persistence
    def save_state(self, s: QSettings) -> None:
        s.beginGroup("controls")
        try:
            p = self.params()
            for k, v in p.to_dict().items():
                s.setValue(k, v)
        except ValueError:
            pass
        s.setValue("percentile", self.percentile.value())
        s.setValue("lr_value", self.lr_value.value())
        s.setValue("threshold", self.threshold_value)
        s.setValue("compare", self.compare_mode)
        s.setValue("show_fill", self.show_fill.isChecked())
        s.setValue("show_contour", self.show_contour.isChecked())
        s.endGroup()

    def restore_state(self, s: QSettings) -> None:
        s.beginGroup("controls")
        try:
            if not s.contains("alpha"):
                return
            r = RANGES

            def num(key: str, cast, lo: float, hi: float, default):
                try:
                    v = cast(s.value(key, default))
                except (TypeError, ValueError):
                    return default
                return min(hi, max(lo, v)) if math.isfinite(v) else default

            d = ProjectionParams()
            stop = str(s.value("stop", d.stop))
            try:
                ProjectionParams(stop=stop).validated()
            except ValueError:
                stop = d.stop
            optimizer = str(s.value("optimizer", d.optimizer))
            grad_mask = str(s.value("grad_mask", d.grad_mask))
            p = ProjectionParams(
                alpha=num("alpha", float, r["alpha"].minimum, r["alpha"].maximum, d.alpha),
                lam=num("lam", float, r["lam"].minimum, r["lam"].maximum, d.lam),
                optimizer=optimizer if optimizer in ("sgd", "adam") else d.optimizer,
                grad_mask=grad_mask if grad_mask in ("recon", "none") else d.grad_mask,
                max_iter=int(num("max_iter", int, r["max_iter"].minimum, r["max_iter"].maximum, d.max_iter)),
                stop=stop,
                tol=num("tol", float, r["tol"].minimum, r["tol"].maximum, d.tol),
                patience=int(num("patience", int, r["patience"].minimum, r["patience"].maximum, d.patience)),
            )
            self.set_params(p)
            with signals_blocked(self.percentile):
                if not stop.startswith("train-q"):
                    self.percentile.setValue(int(num("percentile", int, 0, 99, 5)))
            with signals_blocked(self.lr_value):
                if not stop.startswith("lr:"):
                    self.lr_value.setValue(num("lr_value", float, 1e-9, 1e9, 1.0))
            with signals_blocked(self.threshold):
                self.threshold.setValue(num("threshold", float, r["threshold"].minimum, r["threshold"].maximum,
                                            r["threshold"].default))
            with signals_blocked(self.compare):
                _select(self.compare, str(s.value("compare", "projection")))
            truthy = lambda v: str(v).lower() in ("true", "1")  # noqa: E731
            with signals_blocked(self.show_fill), signals_blocked(self.show_contour):
                self.show_fill.setChecked(truthy(s.value("show_fill", True)))
                self.show_contour.setChecked(truthy(s.value("show_contour", True)))
        finally:
            s.endGroup()
