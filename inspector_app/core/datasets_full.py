"""Full-size test images for a texture category of :mod:`inspector_app.core.datasets`
(``make-dataset --full-size N``): whole sources, as a camera would give them, to inspect at the
model's working scale (:mod:`inspector_app.core.tiling`).

Written under ``OUT/full/`` in the MVTec AD layout (``OUT/full/test/good/NNN.png``,
``OUT/full/test/<defect>/NNN.png``, ``OUT/full/ground_truth/<defect>/NNN_mask.png``), so that
``inspector-app evaluate --data OUT/full`` scores them.

Each image is the whole 512×512 source, lightly varied so that no two good images are the same:
one of the eight flips/rotations by 90° (all eight are used before any repeats) and a brightness
offset of at most :data:`BRIGHTNESS` (clipped to [0, 1]). A defect (:func:`paint_defect`: the
same kinds and sizes as on the crops, the geometric ones too with ``make-dataset --geometric``)
is painted in a window of the crop size placed by one of
:data:`PLACEMENTS`, in turn:

* ``border`` — centred on a border between tiles of the projection's tiling (model-size tiles
  that overlap by a quarter, :func:`~inspector_app.core.tiling.tile_starts`), in x, y or both; the
  defect is drawn again until its mask lies on both sides of that border (up to 20 draws);
* ``corner`` — a window reaching a quarter of its side beyond one of the image's corners (the
  source mirrored at its borders), so the defect touches or nearly touches the corner; only its
  part inside the image is kept;
* ``anywhere`` — a window at a uniformly random position.

The mask is exactly the pixels the defect changed (as on the crops: more than ``MASK_LEVEL``
grey levels, holes filled); every pixel outside it equals the varied source.

**Not disjoint from the training crops**: a whole source contains the columns the train crops
were cut from (the crops' test region is only its right quarter). Good full-size images are
therefore partly images the model has seen, and their figures are optimistic about normal
texture; the defects are new.

**Validation photographs** (``OUT/full/validation/good/NNN.png``, :func:`write_region_photos`):
the train crops' region only (every column left of the test strip, whole height: 512×384), under
each of the 8 flips/rotations with its own brightness offset, for ``calibrate --whole-images`` to
place a threshold that passes whole photographs. They hold no pixel of the test strip; like the
good full-size test images they are texture the model was trained on.

**Held-out photographs** (``OUT/full/heldout/good/NNN.png``): the test strip only (the rightmost
columns, whole height: 512×128), under the 8 flips/rotations: good photographs whose every pixel
and every border is disjoint from the training crops and the validation photographs (``project``
them to count how many pass).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from .geodefects import paint_defect
from .tiling import default_overlap, tile_starts

PLACEMENTS = ("border", "corner", "anywhere")
#: Largest brightness offset (fraction of the grey range) of a full-size image.
BRIGHTNESS = 0.025
#: Fewest pixels of a defect that must lie inside the image (corner placements).
MIN_INSIDE = 40
_TRIES = 20
#: What ``dataset.json`` and ``README.txt`` say about the full-size images (formatted with the
#: source's side, the crop size, the brightness range and the last column of the train crops' region).
FULL_NOTE = (
    "whole {side}x{side} sources (one of 8 flips/rotations by 90 degrees and a brightness offset of at most "
    "{brightness:g} each), defects painted at tile borders ({size}-px tiles overlapping by a quarter, as a "
    "{size}-px model covers them), in corners or anywhere, masks in full/ground_truth/. NOT disjoint from the training "
    "crops: a whole source contains columns 0..{cols}, the region the train crops were cut from, so good "
    "full-size images are partly texture the model was trained on; the defects are new. full/validation/good/: "
    "8 validation photographs for calibrate --whole-images, the train region only (columns 0..{cols}, whole "
    "height); full/heldout/good/: 8 good photographs of the test strip only (disjoint from training and validation)."
)

#: Validation photographs written beside the full-size test images: one per flip/rotation.
N_VALIDATION = 8

__all__ = ["PLACEMENTS", "BRIGHTNESS", "FULL_NOTE", "N_VALIDATION", "full_size_counts", "vary", "paint_full",
           "write_full_size", "write_region_photos"]


def full_size_counts(n_per_defect: int, n_good: int | None, defects: tuple[str, ...]) -> dict[str, int]:
    """``{"good": n, <defect>: n_per_defect, ...}``; ``n_good`` defaults to as many good images as
    defective ones."""
    if n_per_defect < 1:
        raise ValueError(f"full-size images per defect must be at least 1, got {n_per_defect}")
    good = n_per_defect * len(defects) if n_good is None else int(n_good)
    if good < 1:
        raise ValueError(f"full-size good images must be at least 1, got {good}")
    return {"good": good, **{d: int(n_per_defect) for d in defects}}


def vary(src: np.ndarray, transform: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """The source under one of the 8 flips/rotations (``transform`` 0..7) with a random brightness
    offset in ±:data:`BRIGHTNESS`, as uint8."""
    k, flip = transform % 4, transform >= 4
    out = np.rot90(src, k)
    if flip:
        out = out[:, ::-1]
    offset = float(rng.uniform(-BRIGHTNESS, BRIGHTNESS))
    img = np.clip(np.round(out.astype(np.float64) + offset * 255.0), 0, 255).astype(np.uint8)
    return img, {"rot90": k, "flip_lr": bool(flip), "brightness": offset}


def _tile_borders(length: int, size: int) -> list[int]:
    """Positions of the tiles' inner borders along an axis (where a tile starts or ends inside the image)."""
    starts = tile_starts(length, size, default_overlap(size))
    return sorted({s for s in starts if s > 0} | {s + size for s in starts if s + size < length})


def _window(place: str, shape: tuple[int, int], size: int,
            rng: np.random.Generator) -> tuple[int, int, dict[str, Any]]:
    """Top-left corner (may lie outside the image for ``corner``) of the defect's window."""
    h, w = shape
    if place == "anywhere":
        return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1)), {}
    if place == "corner":
        cy, cx = int(rng.integers(0, 2)), int(rng.integers(0, 2))
        q = size // 4
        return (-q if cy == 0 else h - size + q), (-q if cx == 0 else w - size + q), {"corner": [cy, cx]}
    axes = [("y", "x"), ("y",), ("x",)][int(rng.integers(0, 3))]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    lines = {}
    for a in axes:
        e = int(rng.choice(_tile_borders(h if a == "y" else w, size)))
        lines[a] = e
        if a == "y":
            y = e - size // 2
        else:
            x = e - size // 2
    return y, x, {"tile_border": lines}


def _accept(mask: np.ndarray, info: dict[str, Any]) -> bool:
    if mask.sum() < MIN_INSIDE:
        return False
    for axis, e in info.get("tile_border", {}).items():
        m = mask if axis == "y" else mask.T
        if not (m[:e].any() and m[e:].any()):
            return False
    return True


def paint_full(img: np.ndarray, kind: str, place: str, size: int, rng: np.random.Generator,
               donor: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Paint one defect of ``kind`` on the full-size uint8 ``img`` at a ``place`` of
    :data:`PLACEMENTS`, in a window of ``size`` pixels; returns (image, mask, where it went)."""
    if place not in PLACEMENTS:
        raise ValueError(f"unknown placement {place!r}; valid: {', '.join(PLACEMENTS)}")
    h, w = img.shape
    pad = np.pad(img, size, mode="reflect")
    best: tuple[np.ndarray, np.ndarray, dict[str, Any]] | None = None
    for _ in range(_TRIES):
        y, x, info = _window(place, (h, w), size, rng)
        win = pad[y + size:y + 2 * size, x + size:x + 2 * size]
        bad, m = paint_defect(win, kind, rng, donor=donor)
        y0, x0 = max(y, 0), max(x, 0)
        y1, x1 = min(y + size, h), min(x + size, w)
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = m[y0 - y:y1 - y, x0 - x:x1 - x]
        out = img.copy()
        out[y0:y1, x0:x1] = bad[y0 - y:y1 - y, x0 - x:x1 - x]
        info = {"placement": place, "window": [y, x, y + size, x + size], **info}
        ok = _accept(mask, info)
        if ok or best is None or mask.sum() > best[1].sum():
            best = (out, mask, {**info, "accepted": ok})
        if ok:
            break
    assert best is not None  # _TRIES ≥ 1
    return best


def write_full_size(src: np.ndarray, out_dir: Path, counts: dict[str, int], size: int, rng: np.random.Generator,
                    donor: np.ndarray | None, write: Callable[[Path, np.ndarray], None],
                    step: Callable[[], None]) -> list[dict[str, Any]]:
    """Write ``counts`` (:func:`full_size_counts`) full-size images under ``out_dir`` (the module
    docstring's layout); returns one record per file for ``dataset.json``."""
    files = []
    order = [int(t) for t in rng.permutation(8)]
    n = 0

    def varied() -> tuple[np.ndarray, dict[str, Any]]:
        nonlocal n
        img, tf = vary(src, order[n % 8], rng)
        n += 1
        return img, tf

    for i in range(counts["good"]):
        img, tf = varied()
        write(out_dir / "test" / "good" / f"{i:03d}.png", img)
        files.append({"file": f"full/test/good/{i:03d}.png", "split": "full", **tf})
        step()
    kinds = [k for k in counts if k != "good"]
    for j, d in enumerate(kinds):
        for i in range(counts[d]):
            img, tf = varied()
            place = PLACEMENTS[(i + j) % len(PLACEMENTS)]
            bad, mask, where = paint_full(img, d, place, size, rng, donor)
            write(out_dir / "test" / d / f"{i:03d}.png", bad)
            write(out_dir / "ground_truth" / d / f"{i:03d}_mask.png", mask.astype(np.uint8) * 255)
            files.append({"file": f"full/test/{d}/{i:03d}.png", "split": "full", "defect": d,
                          "mask": f"full/ground_truth/{d}/{i:03d}_mask.png", "defect_pixels": int(mask.sum()),
                          **tf, **where})
            step()
    return files


def write_region_photos(src: np.ndarray, box: tuple[int, int, int, int], out_dir: Path, sub: str, split: str,
                        rng: np.random.Generator, write: Callable[[Path, np.ndarray], None],
                        step: Callable[[], None], n: int = N_VALIDATION) -> list[dict[str, Any]]:
    """Write ``n`` whole photographs of the source's region ``box`` (y0, x0, y1, x1) under
    ``out_dir/sub/``, under the flips/rotations in turn, each with a brightness offset
    (:func:`vary`); returns one record per file for ``dataset.json`` (``split``)."""
    y0, x0, y1, x1 = box
    region = src[y0:y1, x0:x1]
    files = []
    for i in range(n):
        img, tf = vary(region, i % 8, rng)
        write(out_dir / sub / f"{i:03d}.png", img)
        files.append({"file": f"full/{sub}/{i:03d}.png", "split": split,
                      "region": [int(y0), int(x0), int(y1), int(x1)], **tf})
        step()
    return files
