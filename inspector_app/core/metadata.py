"""The schema of a model file's metadata, checked whole on load (before anything is allocated).

A model file is untrusted input: a 2 KB file must not make the loader allocate gigabytes, and a
malformed field must give one clear message naming the field, never a traceback later on. The
bounds here are far beyond the bundled models (128×128, latent 100) but keep every allocation a
model file can ask for small.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from .models import MAX_IMAGE_SIZE, MAX_LATENT  # the largest model a file may declare: the models' own bounds

#: Largest number of iterations a calibration may ask for.
MAX_ITERATIONS = 10000


class MetadataError(ValueError):
    """A field of the metadata is missing or out of bounds; the message names it."""


def _number(d: Mapping[str, Any], key: str, where: str, *, lo: float | None = None, hi: float | None = None,
            integer: bool = False, required: bool = True, allow_none: bool = False) -> float | int | None:
    if key not in d or (allow_none and d[key] is None):
        if required and not allow_none:
            raise MetadataError(f"{where}{key} is missing")
        return None
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MetadataError(f"{where}{key} must be a number, got {v!r:.40}")
    if isinstance(v, int) and abs(v) > 2 ** 53:  # 1 followed by 400 zeros: float() would overflow
        raise MetadataError(f"{where}{key} = {str(v)[:12]}… ({len(str(abs(v)))} digits) is out of range")
    if not math.isfinite(v):
        raise MetadataError(f"{where}{key} must be finite, got {v!r}")
    if integer and float(v) != int(v):
        raise MetadataError(f"{where}{key} must be a whole number, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        bounds = f"[{'-inf' if lo is None else format(lo, 'g')}, {'inf' if hi is None else format(hi, 'g')}]"
        raise MetadataError(f"{where}{key} = {v!r} is out of range {bounds}")
    return int(v) if integer else float(v)


def _mapping(meta: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    v = meta.get(key)
    if v is None:
        return None
    if not isinstance(v, Mapping):
        raise MetadataError(f"{key} must be a JSON object, got {type(v).__name__} {v!r:.40}")
    return v


def check_architecture(meta: Mapping[str, Any], kinds: tuple[str, ...], norms: tuple[str, ...],
                       torchscript: bool = False) -> dict[str, Any]:
    """``kind``, ``image_size``, ``channels``, ``latent``, ``norm`` checked and normalised."""
    if not isinstance(meta, Mapping):
        raise MetadataError(f"the metadata must be a JSON object, got {type(meta).__name__}")
    out: dict[str, Any] = {}
    if torchscript:
        out["kind"] = "torchscript"
        size = _number(meta, "image_size", "", lo=8, hi=MAX_IMAGE_SIZE, integer=True, required=False)
        out["image_size"] = 128 if size is None else size
        ch = _number(meta, "channels", "", integer=True, required=False)
        out["channels"] = 1 if ch is None else ch
    else:
        kind = meta.get("kind")
        if kind not in kinds:
            raise MetadataError(f"unknown model kind {kind!r} (expected one of {', '.join(kinds)})")
        out["kind"] = kind
        out["image_size"] = _number(meta, "image_size", "", lo=32, hi=MAX_IMAGE_SIZE, integer=True)
        if out["image_size"] % 32:
            raise MetadataError(f"image_size must be a multiple of 32, got {out['image_size']}")
        out["channels"] = _number(meta, "channels", "", integer=True)
        out["latent"] = _number(meta, "latent", "", lo=1, hi=MAX_LATENT, integer=True)
        norm = meta.get("norm", "none")
        if norm not in norms:
            raise MetadataError(f"norm must be one of {', '.join(norms)}, got {norm!r}")
        out["norm"] = norm
    if out["channels"] not in (1, 3):
        raise MetadataError(f"channels must be 1 or 3, got {out['channels']}")
    return out


def check_training_stats(meta: Mapping[str, Any]) -> None:
    s = _mapping(meta, "training_stats")
    if s is None:
        return
    w = "training_stats."
    _number(s, "min", w)
    _number(s, "mean", w, required=False)
    _number(s, "max", w, required=False)
    _number(s, "std", w, lo=0, required=False)
    _number(s, "n", w, lo=1, integer=True, required=False)
    q = s.get("quantiles")
    if q is not None:
        if not isinstance(q, list) or len(q) != 101:
            raise MetadataError(f"{w}quantiles must be a list of 101 numbers")
        for i, v in enumerate(q):
            _number({"v": v}, "v", f"{w}quantiles[{i}] ")
        if any(b < a for a, b in zip(q, q[1:])):
            raise MetadataError(f"{w}quantiles must not decrease")


def check_calibration(meta: Mapping[str, Any]) -> None:
    c = _mapping(meta, "calibration")
    if c is None:
        return
    from .params import RANGES, Stop

    w = "calibration."
    _number(c, "threshold", w, lo=0, hi=1)
    _number(c, "min_area", w, lo=1, hi=MAX_IMAGE_SIZE ** 2, integer=True)
    _number(c, "max_iter", w, lo=1, hi=MAX_ITERATIONS, integer=True)
    _number(c, "lr_out_of_range", w, required=False, allow_none=True)  # the γ-VAE's Lr is negative
    _number(c, "alpha", w, lo=RANGES["alpha"].minimum, hi=RANGES["alpha"].maximum, required=False, allow_none=True)
    _number(c, "margin", w, lo=RANGES["margin"].minimum, hi=RANGES["margin"].maximum, integer=True, required=False)
    try:
        Stop.parse(c.get("stop", ""))
    except ValueError as e:
        raise MetadataError(f"{w}stop: {e}") from None
    if not isinstance(c.get("method", ""), str):
        raise MetadataError(f"{w}method must be text")
    if not isinstance(c.get("figures", {}), Mapping):
        raise MetadataError(f"{w}figures must be a JSON object")


def _text(d: Mapping[str, Any], key: str, where: str) -> None:
    if d.get(key) is not None and not isinstance(d[key], str):
        raise MetadataError(f"{where}{key} must be text, got {d[key]!r:.40}")


def _names(d: Mapping[str, Any], key: str, where: str) -> None:
    v = d.get(key)
    if v is None:
        return
    if not isinstance(v, list) or not all(isinstance(n, str) and n and "/" not in n and "\\" not in n
                                          and n not in (".", "..") for n in v):
        raise MetadataError(f"{where}{key} must be a list of file names, got {v!r:.40}")


def check_training(meta: Mapping[str, Any]) -> None:
    """The ``training`` block the window describes and ``calibrate`` reads (its validation images)."""
    t = _mapping(meta, "training")
    if t is None:
        return
    w = "training."
    _number(t, "seconds", w, lo=0, required=False, allow_none=True)
    for key in ("steps", "epochs", "n_images", "n_train", "best_step"):
        _number(t, key, w, lo=0, integer=True, required=False, allow_none=True)
    _number(t, "best_val_fve", w, required=False, allow_none=True)
    for key in ("data", "device", "protocol", "folder", "stop_reason", "norm"):
        _text(t, key, w)
    _names(t, "val_names", w)
    _names(t, "train_names", w)


def check_inpainting(meta: Mapping[str, Any]) -> None:
    """The masked-inpainting schedule ``calibrate --inpainting`` stores: each mode's parameters within
    the command line's ranges."""
    b = _mapping(meta, "inpainting")
    if b is None:
        return
    from .params import GRAD_MASKS, OPTIMIZERS, RANGES, Stop

    if b.get("init") not in (None, "input", "telea"):
        raise MetadataError(f"inpainting.init must be input or telea, got {b.get('init')!r:.40}")
    _text(b, "method", "inpainting.")
    for mode in ("blind", "masked"):
        p = b.get(mode)
        w = f"inpainting.{mode}."
        if p is None:
            continue
        if not isinstance(p, Mapping):
            raise MetadataError(f"inpainting.{mode} must be a JSON object, got {type(p).__name__} {p!r:.40}")
        for key in ("alpha", "lam", "max_iter", "tol", "patience"):
            r = RANGES[key]
            _number(p, key, w, lo=r.minimum, hi=r.maximum, integer=r.integer, required=False, allow_none=True)
        for key, choices in (("optimizer", OPTIMIZERS), ("grad_mask", GRAD_MASKS)):
            if p.get(key) is not None and p[key] not in choices:
                raise MetadataError(f"{w}{key} must be one of {', '.join(choices)}, got {p[key]!r:.40}")
        if p.get("stop") is not None:
            try:
                Stop.parse(p["stop"])
            except (ValueError, TypeError) as e:
                raise MetadataError(f"{w}stop: {e}") from None


def check_metadata(meta: Any, kinds: tuple[str, ...], norms: tuple[str, ...],
                   torchscript: bool = False) -> dict[str, Any]:
    """The whole schema; returns the normalised architecture fields. Raises :class:`MetadataError`."""
    arch = check_architecture(meta, kinds, norms, torchscript)
    check_training_stats(meta)
    check_training(meta)
    check_calibration(meta)
    check_inpainting(meta)
    check_working_scale(meta, arch)
    loss = meta.get("loss")
    if loss is not None and not isinstance(loss, str):
        raise MetadataError(f"loss must be text, got {loss!r}")
    return arch


def check_working_scale(meta: Any, arch: dict[str, Any]) -> None:
    """``working_scale`` (:class:`~inspector_app.core.tiling.WorkingScale`), when present: a known
    mode, and a ``max_side`` no smaller than the model's image."""
    from .tiling import TilingError, WorkingScale

    try:
        ws = WorkingScale.from_meta(meta)
    except TilingError as e:
        raise MetadataError(str(e)) from None
    if ws is not None and ws.max_side is not None and ws.max_side < int(arch["image_size"]):
        raise MetadataError(f"working_scale.max_side {ws.max_side} is smaller than the model's image ({arch['image_size']} px)")
