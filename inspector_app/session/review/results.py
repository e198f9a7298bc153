"""The results of a folder run, in memory (no Qt, no signals).

One :class:`FolderResults` per open folder: one :class:`~.store.ImageResult` (or an error
line) per image, the per-class pixel histograms summed over the folder for its pixel AUROC, the
parameters of the run that made them, and its progress. The maps themselves stay in the
:class:`~.store.ResultStore` on disk. :class:`~.session.ReviewSession` owns one and emits
the signals; this class only keeps the numbers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...core.evaluation import binned_auroc
from ...core.params import ProjectionParams
from ..frames import Frame
from .store import AreaKey, ImageFailure, ImageResult, StoredMaps


def stored_frame(r: ImageResult, m: StoredMaps) -> Frame:
    """A stored result and its maps as the final frame of its run (float32)."""
    return Frame(iteration=int(r.energy[-1, 0]) if len(r.energy) else r.iterations, x=m.x,
                 reconstruction=m.reconstruction, dssim_projection=m.dssim_projection,
                 dssim_reconstruction=m.dssim_reconstruction, energy=r.energy_final, recon_loss=r.recon_loss,
                 reg=r.reg, params=r.params, steps=r.iterations, stop_reason=r.stop_reason, finished=True,
                 lr_threshold=r.lr_threshold)


class FolderResults:
    """See the module docstring. ``n``: the folder's images."""

    def __init__(self, n: int):
        self.results: list[ImageResult | None] = [None] * n
        self.errors: list[str | None] = [None] * n
        self.params: ProjectionParams | None = None
        self.running = False
        self._pix: dict[str, list[np.ndarray]] = {}
        self._started = 0.0
        self.total = 0
        self.done = 0

    def __len__(self) -> int:
        return len(self.results)

    # ================================================================== a run
    def begin(self, params: ProjectionParams, items: list[Any], resume: bool) -> list[tuple[int, Any]]:
        """Start a run with ``params``; returns the (index, item) pairs to project. ``resume`` (same
        parameters only): just the images without a result or error yet; else everything is forgotten."""
        if not (resume and params == self.params):
            self.results = [None] * len(items)
            self.errors = [None] * len(items)
            self._pix = {}
        todo = [(i, it) for i, it in enumerate(items) if self.results[i] is None and self.errors[i] is None]
        self.params = params
        self.running = True
        self._started = time.perf_counter()
        self.total, self.done = len(todo), 0
        return todo

    def will_resume(self, params: ProjectionParams, resume: bool) -> bool:
        return resume and params == self.params

    def can_resume(self, params: ProjectionParams) -> bool:
        """Some images have no result yet, and the others were made with ``params``."""
        return (self.params == params and any(r is None for r in self.results)
                and any(r is not None for r in self.results))

    def add(self, batch: list[ImageResult | ImageFailure]) -> list[int]:
        """Results (or failures) of one batch; returns the indices that changed."""
        changed = []
        for r in batch:
            if isinstance(r, ImageFailure):
                self.errors[r.index] = r.error
            elif isinstance(r, ImageResult):
                self.results[r.index] = r
                self._sum_pixels(r)
            else:
                continue
            changed.append(r.index)
        self.done += len(changed)
        return changed

    def _sum_pixels(self, r: ImageResult) -> None:
        for c, (pos, neg) in (r.pixel_hist or {}).items():
            acc = self._pix.setdefault(c, [np.zeros(pos.size, np.int64), np.zeros(neg.size, np.int64)])
            acc[0] += pos
            acc[1] += neg
        r.pixel_hist = None  # summed: no need to keep it per image

    def end(self) -> None:
        self.running = False

    def eta(self) -> float | None:
        """Seconds left in the run, from its pace so far (None before the first batch)."""
        if not self.running or self.done == 0:
            return None
        return (time.perf_counter() - self._started) / self.done * (self.total - self.done)

    @property
    def n_done(self) -> int:
        return sum(r is not None for r in self.results) + sum(e is not None for e in self.errors)

    # ================================================================== after a threshold change
    def stale_indices(self, key: AreaKey, min_area: int) -> tuple[list[int], bool]:
        """Images whose area/IoU (or, after a change of the minimum area, scores) are out of date for
        ``key`` = (compare, threshold, min_area), and whether their scores must be recomputed."""
        out, rescore = [], False
        for i, r in enumerate(self.results):
            if r is not None and (r.area_key != key or r.min_area != min_area):
                out.append(i)
                rescore |= r.min_area != min_area
        return out, rescore

    def apply_rescore(self, values: dict[int, tuple[dict[str, float] | None, float, float | None]],
                      key: AreaKey) -> list[int]:
        """Results of :func:`~.jobs.rescore` made for ``key``; returns the indices changed."""
        changed = []
        for i, (scores, area, iou) in values.items():
            r = self.results[i]
            if r is None:
                continue
            if scores is not None:
                r.scores, r.min_area = scores, key[2]
            if r.min_area == key[2]:
                r.area, r.iou, r.area_key = area, iou, key
            changed.append(i)
        return changed

    def pixel_auroc(self, compare: str) -> float | None:
        """The folder's pixel AUROC under ``compare`` (binned, as the evaluation computes it)."""
        acc = self._pix.get(compare)
        return None if acc is None else binned_auroc(*acc)
