"""What the window says about a result and about the fit of model and image (numpy only, no Qt).

* :func:`frame_verdict` — the image score and verdict of a frame's DSSIM map
  (:mod:`inspector_app.core.verdict`: "defective" ⟺ score > threshold ⟺ the segmentation is not
  empty), with the minimum defect area in pixels at the model's size;
* :func:`can_decide` — whether a frame's map can give a verdict at all (not x_0 against itself);
* :func:`fit_warning_items` — the warnings where model and image do not fit
  (:func:`inspector_app.core.checks.fit_warnings`, plus a model without training statistics);
  Lr(x0) comes from the worker's first frame, never from a model call here;
* :func:`origin_text` — one line saying where the threshold in use comes from;
* :func:`stop_explanation` — why a run ended, in words, including a run that stopped at t = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..core.checks import fit_warnings, image_channels
from ..core.model_fit import not_learned_warning
from ..core.verdict import exceeds, fmt_level, image_score, segment, verdict
from ..core.vocabulary import StopReason

if TYPE_CHECKING:
    from ..core.modelio import LoadedModel
    from .frames import Frame
    from .params import Defaults

NO_STATS = ("The model file carries no training-loss statistics: the 'Lr < training minimum' and "
            "'percentile' stop criteria are off.")


@dataclass(frozen=True)
class Verdict:
    """The verdict on one DSSIM map: ``score`` (the highest threshold at which a region of at least
    ``min_area`` pixels remains) against ``threshold``."""

    score: float
    threshold: float
    min_area: int

    @property
    def verdict(self) -> str:
        return verdict(self.score, self.threshold)

    @property
    def defective(self) -> bool:
        return self.verdict == "defective"

    def text(self) -> str:
        if self.defective:
            return f"DEFECTIVE  score {fmt_level(self.score)} > {fmt_level(self.threshold)}"
        return f"GOOD  score {fmt_level(self.score)} ≤ {fmt_level(self.threshold)}"


class VerdictCache:
    """:func:`image_score` of the shown frame, computed once per (frame, compare, min_area): moving
    the threshold only compares numbers."""

    def __init__(self) -> None:
        self._key: tuple[int, int, str, int] | None = None
        self._score = 0.0

    def verdict(self, frame: Frame, compare: str, threshold: float, min_area: int) -> Verdict:
        key = (id(frame), frame.iteration, compare, int(min_area))
        if key != self._key:
            self._score = image_score(frame.dssim(compare), int(min_area))
            self._key = key
        return Verdict(self._score, float(threshold), int(min_area))

    def clear(self) -> None:
        self._key = None


def can_decide(frame: Frame, compare: str) -> bool:
    """Whether ``frame``'s map can give a verdict. At t = 0 the projection is x0 itself: DSSIM(x0, x_t)
    is 0 everywhere by construction and says nothing yet (the window shows "running…" until the first
    iterate); the reconstruction's map, DSSIM(x0, f(x0)), is a real one from t = 0."""
    return not (compare == "projection" and int(frame.iteration) == 0)


def segmentation(dssim: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
    """The defects of a model-sized DSSIM map (regions of at least ``min_area`` pixels above the threshold)."""
    return segment(dssim, threshold, int(min_area))


def contour_data(dssim: np.ndarray, seg: np.ndarray, threshold: float) -> np.ndarray:
    """``dssim`` with the pixels above the threshold that are not part of a kept defect lowered just
    under it, so that the threshold's isocurve outlines exactly the segmentation."""
    d = np.asarray(dssim, dtype=np.float32)
    drop = exceeds(d, threshold) & ~seg  # the segmentation's own comparison
    if not drop.any():
        return d
    below = np.nextafter(np.float32(threshold), np.float32(-np.inf))
    return np.where(drop, np.minimum(d, below), d).astype(np.float32)


def check_model_defaults(loaded: LoadedModel) -> None:
    """Refuse a model file whose calibration names a stop criterion its own training statistics
    cannot give (``ValueError`` naming the file): it is malformed, and opening it would leave a
    window whose first run fails."""
    cal = (loaded.meta or {}).get("calibration")
    if not isinstance(cal, Mapping):
        return
    from ..core.projection import threshold_from_stats  # (here: the projection imports torch)

    try:
        threshold_from_stats(str(cal.get("stop", "")), loaded.training_stats)
    except ValueError as e:
        raise ValueError(f"{loaded.path}: its calibration cannot be used ({e})") from None


def lr_threshold(stop_spec: str, stats: Mapping[str, Any] | None) -> float | None:
    """The Lr stop level of a stop criterion, or None (none, converge, or missing statistics)."""
    from ..core.projection import threshold_from_stats  # (here: the projection imports torch)

    try:
        return threshold_from_stats(stop_spec, stats)
    except ValueError:
        return None


def fit_warning_items(loaded: LoadedModel | None, image_pixels: np.ndarray | None, lr0: float | None,
                      stop_spec: str, working: np.ndarray | None = None) -> list[dict[str, str]]:
    """``[{code, message}]`` for the open model and image (see the module docstring); ``working``:
    the image at the model's working scale, checked for texture (the ``blank`` warning)."""
    if loaded is None:
        return []
    out: list[dict[str, str]] = []
    stats = loaded.training_stats
    if not (stats and "min" in stats):
        out.append({"code": "no_stats", "message": NO_STATS})
    unlearned = not_learned_warning(loaded.meta or {})
    if unlearned:
        out.append({"code": "not_learned", "message": unlearned})
    if image_pixels is None:
        return out
    model = loaded.model
    out += fit_warnings(image_pixels.shape, image_channels(image_pixels), model.image_size, model.channels, lr0,
                        lr_threshold(stop_spec, stats), (loaded.meta or {}).get("calibration"), stats,
                        working_scale=loaded.working_scale, pixels=working)
    return out


def origin_text(origin: str, defaults: Defaults, threshold: float, min_area: int) -> str:
    """Where the threshold (and minimum area) in use come from, in one short line for the side panel."""
    if origin == "model":
        return f"threshold {fmt_level(threshold)} from the model's calibration"
    if origin == "paper":
        return f"threshold {fmt_level(threshold)}: the paper's default"
    d = defaults
    area = "" if d.min_area <= 1 else f", ≥ {d.min_area} px"
    return f"threshold {fmt_level(threshold)} set by you ({d.source}: {fmt_level(d.threshold)}{area})"


def export_source(origin: str, defaults: Defaults) -> str:
    """``threshold_source`` of an exported result: the calibration's or the paper's method, or the user."""
    if origin == "user":
        return "set in the window by the user"
    return defaults.method


def stop_explanation(frame: Frame, lr0: float | None = None) -> str:
    """Why the run of ``frame`` (its final frame) ended, for the status bar."""
    reason = frame.stop_reason
    if reason is None:
        return "stopped by the user"
    if reason == StopReason.THRESHOLD and int(frame.steps) == 0:
        lr = frame.recon_loss if lr0 is None else lr0
        thr = frame.lr_threshold
        level = f" {thr:.4g}" if thr is not None else ""
        return (f"stopped at t = 0: Lr(x0) = {lr:.4g} is already under the stop threshold{level}, "
                "so nothing moved and nothing is flagged (wrong model?)")
    texts: dict[str, str] = {
        StopReason.MAX_ITER: "max iterations",
        StopReason.CONVERGED: "energy converged",
        StopReason.THRESHOLD: "Lr below the stop threshold",
        StopReason.DIVERGED: "diverged (α too large?): kept the lowest-energy iterate",
    }
    return texts.get(reason, str(reason))


def iso_segments(data: np.ndarray, level: float) -> np.ndarray:
    """The ``level`` isocurve of ``data`` (H×W) as line segments, ``(n, 2, 2)`` (segment, end,
    (row, col)), by marching squares in numpy (no Python loop over cells or contours).

    The vertices are those of ``skimage.measure.find_contours(data, level)`` (linear interpolation
    on the cell edges; a saddle cell cuts off its corners above the level, as find_contours'
    ``fully_connected='low'``); the segments are not joined into lines, which is what costs
    find_contours most (about 5 of its 7 ms on a noisy 128×128 map): a path drawn as separate
    segments looks the same."""
    d = np.asarray(data, dtype=np.float64)  # (find_contours interpolates in float64)
    if d.ndim != 2 or d.shape[0] < 2 or d.shape[1] < 2:
        return np.zeros((0, 2, 2))
    lv = float(level)
    above = d > lv
    ul, ur, ll, lr = d[:-1, :-1], d[:-1, 1:], d[1:, :-1], d[1:, 1:]
    a_ul, a_ur, a_ll, a_lr = above[:-1, :-1], above[:-1, 1:], above[1:, :-1], above[1:, 1:]
    rows, cols = np.indices(ul.shape, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # (only crossed edges are read: no 0/0 there)
        edges: dict[str, tuple[Any, Any, Any]] = {  # whether each cell edge is crossed, and where
            "t": (a_ul != a_ur, rows, cols + (lv - ul) / (ur - ul)),
            "b": (a_ll != a_lr, rows + 1, cols + (lv - ll) / (lr - ll)),
            "l": (a_ul != a_ll, rows + (lv - ul) / (ll - ul), cols),
            "r": (a_ur != a_lr, rows + (lv - ur) / (lr - ur), cols + 1),
        }
    saddle = edges["t"][0] & edges["b"][0] & edges["l"][0] & edges["r"][0]
    two = ~saddle
    pairs = [(p, q, edges[p][0] & edges[q][0] & two) for p, q in
             (("t", "l"), ("t", "r"), ("t", "b"), ("l", "b"), ("r", "b"), ("l", "r"))]
    pairs += [("t", "l", saddle & a_ul), ("r", "b", saddle & a_ul),  # cut off the corners above
              ("t", "r", saddle & ~a_ul), ("l", "b", saddle & ~a_ul)]
    out = []
    for p, q, m in pairs:
        if m.any():
            seg = np.empty((int(m.sum()), 2, 2))
            seg[:, 0, 0], seg[:, 0, 1] = edges[p][1][m], edges[p][2][m]
            seg[:, 1, 0], seg[:, 1, 1] = edges[q][1][m], edges[q][2][m]
            out.append(seg)
    return np.concatenate(out) if out else np.zeros((0, 2, 2))
