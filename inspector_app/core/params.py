"""Projection parameters, with their ranges in one place.

Sliders, command-line flags and defaults all read :data:`RANGES`, so they cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

OPTIMIZERS = ("sgd", "adam")
GRAD_MASKS = ("recon", "none")
COMPARE = ("projection", "reconstruction")


@dataclass(frozen=True)
class Range:
    """Numeric range of one parameter: default, bounds, and whether sliders should be logarithmic."""

    default: float
    minimum: float
    maximum: float
    log: bool = False
    help: str = ""


RANGES: dict[str, Range] = {
    "alpha": Range(0.5, 1e-4, 100.0, log=True, help="step size α of eq. 5 (learning rate for Adam)"),
    "lam": Range(0.05, 0.0, 2.0, help="weight λ of the L1 term λ‖x − x0‖₁ that keeps x close to x0 (eq. 4)"),
    "max_iter": Range(100, 1, 10000, help="maximum number of iterations"),
    "tol": Range(1e-5, 1e-9, 1e-1, log=True, help="energy convergence: stop when |ΔE| per pixel stays below tol"),
    "patience": Range(3, 1, 100, help="energy convergence: iterations in a row below tol"),
    "threshold": Range(0.2, 0.0, 1.0, help="segmentation: pixels with DSSIM above it are anomalous (figure 3)"),
}


def check_range(name: str, value: float) -> float:
    r = RANGES[name]
    if not (r.minimum <= value <= r.maximum):
        raise ValueError(f"{name} = {value:g} is out of range [{r.minimum:g}, {r.maximum:g}]")
    return value


_STOP_RE = re.compile(r"^(none|converge|train-min|train-q(\d{1,2})|lr:([-+0-9.eE]+))$")


def parse_stop(spec: str) -> str:
    """Validate a stop specification: ``none`` (max iterations only), ``converge``,
    ``train-min``, ``train-qNN`` (NN-th percentile of the training losses) or ``lr:VALUE``."""
    s = str(spec).strip().lower()
    m = _STOP_RE.match(s)
    if not m:
        try:
            float(s)
        except ValueError:
            raise ValueError(
                f"bad stop criterion {spec!r}: use none, converge, train-min, train-qNN (e.g. train-q05) or a number"
            ) from None
        return f"lr:{float(s):g}"
    if m.group(3) is not None:
        float(m.group(3))
    return s


@dataclass(frozen=True)
class ProjectionParams:
    """Everything that defines one projection run (eq. 4–8, section 3.5)."""

    alpha: float = RANGES["alpha"].default
    lam: float = RANGES["lam"].default
    optimizer: str = "sgd"
    grad_mask: str = "recon"
    max_iter: int = int(RANGES["max_iter"].default)
    stop: str = "train-min"
    tol: float = RANGES["tol"].default
    patience: int = int(RANGES["patience"].default)
    #: E(x_t) above E(x0) + ``diverge_factor`` × max(|E(x0)|, 1) counts as divergence.
    diverge_factor: float = 1.0
    #: E(x_t) above E(x0) for this many iterations in a row (walking uphill: α too large) is divergence.
    diverge_patience: int = 5
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def validated(self) -> "ProjectionParams":
        if not (self.alpha > 0):
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        if self.lam < 0:
            raise ValueError(f"lam must be non-negative, got {self.lam}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.grad_mask not in GRAD_MASKS:
            raise ValueError(f"grad_mask must be one of {GRAD_MASKS}, got {self.grad_mask!r}")
        if self.max_iter < 0:
            raise ValueError(f"max_iter must be >= 0, got {self.max_iter}")
        if self.tol <= 0 or self.patience < 1:
            raise ValueError("tol must be positive and patience at least 1")
        return replace(self, stop=parse_stop(self.stop))

    def replace(self, **changes: Any) -> "ProjectionParams":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra", None)
        return d
