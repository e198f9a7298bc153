"""Review mode's results: one small record per image in memory, its maps on disk (no Qt).

Memory policy: a folder of 2,000 images must stay well under 1 GB. Per image, memory holds only
an :class:`ImageResult` (scores, the run's figures, the energy curve, a 64-pixel thumbnail: a few
kB). Its maps at the model's size — x_T and f(x_T) (float16: display only), DSSIM(x0, x_T) and
DSSIM(x0, f(x_T)) (float32: the score and the segmentation are computed from them), and the
ground truth at the model's size — are written by the worker to one ``.npy`` file each in a
private cache folder, and read back on demand through a small LRU cache (:attr:`ResultStore.capacity`
entries). The cache folder is removed when the review closes, and by the next review when the
process that made it died (:func:`remove_orphans`).
"""

from __future__ import annotations

import collections
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core.params import ProjectionParams

COMPARES = ("projection", "reconstruction")
#: What an image's area and IoU were computed for: (compare, threshold, min_area).
AreaKey = tuple[str, float, int]
#: Cache folders are ``<temp>/inspector-review-<pid>-<random>``; a process that died leaves its own.
PREFIX = "inspector-review-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans() -> list[Path]:
    """Remove the cache folders of processes that are gone (a crash, a kill). Returns them."""
    out = []
    for d in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = d.name[len(PREFIX):].split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
            out.append(d)
    return out


@dataclass
class ImageResult:
    """What the folder run found for image ``index`` (numpy and plain values only).

    ``scores`` holds the image score (:func:`inspector_app.core.verdict.image_score`) of each
    DSSIM map (``projection``: against x_T, ``reconstruction``: against f(x_T)) at ``min_area``;
    ``area`` / ``iou`` are the anomalous fraction and the IoU with the ground truth at the model's
    size, for ``area_key`` = (compare, threshold, min_area); ``energy`` holds one row per
    iteration: (t, E, Lr, λ‖x−x0‖₁).
    """

    index: int
    scores: dict[str, float]
    min_area: int
    iterations: int
    stop_reason: str | None
    recon_loss_x0: float
    energy_final: float
    recon_loss: float
    reg: float
    lr_threshold: float | None
    params: ProjectionParams
    energy: np.ndarray
    thumbnail: np.ndarray  # uint8 H×W×3, at most THUMB pixels a side
    shape: tuple[int, int]  # the image's own (H, W)
    seconds: float = 0.0
    warnings: list[dict[str, str]] = field(default_factory=list)
    area: float = 0.0
    iou: float | None = None
    area_key: AreaKey | tuple[()] = ()
    pixel_hist: dict[str, tuple[np.ndarray, np.ndarray]] | None = None  # compare → (positive, negative) bins

    def score(self, compare: str) -> float:
        return float(self.scores[compare])


@dataclass
class ImageFailure:
    """Image ``index`` could not be used (unreadable, …): the row says why."""

    index: int
    error: str


@dataclass
class StoredMaps:
    """The maps of one image at the model's size, as the views draw them."""

    x: np.ndarray
    reconstruction: np.ndarray
    dssim_projection: np.ndarray
    dssim_reconstruction: np.ndarray
    gt: np.ndarray | None  # bool, or None without ground truth

    def dssim(self, compare: str) -> np.ndarray:
        return self.dssim_projection if compare == "projection" else self.dssim_reconstruction


class ResultStore:
    """The maps on disk (see the module docstring). :meth:`save` is called from the worker;
    :meth:`load` from either thread (the LRU is locked)."""

    def __init__(self, folder: str | Path | None = None, capacity: int = 24):
        self._own = folder is None
        if folder is None:
            remove_orphans()
            folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.capacity = int(capacity)
        self._lru: collections.OrderedDict[int, StoredMaps] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    def _path(self, index: int, what: str) -> Path:
        return self.folder / f"{index:06d}_{self._generation}_{what}.npy"

    def new_generation(self) -> None:
        """Forget every stored map (a new run of the folder: new model or parameters)."""
        with self._lock:
            self._lru.clear()
            self._generation += 1
        for p in self.folder.glob("*.npy"):
            try:
                p.unlink()
            except OSError:
                pass

    @property
    def generation(self) -> int:
        return self._generation

    def save(self, index: int, maps: StoredMaps, generation: int | None = None) -> None:
        """Write the maps of image ``index`` (worker thread). A run of an older generation is ignored."""
        if generation is not None and generation != self._generation:
            return
        imgs = np.stack([maps.x, maps.reconstruction]).astype(np.float16)
        dss = np.stack([maps.dssim_projection, maps.dssim_reconstruction]).astype(np.float32)
        np.save(self._path(index, "img"), imgs)
        np.save(self._path(index, "dssim"), dss)
        if maps.gt is not None:
            np.save(self._path(index, "gt"), np.packbits(maps.gt.astype(bool), axis=None))
        with self._lock:
            self._lru.pop(index, None)

    def has(self, index: int) -> bool:
        return self._path(index, "dssim").exists()

    def load(self, index: int, cache: bool = True) -> StoredMaps | None:
        """The maps of image ``index`` (float32), or None when none are stored; ``cache=False`` reads
        without keeping them (a sweep over the folder must not evict the images being looked at)."""
        with self._lock:
            m = self._lru.get(index)
            if m is not None:
                self._lru.move_to_end(index)
                return m
        try:
            imgs = np.load(self._path(index, "img")).astype(np.float32)
            dss = np.load(self._path(index, "dssim"))
        except (OSError, ValueError):
            return None
        gt = None
        gp = self._path(index, "gt")
        if gp.exists():
            bits = np.load(gp)
            gt = np.unpackbits(bits, count=dss.shape[1] * dss.shape[2]).reshape(dss.shape[1:]).astype(bool)
        m = StoredMaps(imgs[0], imgs[1], dss[0], dss[1], gt)
        if not cache:
            return m
        with self._lock:
            self._lru[index] = m
            while len(self._lru) > self.capacity:
                self._lru.popitem(last=False)
        return m

    @property
    def cached(self) -> int:
        """How many images' maps are held in memory."""
        return len(self._lru)

    def close(self) -> None:
        """Forget the maps and remove the cache folder (when this store made it)."""
        with self._lock:
            self._lru.clear()
        if self._own:
            shutil.rmtree(self.folder, ignore_errors=True)
