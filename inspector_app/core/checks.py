"""Does this image fit this model? The warnings shown beside a result (a banner in the window, a
line on stderr and a ``warnings`` field in the JSON on the command line).

Each warning is ``{"code": ..., "message": ...}``:

* ``already_normal`` — Lr(x0) is already under the stop threshold: the run stops at t = 0 and
  nothing can be flagged;
* ``out_of_range`` — Lr(x0) is far above anything seen in calibration (good validation images
  and synthetic defects): the image is probably not of the kind this model was trained on;
* ``resized`` / ``channels`` — the image's size or colour differs from the model's, so it was
  converted before the projection;
* ``blank`` — the image holds almost no texture (:func:`blank_warning`: its standard deviation at
  the model's working scale is under :data:`BLANK_STD_LEVELS` grey levels): a blank, lens-capped or
  flat photograph, on which any verdict (usually "good") says nothing about a part.

A folder (review mode, ``project`` on a folder) gets one more line when a share of its images is
``out_of_range`` (:func:`folder_fit_warning`).
"""

from __future__ import annotations

from typing import Any, Final, Iterable, Mapping, Sequence

import numpy as np

#: An image whose standard deviation at the working scale (the largest of its channels', in grey
#: levels of 255) is under this holds almost no texture. Every image the bundled samples and
#: ``make-dataset`` (brick, grid, faces) give lies at 21 grey levels or more; a flat, black, white or
#: lens-capped photograph at well under 1 (the working scale's averaging lowers a sensor's noise).
BLANK_STD_LEVELS: Final = 3.0


def texture_levels(image: np.ndarray) -> float:
    """The standard deviation of ``image`` (floats in [0, 1], H×W or H×W×C) in grey levels of 255,
    the largest of its channels' (a flat colour has none in each channel)."""
    a = np.asarray(image, dtype=np.float32)
    flat = a.reshape(-1, 1) if a.ndim == 2 else a.reshape(-1, a.shape[-1])
    if flat.size == 0:
        return 0.0
    return float(flat.std(axis=0, dtype=np.float64).max()) * 255.0


def blank_warning(working_image: np.ndarray) -> dict[str, str] | None:
    """The ``blank`` warning when the image at the working scale holds almost no texture (see
    :data:`BLANK_STD_LEVELS`), else None."""
    levels = texture_levels(working_image)
    if levels >= BLANK_STD_LEVELS:
        return None
    return {"code": "blank", "message": (
        f"this image holds almost no texture (standard deviation {levels:.2g} grey levels at the model's working "
        f"scale, under {BLANK_STD_LEVELS:g}): a blank, lens-capped or flat photograph? Its verdict says nothing "
        "about a part; photograph the part")}



def fit_warnings(
    image_shape: tuple[int, ...],
    image_channels: int,
    model_size: int,
    model_channels: int,
    lr0: float | None = None,
    lr_threshold: float | None = None,
    calibration: Mapping[str, Any] | None = None,
    training_stats: Mapping[str, Any] | None = None,
    working_scale: Any = None,
    pixels: np.ndarray | None = None,
) -> list[dict[str, str]]:
    """The warnings for an image of ``image_shape`` (H, W, ...) with ``image_channels`` channels
    before conversion, and — once known — its Lr(x0) and the run's Lr stop threshold.
    ``working_scale`` is the model's (``core.tiling.WorkingScale``); without one, an image of
    another size than the model's was resized to it, which the warning says. ``pixels``: the image
    at the working scale, checked for texture (:func:`blank_warning`)."""
    out: list[dict[str, str]] = []
    blank = None if pixels is None else blank_warning(pixels)
    if blank is not None:
        out.append(blank)
    if lr0 is not None and np.isfinite(lr0):
        if lr_threshold is not None and lr0 < lr_threshold:
            out.append({"code": "already_normal", "message": (
                f"this image already looks normal to this model: Lr(x0) = {lr0:.4g} is under the stop "
                f"threshold {lr_threshold:.4g}, so the projection stops at t = 0 and nothing is flagged")})
        bound = out_of_range_bound(calibration, training_stats)
        if bound is not None and lr0 > bound:
            out.append({"code": "out_of_range", "message": (
                f"outside what this model was trained on — wrong model? Lr(x0) = {lr0:.4g} is far above "
                f"its calibration range (bound {bound:.4g})")})
    h, w = int(image_shape[0]), int(image_shape[1])
    if working_scale is None:
        if (h, w) != (model_size, model_size):
            out.append({"code": "resized", "message": (
                f"the image is {w}×{h} but the model takes {model_size}×{model_size}: it was resized for the "
                "projection, and small defects may shrink below what the model resolves (the model file does "
                "not record the scale it learned; retrain or calibrate it with this version to inspect whole "
                "images at that scale)")})
    elif working_scale.mode == "crops" and min(h, w) < model_size:
        out.append({"code": "resized", "message": (
            f"the image is {w}×{h}, smaller than the model's {model_size}×{model_size} tiles: it was enlarged, "
            "so its texture is coarser than the one the model learned")})
    if image_channels != model_channels:
        what = {1: "grey", 3: "colour"}
        out.append({"code": "channels", "message": (
            f"the image is {what.get(image_channels, f'{image_channels}-channel')} but the model is "
            f"{what.get(model_channels, str(model_channels))}: it was converted")})
    return out


#: A folder gets a warning of its own when at least this share of its images is ``out_of_range``.
FOLDER_OUT_OF_RANGE_SHARE = 0.2


def folder_fit_warning(codes: Sequence[Iterable[str]]) -> str | None:
    """The folder-level warning, from each image's warning codes: None unless at least
    :data:`FOLDER_OUT_OF_RANGE_SHARE` of the images (and at least two) are ``out_of_range``, since then
    the scores, the histogram and the verdicts say more about the model than about the parts."""
    n = len(codes)
    k = sum("out_of_range" in set(c) for c in codes)
    if n == 0 or k < 2 or k < FOLDER_OUT_OF_RANGE_SHARE * n:
        return None
    return (f"{k} of {n} images ({100.0 * k / n:.0f} %) lie outside what this model was trained on — wrong "
            "model? Their scores and verdicts say more about the model than about the parts")


def out_of_range_bound(calibration: Mapping[str, Any] | None, training_stats: Mapping[str, Any] | None) -> float | None:
    """The Lr(x0) above which an image is "outside what this model was trained on": the
    calibration's bound, else :func:`~.calibration.far_above` the largest training Lr
    (:data:`OOD_FACTOR` times it for a positive loss)."""
    if calibration and calibration.get("lr_out_of_range") is not None:
        return float(calibration["lr_out_of_range"])
    if training_stats and training_stats.get("max") is not None:
        from .calibration import far_above  # (here: the calibration imports torch, these checks do not)

        return far_above(float(training_stats["max"]))
    return None


def image_channels(image: np.ndarray) -> int:
    """1 for an H×W image, else its last dimension."""
    return 1 if image.ndim == 2 else int(image.shape[2])
