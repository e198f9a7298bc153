"""Projection parameters and the stop criterion.

Their ranges and defaults live in :mod:`inspector_app.core.ranges` (re-exported here as
:data:`RANGES`); sliders, command-line flags and defaults all read it, so they cannot drift apart.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from .ranges import PAPER_STOP, RANGES, Range, check_range
from .vocabulary import StopKind

__all__ = ["COMPARE", "GRAD_MASKS", "OPTIMIZERS", "RANGES", "STOP_KINDS", "ProjectionParams", "Range", "Stop",
           "check_range", "parse_stop"]

OPTIMIZERS = ("sgd", "adam")
GRAD_MASKS = ("recon", "none")
COMPARE = ("projection", "reconstruction")


_STOP_RE = re.compile(r"^(none|converge|train-min|train-q(\d{1,2})|lr:([-+0-9.eE]+))$")
STOP_KINDS = tuple(k.value for k in StopKind)


class Stop(str):
    """A stop criterion (section 3.5), parsed once, in :meth:`parse`; immutable.

    It is the canonical text of the criterion (a ``str``, so it reads and serialises as the
    specification) with typed parts: ``kind`` is one of :data:`STOP_KINDS` and ``value`` the
    percentile of ``train-q`` (0–99) or the Lr value of ``lr``, else ``None``:

    ``none`` (maximum iterations only), ``converge`` (energy convergence), ``train-min`` (Lr under
    the training minimum, the paper's), ``train-qNN`` (under the NN-th percentile of the training
    losses) or ``lr:VALUE`` (a number; a bare number is accepted too).
    """

    __slots__ = ()

    @classmethod
    def parse(cls, spec: "str | Stop") -> "Stop":
        if isinstance(spec, Stop):
            return spec
        s = str(spec).strip().lower()
        m = _STOP_RE.match(s)
        if m is None:
            try:
                v = float(s)
            except ValueError:
                raise ValueError(
                    f"bad stop criterion {spec!r}: use none, converge, train-min, train-qNN (e.g. train-q05) or a number"
                ) from None
            s = f"lr:{v:g}"
        elif m.group(3) is not None:
            try:
                v = float(m.group(3))
            except ValueError:  # lr:--1
                raise ValueError(f"bad stop criterion {spec!r}: the Lr value must be a number, as in lr:0.01") from None
            s = f"lr:{v:g}"
        if s.startswith("lr:") and not math.isfinite(float(s[3:])):
            raise ValueError(f"bad stop criterion {spec!r}: the Lr value must be a finite number")
        return str.__new__(cls, s)

    @classmethod
    def of(cls, kind: str, value: float | None = None) -> "Stop":
        """The criterion of a kind and value: ``Stop.of("train-q", 5)`` is ``train-q05``."""
        if kind == StopKind.TRAIN_Q:
            return cls.parse(f"train-q{int(value or 0):02d}")
        if kind == StopKind.LR:
            return cls.parse(f"lr:{float(value or 0.0):g}")
        return cls.parse(kind)

    @property
    def kind(self) -> StopKind:
        if self.startswith("train-q"):
            return StopKind.TRAIN_Q
        if self.startswith("lr:"):
            return StopKind.LR
        return StopKind(str(self))

    @property
    def value(self) -> float | None:
        if self.startswith("train-q"):
            return int(self[len("train-q"):])
        if self.startswith("lr:"):
            return float(self[3:])
        return None

    def __repr__(self) -> str:
        return f"Stop({str(self)!r})"


def parse_stop(spec: "str | Stop") -> Stop:
    """Validate a stop specification; see :class:`Stop`."""
    return Stop.parse(spec)


@dataclass(frozen=True)
class ProjectionParams:
    """Everything that defines one projection run (eq. 4–8, section 3.5)."""

    alpha: float = RANGES["alpha"].default
    lam: float = RANGES["lam"].default
    optimizer: str = "sgd"
    grad_mask: str = "recon"
    max_iter: int = int(RANGES["max_iter"].default)
    stop: str = PAPER_STOP
    tol: float = RANGES["tol"].default
    patience: int = int(RANGES["patience"].default)
    #: E(x_t) above E(x0) + ``diverge_factor`` × max(|E(x0)|, 1) counts as divergence.
    diverge_factor: float = 1.0
    #: E(x_t) above E(x0) for this many iterations in a row (walking uphill: α too large) is divergence.
    diverge_patience: int = 5
    #: The image's outermost pixels (at the working scale) whose DSSIM is set to 0: not inspected.
    margin: int = 0

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
        if not 0 <= int(self.margin) <= RANGES["margin"].maximum or int(self.margin) != self.margin:
            raise ValueError(f"margin must be a whole number of pixels from 0 to {RANGES['margin'].maximum:g}, "
                             f"got {self.margin}")
        return replace(self, stop=parse_stop(self.stop))

    def replace(self, **changes: Any) -> "ProjectionParams":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
