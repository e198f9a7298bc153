"""The work a worker thread does for review mode (no Qt): project a folder batch by batch, and
re-score stored maps when the threshold or the minimum area changes.

:func:`folder_job` is a generator for the window's ``GeneratorWorker``: it yields ``None`` after
every iteration (where the worker may stop it) and, after each batch, the list of
:class:`~.store.ImageResult` / :class:`~.store.ImageFailure` of that batch. Images are
read, prepared and projected exactly as the ``project`` command does (``core.pipeline.prepare``,
``core.projection.project`` on a batch); the maps go to the :class:`~.store.ResultStore`
from here, so only small records cross to the GUI thread. Results found in the
:class:`~.cache.ResultCache` (same image bytes, model and parameters) come first, without a
projection; every result projected goes into it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Generator, Iterable

import cv2
import numpy as np

from ...core.checks import fit_warnings
from ...core.data import ImageError, convert_channels, read_image, read_image_as, resize_image, to_uint8
from ...core.evaluation import HIST_BINS, hist_bins
from ...core.params import ProjectionParams
from ...core.pipeline import batch_tensors, prepare, shape_groups
from ...core.ranges import PAPER_THRESHOLD
from ...core.verdict import image_score, segment
from .folder import GT_GOOD, FolderItem
from .cache import CachedResult, ResultCache
from .store import COMPARES, ImageFailure, ImageResult, ResultStore, StoredMaps

if TYPE_CHECKING:
    from ...core.modelio import LoadedModel
    from ...core.pipeline import PreparedImage

#: What the folder job gives for one image.
Outcome = ImageResult | ImageFailure
#: An image read and prepared for a batch: (index, item, pixels, prepared, ground truth or None).
#: (index, item, the file's own channel count, the prepared image in the model's channels, ground truth)
_Ready = tuple[int, FolderItem, int, "PreparedImage", "np.ndarray | None"]

#: Thumbnails are at most this many pixels a side.
THUMB = 64


def project(*args: Any, **kwargs: Any) -> Any:
    """:func:`inspector_app.core.projection.project`, imported on first use (in the worker: the
    window starts without torch)."""
    from ...core.projection import project as core_project

    return core_project(*args, **kwargs)


def read_gt(item: FolderItem, shape: tuple[int, int]) -> np.ndarray | None:
    """The item's ground truth at the image's size (bool), an empty mask for a good image of a folder
    with ground truth, or None (unknown). Raises ``ImageError`` / ``ValueError`` for a bad mask."""
    if item.mask_path is not None:
        m = read_image(item.mask_path)
        if m.ndim == 3:
            m = m.max(axis=2)
        if m.shape != tuple(shape):
            raise ValueError(f"{item.mask_path}: the ground-truth mask is {m.shape[1]}×{m.shape[0]} but the image "
                             f"is {shape[1]}×{shape[0]}")
        return m > 0.5
    if item.gt == GT_GOOD:
        return np.zeros(shape, bool)
    return None


def gt_at_model_size(gt: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """The ground truth at the model's working size (a side, or (H, W)), as the evaluation scores it
    (area average > ½)."""
    shape = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if gt.shape == shape:
        return gt.astype(bool)
    return resize_image(gt.astype(np.float32), shape) > 0.5


def thumbnail(img: np.ndarray, side: int = THUMB) -> np.ndarray:
    """uint8 RGB, at most ``side`` pixels a side, aspect kept."""
    h, w = img.shape[:2]
    k = min(1.0, side / float(max(h, w)))
    small = cv2.resize(img.astype(np.float32), (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(to_uint8(convert_channels(np.asarray(small), 3)))


def area_and_iou(dssim: np.ndarray, score: float, threshold: float, min_area: int,
                 gt: np.ndarray | None) -> tuple[float, float | None]:
    """The anomalous fraction of the segmentation (at the map's size) and its IoU with ``gt``
    (None without ground truth, or when both are empty)."""
    seg = segment(dssim, threshold, min_area) if score > threshold else np.zeros(dssim.shape, bool)
    area = float(seg.mean())
    if gt is None:
        return area, None
    union = int((seg | gt).sum())
    return area, (float((seg & gt).sum()) / union if union else None)


def pixel_histograms(maps: dict[str, np.ndarray], gt: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per compare, the DSSIM values of the defect pixels and of the good pixels in
    :data:`~inspector_app.core.evaluation.HIST_BINS` log-spaced bins (:func:`~inspector_app.core.evaluation.hist_bins`;
    the folder's pixel AUROC)."""
    out = {}
    for c, d in maps.items():
        idx = hist_bins(d, HIST_BINS)
        lab = gt.ravel()
        out[c] = (np.bincount(idx[lab], minlength=HIST_BINS).astype(np.int32),
                  np.bincount(idx[~lab], minlength=HIST_BINS).astype(np.int32))
    return out


def folder_job(
    loaded: LoadedModel,
    items: Iterable[tuple[int, FolderItem]],
    params: ProjectionParams,
    store: ResultStore,
    *,
    generation: int,
    compare: str = "projection",
    threshold: float = PAPER_THRESHOLD,
    min_area: int = 1,
    batch: int = 8,
    cache: ResultCache | None = None,
    keys: dict[int, str | None] | None = None,
) -> Generator[list[Outcome] | None, None, None]:
    """Project ``items`` ((index, item) pairs) in batches of ``batch``; see the module docstring.
    With a ``cache``, an image whose key (``keys[index]``, :func:`~.cache.result_key`) is in it is
    taken from it, and every image projected goes into it."""
    keys = keys or {}
    todo: list[tuple[int, FolderItem]] = []
    hits: list[Outcome] = []
    for index, item in items:
        entry = cache.get(keys.get(index)) if cache is not None else None
        r = _from_cache(index, item, entry, store, generation, compare, threshold, min_area) if entry else None
        if r is None:
            todo.append((index, item))
            continue
        hits.append(r)
        if len(hits) == 4 * batch:  # the window fills in as they come
            yield hits
            hits = []
            yield None  # the worker may stop here
    if hits:
        yield hits
    for start in range(0, len(todo), max(1, int(batch))):
        yield from _project_batch(loaded, todo[start:start + batch], params, store, generation, compare, threshold,
                                  min_area, cache, keys)


def _finish(index: int, fields: dict[str, Any], maps: dict[str, np.ndarray], gt_small: np.ndarray | None, energy: np.ndarray,
            thumb: np.ndarray, params: ProjectionParams, compare: str, threshold: float, min_area: int) -> ImageResult:
    """An :class:`ImageResult` from a run's figures (``fields``: :data:`~.cache.FIELDS`) and its maps:
    the scores at ``min_area``, the area and IoU at ``threshold``, the pixel histograms."""
    scores = {c: image_score(maps[c], min_area) for c in COMPARES}
    area, iou = area_and_iou(maps[compare], scores[compare], threshold, min_area, gt_small)
    return ImageResult(
        index=index, scores=scores, min_area=int(min_area), iterations=int(fields["iterations"]),
        stop_reason=fields["stop_reason"], recon_loss_x0=float(fields["recon_loss_x0"]),
        energy_final=float(fields["energy_final"]), recon_loss=float(fields["recon_loss"]), reg=float(fields["reg"]),
        lr_threshold=fields["lr_threshold"], params=params, energy=np.asarray(energy, np.float64),
        thumbnail=thumb, shape=tuple(fields["shape"]), seconds=float(fields["seconds"]),
        warnings=list(fields["warnings"]), area=area, iou=iou, area_key=(compare, float(threshold), int(min_area)),
        pixel_hist=pixel_histograms(maps, gt_small) if gt_small is not None else None)


def _from_cache(index: int, item: FolderItem, entry: CachedResult, store: ResultStore, generation: int,
                compare: str, threshold: float, min_area: int) -> ImageResult | None:
    """A cached result taken back: the ground truth read again (the mask may have changed), the maps
    stored for the window. None when the mask cannot be used (the image is projected, and says why)."""
    try:
        gt = read_gt(item, tuple(entry.fields["shape"]))
    except (ImageError, ValueError, OSError):
        return None
    gt_small = gt_at_model_size(gt, entry.dssim["projection"].shape[:2]) if gt is not None else None  # working size
    store.save(index, StoredMaps(entry.x, entry.reconstruction, entry.dssim["projection"],
                                 entry.dssim["reconstruction"], gt_small), generation)
    return _finish(index, entry.fields, entry.dssim, gt_small, entry.energy, entry.thumbnail, entry.params, compare,
                   threshold, min_area)


def _project_batch(loaded: LoadedModel, todo: list[tuple[int, FolderItem]], params: ProjectionParams, store: ResultStore,
                   generation: int, compare: str, threshold: float, min_area: int, cache: ResultCache | None,
                   keys: dict[int, str | None]) -> Generator[list[Outcome] | None, None, None]:
    """One batch of :func:`folder_job`: read and prepare, project each working size as one batch
    (tiled at the model's working scale), then yield the batch's results (and failures)."""
    out: list[Outcome] = []
    ready: list[_Ready] = []
    for index, item in todo:
        try:
            # in the model's channels: a colour photograph for a grey model is never held as colour floats
            img, channels = read_image_as(item.path, loaded.model.channels)
            gt = read_gt(item, img.shape[:2])
            ready.append((index, item, channels, prepare(item.rel, img, loaded), gt))
            del img  # the prepared image holds it
        except (ImageError, ValueError, OSError) as e:
            msg = str(e)
            out.append(ImageFailure(index, msg if str(item.path) in msg else f"{item.path}: {msg}"))
    for group in shape_groups([r[3] for r in ready]):  # one projection batch per working size
        out += yield from _project_group([ready[i] for i in group], loaded, params, store, generation, compare,
                                         threshold, min_area, cache, keys)
    yield out


def _project_group(ready: list[_Ready], loaded: LoadedModel, params: ProjectionParams, store: ResultStore,
                   generation: int, compare: str, threshold: float, min_area: int, cache: ResultCache | None,
                   keys: dict[int, str | None]) -> Generator[None, None, list[Outcome]]:
    """Project images of one working size as one batch (yields None at each iteration: the worker
    may stop there); returns their results, their maps stored and cached."""
    from ...core.projection import to_numpy_image  # (in the worker: the window starts without torch)

    model = loaded.model
    calibration = loaded.meta.get("calibration") if isinstance(loaded.meta, dict) else None
    out: list[Outcome] = []
    t0 = time.perf_counter()
    x0, _mask = batch_tensors([r[3] for r in ready])
    rows: list[list[tuple[float, ...]]] = [[] for _ in ready]
    computed = [True] * len(ready)
    first = last = None
    for rec in project(model, x0, params, stats=loaded.training_stats):
        first = first or rec
        last = rec
        e, lr, reg = rec.energy.tolist(), rec.recon_loss.tolist(), rec.reg.tolist()
        for j, c in enumerate(computed):
            if c:
                rows[j].append((rec.iteration, e[j], lr[j], reg[j]))
        computed = rec.active.tolist()
        yield None  # the worker may stop here
    assert first is not None and last is not None
    dmaps = {c: last.dssim(c).detach().cpu().float().numpy() for c in COMPARES}
    dt = (time.perf_counter() - t0) / len(ready)
    for j, (index, item, channels, prep, gt) in enumerate(ready):
        maps = {c: np.ascontiguousarray(dmaps[c][j]) for c in COMPARES}
        gt_small = gt_at_model_size(gt, prep.working_shape) if gt is not None else None
        lr0 = float(first.recon_loss[j])
        x, rec_img = to_numpy_image(last.x[j]), to_numpy_image(last.reconstruction[j])
        fields = {"iterations": int(last.steps[j]), "stop_reason": last.stop_reasons[j], "recon_loss_x0": lr0,
                  "energy_final": float(last.energy[j]), "recon_loss": float(last.recon_loss[j]),
                  "reg": float(last.reg[j]), "lr_threshold": last.lr_threshold, "shape": list(prep.original.shape[:2]),
                  "seconds": dt, "params": last.params.to_dict(),
                  "warnings": fit_warnings(prep.original.shape, channels, model.image_size, model.channels, lr0,
                                           last.lr_threshold, calibration, loaded.training_stats,
                                           working_scale=loaded.working_scale, pixels=prep.model_input)}
        energy, thumb = np.asarray(rows[j], np.float64), thumbnail(prep.original)
        store.save(index, StoredMaps(x, rec_img, maps["projection"], maps["reconstruction"], gt_small), generation)
        if cache is not None:
            cache.put(keys.get(index), fields, x, rec_img, maps, energy, thumb)
        out.append(_finish(index, fields, maps, gt_small, energy, thumb, last.params, compare, threshold, min_area))
    return out


def rescore(store: ResultStore, indices: list[int], compare: str, threshold: float, min_area: int,
            known: dict[int, float] | None = None) -> dict[int, tuple[dict[str, float] | None, float, float | None]]:
    """For each stored image: its scores at ``min_area`` (None when ``known`` gives its score under
    ``compare`` already), and its anomalous fraction and IoU at (``compare``, ``threshold``,
    ``min_area``). Reads the maps from disk: call it in a worker."""
    out = {}
    for i in indices:
        m = store.load(i, cache=False)
        if m is None:
            continue
        if known is not None and i in known:
            scores, s = None, known[i]
        else:
            scores = {c: image_score(m.dssim(c), min_area) for c in COMPARES}
            s = scores[compare]
        area, iou = area_and_iou(m.dssim(compare), s, threshold, min_area, m.gt)
        out[i] = (scores, area, iou)
    return out
