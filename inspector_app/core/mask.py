"""The inpainting mask Ω of eq. 7 and the round brush that paints it.

Qt-free (numpy and OpenCV only), in the spirit of napari's labels brush and ilastik's brush
model: a view forwards mouse positions in *image pixel coordinates* and redraws the region the
model reports through :attr:`MaskModel.on_change`.

Geometry, exactly
-----------------
Coordinates are floats, ``x`` = column, ``y`` = row; the centre of pixel ``(r, c)`` is the point
``(x=c, y=r)``.

* A **stamp** (one click) at ``(x, y)`` with radius ``R`` covers the pixels ``(r, c)`` with
  ``(c - x)**2 + (r - y)**2 <= R**2`` (a closed disc).
* A **segment** of a stroke from ``p0`` to ``p1`` covers the pixels whose centre lies within
  distance ``R`` of the segment (the exact "capsule": the union of all the discs along the
  segment), so a fast mouse never leaves gaps. A capsule of length 0 is the disc.

Undo
----
Every edit is one undo step: a whole stroke (``begin_stroke`` … ``end_stroke``), ``clear``,
``invert``, ``fill`` and ``set_mask``. A step stores only the bounding box of the pixels it
changed and the patch before and after, not the whole mask. An edit that changes nothing is not
recorded. The history keeps the last ``max_history`` steps (100 by default); a new edit clears
the redo stack.

Sizes in messages are written width×height, in pixels.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .data import atomic_write_bytes
from .ranges import RANGES

__all__ = [
    "MAX_RADIUS",
    "MIN_RADIUS",
    "MODES",
    "MaskFileError",
    "MaskModel",
    "Region",
    "capsule",
    "disc",
    "load_mask_png",
    "save_mask_png",
]

#: The brush radius's bounds, in image pixels (:data:`inspector_app.core.ranges.RANGES`).
MIN_RADIUS = RANGES["brush_radius"].minimum
MAX_RADIUS = RANGES["brush_radius"].maximum
MODES = ("paint", "erase")

#: A rectangular region of the mask: ``(rows, cols)`` slices with explicit, non-negative bounds.
Region = tuple[slice, slice]


class MaskFileError(ValueError):
    """A mask file cannot be read, is not an image, or does not match the image's size."""


def _size(shape: tuple[int, ...]) -> str:
    """``(H, W, …)`` → ``"W×H"``."""
    return f"{shape[1]}×{shape[0]}"


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"a mask shape is (height, width), got {shape!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"a mask needs at least one pixel, got shape {shape!r}")
    return h, w


def _check_point(x: float, y: float) -> tuple[float, float]:
    x, y = float(x), float(y)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"brush position must be finite, got ({x}, {y})")
    return x, y


def capsule(
    shape: tuple[int, int], x0: float, y0: float, x1: float, y1: float, radius: float
) -> tuple[Region, np.ndarray] | None:
    """Pixels within ``radius`` of the segment ``(x0, y0)``–``(x1, y1)``, clipped to ``shape``.

    Returns ``(region, patch)``: the bounding-box slices and the boolean patch inside it, or
    ``None`` when the capsule misses the image. With ``(x0, y0) == (x1, y1)`` this is exactly the
    disc ``(c - x0)**2 + (r - y0)**2 <= radius**2``.
    """
    h, w = shape
    r2 = float(radius) ** 2
    r0 = max(math.floor(min(y0, y1) - radius), 0)
    r1 = min(math.ceil(max(y0, y1) + radius), h - 1)
    c0 = max(math.floor(min(x0, x1) - radius), 0)
    c1 = min(math.ceil(max(x0, x1) + radius), w - 1)
    if r0 > r1 or c0 > c1:
        return None
    rows = np.arange(r0, r1 + 1, dtype=np.float64)[:, None]
    cols = np.arange(c0, c1 + 1, dtype=np.float64)[None, :]
    dx, dy = x1 - x0, y1 - y0
    seg2 = dx * dx + dy * dy
    if seg2 == 0.0:
        d2 = (cols - x0) ** 2 + (rows - y0) ** 2
    else:
        t = np.clip(((cols - x0) * dx + (rows - y0) * dy) / seg2, 0.0, 1.0)
        # at t == 0 / t == 1 this is exactly the disc formula around the end points
        d2 = (cols - (x0 + t * dx)) ** 2 + (rows - (y0 + t * dy)) ** 2
    patch = d2 <= r2
    if not patch.any():
        return None
    return (slice(r0, r1 + 1), slice(c0, c1 + 1)), patch


def disc(shape: tuple[int, int], x: float, y: float, radius: float) -> tuple[Region, np.ndarray] | None:
    """The brush stamp: pixels with ``(c - x)**2 + (r - y)**2 <= radius**2`` (see :func:`capsule`)."""
    return capsule(shape, x, y, x, y, radius)


def _bbox(changed: np.ndarray) -> Region | None:
    """Bounding box of the True pixels of a 2-D array, or None."""
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(changed.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _union(a: Region | None, b: Region) -> Region:
    if a is None:
        return b
    return (
        slice(min(a[0].start, b[0].start), max(a[0].stop, b[0].stop)),
        slice(min(a[1].start, b[1].start), max(a[1].stop, b[1].stop)),
    )


@dataclass(frozen=True)
class _Edit:
    region: Region
    old: np.ndarray
    new: np.ndarray
    whole: bool  # notify observers with None (a whole-mask operation)


class MaskModel:
    """A boolean H×W mask (True = inside Ω, the pixels the projection may change) and its brush.

    ``on_change`` is a plain list of callables; each is called with the changed region
    ``(rows, cols)`` (slices with explicit bounds) after a stroke segment, undo or redo of a
    stroke, or with ``None`` after a whole-mask change (``clear``, ``invert``, ``fill``,
    ``set_mask`` and their undo/redo).
    """

    def __init__(
        self, shape: tuple[int, int], mask: np.ndarray | None = None, *, max_history: int = 100
    ) -> None:
        self._shape = _check_shape(shape)
        if max_history < 1:
            raise ValueError(f"max_history must be at least 1, got {max_history}")
        if mask is None:
            self._mask = np.zeros(self._shape, dtype=bool)
        else:
            self._mask = self._validated(mask).copy()
        self._radius = RANGES["brush_radius"].default
        self._mode = "paint"
        self._undo: deque[_Edit] = deque(maxlen=int(max_history))
        self._redo: list[_Edit] = []
        self._last: tuple[float, float] | None = None  # last point of the stroke in progress
        self._stroke: list[tuple[Region, np.ndarray]] = []  # (region, patch before) per segment
        self._stroke_region: Region | None = None
        self.on_change: list[Callable[[Region | None], None]] = []

    # -- state -----------------------------------------------------------------------------------
    @property
    def mask(self) -> np.ndarray:
        """The mask, as a read-only view (edit it through the model so undo and views follow)."""
        view = self._mask.view()
        view.flags.writeable = False
        return view

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def count(self) -> int:
        """Number of pixels inside Ω."""
        return int(np.count_nonzero(self._mask))

    @property
    def radius(self) -> float:
        return self._radius

    @radius.setter
    def radius(self, value: float) -> None:
        value = float(value)
        if math.isnan(value):
            raise ValueError("the brush radius cannot be NaN")
        self._radius = min(max(value, MIN_RADIUS), MAX_RADIUS)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"brush mode must be one of {MODES}, got {value!r}")
        self._mode = value

    @property
    def stroking(self) -> bool:
        """True between ``begin_stroke`` and ``end_stroke``."""
        return self._last is not None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo) or bool(self._stroke)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo) and not self._stroke

    # -- strokes ---------------------------------------------------------------------------------
    def begin_stroke(self, x: float, y: float) -> None:
        """Start a stroke with one stamp of the brush at ``(x, y)`` (ends a stroke in progress)."""
        x, y = _check_point(x, y)
        if self.stroking:
            self.end_stroke()
        self._last = (x, y)
        self._stamp(x, y, x, y)

    def stroke_to(self, x: float, y: float) -> None:
        """Paint (or erase) the capsule from the last point to ``(x, y)``.

        Without a stroke in progress this begins one at ``(x, y)``.
        """
        x, y = _check_point(x, y)
        if self._last is None:
            self.begin_stroke(x, y)
            return
        x0, y0 = self._last
        self._last = (x, y)
        self._stamp(x0, y0, x, y)

    def end_stroke(self) -> None:
        """Finish the stroke: it becomes one undo step (none if it changed nothing)."""
        self._last = None
        if not self._stroke:
            return
        region = self._stroke_region
        assert region is not None
        new = self._mask[region].copy()
        old = new.copy()
        r0, c0 = region[0].start, region[1].start
        for (rs, cs), before in reversed(self._stroke):
            old[rs.start - r0 : rs.stop - r0, cs.start - c0 : cs.stop - c0] = before
        self._stroke = []
        self._stroke_region = None
        changed = _bbox(old != new)
        if changed is None:
            return
        lr, lc = changed
        tight = (slice(r0 + lr.start, r0 + lr.stop), slice(c0 + lc.start, c0 + lc.stop))
        self._push(_Edit(tight, old[changed].copy(), new[changed].copy(), whole=False))

    def _stamp(self, x0: float, y0: float, x1: float, y1: float) -> None:
        hit = capsule(self._shape, x0, y0, x1, y1, self._radius)
        if hit is None:
            return
        region, patch = hit
        value = self._mode == "paint"
        target = self._mask[region]
        if np.all(target[patch] == value):
            return
        self._stroke.append((region, target.copy()))
        self._stroke_region = _union(self._stroke_region, region)
        target[patch] = value
        self._notify(region)

    # -- whole-mask edits ------------------------------------------------------------------------
    def clear(self) -> bool:
        """Empty Ω. Returns whether the mask changed."""
        return self._replace(np.zeros(self._shape, dtype=bool))

    def fill(self) -> bool:
        """Put every pixel in Ω. Returns whether the mask changed."""
        return self._replace(np.ones(self._shape, dtype=bool))

    def invert(self) -> bool:
        """Swap inside and outside. Returns whether the mask changed (always True)."""
        return self._replace(~self._mask)

    def set_mask(self, mask: np.ndarray) -> bool:
        """Replace the mask (any array of the model's shape; non-zero = inside). One undo step."""
        return self._replace(self._validated(mask))

    def _validated(self, mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.ndim == 3 and mask.shape[2] == 1:
            mask = mask[:, :, 0]
        if mask.shape != self._shape:
            got = _size(mask.shape) if mask.ndim >= 2 else f"of shape {mask.shape}"
            raise ValueError(f"the mask is {got} but the image is {_size(self._shape)}")
        return mask.astype(bool, copy=False)

    def _replace(self, new_mask: np.ndarray) -> bool:
        self._finish_stroke()
        changed = _bbox(new_mask != self._mask)
        if changed is None:
            return False
        edit = _Edit(changed, self._mask[changed].copy(), new_mask[changed].copy(), whole=True)
        self._mask[changed] = edit.new
        self._push(edit)
        self._notify(None)
        return True

    # -- history ---------------------------------------------------------------------------------
    def undo(self) -> bool:
        """Undo the last edit (ending a stroke in progress first). Returns whether anything happened."""
        self._finish_stroke()
        if not self._undo:
            return False
        edit = self._undo.pop()
        self._mask[edit.region] = edit.old
        self._redo.append(edit)
        self._notify(None if edit.whole else edit.region)
        return True

    def redo(self) -> bool:
        """Re-apply the last undone edit. Returns whether anything happened."""
        self._finish_stroke()
        if not self._redo:
            return False
        edit = self._redo.pop()
        self._mask[edit.region] = edit.new
        self._undo.append(edit)
        self._notify(None if edit.whole else edit.region)
        return True

    @property
    def history_size(self) -> int:
        """Number of steps that can be undone."""
        return len(self._undo)

    def _finish_stroke(self) -> None:
        if self.stroking or self._stroke:
            self.end_stroke()

    def _push(self, edit: _Edit) -> None:
        self._undo.append(edit)
        self._redo.clear()

    def _notify(self, region: Region | None) -> None:
        for callback in list(self.on_change):
            callback(region)


# -- files -----------------------------------------------------------------------------------------
def load_mask_png(path: str | os.PathLike[str], shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask image (PNG or anything OpenCV reads) as a boolean H×W array.

    A grey image: non-zero pixels are inside. Colour: a pixel is inside when any colour channel is
    non-zero. With an alpha channel that is not fully opaque, the alpha decides instead (alpha > 0
    is inside: strokes painted on a transparent layer); a fully opaque alpha is ignored.
    ``shape`` (height, width), when given, must match the file's size.

    Raises :class:`MaskFileError` naming the file when it cannot be read or decoded, or its size
    differs from ``shape``.
    """
    from .data import ImageError, read_image_bytes

    p = Path(path)
    try:  # not cv2.imread: it cannot open non-ASCII paths on Windows
        data = read_image_bytes(p)
    except ImageError as e:
        raise MaskFileError(f"the mask {e}") from None
    from .imageinfo import png_damage

    damage = png_damage(data)  # before libpng prints its own line on stderr
    if damage is not None:
        raise MaskFileError(f"{str(p)!r} is not a readable image ({damage})")
    image = None
    if data.size:
        try:
            image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        except cv2.error:
            image = None
    if image is None:
        raise MaskFileError(f"{str(p)!r} is not a readable image (empty, corrupt or of an unknown format)")
    if image.ndim == 3 and image.shape[2] in (2, 4):
        alpha = image[:, :, -1]
        colour = image[:, :, :-1]
        opaque = np.iinfo(image.dtype.name).max if image.dtype.kind in "ui" else 1.0
        mask = alpha > 0 if np.any(alpha != opaque) else np.any(colour != 0, axis=2)
    elif image.ndim == 3:
        mask = np.any(image != 0, axis=2)
    else:
        mask = image != 0
    if shape is not None:
        shape = _check_shape(shape)
        if mask.shape != shape:
            raise MaskFileError(
                f"the mask {str(p)!r} is {_size(mask.shape)} but the image is {_size(shape)}"
            )
    return np.ascontiguousarray(mask)


def save_mask_png(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write a boolean mask as an 8-bit PNG (0 outside, 255 inside), atomically.

    The PNG goes to a temporary file in the destination folder, then replaces ``path`` with
    ``os.replace``: a failure leaves any previous file untouched and no partial file behind.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"a mask is a non-empty H×W array, got shape {mask.shape}")
    ok, buf = cv2.imencode(".png", np.where(mask.astype(bool), 255, 0).astype(np.uint8))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 PNGs
        raise OSError(f"could not encode the mask for {str(path)!r}")
    atomic_write_bytes(path, buf.tobytes())
