"""Calibration of a trained model's defaults on its validation split (never on test images).

Three defaults are fitted and stored in the model file (``calibration`` in its metadata); the
``project`` and ``evaluate`` commands and the window use them unless told otherwise, and the
paper's values stay one choice away (:data:`PAPER`):

1. **The stop criterion** — read off figure-5-style curves on validation: every good validation
   image, and synthetic defects painted on them (:func:`inspector_app.core.datasets.apply_defect`:
   stain, scratch, hole, foreign patch), is projected for ``max_iter`` iterations with the paper's
   α and λ; the map each candidate criterion would stop at (Lr under the training minimum or a
   training-loss quantile, as the paper suggests, or a fixed number of iterations) is kept, and
   the criterion with the best pixel AUROC — among those within 0.005 of the best, the one with
   the fewest iterations on average — is chosen.
2. **The minimum defect area and the threshold** — for each candidate area A, the image scores
   (:func:`inspector_app.core.verdict.image_score`) of the good validation images give the
   threshold T_A that passes :data:`GOOD_PASS` of them; the area whose T_A flags the most synthetic
   defects is chosen, with T_A as the threshold. One number thus sets the segmentation (pixels
   above T in regions of at least A pixels) and the image verdict (score > T).
3. **The "wrong model?" bound** on Lr(x0): :data:`OOD_FACTOR` times the largest Lr(x0) of the
   validation images and their synthetic defects.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

from .datasets import TEXTURE_DEFECTS, apply_defect
from .losses import dssim_map
from .metrics import pixel_auroc
from .models import AutoEncoder
from .params import ProjectionParams
from .projection import project, threshold_from_stats
from .verdict import image_score

#: Share of good validation images the calibrated threshold must pass.
GOOD_PASS = 0.98
#: Candidate minimum defect areas (pixels at the model's size).
AREAS = (1, 4, 9, 16, 25, 36, 49, 64, 100, 144)
#: Candidate stop criteria besides fixed iteration counts.
LR_STOPS = ("train-min", "train-q01", "train-q05", "train-q10", "train-q25", "train-q50", "train-q75", "train-q90")
#: Candidate fixed iteration counts.
ITERATIONS = (1, 2, 3, 5, 8, 12, 20, 30, 50, 75, 100, 150, 200)
#: Lr(x0) above this many times the largest validation Lr(x0) (defects included) is "wrong model?".
OOD_FACTOR = 2.0
#: AUROC within this of the best counts as equally good (then the fewest iterations win).
AUROC_TOLERANCE = 0.005


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibration":
        known = {"threshold", "min_area", "stop", "max_iter", "lr_out_of_range", "method", "figures"}
        return cls(**{k: v for k, v in d.items() if k in known})


#: The paper's settings (section 4.1, figure 3): threshold 0.2 on single pixels, stop at the
#: training minimum; the maximum number of iterations is ours (the paper gives none).
PAPER = Calibration(threshold=0.2, min_area=1, stop="train-min", max_iter=100,
                    method="the paper's defaults (threshold 0.2, stop when Lr < training minimum)")


# ------------------------------------------------------------------------------------------ data

def synthetic_defects(images: list[np.ndarray], per_image: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """``per_image`` defects painted on each image (kinds in turn): (images, masks, kinds).

    Grey images get the defect as painted; colour images get the grey change added to every
    channel. Foreign patches are taken from a rotated, rescaled copy of the image itself."""
    rng = np.random.default_rng(seed)
    out, masks, kinds = [], [], []
    k = 0
    for im in images:
        grey = im if im.ndim == 2 else im.mean(axis=2)
        g8 = np.clip(np.round(grey * 255.0), 0, 255).astype(np.uint8)
        for _ in range(per_image):
            kind = TEXTURE_DEFECTS[k % len(TEXTURE_DEFECTS)]
            k += 1
            bad, mask = apply_defect(g8, kind, rng)
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
    iters = {c: np.full(n, t_max, np.int64) for c in names}
    baseline = np.zeros((n, h, w), np.float32)
    lr0 = np.zeros(n)
    for s in range(0, n, batch):
        x0 = to_tensor(images[s:s + batch]).to(device)
        b = x0.shape[0]
        done = {c: np.zeros(b, bool) for c in lr_thresholds}
        gen = project(model, x0, params)
        for rec in gen:
            t = rec.iteration
            lr = rec.recon_loss.detach().cpu().numpy()
            d = None

            def dmap():
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
        if progress is not None:
            progress(b)
    return _Trajectories(maps, iters, baseline, lr0)


# ------------------------------------------------------------------------------------------ choice

def choose_stop(aurocs: Mapping[str, float], mean_iters: Mapping[str, float]) -> str:
    """The criterion with the best AUROC; among those within :data:`AUROC_TOLERANCE` of it, the
    one with the fewest iterations on average (then the higher AUROC)."""
    finite = {c: a for c, a in aurocs.items() if math.isfinite(a)}
    if not finite:
        raise ValueError("no stop criterion gave a usable AUROC")
    best = max(finite.values())
    near = [c for c, a in finite.items() if a >= best - AUROC_TOLERANCE]
    return min(near, key=lambda c: (mean_iters[c], -finite[c]))


def choose_area_threshold(good_maps: np.ndarray, defect_maps: np.ndarray,
                          areas=AREAS, good_pass: float = GOOD_PASS) -> tuple[int, float, dict[str, Any]]:
    """(min_area, threshold, table): for each area, the threshold passing ``good_pass`` of the good
    images; the area flagging the most defects at its threshold wins (ties: the smaller area)."""
    table = {}
    best = None
    for a in areas:
        sg = np.array([image_score(m.astype(np.float32), a) for m in good_maps])
        sd = np.array([image_score(m.astype(np.float32), a) for m in defect_maps])
        thr = float(np.quantile(sg, good_pass, method="higher")) if sg.size else 0.0
        flagged = float(np.mean(sd > thr)) if sd.size else 0.0
        passed = float(np.mean(sg <= thr)) if sg.size else 1.0
        table[str(a)] = {"threshold": thr, "defects_flagged": flagged, "good_passed": passed}
        if best is None or flagged > best[2]:
            best = (a, thr, flagged)
    assert best is not None
    return best[0], best[1], table


def calibrate(
    model: AutoEncoder,
    val_images: list[np.ndarray],
    device: torch.device,
    stats: Mapping[str, Any] | None,
    params: ProjectionParams | None = None,
    max_iter: int = 100,
    defects_per_image: int = 2,
    seed: int = 0,
    batch: int = 32,
    progress: Callable[[int], None] | None = None,
) -> Calibration:
    """Fit the defaults described in the module docstring on model-sized validation images."""
    if not val_images:
        raise ValueError("calibration needs validation images")
    base = (params or ProjectionParams()).replace(stop="none", max_iter=int(max_iter)).validated()
    bad, masks, kinds = synthetic_defects(val_images, defects_per_image, seed)
    images = list(val_images) + bad
    n_good = len(val_images)
    lr_thresholds = {}
    for c in LR_STOPS:
        try:
            lr_thresholds[c] = threshold_from_stats(c, stats)
        except ValueError:
            pass
    model.eval()
    traj = _run_candidates(model, images, base, lr_thresholds, device, batch, progress)
    labels = np.concatenate([np.zeros((n_good, *masks[0].shape), bool), np.stack(masks)]) if masks else None

    aurocs, mean_iters = {}, {}
    for c, m in traj.maps.items():
        aurocs[c] = pixel_auroc(m.astype(np.float32), labels)
        mean_iters[c] = float(traj.iterations[c].mean())
    stop_key = choose_stop(aurocs, mean_iters)
    chosen = traj.maps[stop_key]
    area, thr, table = choose_area_threshold(chosen[:n_good], chosen[n_good:])
    if stop_key.startswith("iter:"):
        stop, iters = "none", int(stop_key[5:])
    else:
        stop, iters = stop_key, int(max_iter)
    lr_bound = float(OOD_FACTOR * traj.lr0.max())
    per_kind = {}
    sd = np.array([image_score(m.astype(np.float32), area) for m in chosen[n_good:]])
    for k in TEXTURE_DEFECTS:
        sel = np.array([kk == k for kk in kinds])
        if sel.any():
            per_kind[k] = float(np.mean(sd[sel] > thr))
    figures = {
        "n_good": n_good,
        "n_defects": len(bad),
        "defect_kinds": list(TEXTURE_DEFECTS),
        "alpha": base.alpha,
        "lam": base.lam,
        "pixel_auroc_baseline": pixel_auroc(traj.baseline, labels),
        "pixel_auroc": aurocs,
        "mean_iterations": mean_iters,
        "area_table": table,
        "defects_flagged": table[str(area)]["defects_flagged"],
        "defects_flagged_by_kind": per_kind,
        "good_passed": table[str(area)]["good_passed"],
        "lr_x0_good": [float(traj.lr0[:n_good].min()), float(np.median(traj.lr0[:n_good])), float(traj.lr0[:n_good].max())],
        "lr_x0_defects": [float(traj.lr0[n_good:].min()), float(np.median(traj.lr0[n_good:])), float(traj.lr0[n_good:].max())],
    }
    method = (f"calibrated on the validation split: {n_good} good images and {len(bad)} synthetic defects; "
              f"threshold passes {GOOD_PASS:.0%} of good validation images with regions of ≥ {area} px; "
              f"stop '{stop_key}' had the best validation pixel AUROC ({aurocs[stop_key]:.3f})")
    return Calibration(threshold=thr, min_area=int(area), stop=stop, max_iter=iters,
                       lr_out_of_range=lr_bound, method=method, figures=figures)


def model_defaults(meta: Mapping[str, Any] | None, paper: bool = False) -> Calibration:
    """The defaults a model file's ``calibration`` holds, else (or with ``paper``) :data:`PAPER`."""
    if paper or not meta or not isinstance(meta.get("calibration"), Mapping):
        return PAPER
    return Calibration.from_dict(meta["calibration"])
