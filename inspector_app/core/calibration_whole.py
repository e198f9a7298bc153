"""The threshold and minimum area placed on **whole validation photographs** (``calibrate
--whole-images``), projected exactly as ``project`` projects a photograph: brought to the model's
working scale, tiled, one energy over the whole image, one DSSIM map.

:func:`~inspector_app.core.calibration.calibrate` scores model-size tiles one by one (grouped by
photograph at best), and a tile's borders are not a photograph's: a whole photograph holds many
tiles' worth of chances of a false region, and along its own edges the model sees texture cut
where no training crop's context continues it. Measured on the bundled brick models (see
``resources/models/README.md``), thresholds that passed every good validation crop flagged 1 to 5
of 8 good whole photographs, every false region on the photograph's outer border.

This pass keeps what the model's calibration chose (step size, stop criterion, iterations, the
"wrong model?" bound) and places the threshold, the minimum area and the **margin** (the
photograph's outermost pixels left out of the inspection, :data:`MARGINS`: where every false
region of those brick photographs lay) with the same rule
(:func:`~inspector_app.core.calibration_rule.choose_area_threshold`: the robust threshold in the
gap between good photographs, each also under other lighting, and synthetic defects of a crop's
size painted on them across tile borders, in corners and anywhere, in turn, as the full-size test
images' defects are, with the ×1.3 drift margin). Areas are in working-scale pixels, where
``project`` applies them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .calibration import LIGHTING, Calibration, lighting_variants, model_defaults, synthetic_defects
from .calibration_rule import AREAS, DRIFT, choose_area_threshold
from .datasets_full import PLACEMENTS, paint_full
from .defects import TEXTURE_DEFECTS
from .losses import uninspected_margin
from .metrics import pixel_auroc
from .modelio import LoadedModel
from .params import ProjectionParams
from .verdict import fmt_level

#: Synthetic defects painted on each validation photograph (one of each intensity kind).
DEFECTS_PER_PHOTO = len(TEXTURE_DEFECTS)
#: Candidate margins (the image's outermost pixels left out of the inspection, at the working scale).
MARGINS = (0, 2, 4, 8)


class CalibrationTimeout(RuntimeError):
    """The time limit ran out before every validation photograph was projected."""


def working_images(loaded: LoadedModel, photos: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The photographs at the model's working scale, in the model's channels (as ``project`` brings them)."""
    from .pipeline import prepare

    return [prepare(f"validation {i}", p, loaded).model_input for i, p in enumerate(photos)]


def _project_maps(loaded: LoadedModel, images: list[np.ndarray], params: ProjectionParams,
                  progress: Callable[[int], None] | None, deadline: float | None) -> list[np.ndarray]:
    """The final DSSIM map of each image, projected one by one (images may differ in size)."""
    from .data import to_tensor
    from .projection import run_to_end

    maps: list[np.ndarray] = []
    for im in images:
        if deadline is not None and time.monotonic() > deadline:
            raise CalibrationTimeout(f"the time limit ran out after {len(maps)} of {len(images)} images")
        x0 = to_tensor([im]).to(loaded.device)
        with torch.no_grad():
            _first, last, _c = run_to_end(loaded.model, x0, params, stats=loaded.training_stats)
        maps.append(last.dssim_projection[0].detach().cpu().numpy().astype(np.float32))
        if progress is not None:
            progress(1)
    return maps


def images_projected(n_photos: int, per_photo: int = DEFECTS_PER_PHOTO) -> int:
    """How many images :func:`calibrate_whole` projects for ``n_photos`` photographs (a progress bar's total)."""
    return n_photos * (1 + len(LIGHTING) + per_photo)


@dataclass(frozen=True)
class WholeEstimate:
    """How long :func:`calibrate_whole` will take (:func:`estimate_whole`)."""

    seconds: float  # the calibration's projections and the scoring of their maps
    n_images: int  # images it projects
    measured: float  # the measured projection of one photograph (seconds)
    iterations: int  # that projection's iterations
    scoring: float  # the measured scoring of its map (seconds)


def estimate_whole(loaded: LoadedModel, photos: Sequence[np.ndarray], per_photo: int = DEFECTS_PER_PHOTO,
                   lighting: Sequence[float] = LIGHTING) -> WholeEstimate:
    """The seconds :func:`calibrate_whole` spends projecting ``photos`` and scoring their maps,
    measured on the first photograph: its own projection (the model's step size, stop and
    iterations, at the working scale) gives a time per pixel and iteration, for each photograph and
    its lighting variants at the measured iterations and its ``per_photo`` synthetic defects at the
    calibration's ``max_iter`` (a stop criterion may end them sooner); the scoring of its map (every
    candidate margin and area) a time per pixel for each map. (With a model of few iterations the
    scoring takes about as long as the projections: 3 iterations of the bundled brick VAE.)"""
    from .data import to_tensor
    from .pipeline import prepare, working_shape
    from .projection import run_to_end

    if not photos:
        raise ValueError("the whole-image calibration needs validation photographs")
    base = model_defaults(loaded.meta)
    params = base.projection_params().replace(margin=0)
    first = prepare("validation 0", photos[0], loaded).model_input
    x0 = to_tensor([first]).to(loaded.device)
    t = time.perf_counter()
    with torch.no_grad():
        _f, last, _c = run_to_end(loaded.model, x0, params, stats=loaded.training_stats)
    measured = time.perf_counter() - t
    steps = int(last.steps[0])
    t = time.perf_counter()
    _score_as_chosen(last.dssim_projection[0].detach().cpu().numpy().astype(np.float32))
    scoring = time.perf_counter() - t
    px0 = first.shape[0] * first.shape[1]
    pixels = sum(h * w for h, w in (working_shape(loaded, p.shape[0], p.shape[1]) for p in photos))
    n_per_photo = 1 + len(lighting) + int(per_photo)
    iterations = (1 + len(lighting)) * (steps + 1) + int(per_photo) * (int(params.max_iter) + 1)
    seconds = pixels / px0 * (measured / (steps + 1) * iterations + scoring * n_per_photo)
    return WholeEstimate(seconds, len(photos) * n_per_photo, measured, steps, scoring)


def _score_as_chosen(dssim: np.ndarray, areas: Sequence[int] = AREAS, margins: Sequence[int] = MARGINS) -> None:
    """Score one map as :func:`_choose_margin` scores each (at every margin that fits, every area),
    for :func:`estimate_whole` to time."""
    from .verdict import image_score

    for mg in sorted(set(int(v) for v in margins)):
        if 4 * mg < min(dssim.shape):
            cut = uninspected_margin(torch.from_numpy(dssim.copy()), mg).numpy()
            for a in areas:
                image_score(cut, a)


def calibrate_whole(
    loaded: LoadedModel,
    photos: Sequence[np.ndarray],
    seed: int = 0,
    defect_kinds: Sequence[str] = TEXTURE_DEFECTS,
    per_photo: int = DEFECTS_PER_PHOTO,
    lighting: Sequence[float] = LIGHTING,
    areas: Sequence[int] = AREAS,
    margins_tried: Sequence[int] = MARGINS,
    progress: Callable[[int], None] | None = None,
    deadline: float | None = None,
) -> Calibration:
    """The model's calibration with its threshold, minimum area and margin placed on whole
    ``photos`` (any sizes; brought to the working scale here). See the module docstring."""
    if not photos:
        raise ValueError("the whole-image calibration needs validation photographs")
    base = model_defaults(loaded.meta)
    params = base.projection_params().replace(margin=0)  # the margin is chosen below, on the whole maps
    good = working_images(loaded, photos)
    lit = lighting_variants(good, lighting)
    size = int(loaded.model.config.image_size)

    def paint(g8: np.ndarray, kind: str, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
        # a defect of a crop's size, across a tile border, in a corner or anywhere in turn (as the
        # full-size test images'), not one scaled to the whole photograph
        bad, mask, _where = paint_full(g8, kind, PLACEMENTS[k % len(PLACEMENTS)], size, rng)
        return bad, mask

    bad, masks, kinds = synthetic_defects(good, per_photo, seed, tuple(defect_kinds), paint=paint)
    maps = _project_maps(loaded, good + lit + bad, params, progress, deadline)
    n_all = len(good) + len(lit)
    margin, area, thr, table, margins = _choose_margin(maps, n_all, areas, 1 + len(lighting), margins_tried)
    maps = [uninspected_margin(torch.from_numpy(m), margin).numpy() for m in maps]
    chosen = table[str(area)]
    flagged = np.asarray(chosen["defect_scores"]) > thr
    figures: dict[str, Any] = {
        "good_unit": "whole validation photographs at the working scale (as project projects them)",
        "n_good_photographs": len(good),
        "photo_shapes": sorted({f"{m.shape[1]}x{m.shape[0]}" for m in good}),
        "n_defects": len(bad),
        "good_passed": chosen["good_passed"],
        "defects_flagged": chosen["defects_flagged"],
        "robust_accuracy": chosen["robust_accuracy"],
        "image_auroc": chosen["image_auroc"],
        "flagged_by_kind": {k: float(np.mean([f for f, kk in zip(flagged, kinds) if kk == k])) for k in dict.fromkeys(kinds)},
        "pixel_auroc": _pixel_auroc(maps[:len(good)], maps[n_all:], masks),
        "area_table": table,
        "margin_table": margins,
        "kept_from": {"method": base.method, "threshold": base.threshold, "min_area": base.min_area,
                      "margin": base.margin},
    }
    what = f"step size α = {params.alpha:g}, stop {base.stop}, at most {base.max_iter} iterations"
    edge = f", leaving out the outermost {margin} px" if margin else ""
    method = (f"calibrated on {len(good)} whole validation photographs ({', '.join(figures['photo_shapes'])} px at the "
              f"working scale, projected tiled as project projects them) and {len(bad)} synthetic defects of a crop's "
              f"size painted across tile borders, in corners and anywhere on them: threshold {fmt_level(thr)} on regions of ≥ {area} px{edge}, in the gap between good "
              f"photographs and defects even if their scores drift by ×{DRIFT:g} (it passes "
              f"{chosen['good_passed']:.0%} of the photographs, each also at contrast "
              f"×{' and ×'.join(format(f, 'g') for f in lighting) or '1'}, and flags {chosen['defects_flagged']:.0%} "
              f"of the defects); kept from the model's calibration: {what}")
    return Calibration(threshold=float(thr), min_area=int(area), stop=base.stop, max_iter=int(base.max_iter),
                       lr_out_of_range=base.lr_out_of_range, method=method, figures=figures, alpha=base.alpha,
                       margin=int(margin))


def _choose_margin(maps: list[np.ndarray], n_all: int, areas: Sequence[int], variants: int,
                   margins: Sequence[int]) -> tuple[int, int, float, dict[str, Any], dict[str, Any]]:
    """(margin, min_area, threshold, the area table at that margin, a summary per margin): for each
    candidate margin the maps with their outermost pixels set to 0 and the rule's best area; the
    margin with the best robust accuracy wins (ties: the higher image AUROC, then the smaller margin).
    A margin must leave most of the smallest map inspected."""
    side = min(min(m.shape) for m in maps)
    best: tuple[tuple[float, float, int], int, int, float, dict[str, Any]] | None = None
    summary: dict[str, Any] = {}
    for mg in sorted(set(int(v) for v in margins)):
        if 4 * mg >= side:
            continue
        cut = [uninspected_margin(torch.from_numpy(m.copy()), mg).numpy() for m in maps]
        area, thr, table = choose_area_threshold(cut[:n_all], cut[n_all:], areas=areas, variants=variants)
        row = table[str(area)]
        auroc = row["image_auroc"] if np.isfinite(row["image_auroc"]) else 0.0
        summary[str(mg)] = {k: row[k] for k in ("threshold", "robust_accuracy", "good_passed", "defects_flagged",
                                                "image_auroc")} | {"min_area": area}
        key = (round(float(row["robust_accuracy"]), 6), float(auroc), -mg)
        if best is None or key > best[0]:
            best = (key, mg, area, thr, table)
    assert best is not None  # margin 0 always fits
    return best[1], best[2], best[3], best[4], summary


def _pixel_auroc(good: list[np.ndarray], bad: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Pixel AUROC over the good photographs and the defects (maps of several sizes, flattened)."""
    scores = np.concatenate([m.ravel() for m in good + bad]).astype(np.float32)
    labels = np.concatenate([np.zeros(m.size, bool) for m in good] + [np.asarray(k, bool).ravel() for k in masks])
    return float(pixel_auroc(scores, labels))

