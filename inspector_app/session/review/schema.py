"""The review file's schema: every field's type and range, checked when the file is read (no Qt).

A review file may come from someone else, or from a newer or damaged program: :func:`check_review`
refuses, in one message naming the field, whatever the window or ``report`` would otherwise trip on
(a comment that is a number, a model that is a string, parameters out of the command line's ranges,
a threshold of ``null`` or 1e308, NaN anywhere). ``null`` (``None``) is allowed for every optional
field; numbers are finite and never booleans.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ...core.params import COMPARE, GRAD_MASKS, OPTIMIZERS, parse_stop
from ...core.ranges import check_range

_NUM = "a number"
_INT = "a whole number"
_STR = "a string"
_DICT = "an object"
#: Header numbers the window and ``report`` use as they are: ``null`` is refused, not read as 0.
NOT_NULL = ("threshold", "min_area", "frr_target")

#: Header fields: (type, range name in :data:`~inspector_app.core.ranges.RANGES` or None).
HEADER: dict[str, tuple[str, str | None]] = {
    "folder": (_STR, None), "written": (_STR, None), "app_version": (_STR, None), "label_source": (_STR, None),
    "score_definition": (_STR, None), "compare": (_STR, None), "model": (_DICT, None), "params": (_DICT, None),
    "threshold": (_NUM, "threshold"), "marginal_upper": (_NUM, "threshold"), "min_area": (_INT, "min_area"),
    "frr_target": (_NUM, "frr_target"),
}
#: Record fields; the ``seen_*`` and figures are plain numbers.
RECORD: dict[str, tuple[str, str | None]] = {
    "path": (_STR, None), "sha256": (_STR, None), "ground_truth": (_STR, None), "ground_truth_mask": (_STR, None),
    "model_verdict": (_STR, None), "verdict": (_STR, None), "comment": (_STR, None), "reviewed_at": (_STR, None),
    "error": (_STR, None), "stop_reason": (_STR, None), "model": (_STR, None), "model_sha256": (_STR, None),
    "seen_model_verdict": (_STR, None), "seen_model_sha256": (_STR, None), "compare": (_STR, None),
    "stale_reason": (_STR, None), "params": (_DICT, None),
    "score": (_NUM, None), "seen_score": (_NUM, None), "seen_threshold": (_NUM, "threshold"),
    "threshold": (_NUM, "threshold"), "marginal_upper": (_NUM, "threshold"), "min_area": (_INT, "min_area"),
    "anomalous_fraction": (_NUM, None), "iou": (_NUM, None), "iterations": (_INT, None),
}
#: The model's description in the header.
MODEL = {"path": (_STR, None), "sha256": (_STR, None), "kind": (_STR, None)}
#: Projection parameters checked against the command line's ranges.
_RANGED_PARAMS = {"alpha": _NUM, "lam": _NUM, "max_iter": _INT, "tol": _NUM, "patience": _INT, "margin": _INT}


class SchemaError(ValueError):
    """A field of the wrong type or out of range; the message names it."""


def _shown(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _check_value(name: str, v: Any, kind: str, rng: str | None, null: bool = True) -> None:
    if v is None and null:
        return
    if kind == _STR:
        ok = isinstance(v, str)
    elif kind == _DICT:
        ok = isinstance(v, dict)
    else:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if ok and kind == _INT:
            ok = float(v).is_integer()
    if not ok:
        raise SchemaError(f"{name} must be {kind}, got {_shown(v)}")
    if rng is not None:
        try:
            check_range(rng, v)
        except ValueError as e:
            raise SchemaError(f"{name}: {e}") from None


def check_fields(d: dict[str, Any], table: Mapping[str, tuple[str, str | None]], where: str = "") -> None:
    """Every field of ``d`` named in ``table`` of its type and range (unknown fields are kept as they are)."""
    for name, (kind, rng) in table.items():
        if name in d:
            _check_value(f"{where}{name}", d[name], kind, rng, null=not (table is HEADER and name in NOT_NULL))


def check_params(p: dict[str, Any], where: str = "params.") -> None:
    """Projection parameters: numbers within the command line's ranges, known choices, a stop that parses."""
    for name, kind in _RANGED_PARAMS.items():
        if name in p:
            _check_value(where + name, p[name], kind, name)
    for name, choices in (("optimizer", OPTIMIZERS), ("grad_mask", GRAD_MASKS)):
        if p.get(name) is not None and p[name] not in choices:
            raise SchemaError(f"{where}{name} must be one of {', '.join(choices)}, got {_shown(p[name])}")
    for name in ("diverge_factor", "diverge_patience"):
        _check_value(where + name, p.get(name), _INT if name == "diverge_patience" else _NUM, None)
        if p.get(name) is not None and p[name] <= 0:
            raise SchemaError(f"{where}{name} must be positive, got {_shown(p[name])}")
    if p.get("stop") is not None:
        if not isinstance(p["stop"], str):
            raise SchemaError(f"{where}stop must be a string, got {_shown(p['stop'])}")
        try:
            parse_stop(p["stop"])
        except ValueError as e:
            raise SchemaError(f"{where}stop: {e}") from None


def check_review(d: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """The header ``d`` and every record (:class:`SchemaError` naming the first bad field)."""
    check_fields(d, HEADER)
    if isinstance(d.get("model"), dict):
        check_fields(d["model"], MODEL, "model.")
    if isinstance(d.get("params"), dict):
        check_params(d["params"])
    if d.get("compare") is not None and d["compare"] not in COMPARE:
        raise SchemaError(f"compare must be one of {', '.join(COMPARE)}, got {_shown(d['compare'])}")
    for r in records:
        where = f"record {r.get('path')!r}: " if isinstance(r.get("path"), str) else "a record: "
        check_fields(r, RECORD, where)
        if isinstance(r.get("params"), dict):
            check_params(r["params"], where + "params.")

