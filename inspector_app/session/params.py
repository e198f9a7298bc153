"""The projection parameters and the display settings as evented models (psygnal, no Qt).

Widgets bind to these in two lines each: ``model.events.NAME.connect(update the widget)`` and
``widget changed → model.NAME = value``. Assigning an equal value emits nothing, so a binding
never loops. Ranges and defaults come from :data:`inspector_app.core.ranges.RANGES` only: a
restored value is clamped to the same bounds the widgets and the command line use.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from psygnal import evented

if TYPE_CHECKING:
    from psygnal import SignalGroup

from ..core.params import COMPARE, GRAD_MASKS, OPTIMIZERS, STOP_KINDS, ProjectionParams, Stop
from ..core.ranges import PAPER_STOP, PAPER_THRESHOLD, RANGES, clamp, default
from ..core.vocabulary import StopKind

__all__ = ["LIVE", "ORIGINS", "RESTART", "STOP_KINDS", "Defaults", "Display", "ParamsModel"]
#: Parameters a running projection takes from its next iteration on (sent to the generator).
LIVE = ("alpha", "lam")
#: Parameters a running projection cannot change: changing one asks to restart.
RESTART = {"optimizer": "optimizer", "grad_mask": "gradient mask", "max_iter": "max iterations",
           "stop_kind": "stop criterion", "percentile": "stop criterion", "lr_value": "stop criterion",
           "tol": "stop criterion", "patience": "stop criterion"}


@evented
@dataclass
class ParamsModel:
    """Everything that defines the next run (eq. 4–8, section 3.5)."""

    if TYPE_CHECKING:
        events: ClassVar[SignalGroup]  # one signal per field, added by @evented

    alpha: float = RANGES["alpha"].default
    lam: float = RANGES["lam"].default
    optimizer: str = "sgd"
    grad_mask: str = "recon"
    max_iter: int = int(RANGES["max_iter"].default)
    stop_kind: str = PAPER_STOP  # the panel's choice (a StopKind); train-q and lr take the next two
    percentile: int = int(RANGES["percentile"].default)
    lr_value: float = RANGES["lr_value"].default
    tol: float = RANGES["tol"].default
    patience: int = int(RANGES["patience"].default)
    margin: int = int(RANGES["margin"].default)  # the model's calibrated inspection margin (no control of its own)

    def stop_spec(self) -> str:
        """The ``ProjectionParams.stop`` string: none, converge, train-min, train-qNN or lr:VALUE."""
        value = {StopKind.TRAIN_Q: self.percentile, StopKind.LR: self.lr_value}.get(StopKind(self.stop_kind))
        return str(Stop.of(self.stop_kind, value))

    def to_params(self) -> ProjectionParams:
        """The validated parameters (``ValueError`` names a bad one)."""
        return ProjectionParams(
            alpha=float(self.alpha), lam=float(self.lam), optimizer=self.optimizer, grad_mask=self.grad_mask,
            max_iter=int(self.max_iter), stop=self.stop_spec(), tol=float(self.tol), patience=int(self.patience),
            margin=int(self.margin),
        ).validated()

    def set_params(self, p: ProjectionParams) -> None:
        """Take every value of ``p`` (one event per changed field)."""
        p = p.validated()
        stop = Stop.parse(p.stop)
        if stop.kind == StopKind.TRAIN_Q and stop.value is not None:
            self.percentile = int(stop.value)
        elif stop.kind == StopKind.LR and stop.value is not None:
            self.lr_value = float(stop.value)
        for k in ("alpha", "lam", "optimizer", "grad_mask", "max_iter", "tol", "patience", "margin"):
            setattr(self, k, getattr(p, k))
        self.stop_kind = str(stop.kind)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def update_from(self, values: Mapping[str, Any]) -> None:
        """Take saved values (e.g. from the settings file), ignoring unknown keys and clamping bad
        ones to their range; an unknown choice keeps the current one."""
        for k in ("alpha", "lam", "max_iter", "tol", "patience", "percentile", "lr_value"):
            if k in values:
                try:
                    setattr(self, k, clamp(k, values[k]))
                except (TypeError, ValueError, OverflowError):
                    pass
        for k, allowed in (("optimizer", OPTIMIZERS), ("grad_mask", GRAD_MASKS), ("stop_kind", STOP_KINDS)):
            if str(values.get(k)) in allowed:
                setattr(self, k, str(values[k]))


@evented
@dataclass
class Display:
    """How the anomaly map is shown: ``compare`` (DSSIM against x_T, ``projection``, or f(x_T),
    ``reconstruction``), the segmentation ``threshold`` (figure 3) and the overlay toggles.
    None of these needs a new run."""

    if TYPE_CHECKING:
        events: ClassVar[SignalGroup]  # one signal per field, added by @evented

    compare: str = "projection"
    threshold: float = RANGES["threshold"].default
    #: The smallest defect counted, in pixels at the model's size (regions of fewer pixels are
    #: dropped from the segmentation and the image score; see :mod:`inspector_app.core.verdict`).
    min_area: int = int(RANGES["min_area"].default)
    fill: bool = True
    contour: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def update_from(self, values: Mapping[str, Any]) -> None:
        if str(values.get("compare")) in COMPARE:
            self.compare = str(values["compare"])
        for k in ("threshold", "min_area"):
            if k in values:
                try:
                    setattr(self, k, clamp(k, values[k]))
                except (TypeError, ValueError, OverflowError):
                    pass
        for k in ("fill", "contour"):
            if k in values:
                setattr(self, k, str(values[k]).lower() in ("true", "1"))


#: Where the threshold and the minimum area in use come from (:attr:`Defaults.origin`, or the user).
ORIGINS = ("model", "paper", "user")


@dataclass(frozen=True)
class Defaults:
    """The parameters, threshold and minimum defect area a model suggests, and where they come from.

    ``origin`` is ``"model"`` when the model file carries a calibration (its ``calibration``
    metadata, :mod:`inspector_app.core.calibration`), else ``"paper"`` (the paper's settings,
    :data:`~inspector_app.core.calibration.PAPER`); ``method`` says in words how the values were
    obtained (the calibration's own text), ``source`` names the origin for a status line.
    """

    params: ProjectionParams = ProjectionParams()
    threshold: float = RANGES["threshold"].default
    min_area: int = int(default("min_area"))
    origin: str = "paper"
    method: str = f"the paper's defaults (threshold {PAPER_THRESHOLD:g}, stop when Lr < training minimum)"
    has_calibration: bool = False
    alpha_calibrated: bool = False  # the calibration chose the step size (else it is the paper's)

    @property
    def source(self) -> str:
        return "model's calibration" if self.origin == "model" else "paper's defaults"

    @classmethod
    def for_model(cls, meta: Mapping[str, Any] | None, paper: bool = False) -> "Defaults":
        """The defaults of a model file's metadata ``meta``: its calibration, or the paper's values
        when it has none or ``paper`` is asked for. α is the step size the calibration chose
        (the paper's 0.5 unless a smaller one did better on validation), λ the paper's."""
        from ..core.calibration import PAPER, model_defaults

        has = meta is not None and isinstance(meta.get("calibration"), dict)
        cal = model_defaults(meta, paper=paper)
        figures = cal.figures if isinstance(cal.figures, dict) else {}
        base = ProjectionParams()
        try:
            alpha = float(cal.alpha if cal.alpha is not None else figures.get("alpha", base.alpha))
            lam = float(figures.get("lam", base.lam))
            params = base.replace(alpha=alpha, lam=lam, stop=str(cal.stop), max_iter=int(cal.max_iter),
                                  margin=int(cal.margin)).validated()
        except (TypeError, ValueError):
            params = base.replace(stop=str(cal.stop), max_iter=int(cal.max_iter)).validated()
        return cls(params, float(cal.threshold), max(1, int(cal.min_area)), "paper" if cal is PAPER else "model",
                   str(cal.method or PAPER.method), has, cal.alpha is not None and cal is not PAPER)
