"""What every command shares: the one-line error, the projection flags and their validation."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage + message)
        raise UsageError(f"{self.prog}: {message}")


def fail(msg: str) -> int:
    print(f"inspector-app: error: {msg}", file=sys.stderr)
    return EXIT_BAD_INPUT


def warn(msg: str) -> None:
    print(f"inspector-app: warning: {msg}", file=sys.stderr)


def warn_not_learned(path: object, meta: dict) -> None:
    """Warn when the model opened from ``path`` explains under 15 % of its validation variance."""
    from ..core.model_fit import not_learned_warning

    w = not_learned_warning(meta)
    if w:
        warn(f"{path}: {w}")


def finite_float(text: str) -> float:
    """An argparse type: a finite number (``nan`` and ``inf`` are refused)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


#: ``--margin``'s help where the model's calibration gives the default.
MARGIN_HELP = ("the image's outermost pixels (at the working scale) left out of the inspection: their DSSIM is 0, "
               "since the model has no context beyond the image's edge (default: the model's calibration, else 0)")

#: The projection flags, from :data:`inspector_app.core.ranges.RANGES` (name → flag type).
_RANGED = {"alpha": float, "lam": float, "max_iter": int, "tol": float, "patience": int, "margin": int}


def add_projection_flags(p: argparse.ArgumentParser, defaults: dict[str, Any] | None = None,
                         helps: dict[str, str] | None = None) -> None:
    """Add ``--alpha --lam --max-iter --tol --patience --margin --optimizer --grad-mask --stop --device``.

    Numbers take their default, bounds and help from ``RANGES``; ``defaults`` overrides a default
    (``None``: decided later, e.g. by the model's calibration or the inpainting mode)."""
    from ..core.params import GRAD_MASKS, OPTIMIZERS, RANGES
    from ..core.ranges import PAPER_STOP

    defaults = defaults or {}
    helps = helps or {}
    for name, typ in _RANGED.items():
        r = RANGES[name]
        default = defaults.get(name, typ(r.default))
        shown = "" if default is None else f" (default {default:g})"
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=finite_float if typ is float else int,
                       default=default, help=helps.get(name, r.help) + shown)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.get("optimizer", "sgd"),
                   help="plain step (eq. 5) or Adam")
    p.add_argument("--grad-mask", choices=GRAD_MASKS, default=defaults.get("grad_mask", "recon"),
                   help="recon: weight the gradient by (x − f(x))² (eq. 8); none: plain gradient")
    p.add_argument("--stop", default=defaults.get("stop", PAPER_STOP),
                   help=helps.get("stop", "train-min (paper), train-qNN (e.g. train-q05), converge, none, or an Lr value"))
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda ...")


def flag(name: str) -> str:
    """The command-line flag of a :data:`~inspector_app.core.ranges.RANGES` name: ``--min-area``."""
    return f"--{name.replace('_', '-')}"


def check_ranged(a, names) -> None:
    """Each flag of ``names`` that ``a`` holds (not ``None``) checked against its range in
    :data:`~inspector_app.core.ranges.RANGES`: a :class:`UsageError` naming the flag and the bounds."""
    from ..core.ranges import check_range

    for name in names:
        v = getattr(a, name, None)
        if v is None:
            continue
        try:
            check_range(name, v)
        except ValueError as e:
            raise UsageError(f"{flag(name)}: {e}") from None


def checked_projection_values(a) -> dict[str, Any]:
    """The projection flags of ``a`` that were given (not ``None``), checked against their ranges."""
    from ..core.params import Stop

    check_ranged(a, _RANGED)
    out: dict[str, Any] = {name: getattr(a, name) for name in _RANGED if getattr(a, name, None) is not None}
    if getattr(a, "stop", None) is not None:
        try:
            out["stop"] = Stop.parse(a.stop)
        except ValueError as e:
            raise UsageError(f"--stop: {e}") from None
    for name in ("optimizer", "grad_mask"):
        if getattr(a, name, None) is not None:
            out[name] = getattr(a, name)
    return out


def params_from_args(a, **overrides):
    """:class:`ProjectionParams` from the projection flags (and ``overrides``), validated."""
    from ..core.params import ProjectionParams

    values = checked_projection_values(a)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ProjectionParams(**values).validated()
    except ValueError as e:
        raise UsageError(str(e)) from None


def resolved_settings(a, meta):
    """The run's settings: each projection flag given on the command line, else the model file's
    calibrated default (or the paper's with ``--paper-defaults``).

    Returns ``(params, threshold, min_area, threshold_source)``.
    """
    from ..core.calibration import model_defaults

    defaults = model_defaults(meta, paper=a.paper_defaults)

    def given(name):
        v = getattr(a, name, None)
        return v if v is not None else getattr(defaults, name)

    params = params_from_args(a, max_iter=given("max_iter"), stop=given("stop"), alpha=given("alpha"),
                              margin=given("margin"))
    source = "--threshold" if a.threshold is not None else defaults.method
    _check_min_area(getattr(a, "min_area", None), meta)
    _check_margin(params.margin, meta)
    return params, given("threshold"), given("min_area"), source


def _check_margin(margin: int, meta) -> None:
    """A margin that covers the whole of a model-size image would leave nothing inspected."""
    size = int(meta.get("image_size", 0) or 0)
    if size and 2 * margin >= size:
        raise UsageError(f"--margin {margin} leaves nothing of a {size}-px image inspected: "
                         f"give less than {(size + 1) // 2} px")


def _check_min_area(min_area, meta) -> None:
    """A ``--min-area`` larger than every image the model segments would call every part good."""
    from ..core.tiling import WorkingScale

    if min_area is None:
        return
    size = int(meta.get("image_size", 0) or 0)
    ws = WorkingScale.from_meta(meta)
    if ws is not None and ws.mode != "whole":
        if ws.max_side is None:
            return  # tiles at the image's own scale: any area may fit
        size = max(size, ws.max_side)
    if size and min_area > size * size:
        raise UsageError(f"--min-area {min_area} is larger than the {size}×{size} = {size * size} px the model "
                         "segments at most: no defect could ever be counted")
