"""Evaluation against the paper (section 4.1, table 1, figure 5) on an MVTec AD category.

Reads a category folder exactly as MVTec AD distributes it (``train/good``, ``test/<defect>``,
``ground_truth/<defect>/<name>_mask.png``), or one written by ``make-dataset``. Every test image
is resized to the model's size (the ground truth with it, nearest neighbour) and scored there.

Figures, all pixel-wise over every test pixel (good and defective images):
- ``baseline``: DSSIM between x0 and its reconstruction f(x0);
- ``grad``: DSSIM between x0 and the projection x_T, and (``pixel_auroc_recon``) between x0 and
  f(x_T);
- ``curve``: pixel AUROC after each iteration for the plain update (eq. 5) and the eq. 8 update,
  both without early stop (figure 5), with the number of images each update has diverged on by
  then (a diverged image keeps its lowest-energy iterate, so a step size at which every image
  diverges at once reads about 0.5). The per-iteration AUROCs come from fixed-bin histograms of the
  scores (log-spaced bins, :func:`hist_bins`), so memory stays bounded whatever the number of
  iterations;
- image-level AUROC from the maximum of each map, and AUPRO up to an FPR of 0.3.
Only the final maps are kept (N×H×W float32), never the iterates.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .data import DataError, ImageError, atomic_write, existing_folder, list_images, read_image, resize_image, to_tensor
from .metrics import aupro, image_auroc, pixel_auroc
from .modelio import LoadedModel
from .params import ProjectionParams
from .projection import project
from .verdict import image_score

HIST_BINS = 4096
#: The histogram bins cover DSSIM values from this floor to 1 on a logarithmic scale (0 and values
#: under it share the first bin): calibrated models' maps live between 1e-4 and 1e-2, where linear
#: bins over [0, 1] would put nearly every pixel in the first bin and the AUROC near 0.5.
HIST_FLOOR = 1e-6


def hist_bins(scores: np.ndarray, bins: int = HIST_BINS) -> np.ndarray:
    """Bin index of each score (flattened) in ``bins`` log-spaced bins from :data:`HIST_FLOOR` to 1;
    below the floor (0 included) → bin 0, 1 and above → the last. The order of scores is kept, so an
    AUROC from the bins differs from the exact one only by pairs that share a bin (a bin spans
    0.34 % of its value with the defaults)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = np.where(np.isfinite(s), s, 0.0)
    lo = math.log10(HIST_FLOOR)
    pos = (np.log10(np.clip(s, HIST_FLOOR, 1.0)) - lo) / -lo  # 0 at the floor … 1 at 1
    idx = 1 + (pos * (bins - 1)).astype(np.int64)
    idx[s < HIST_FLOOR] = 0
    return np.clip(idx, 0, bins - 1)


@dataclass
class TestImage:
    path: Path
    defect: str  # "good" or the defect folder's name
    mask_path: Path | None


@dataclass
class Category:
    root: Path
    name: str
    images: list[TestImage]

    @property
    def defects(self) -> list[str]:
        return sorted({t.defect for t in self.images if t.defect != "good"})


def load_category(folder: str | Path) -> Category:
    """Validate an MVTec AD category folder and list its test images with their masks."""
    root = existing_folder(folder)
    test = root / "test"
    if not test.is_dir():
        raise DataError(f"{root}: not an MVTec AD category (expected {root.name}/test/<defect>/*.png and "
                        f"{root.name}/ground_truth/<defect>/*_mask.png)")
    subdirs = sorted(d for d in test.iterdir() if d.is_dir())
    if not subdirs:
        raise DataError(f"{test}: empty test folder (expected good/ and one folder per defect type)")
    images: list[TestImage] = []
    for d in subdirs:
        files = list_images(d)
        if d.name == "good":
            images += [TestImage(f, "good", None) for f in files]
            continue
        gt_dir = root / "ground_truth" / d.name
        if files and not gt_dir.is_dir():
            raise DataError(f"{root}: category has no ground truth for '{d.name}' (expected {gt_dir})")
        for f in files:
            m = gt_dir / f"{f.stem}_mask.png"
            if not m.exists():
                raise DataError(f"{f}: no ground-truth mask (expected {m})")
            images.append(TestImage(f, d.name, m))
    if not images:
        raise DataError(f"{test}: empty test folder (no images in {', '.join(d.name for d in subdirs)})")
    if not any(t.defect != "good" for t in images):
        raise DataError(f"{root}: no defective test images, so there is nothing to localise")
    return Category(root, root.name, images)


class HistogramAUROC:
    """ROC AUC from fixed-bin score histograms (:func:`hist_bins`): bounded memory, accumulates
    batch by batch."""

    def __init__(self, bins: int = HIST_BINS):
        self.bins = bins
        self.pos = np.zeros(bins, np.int64)
        self.neg = np.zeros(bins, np.int64)

    def add(self, scores: np.ndarray, labels: np.ndarray) -> None:
        idx = hist_bins(scores, self.bins)
        lab = labels.ravel().astype(bool)
        self.pos += np.bincount(idx[lab], minlength=self.bins)
        self.neg += np.bincount(idx[~lab], minlength=self.bins)

    def value(self) -> float:
        v = binned_auroc(self.pos, self.neg)
        return float("nan") if v is None else v


def binned_auroc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """AUROC from histograms of the positive and negative scores over the same bins (a positive
    beats every negative in a lower bin and ties, one half, with those in its own), or None
    without both classes."""
    p, n = pos.sum(), neg.sum()
    if p == 0 or n == 0:
        return None
    below = np.cumsum(neg) - neg  # negatives in lower bins
    return float((pos * (below + 0.5 * neg)).sum() / (float(p) * float(n)))


def _read_mask(path: Path, shape: tuple[int, int], image_path: Path) -> np.ndarray:
    m = read_image(path)
    if m.ndim == 3:
        m = m.max(axis=2)
    if m.shape != shape:
        raise DataError(f"{path}: ground-truth mask is {m.shape[1]}×{m.shape[0]} but its image {image_path.name} "
                        f"is {shape[1]}×{shape[0]}")
    return m > 0.5


def _load_batch(items: list[TestImage], size: int, channels: int) -> tuple[torch.Tensor, np.ndarray]:
    imgs, gts = [], []
    for t in items:
        img = read_image(t.path, channels)
        gt = _read_mask(t.mask_path, img.shape[:2], t.path) if t.mask_path else np.zeros(img.shape[:2], bool)
        imgs.append(resize_image(img, (size, size)))
        gts.append(resize_image(gt.astype(np.float32), (size, size)) > 0.5 if gt.shape != (size, size) else gt)
    return to_tensor(imgs), np.stack(gts)


def _curve_run(model, x0, gt, params, iterations, hists, diverged: list[int]) -> None:
    last, n_diverged = None, 0
    for rec in project(model, x0, params.replace(stop="none", max_iter=iterations)):
        last = rec.dssim_projection.cpu().numpy()
        n_diverged = rec.stop_reasons.count("diverged")
        hists[rec.iteration].add(last, gt)
        diverged[rec.iteration] += n_diverged
    # images that diverged early keep their final (fallback) map for the remaining iterations
    for t in range(rec.iteration + 1, iterations + 1):
        hists[t].add(last, gt)
        diverged[t] += n_diverged


@dataclass
class _Passes:
    """What the passes over the test set collect (only final maps, never the iterates)."""

    maps: dict[str, list[np.ndarray]]
    gts: list[np.ndarray]
    fves: list[float]
    iterations: list[int]
    reasons: dict[str, int]
    hists: dict[str, list[HistogramAUROC]]
    diverged: dict[str, list[int]]  # per update and iteration: images diverged by then


def _run_passes(model, category: Category, params: ProjectionParams, iterations: int, batch: int, curve: bool,
                progress) -> _Passes:
    out = _Passes({"baseline": [], "grad": [], "grad_recon": []}, [], [], [], {},
                  {k: [HistogramAUROC() for _ in range(iterations + 1)] for k in ("plain", "tuned")} if curve else {},
                  {k: [0] * (iterations + 1) for k in ("plain", "tuned")})
    items = category.images
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        try:
            x0, gt = _load_batch(chunk, model.image_size, model.channels)
        except ImageError as e:
            raise DataError(str(e)) from None
        last = None
        for rec in project(model, x0, params):
            if last is None:
                out.maps["baseline"].append(rec.dssim_reconstruction.cpu().numpy())
                out.fves += variance_explained(x0, rec.reconstruction).tolist()
            last = rec
        out.maps["grad"].append(last.dssim_projection.cpu().numpy())
        out.maps["grad_recon"].append(last.dssim_reconstruction.cpu().numpy())
        out.gts.append(gt)
        out.iterations += last.steps.tolist()
        for r in last.stop_reasons:
            out.reasons[r] = out.reasons.get(r, 0) + 1
        if progress:
            progress(len(chunk))
        for name, mask in (("plain", "none"), ("tuned", "recon")) if curve else ():
            _curve_run(model, x0, gt, params.replace(grad_mask=mask), iterations, out.hists[name], out.diverged[name])
            if progress:
                progress(len(chunk))
    return out


def _figures(maps: np.ndarray, gt: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    both = labels.any() and not labels.all()
    return {
        "pixel_auroc": pixel_auroc(maps, gt),
        "image_auroc": image_auroc(maps.reshape(len(maps), -1).max(1), labels) if both else float("nan"),
        "aupro": aupro(maps, gt),
    }


def _verdicts(maps: np.ndarray, category: Category, labels: np.ndarray, threshold: float, min_area: int) -> dict:
    scores = np.array([image_score(m, min_area) for m in maps])
    flagged = scores > threshold
    return {
        "threshold": float(threshold),
        "min_area": int(min_area),
        "defective_flagged": float(flagged[labels].mean()) if labels.any() else float("nan"),
        "good_passed": float((~flagged[~labels]).mean()) if (~labels).any() else float("nan"),
        "flagged_by_defect": {d: float(flagged[[t.defect == d for t in category.images]].mean())
                              for d in category.defects},
        "image_auroc_score": image_auroc(scores, labels) if labels.any() and not labels.all() else float("nan"),
        "scores": [{"image": str(t.path), "defect": t.defect, "score": float(v)} for t, v in zip(category.images, scores)],
    }


def evaluate(
    loaded: LoadedModel,
    category: Category,
    params: ProjectionParams,
    *,
    threshold: float = 0.2,
    min_area: int = 1,
    iterations: int = 100,
    batch: int = 16,
    curve: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Score the category's test set; returns the JSON-ready result (see the module docstring).

    ``params`` drive the main projection (its stop criterion and maximum iterations apply);
    ``threshold`` and ``min_area`` give each image's verdict (:mod:`inspector_app.core.verdict`);
    the figure-5 curves run ``iterations`` steps of the plain and the eq. 8 update.
    ``progress(n)`` is called with the number of images finished by each pass.
    """
    params = params.validated()
    t0 = time.perf_counter()
    p = _run_passes(loaded.model, category, params, iterations, batch, curve, progress)
    items = category.images
    gt = np.concatenate(p.gts)
    labels = np.array([t.defect != "good" for t in items])
    grad_maps = np.concatenate(p.maps["grad"])
    grad = _figures(grad_maps, gt, labels)
    grad_recon = _figures(np.concatenate(p.maps["grad_recon"]), gt, labels)
    verdicts = _verdicts(grad_maps, category, labels, threshold, min_area)
    good_fve = [f for f, t in zip(p.fves, items) if t.defect == "good"]
    return {
        "model": loaded.path,
        "kind": loaded.kind,
        "category": category.name,
        "data": str(category.root),
        "n_images": len(items),
        "n_defective": int(labels.sum()),
        "defects": category.defects,
        "image_size": loaded.model.image_size,
        "params": params.to_dict(),
        "baseline": _figures(np.concatenate(p.maps["baseline"]), gt, labels),
        "grad": {
            "pixel_auroc": grad["pixel_auroc"],
            "pixel_auroc_recon": grad_recon["pixel_auroc"],
            "image_auroc": grad["image_auroc"],
            "image_auroc_recon": grad_recon["image_auroc"],
            "aupro": grad["aupro"],
            "aupro_recon": grad_recon["aupro"],
            "image_auroc_score": verdicts.pop("image_auroc_score"),
            "iterations": float(np.mean(p.iterations)),
            "stop_reasons": p.reasons,
        },
        "verdicts": verdicts,
        "variance_explained_good": {
            "median": float(np.median(good_fve)) if good_fve else float("nan"),
            "min": float(np.min(good_fve)) if good_fve else float("nan"),
            "values": good_fve,
        },
        "curve": [
            {"iteration": t, "pixel_auroc_plain": p.hists["plain"][t].value(),
             "pixel_auroc_tuned": p.hists["tuned"][t].value(),
             "diverged_plain": p.diverged["plain"][t], "diverged_tuned": p.diverged["tuned"][t]}
            for t in range(iterations + 1)
        ] if curve else [],
        "device": str(loaded.device),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def variance_explained(x: torch.Tensor, recon: torch.Tensor) -> np.ndarray:
    """Per image, 1 − Σ(x − f(x))² / Σ(x − mean x)²: the share of the image's variance f(x) explains."""
    err = (x - recon).square().flatten(1).sum(1)
    var = (x - x.mean(dim=(1, 2, 3), keepdim=True)).square().flatten(1).sum(1).clamp_min(1e-12)
    return (1.0 - err / var).detach().cpu().numpy()


def plateau_iteration(curve: list[dict[str, float]], key: str, fraction: float = 0.95) -> int | None:
    """First iteration at which the curve has made ``fraction`` of its total gain over iteration 0."""
    if not curve:
        return None
    v = np.array([c[key] for c in curve])
    gain = v.max() - v[0]
    if not np.isfinite(gain) or gain <= 0:
        return None
    return int(np.argmax(v >= v[0] + fraction * gain))


def markdown_table(results: list[dict[str, Any]]) -> str:
    """A table shaped like the paper's table 1, one row per (category, model) result."""
    def f(v: float) -> str:
        return "  —  " if v is None or not np.isfinite(v) else f"{v:.3f}".lstrip("0") if v < 1 else f"{v:.3f}"

    lines = [
        "| category | model | FVE good | baseline | grad (x_T) | grad (f(x_T)) | image AUROC base / grad | AUPRO base / grad "
        "| iterations | defective flagged | good passed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b, g, v = r["baseline"], r["grad"], r["verdicts"]
        lines.append(
            f"| {r['category']} | {r['kind']} | {f(r['variance_explained_good']['median'])} | {f(b['pixel_auroc'])} | "
            f"{f(g['pixel_auroc'])} | {f(g['pixel_auroc_recon'])} | {f(b['image_auroc'])} / {f(g['image_auroc'])} | "
            f"{f(b['aupro'])} / {f(g['aupro'])} | {g['iterations']:.1f} | {v['defective_flagged']:.0%} | "
            f"{v['good_passed']:.0%} |"
        )
    return "\n".join(lines)


def diverged_note(result: dict[str, Any], key: str) -> str:
    """", diverged on N of M images" when the ``key`` update ("plain" or "tuned") of the figure-5
    curve diverged on any image (its AUROC then reads those images' fallback maps), else ""."""
    c = result.get("curve") or []
    n = c[-1].get(f"diverged_{key}", 0) if c else 0
    return f", diverged on {n} of {result['n_images']} images" if n else ""


def plot_curve(result: dict[str, Any], path: str | Path) -> Path:
    """The figure-5 curves (pixel AUROC vs iteration, plain vs eq. 8 update) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = result["curve"]
    it = [r["iteration"] for r in c]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for key, label in (("plain", "plain gradient step (eq. 5)"), ("tuned", "reconstruction-error mask (eq. 8)")):
        ax.plot(it, [r[f"pixel_auroc_{key}"] for r in c], label=label + diverged_note(result, key))
    ax.axhline(result["baseline"]["pixel_auroc"], color="grey", ls="--", lw=1, label="baseline DSSIM(x0, f(x0))")
    ax.set_xlabel("iteration")
    ax.set_ylabel("pixel AUROC")
    ax.set_title(f"{result['category']} — {result['kind']} (α={result['params']['alpha']:g}, λ={result['params']['lam']:g})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return Path(path)
