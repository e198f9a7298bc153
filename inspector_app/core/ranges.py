"""Every bounded number of the application, in one table, and the paper's values, named once.

The window's widgets (their ranges), the settings' restore (clamping a stored value) and the
command line's checks (``--threshold``, ``--min-area``, ``--batch``…) are all made from
:data:`RANGES`, so they cannot drift apart; ``tests/test_ranges.py`` checks each of them against it.

A :class:`Range` holds a default, the bounds (both included), a unit, whether the number is an
integer and whether a slider over it should be logarithmic. :func:`check_range` refuses a value
out of its bounds (or not finite) with a ``ValueError`` that names it; :func:`clamp` brings a
stored value back into them (a value that is not a finite number gives the default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

# ------------------------------------------------------------------ the paper's values (named once)
#: The paper's segmentation threshold on the DSSIM map (figure 3, section 4.1).
PAPER_THRESHOLD: Final = 0.2
#: The paper's step size α of eq. 5 (section 4.1).
PAPER_ALPHA: Final = 0.5
#: The paper's weight λ of the L1 term of eq. 4 (section 4.1).
PAPER_LAM: Final = 0.05
#: The paper segments single pixels: no minimum defect area.
PAPER_MIN_AREA: Final = 1
#: The paper's iteration budget (section 4.1).
PAPER_MAX_ITER: Final = 100
#: The paper's stop criterion: Lr(x_t) under the training losses' minimum (section 3.5).
PAPER_STOP: Final = "train-min"


@dataclass(frozen=True)
class Range:
    """One bounded number: its default, its bounds (both included), its unit and its meaning.

    ``integer``: the value is a whole number (a spin box, an ``int`` flag); ``log``: a slider over
    it is logarithmic (the value spans decades).
    """

    default: float
    minimum: float
    maximum: float
    log: bool = False
    help: str = ""
    unit: str = ""
    integer: bool = False

    def contains(self, value: float) -> bool:
        return math.isfinite(value) and self.minimum <= value <= self.maximum


RANGES: Final[dict[str, Range]] = {
    # the projection (eq. 4–8, section 3.5)
    "alpha": Range(PAPER_ALPHA, 1e-4, 100.0, log=True, help="step size α of eq. 5 (learning rate for Adam)"),
    "lam": Range(PAPER_LAM, 0.0, 2.0, help="weight λ of the L1 term λ‖x − x0‖₁ that keeps x close to x0 (eq. 4)"),
    "max_iter": Range(PAPER_MAX_ITER, 1, 10000, help="maximum number of iterations", unit="iterations",
                      integer=True),
    "tol": Range(1e-5, 1e-9, 1e-1, log=True, help="energy convergence: stop when |ΔE| per pixel stays below tol"),
    "patience": Range(3, 1, 100, help="energy convergence: iterations in a row below tol", unit="iterations",
                      integer=True),
    "percentile": Range(5, 0, 99, help="stop when Lr(x_t) falls below this percentile of the training losses "
                                       "(train-qNN)", unit="%", integer=True),
    "lr_value": Range(1.0, 1e-9, 1e9, log=True, help="stop when Lr(x_t) falls below this value (lr:VALUE)"),
    # the anomaly map (figure 3) and the verdict
    "threshold": Range(PAPER_THRESHOLD, 0.0, 1.0, help="segmentation: pixels with DSSIM above it are anomalous "
                                                       "(figure 3)"),
    "margin": Range(0, 0, 256, help="the image's outermost pixels (at the working scale) left out of the inspection: "
                                    "their DSSIM is 0 (the model has no context beyond the image's edge)",
                    unit="px", integer=True),
    "min_area": Range(PAPER_MIN_AREA, 1, 1_000_000, help="the smallest defect counted, in pixels at the model's "
                                                         "size (8-connected)", unit="px", integer=True),
    # the commands
    "batch": Range(8, 1, 4096, help="images projected together", unit="images", integer=True),
    "iterations": Range(PAPER_MAX_ITER, 1, 10000, help="length of the figure-5 curves", unit="iterations",
                        integer=True),
    "max_parts": Range(48, 0, 100_000, help="the most flagged parts a report shows", unit="parts", integer=True),
    # the mask brush (Ω, eq. 7)
    "brush_radius": Range(8.0, 0.5, 256.0, help="brush radius in image pixels", unit="px"),
    # a new model from a folder (File → New Model from Folder…, issue 24)
    "train_minutes": Range(8.0, 0.1, 1440.0, help="training time budget", unit="min"),
    "train_steps": Range(20000, 1, 1_000_000, help="training step cap", unit="steps", integer=True),
    "calibrate_minutes": Range(2.0, 0.0001, 240.0, help="calibration time budget", unit="min"),
    # the review mode
    "frr_target": Range(0.02, 0.0, 0.5, help="the false-reject rate a suggested threshold may not exceed"),
}


def check_range(name: str, value: float) -> float:
    """``value`` when it is a finite number within ``RANGES[name]`` (and whole, for an integer
    range), else ``ValueError`` naming it and the bounds."""
    r = RANGES[name]
    v = float(value)
    if not r.contains(v):
        raise ValueError(f"{name} = {value:g} is out of range [{r.minimum:g}, {r.maximum:g}]")
    if r.integer and v != int(v):
        raise ValueError(f"{name} = {value:g} must be a whole number")
    return value


def clamp(name: str, value: object) -> float | int:
    """A stored ``value`` brought into ``RANGES[name]`` (an ``int`` for an integer range); the
    default when it is not a finite number. ``TypeError``/``ValueError`` when it is not a number."""
    r = RANGES[name]
    v = float(value)  # type: ignore[arg-type]
    if not math.isfinite(v):
        v = r.default
    v = min(r.maximum, max(r.minimum, v))
    return int(v) if r.integer else v


def default(name: str) -> float | int:
    """``RANGES[name].default``, an ``int`` for an integer range."""
    r = RANGES[name]
    return int(r.default) if r.integer else float(r.default)
