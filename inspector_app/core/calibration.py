"""Calibration of a trained model's defaults on its validation split (never on test images).

Three defaults are fitted and stored in the model file (``calibration`` in its metadata); the
``project`` and ``evaluate`` commands and the window use them unless told otherwise, and the
paper's values stay one choice away (:data:`PAPER`).

The validation images are split in two halves. Half A only sets the Lr levels of the candidate
stop criteria that come from normal images the model was not trained on (the ``val-qNN``
candidates: Lr under the NN-th percentile of Lr(x0) over half A). Half B, and synthetic defects
painted on it (:func:`inspector_app.core.datasets.apply_defect`: stain, scratch, hole, foreign
patch, one of each per image), is where every choice is scored:

1. **The step size and the stop criterion** — every image of half B is projected for
   ``max_iter`` iterations with the paper's λ and each step size α of :data:`ALPHA_FACTORS` (the
   paper's 0.5, a smaller one, since the DSAE's summed DSSIM has a gradient large enough that the
   plain step of 0.5 moves good texture, and a larger one, since a VAE's Lr with unit decoder
   variance has half the L2AE's gradient; while every step size diverges, ×:data:`STEP_DOWN`
   smaller ones), and the map each candidate criterion would stop at is
   kept (figure-5 curves on validation): Lr under the training minimum or a training-loss
   percentile (the paper's, section 3.5), under a validation percentile, or a fixed number of
   iterations. An Lr level drifts too (:func:`drifted_levels`): the good images are scored where
   they would stop if the level were ×:data:`DRIFT` stricter, the defects where they would stop
   if it were ×:data:`DRIFT` more lenient. Without that, a level that most good validation images
   are already under (they stop at t = 0 with a score of 0) looks perfect on validation and then
   lets good parts from elsewhere, whose Lr is a little higher, be projected and flagged.
2. **The minimum defect area and the threshold** — for each candidate area A, the image scores
   (:func:`inspector_app.core.verdict.image_score`) of the good images and of the synthetic
   defects give the threshold T_A of :func:`robust_threshold` (a good image is also projected at
   the contrasts of :data:`LIGHTING`, and its score is the highest of the three: a good part under
   other lighting must pass too): the one that keeps the most
   images on the right side even if every score drifted by ×:data:`DRIFT` the wrong way (the
   validation images come from the parts' training region; other regions and lighting shift the
   scores), which puts it in the middle of the gap between the two classes. One number T then
   sets the segmentation (pixels above T in regions of at least A pixels) and the image verdict
   (score > T).

   The step size, the stop and the area are chosen together: the one with the best robust
   accuracy; among those within :data:`ACCURACY_TOLERANCE` of it, the higher image AUROC (within
   :data:`IMAGE_TOLERANCE`), then the higher validation pixel AUROC (the segmentation; values
   within :data:`PIXEL_TOLERANCE` count as equal), then the paper's step size, then the fewest
   iterations. Without the pixel AUROC, candidates that separate the images equally well went to
   the fewest iterations, often a single step, whose segmentation is the weakest (the AUPRO of the
   grid models fell after it).
3. **The "wrong model?" bound** on Lr(x0): :data:`OOD_FACTOR` times the largest Lr(x0) of the
   validation images and their synthetic defects.

This module runs the projections and scores them; the rule that turns the scores into the
defaults (:data:`DRIFT`, the tolerances, :func:`robust_threshold`, :func:`choose`) is
:mod:`inspector_app.core.calibration_rule`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .calibration_rule import DRIFT, candidate_key, choose, choose_area_threshold, describe_candidate
from .defects import TEXTURE_DEFECTS
from .geodefects import paint_defect
from .losses import dssim_map
from .metrics import pixel_auroc
from .models import AutoEncoder
from .params import ProjectionParams
from .projection import project, threshold_from_stats
from .ranges import PAPER_MAX_ITER, PAPER_MIN_AREA, PAPER_STOP, PAPER_THRESHOLD
from .vocabulary import StopReason
from .verdict import fmt_level, image_score

#: Candidate stop criteria besides fixed iteration counts.
LR_STOPS = ("train-min", "train-q01", "train-q05", "train-q10", "train-q25", "train-q50", "train-q75", "train-q90")
#: Candidate fixed iteration counts.
ITERATIONS = (1, 2, 3, 5, 8, 12, 20, 30, 50, 75, 100, 150, 200)
#: Lr(x0) above this many times the largest validation Lr(x0) (defects included) is "wrong model?".
OOD_FACTOR = 2.0
#: Step sizes tried, as factors of the base α (the paper's 0.5); the first is preferred on ties,
#: then the order given.
ALPHA_FACTORS = (1.0, 0.3, 3.0)
#: While the projection diverges on more than this share of the validation images at every step
#: size tried, a step :data:`STEP_DOWN` times the smallest is tried too (down to α = 1e-4): the
#: γ-VAE's Lr has a gradient ∝ 1/γ², and a long training drives γ low enough (0.03 against 0.29)
#: that α = 0.5 and 0.15 both diverge at once and every map stays zero. (On their test splits the
#: bundled models' eq. 8 runs diverge on no image; at 0.015 that γ-VAE still diverged on 27 %.)
MAX_DIVERGED = 0.1
STEP_DOWN = 0.1
ALPHA_MIN = 1e-4
#: Contrast factors (about the image's mean) at which each good validation image is also scored:
#: a good part under other lighting must pass too, so its score is the highest of its variants.
LIGHTING = (0.8, 1.25)


def lighting_variants(images: list[np.ndarray], factors: Sequence[float] = LIGHTING) -> list[np.ndarray]:
    """Each image at each contrast factor about its mean, clipped to [0, 1]: factor-major order."""
    return [np.clip(im.mean() + f * (im - im.mean()), 0.0, 1.0).astype(np.float32) for f in factors for im in images]


def drifted_levels(level: float, drift: float = DRIFT) -> tuple[float, float]:
    """(stricter, more lenient) versions of the Lr stop level ``level``: ÷ and × ``drift`` for a
    positive level, and the same distances for a negative one (the γ-VAE's)."""
    a = abs(float(level))
    return float(level - (1.0 - 1.0 / drift) * a), float(level + (drift - 1.0) * a)


def far_above(lr_max: float) -> float:
    """The "wrong model?" bound for a largest Lr of ``lr_max``: :data:`OOD_FACTOR` × it for a
    positive loss, and as far above it for a negative one (the γ-VAE's log-likelihood term makes Lr
    negative: twice a negative number would lie below every image)."""
    return float(lr_max + (OOD_FACTOR - 1.0) * abs(lr_max))


@dataclass(frozen=True)
class Calibration:
    """Defaults fitted on the validation split, and how they were obtained."""

    threshold: float
    min_area: int
    stop: str
    max_iter: int
    lr_out_of_range: float | None = None
    method: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    alpha: float | None = None  # the step size (None: the paper's)
    margin: int = 0  # the image's outermost pixels left out of the inspection (calibrate --whole-images)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def projection_params(self) -> ProjectionParams:
        """The run these defaults describe: their step size (else the paper's), stop, iterations and
        margin, λ and the rest the paper's."""
        p = ProjectionParams(stop=self.stop, max_iter=int(self.max_iter), margin=int(self.margin))
        return (p if self.alpha is None else p.replace(alpha=float(self.alpha))).validated()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibration":
        known = {"threshold", "min_area", "stop", "max_iter", "lr_out_of_range", "method", "figures", "alpha", "margin"}
        return cls(**{k: v for k, v in d.items() if k in known})


#: The paper's settings (section 4.1, figure 3): threshold 0.2 on single pixels, stop at the
#: training minimum; the maximum number of iterations is ours (the paper gives none).
PAPER = Calibration(threshold=PAPER_THRESHOLD, min_area=PAPER_MIN_AREA, stop=PAPER_STOP, max_iter=PAPER_MAX_ITER,
                    method=f"the paper's defaults (threshold {PAPER_THRESHOLD:g}, stop when Lr < training minimum)")


# ------------------------------------------------------------------------------------------ data

#: How one defect is painted on a grey uint8 image: (image, kind, rng, index of the defect) → (image, mask).
Painter = Callable[[np.ndarray, str, np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


def synthetic_defects(images: list[np.ndarray], per_image: int, seed: int,
                      defect_kinds: Sequence[str] = TEXTURE_DEFECTS,
                      paint: Painter | None = None) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """``per_image`` defects painted on each image (the kinds of ``defect_kinds`` in turn): (images,
    masks, kinds). The default is the changes of intensity; the geometric kinds
    (:data:`~inspector_app.core.geodefects.GEOMETRIC_DEFECTS`: warp, fold, displaced, missing piece)
    may be added.

    Grey images get the defect as painted; colour images get the grey change added to every
    channel. Foreign patches are taken from a rotated, rescaled copy of the image itself. ``paint``
    replaces :func:`paint_defect` (whole photographs: a defect of a crop's size placed somewhere)."""
    rng = np.random.default_rng(seed)
    out, masks, kinds = [], [], []
    k = 0
    for im in images:
        grey = im if im.ndim == 2 else im.mean(axis=2)
        g8 = np.clip(np.round(grey * 255.0), 0, 255).astype(np.uint8)
        for _ in range(per_image):
            kind = defect_kinds[k % len(defect_kinds)]
            k += 1
            bad, mask = paint_defect(g8, kind, rng) if paint is None else paint(g8, kind, rng, k - 1)
            delta = bad.astype(np.float32) / 255.0 - g8.astype(np.float32) / 255.0
            new = im + (delta if im.ndim == 2 else delta[..., None])
            out.append(np.clip(new, 0.0, 1.0).astype(np.float32))
            masks.append(mask)
            kinds.append(kind)
    return out, masks, kinds


# ------------------------------------------------------------------------------------------ runs

@dataclass
class _Trajectories:
    """The DSSIM map each candidate stop criterion ends at, for every image (float16)."""

    maps: dict[str, np.ndarray]
    iterations: dict[str, np.ndarray]
    baseline: np.ndarray  # DSSIM(x0, f(x0))
    lr0: np.ndarray  # Lr(x0)
    diverged: np.ndarray  # per image: the projection diverged (the energy rose)


def _run_candidates(model: AutoEncoder, images: list[np.ndarray], params: ProjectionParams,
                    lr_thresholds: dict[str, float], device: torch.device, batch: int,
                    progress: Callable[[int], None] | None) -> _Trajectories:
    from .data import to_tensor

    n = len(images)
    h, w = images[0].shape[:2]
    t_max = params.max_iter
    fixed = [t for t in ITERATIONS if t <= t_max]
    names = [f"iter:{t}" for t in fixed] + list(lr_thresholds)
    maps = {c: np.zeros((n, h, w), np.float16) for c in names}
    iters = {**{f"iter:{t}": np.full(n, t, np.int64) for t in fixed},
             **{c: np.full(n, t_max, np.int64) for c in lr_thresholds}}
    baseline = np.zeros((n, h, w), np.float32)
    lr0 = np.zeros(n)
    diverged = np.zeros(n, bool)
    for s in range(0, n, batch):
        x0 = to_tensor(images[s:s + batch]).to(device)
        b = x0.shape[0]
        done = {c: np.zeros(b, bool) for c in lr_thresholds}
        told = 0  # of this batch's images, told to ``progress``
        gen = project(model, x0, params)
        for rec in gen:
            t = rec.iteration
            lr = rec.recon_loss.detach().cpu().numpy()
            d = None

            def dmap() -> np.ndarray:
                nonlocal d
                if d is None:
                    d = rec.dssim_projection.detach().cpu().numpy().astype(np.float16)
                return d

            if t == 0:
                lr0[s:s + b] = lr
                with torch.no_grad():
                    baseline[s:s + b] = dssim_map(x0, rec.reconstruction).cpu().numpy()
            if t in fixed:
                maps[f"iter:{t}"][s:s + b] = dmap()
            for c, thr in lr_thresholds.items():
                hit = (~done[c]) & ((lr < thr) | (t == t_max))
                if hit.any():
                    idx = np.flatnonzero(hit)
                    maps[c][s + idx] = dmap()[idx]
                    iters[c][s + idx] = t
                    done[c] |= hit
            diverged[s:s + b] = [r == StopReason.DIVERGED for r in rec.stop_reasons]
            told = _told(progress, told, b * (t + 1) // (t_max + 1))
        _told(progress, told, b)
    return _Trajectories(maps, iters, baseline, lr0, diverged)


def _told(progress: Callable[[int], None] | None, told: int, now: int) -> int:
    """Tell ``progress`` of the images' worth of projection done since ``told`` (a batch's images
    are counted as its iterations go, so that a long batch still shows progress); the new count."""
    if progress is not None and now > told:
        progress(now - told)
    return max(told, now)


def _drift_stops(raw: _Trajectories, lr_levels: Mapping[str, float], n_good: int) -> _Trajectories:
    """The Lr-level candidates of ``raw`` (run as ``NAME~good`` and ``NAME~defect`` at the
    :func:`drifted_levels`) joined into one per level: the good images' maps from the stricter
    level, the defects' from the more lenient one. Fixed iteration counts are kept as they are."""
    maps = {c: m for c, m in raw.maps.items() if "~" not in c}
    iters = {c: v for c, v in raw.iterations.items() if "~" not in c}
    for c in lr_levels:
        g, d = f"{c}~good", f"{c}~defect"
        maps[c] = np.concatenate([raw.maps[g][:n_good], raw.maps[d][n_good:]])
        iters[c] = np.concatenate([raw.iterations[g][:n_good], raw.iterations[d][n_good:]])
    return _Trajectories(maps, iters, raw.baseline, raw.lr0, raw.diverged)


#: Validation percentiles of Lr(x0) tried as stop levels.
VAL_QUANTILES = (50, 75, 90, 95, 99)


def images_projected(n_val: int, defects_per_image: int = len(TEXTURE_DEFECTS)) -> int:
    """How many images :func:`calibrate` projects for ``n_val`` validation images (for a progress bar)."""
    return len(_halves(n_val)[1]) * (1 + len(LIGHTING) + defects_per_image) * len(ALPHA_FACTORS)


def _stop_levels(model: AutoEncoder, images_a: list[np.ndarray], stats: Mapping[str, Any] | None,
                 device: str | torch.device, batch: int) -> dict[str, float]:
    """The Lr level of every candidate stop: the training statistics' (the paper's) and the
    percentiles of Lr(x0) over half A of the validation images."""
    from .data import to_tensor

    with torch.no_grad():
        lr_a = np.concatenate([model.forward_loss(to_tensor(images_a[s:s + batch]).to(device))[0].cpu().numpy()
                               for s in range(0, len(images_a), batch)])
    levels: dict[str, float] = {}
    for c in LR_STOPS:
        try:
            level = threshold_from_stats(c, stats)
        except ValueError:
            continue
        if level is not None:
            levels[c] = level
    for q in VAL_QUANTILES:
        levels[f"val-q{q}"] = float(np.quantile(lr_a, q / 100.0))
    return levels


def _figures(traj: _Trajectories, candidates: dict[str, dict[str, Any]], key: str, kinds: list[str], n_good: int,
             labels: np.ndarray, lr_levels: dict[str, float], base: ProjectionParams, n_all: int, lighting: tuple[float, ...],
             defect_kinds: Sequence[str] = TEXTURE_DEFECTS) -> dict[str, Any]:
    """What the calibration measured, for the model file (and the model card); the first
    ``n_all`` maps are the good images and their lighting variants, the first ``n_good`` of them
    the images themselves."""
    chosen = candidates[key]
    area, thr = chosen["min_area"], chosen["threshold"]
    sd = np.array([image_score(m.astype(np.float32), area)
                   for m in traj.maps[chosen.get("stop_candidate", key)][n_all:]])
    per_kind = {k: float(np.mean(sd[np.array(kinds) == k] > thr)) for k in defect_kinds if k in kinds}
    lr0 = traj.lr0

    def span(v: np.ndarray) -> list[float]:
        return [float(v.min()), float(np.median(v)), float(v.max())]

    return {
        "n_good": n_good,
        "n_defects": len(kinds),
        "defect_kinds": list(defect_kinds),
        "alpha": base.alpha,
        "lam": base.lam,
        "chosen": key,
        "pixel_auroc_baseline": pixel_auroc(np.concatenate([traj.baseline[:n_good], traj.baseline[n_all:]]), labels),
        "pixel_auroc": chosen["pixel_auroc"],
        "image_auroc": chosen["image_auroc"],
        "defects_flagged": chosen["defects_flagged"],
        "robust_accuracy": chosen["robust_accuracy"],
        "drift": DRIFT,
        "defects_flagged_by_kind": per_kind,
        "good_passed": chosen["good_passed"],
        "mean_iterations": chosen["mean_iterations"],
        "lr_levels": lr_levels,
        "candidates": {c: {k: v for k, v in d.items() if k not in ("area_table", "good_scores", "defect_scores")}
                       for c, d in candidates.items()},
        "area_table": {a: {k: v for k, v in r.items() if not k.endswith("_scores")}
                       for a, r in chosen["area_table"].items()},
        "scores": {k: chosen["area_table"][str(area)][k] for k in ("good_scores", "defect_scores")},
        "lr_x0_good": span(lr0[:n_good]),
        "lr_x0_defects": span(lr0[n_all:]),
        "lighting": list(lighting),
    }


def _halves(n: int) -> tuple[list[int], list[int]]:
    """Indices of half A (stop levels) and half B (scoring); one image serves both."""
    if n < 2:
        return list(range(n)), list(range(n))
    return list(range(0, n, 2)), list(range(1, n, 2))


def _stop_of(candidate: str, lr_levels: Mapping[str, float], max_iter: int) -> tuple[str, int]:
    """(the stop criterion, the maximum iterations) a chosen stop candidate stands for."""
    if candidate.startswith("iter:"):
        return "none", int(candidate[5:])
    if candidate.startswith("val-q"):
        return f"lr:{lr_levels[candidate]:.6g}", max_iter
    return candidate, max_iter


def _account(figures: dict[str, Any], skipped: str, good_groups: list[int] | None, n_good: int, n_fit: int) -> str:
    """The figures that say how the images were counted (and the step sizes the time limit left
    out); what the calibration was done on, in words."""
    if skipped:
        figures["skipped_for_time"] = f"step sizes α = {skipped} not tried: the time limit"
    figures["stop_drift"] = "Lr levels ÷/× the drift for the good images / the defects"
    n_photos = len(set(good_groups)) if good_groups is not None else n_good
    figures["good_unit"] = ("whole validation photographs (the highest score of their working-scale tiles)"
                            if good_groups is not None else "validation images")
    figures["n_good_photographs"] = n_photos
    if good_groups is None:
        return f"{n_good + n_fit} validation images"
    photos = "1 whole photograph" if n_photos == 1 else f"{n_photos} whole photographs"
    return f"{n_good + n_fit} tiles of the validation images ({photos}, scored by their highest tile)"


def _method(key: str, chosen: Mapping[str, Any], on: str, n_bad: int, lighting: Sequence[float]) -> str:
    """The calibration's one-sentence account (``on``: what it was calibrated on)."""
    return (f"calibrated on {on} and {n_bad} synthetic defects: "
            f"threshold {fmt_level(chosen['threshold'])} on regions of ≥ {chosen['min_area']} px, in the gap between "
            f"good images and defects even if their scores drift by ×{DRIFT:g} (it passes {chosen['good_passed']:.0%} "
            f"of the good validation images, each also at contrast ×{' and ×'.join(format(f, 'g') for f in lighting) or '1'}, "
            f"and flags {chosen['defects_flagged']:.0%} of the synthetic defects); stop: {describe_candidate(key)}")


def _scored(traj: _Trajectories, rank: int, factor: float, alpha: float, n_good: int, n_all: int, labels: np.ndarray,
            variants: int, groups: list[int] | None) -> dict[str, dict[str, Any]]:
    """Every stop candidate of one step size's run: its area and threshold (with their table), its
    validation pixel AUROC and mean iterations."""
    out = {}
    for c, m in traj.maps.items():
        area, thr, table = choose_area_threshold(m[:n_all], m[n_all:], variants=variants, groups=groups)
        out[candidate_key(c, factor, alpha)] = {
            "alpha": alpha, "alpha_rank": rank, "stop_candidate": c,
            "pixel_auroc": pixel_auroc(np.concatenate([m[:n_good], m[n_all:]]).astype(np.float32), labels),
            "mean_iterations": float(traj.iterations[c].mean()),
            "min_area": area, "threshold": thr, **table[str(area)], "area_table": table,
        }
    return out


def calibrate(
    model: AutoEncoder,
    val_images: list[np.ndarray],
    device: torch.device,
    stats: Mapping[str, Any] | None,
    params: ProjectionParams | None = None,
    max_iter: int = 100,
    defects_per_image: int = len(TEXTURE_DEFECTS),
    seed: int = 0,
    batch: int = 32,
    progress: Callable[[int], None] | None = None,
    alpha_factors: tuple[float, ...] = ALPHA_FACTORS,
    lighting: tuple[float, ...] = LIGHTING,
    step_down: Callable[[float, int], None] | None = None,
    deadline: float | None = None,
    groups: Sequence[int] | None = None,
    defect_kinds: Sequence[str] = TEXTURE_DEFECTS,
    time_up: Callable[[int], None] | None = None,
) -> Calibration:
    """Fit the defaults described in the module docstring on model-sized validation images.
    ``progress(n)``: ``n`` more images' worth projected. ``deadline`` (``time.monotonic()``: the time
    limit) binds between step sizes: the first always runs, a further one only if the longest so far
    would end before it (``time_up(n)``: ``n`` projections left out; ``figures["skipped_for_time"]``),
    and no smaller one is added after it (``step_down(alpha, n)``: one added, ``n`` more images).
    ``groups`` names the validation photograph each image (a tile at the model's working scale)
    was cut from: the threshold then passes whole photographs (see ``choose_area_threshold``).
    ``defect_kinds`` are the synthetic defects' kinds (:func:`synthetic_defects`)."""
    if not val_images:
        raise ValueError("calibration needs validation images")
    base = (params or ProjectionParams()).replace(stop="none", max_iter=int(max_iter)).validated()
    model.eval()
    idx_a, idx_b = _halves(len(val_images))
    lr_levels = _stop_levels(model, [val_images[i] for i in idx_a], stats, device, batch)
    good = [val_images[i] for i in idx_b]
    good_groups = None if groups is None else [int(groups[i]) for i in idx_b]
    bad, masks, kinds = synthetic_defects(good, defects_per_image, seed, tuple(defect_kinds))
    n_good = len(good)
    lit = lighting_variants(good, lighting)
    n_all = n_good + len(lit)  # the good images, then their lighting variants, then the defects
    labels = np.concatenate([np.zeros((n_good, *masks[0].shape), bool), np.stack(masks)])
    run_levels = {f"{c}~{side}": v for c, level in lr_levels.items()
                  for side, v in zip(("good", "defect"), drifted_levels(level))}

    candidates: dict[str, dict[str, Any]] = {}
    trajectories: list[_Trajectories] = []  # one per step size
    factors, diverged_share, longest, skipped = list(alpha_factors), {}, 0.0, ""
    for rank, factor in enumerate(factors):  # grows while every step size tried diverges
        params = base.replace(alpha=base.alpha * factor).validated()
        if rank and deadline is not None and time.monotonic() + longest > deadline:  # the time limit binds
            skipped = ", ".join(f"{base.alpha * f:g}" for f in factors[rank:])
            if time_up is not None:
                time_up(len(factors[rank:]) * (n_all + len(bad)))
            break
        started = time.monotonic()
        traj = _drift_stops(_run_candidates(model, good + lit + bad, params, run_levels, device, batch, progress),
                            lr_levels, n_all)
        longest = max(longest, time.monotonic() - started)
        trajectories.append(traj)
        diverged_share[f"{params.alpha:g}"] = float(np.mean(traj.diverged))
        if (rank == len(factors) - 1 and min(diverged_share.values()) > MAX_DIVERGED
                and base.alpha * min(factors) * STEP_DOWN >= ALPHA_MIN
                and (deadline is None or time.monotonic() < deadline)):
            factors.append(min(factors) * STEP_DOWN)
            if step_down is not None:
                step_down(base.alpha * factors[-1], n_all + len(bad))
        candidates.update(_scored(traj, rank, factor, params.alpha, n_good, n_all, labels, 1 + len(lighting), good_groups))
    key = choose(candidates)
    chosen = candidates[key]
    area, thr = chosen["min_area"], chosen["threshold"]
    stop, iters = _stop_of(chosen["stop_candidate"], lr_levels, int(max_iter))
    traj = trajectories[chosen["alpha_rank"]]
    figures = _figures(traj, candidates, key, kinds, n_good, labels, lr_levels, base.replace(alpha=chosen["alpha"]),
                       n_all, lighting, tuple(defect_kinds))
    figures["n_stop_fit"] = len(idx_a)
    figures["diverged_share"] = diverged_share  # per step size tried, of all validation images
    on = _account(figures, skipped, good_groups, n_good, len(idx_a))
    method = _method(key, chosen, on, len(bad), lighting)
    return Calibration(threshold=thr, min_area=int(area), stop=stop, max_iter=iters,
                       lr_out_of_range=far_above(float(np.concatenate([traj.lr0[:n_good], traj.lr0[n_all:]]).max())),
                       method=method, figures=figures, alpha=float(chosen["alpha"]))


def model_defaults(meta: Mapping[str, Any] | None, paper: bool = False) -> Calibration:
    """The defaults a model file's ``calibration`` holds, else (or with ``paper``) :data:`PAPER`."""
    if paper or not meta or not isinstance(meta.get("calibration"), Mapping):
        return PAPER
    return Calibration.from_dict(meta["calibration"])
