"""The evaluation's passes one batch at a time, wherever they run (``evaluate --ray``: on Ray workers).

The batches are those a plain run makes (:func:`~inspector_app.core.evaluation.cut_batches`: ``batch``
images at a time, fewer once their working-scale pixels reach ``BATCH_PIXELS``), planned where the files
are from each file's header (:func:`plan_batches`: the bytes read with their checks, the working size from
the declared size), so every batch projects exactly the images, in the groups, that the plain run's does.
A worker decodes a batch's bytes and runs the plain run's passes on it (:func:`score_batch`); the driver
puts the batches' results back in the category's order (:class:`Merger`): the same maps, histograms and
counts, hence the same figures, as the plain run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from .data import DataError, ImageError, image_from_bytes, read_image_bytes
from .evaluation import Category, Passes, TestImage, _load_batch, cut_batches, new_passes, pass_group
from .imageinfo import header_size
from .params import ProjectionParams
from .pipeline import working_shape

if TYPE_CHECKING:
    from .modelio import LoadedModel


@dataclass
class Batch:
    """One batch of the plain run: its first image's position in the category, its images, and the
    bytes of each image and mask file by path (read where the files are)."""

    start: int
    images: list[TestImage]
    blobs: dict[str, np.ndarray] = field(repr=False)


def _read(t: TestImage, loaded: LoadedModel) -> tuple[TestImage, dict[str, np.ndarray], int]:
    """A test image's and its mask's bytes (the reader's checks: a missing or unreadable file is one
    line, as in a plain run) and the image's pixels at the working scale, from its header."""
    blobs: dict[str, np.ndarray] = {}
    try:
        for path in (t.path, t.mask_path):
            if path is not None:
                blobs[str(path)] = read_image_bytes(path)
    except ImageError as e:
        raise DataError(str(e)) from None
    size = header_size(blobs[str(t.path)])
    if size is None:  # read_image_bytes read it already: a file it passes has one
        raise DataError(f"{t.path}: is not a readable image (corrupt or unsupported format)")
    h, w = working_shape(loaded, size[1], size[0])  # the area is that of the decoded, EXIF-turned image
    return t, blobs, h * w


def plan_batches(category: Category, loaded: LoadedModel, batch: int) -> Iterator[Batch]:
    """The plain run's batches of ``category`` (files read lazily, one batch ahead of the caller)."""
    for start, items in cut_batches((_read(t, loaded) for t in category.images), lambda r: r[2], batch):
        yield Batch(start, [t for t, _, _ in items], {k: v for _, blobs, _ in items for k, v in blobs.items()})


def batch_count(category: Category, batch: int) -> int:
    """The batches at ``batch`` images each (more when large images cut them shorter)."""
    return math.ceil(len(category.images) / batch)


def score_batch(loaded: LoadedModel, batch: Batch, params: ProjectionParams, iterations: int, curve: bool) -> Passes:
    """A worker's part: the batch decoded from its bytes (:func:`~inspector_app.core.data.image_from_bytes`,
    the same checks and decoding as a file; messages name the files), grouped by working size and passed
    as the plain run passes it; the passes' slots for its images, from 0."""
    def read(path: Path, channels: int | None = None) -> np.ndarray:
        return image_from_bytes(path, batch.blobs[str(path)], channels)

    out = new_passes(len(batch.images), iterations, curve)
    for grp in _load_batch(batch.images, loaded, 0, read):
        pass_group(loaded.model, grp, params, iterations, curve, out)
    return out


class Merger:
    """The batches' passes put together as they arrive, in any order: each image's slots at its
    position, the curves' histograms and counts added; the stop reasons counted in the batches' order
    (the result's key order is the plain run's)."""

    def __init__(self, n: int, iterations: int, curve: bool):
        self.out = new_passes(n, iterations, curve)
        self._reasons: dict[int, dict[str, int]] = {}

    def add(self, start: int, part: Passes) -> None:
        out, k = self.out, len(part.gts)
        for name, maps in part.maps.items():
            out.maps[name][start:start + k] = maps
        out.gts[start:start + k] = part.gts
        out.fves[start:start + k] = part.fves
        out.iterations[start:start + k] = part.iterations
        for name, hists in part.hists.items():
            for into, h in zip(out.hists[name], hists):
                into.pos += h.pos
                into.neg += h.neg
        for name, counts in part.diverged.items():
            out.diverged[name] = [a + b for a, b in zip(out.diverged[name], counts)]
        self._reasons[start] = part.reasons

    def result(self) -> Passes:
        for start in sorted(self._reasons):
            for reason, count in self._reasons[start].items():
                self.out.reasons[reason] = self.out.reasons.get(reason, 0) + count
        self._reasons.clear()
        return self.out
