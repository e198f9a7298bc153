"""Evaluation against the paper (section 4.1, table 1, figure 5) on an MVTec AD category.

Reads a category folder exactly as MVTec AD distributes it (``train/good``, ``test/<defect>``,
``ground_truth/<defect>/<name>_mask.png``), or one written by ``make-dataset`` (its ``full/``
folder holds whole 512-px sources). Every test image is brought to the model's working scale
(:func:`~inspector_app.core.pipeline.prepare`, as ``project`` does: a texture model's crops scale,
covered by model-size tiles; the model's size for a whole-image model or a file that records no
working scale), its ground truth with it (area average > ½), and scored there: the maps, the
figures, the verdicts and ``min_area`` are all in working-scale pixels. Images are read
``batch`` at a time (fewer when they reach :data:`BATCH_PIXELS`; the originals are not kept) and
projected in groups of one working size.

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
Only the final maps are kept (float32 at the working scale, one per image; never the iterates nor
the full-size originals); the figures of one kind of map are computed at a time, from one N×H×W
stack (images of several working sizes: padded, see :func:`_stack`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

from .data import DataError, ImageError, existing_folder, list_images, read_image, resize_image, to_tensor
from .evaluation_report import diverged_note as diverged_note, markdown_table as markdown_table  # re-exported
from .evaluation_report import plateau_iteration as plateau_iteration, plot_curve as plot_curve  # re-exported
from .metrics import aupro, image_auroc, pixel_auroc
from .params import ProjectionParams
from .pipeline import prepare
from .ranges import PAPER_THRESHOLD
from .vocabulary import StopReason
from .verdict import image_score

if TYPE_CHECKING:  # torch is imported by the projection, on use: the window imports this module's bins
    import torch

    from .modelio import LoadedModel
    from .models import AutoEncoder

HIST_BINS = 4096
#: The histogram bins cover DSSIM values from this floor to 1 on a logarithmic scale (0 and values
#: under it share the first bin): calibrated models' maps live between 1e-4 and 1e-2, where linear
#: bins over [0, 1] would put nearly every pixel in the first bin and the AUROC near 0.5.
HIST_FLOOR = 1e-6
#: Working-scale pixels read and projected together at most (16 images of 512×512), whatever
#: ``batch``: a folder of large photographs goes a few images at a time.
BATCH_PIXELS = 16 * 512 * 512
#: How a test image is read: :func:`~inspector_app.core.data.read_image`'s ``(path, channels)`` (a Ray
#: worker decodes the bytes that travelled, :mod:`inspector_app.core.evaluation_batches`).
Reader = Callable[..., np.ndarray]
T = TypeVar("T")


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
    # make-dataset's full-size images (CATEGORY/full) are named after their category
    name = f"{root.parent.name}/full" if root.name == "full" and (root.parent / "dataset.json").exists() else root.name
    return Category(root, name, images)


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


def _read_mask(path: Path, shape: tuple[int, int], image_path: Path, read: Reader = read_image) -> np.ndarray:
    m = read(path)
    if m.ndim == 3:
        m = m.max(axis=2)
    if m.shape != shape:
        raise DataError(f"{path}: ground-truth mask is {m.shape[1]}×{m.shape[0]} but its image {image_path.name} "
                        f"is {shape[1]}×{shape[0]}")
    return m > 0.5


def _load_one(t: TestImage, loaded: LoadedModel, read: Reader = read_image) -> tuple[np.ndarray, np.ndarray]:
    """A test image brought to the model's working scale (:func:`prepare`) and its ground truth
    at that scale (area average > ½, as before at the model's size); the original is not kept."""
    try:
        img = read(t.path, loaded.model.channels)
        gt = _read_mask(t.mask_path, img.shape[:2], t.path, read) if t.mask_path else np.zeros(img.shape[:2], bool)
    except ImageError as e:
        raise DataError(str(e)) from None
    x = prepare(t.path.name, img, loaded).model_input
    if gt.shape != x.shape[:2]:
        gt = resize_image(gt.astype(np.float32), x.shape[:2]) > 0.5
    return x, gt


@dataclass
class _Group:
    """Test images of one working size, projected as one batch."""

    index: list[int]  # positions in the category's list of images
    x0: torch.Tensor  # B×C×H×W at the working scale
    gt: np.ndarray  # B×H×W bool


def _groups(loaded_items: list[tuple[np.ndarray, np.ndarray]], start: int) -> list[_Group]:
    """Loaded images grouped by working size, in order of first appearance (as
    :func:`~inspector_app.core.pipeline.shape_groups`); ``start``: the category position of the first."""
    by_shape: dict[tuple[int, int], list[int]] = {}
    for j, (x, _) in enumerate(loaded_items):
        by_shape.setdefault(x.shape[:2], []).append(j)
    return [_Group([start + j for j in g], to_tensor([loaded_items[j][0] for j in g]),
                   np.stack([loaded_items[j][1] for j in g])) for g in by_shape.values()]


def _load_batch(items: list[TestImage], loaded: LoadedModel, start: int = 0, read: Reader = read_image) -> list[_Group]:
    """``items`` at the model's working scale, grouped by working size."""
    return _groups([_load_one(t, loaded, read) for t in items], start)


def cut_batches(items: Iterable[T], pixels: Callable[[T], int], batch: int) -> Iterator[tuple[int, list[T]]]:
    """``(start, items)``: ``items`` in order, ``batch`` at a time, or fewer once their working-scale
    ``pixels`` reach :data:`BATCH_PIXELS` (large photographs: memory stays bounded); one rule for the
    plain run and for a Ray run's batches, planned from the files' headers (``evaluation_batches``)."""
    buf: list[T] = []
    start = total = 0
    for item in items:
        buf.append(item)
        total += pixels(item)
        if len(buf) == batch or total >= BATCH_PIXELS:
            yield start, buf
            buf, start, total = [], start + len(buf), 0
    if buf:
        yield start, buf


def _batches(items: list[TestImage], loaded: LoadedModel, batch: int) -> Iterator[_Group]:
    """The category's images read in order as :func:`cut_batches` cuts them, each read grouped by working size."""
    for start, buf in cut_batches((_load_one(t, loaded) for t in items), lambda it: int(it[1].size), batch):
        yield from _groups(buf, start)


def _curve_run(model: AutoEncoder, x0: torch.Tensor, gt: np.ndarray, params: ProjectionParams, iterations: int,
               hists: list[HistogramAUROC], diverged: list[int]) -> None:
    from .projection import project

    last: np.ndarray | None = None
    n_diverged, t_last = 0, -1
    for rec in project(model, x0, params.replace(stop="none", max_iter=iterations)):
        t_last = rec.iteration
        last = rec.dssim_projection.cpu().numpy()
        n_diverged = rec.stop_reasons.count(StopReason.DIVERGED)
        hists[rec.iteration].add(last, gt)
        diverged[rec.iteration] += n_diverged
    if last is None:
        raise RuntimeError("the projection gave no record")
    # images that diverged early keep their final (fallback) map for the remaining iterations
    for t in range(t_last + 1, iterations + 1):
        hists[t].add(last, gt)
        diverged[t] += n_diverged


@dataclass
class Passes:
    """What the passes over the test set collect, per image in the category's order (only final
    maps at the working scale, float32, never the iterates)."""

    maps: dict[str, list[np.ndarray | None]]
    gts: list[np.ndarray | None]
    fves: list[float]
    iterations: list[int]
    reasons: dict[str, int]
    hists: dict[str, list[HistogramAUROC]]
    diverged: dict[str, list[int]]  # per update and iteration: images diverged by then


def new_passes(n: int, iterations: int, curve: bool) -> Passes:
    """Empty slots for ``n`` images (and the curves' histograms when ``curve``)."""
    return Passes({k: [None] * n for k in ("baseline", "grad", "grad_recon")}, [None] * n, [0.0] * n, [0] * n, {},
                  {k: [HistogramAUROC() for _ in range(iterations + 1)] for k in ("plain", "tuned")} if curve else {},
                  {k: [0] * (iterations + 1) for k in ("plain", "tuned")})


def run_passes(loaded: LoadedModel, category: Category, params: ProjectionParams, iterations: int, batch: int,
               curve: bool, progress: Callable[[int], None] | None) -> Passes:
    """The passes over the whole test set here, batch after batch (``evaluate(passes=…)`` may run them elsewhere)."""
    out = new_passes(len(category.images), iterations, curve)
    for grp in _batches(category.images, loaded, batch):
        pass_group(loaded.model, grp, params, iterations, curve, out, progress)
    return out


def pass_group(model: AutoEncoder, grp: _Group, params: ProjectionParams, iterations: int, curve: bool, out: Passes,
               progress: Callable[[int], None] | None = None) -> None:
    """One group's main projection and (``curve``) figure-5 runs into ``out`` (its images at ``grp.index``)."""
    _project_group(model, grp, params, out)
    if progress:
        progress(len(grp.index))
    for name, mask in (("plain", "none"), ("tuned", "recon")) if curve else ():
        _curve_run(model, grp.x0, grp.gt, params.replace(grad_mask=mask), iterations, out.hists[name],
                   out.diverged[name])
        if progress:
            progress(len(grp.index))


def _project_group(model: AutoEncoder, grp: _Group, params: ProjectionParams, out: Passes) -> None:
    """The main projection of one group: its final maps, FVE, iterations and stop reasons into ``out``."""
    def numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float32, copy=False)

    from .projection import project

    base = fve = last = None
    for rec in project(model, grp.x0, params):
        if last is None:
            base, fve = numpy(rec.dssim_reconstruction), variance_explained(grp.x0, rec.reconstruction)
        last = rec
    if last is None or base is None or fve is None:
        raise RuntimeError("the projection gave no record")
    maps = {"baseline": base, "grad": numpy(last.dssim_projection), "grad_recon": numpy(last.dssim_reconstruction)}
    for j, k in enumerate(grp.index):
        for name, m in maps.items():
            out.maps[name][k] = m[j]
        out.gts[k] = grp.gt[j]
        out.fves[k] = float(fve[j])
        out.iterations[k] = int(last.steps[j])
        r = last.stop_reasons[j]
        if r is not None:  # every image has its reason when the projection ends
            out.reasons[r] = out.reasons.get(r, 0) + 1


def _filled(values: list[np.ndarray | None]) -> list[np.ndarray]:
    """The passes' per-image slots, every one filled (each image of the category is projected)."""
    out = [v for v in values if v is not None]
    if len(out) != len(values):
        raise RuntimeError(f"{len(values) - len(out)} image(s) of the test set were not projected")
    return out


def _stack(maps: list[np.ndarray], gts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """The maps and ground truths as N×H×W stacks, and the share of the stacks' normal pixels that
    are real. Images of one size stack as they are (share 1). Images of several sizes are padded
    to the largest with −∞ scores on normal pixels: below every real score, so the AUPRO's curve
    only has its false-positive rate scaled by the share (computed up to the limit times the
    share, then normalised, it is the exact figure over the real pixels)."""
    shapes = {m.shape for m in maps}
    if len(shapes) == 1:
        return np.stack(maps), np.stack(gts), 1.0
    h, w = max(a for a, _ in shapes), max(b for _, b in shapes)
    s = np.full((len(maps), h, w), -np.inf, np.float32)
    g = np.zeros((len(maps), h, w), bool)
    for i, (m, gt) in enumerate(zip(maps, gts)):
        s[i, :m.shape[0], :m.shape[1]] = m
        g[i, :m.shape[0], :m.shape[1]] = gt
    normal = sum(int(gt.size - np.count_nonzero(gt)) for gt in gts)
    return s, g, normal / (normal + s.size - sum(m.size for m in maps))


def _figures(maps: list[np.ndarray], gts: list[np.ndarray], labels: np.ndarray) -> dict[str, float]:
    both = labels.any() and not labels.all()
    s, g, share = _stack(maps, gts)
    if share == 1.0:
        pix = pixel_auroc(s, g)
    else:
        pix = pixel_auroc(np.concatenate([m.ravel() for m in maps]), np.concatenate([t.ravel() for t in gts]))
    return {
        "pixel_auroc": pix,
        "image_auroc": image_auroc(np.array([m.max() for m in maps]), labels) if both else float("nan"),
        "aupro": aupro(s, g, fpr_limit=0.3 * share),
    }


def _verdicts(maps: list[np.ndarray], category: Category, labels: np.ndarray, threshold: float,
              min_area: int) -> dict[str, Any]:
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
    threshold: float = PAPER_THRESHOLD,
    min_area: int = 1,
    iterations: int = 100,
    batch: int = 16,
    curve: bool = True,
    progress: Callable[[int], None] | None = None,
    passes: Callable[..., Passes] = run_passes,
) -> dict[str, Any]:
    """Score the category's test set; returns the JSON-ready result (see the module docstring).

    ``params`` drive the main projection (its stop criterion and maximum iterations apply);
    ``threshold`` and ``min_area`` give each image's verdict (:mod:`inspector_app.core.verdict`);
    the figure-5 curves run ``iterations`` steps of the plain and the eq. 8 update.
    ``progress(n)`` is called with the number of images finished by each pass. ``passes``: what runs
    the passes, :func:`run_passes`'s arguments and result (``evaluate --ray``: batches on Ray workers).
    """
    params = params.validated()
    t0 = time.perf_counter()
    p = passes(loaded, category, params, iterations, batch, curve, progress)
    maps, gts = {k: _filled(v) for k, v in p.maps.items()}, _filled(p.gts)
    items = category.images
    labels = np.array([t.defect != "good" for t in items])
    grad = _figures(maps["grad"], gts, labels)
    grad_recon = _figures(maps["grad_recon"], gts, labels)
    verdicts = _verdicts(maps["grad"], category, labels, threshold, min_area)
    working: dict[str, int] = {}
    for m in maps["grad"]:
        key = f"{m.shape[1]}x{m.shape[0]}"
        working[key] = working.get(key, 0) + 1
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
        "working_scale": loaded.working_scale.to_meta() if loaded.working_scale is not None else None,
        "working_sizes": working,  # "WxH": number of test images scored at that size
        "params": params.to_dict(),
        "baseline": _figures(maps["baseline"], gts, labels),
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
