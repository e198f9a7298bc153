"""Geometric defects: the texture moved, not its brightness changed (issue 29).

Real parts have defects that bend, fold or break a pattern without making anything darker or
brighter: a dent in a weave, a fold in leather, a bent grid (MVTec AD's leather "fold", grid
"bent"). :func:`apply_geometric` paints one on a grey image; :func:`paint_defect` paints any kind,
geometric (:data:`GEOMETRIC_DEFECTS`) or a change of intensity
(:data:`~inspector_app.core.defects.TEXTURE_DEFECTS`, :func:`~inspector_app.core.defects.apply_defect`).

Kinds (each draws its size and strength at random, so a set of them spans several of each):

* ``warp`` — a smooth displacement field in a disc (radius 10–22 % of the side): the texture
  shifted, swirled, bulged or pinched inside it, up to 15–40 % of the radius at the centre,
  falling smoothly to 0 at the rim; every value in the disc comes from the image itself;
* ``fold`` — a line across part of the image (40–95 % of the side): either a crease, the
  texture compressed towards the line within a band on each side (×1.5–2.2 at the line), or a
  flap, the texture mirrored about the line within a lens-shaped band on one side;
* ``displaced`` — a patch (ellipse or rotated rectangle, 3–8 % of the area) cut out and pasted
  back shifted by 30–70 % of the texture's period (:func:`texture_period`), by whole pixels;
* ``missing`` — a patch replaced by the texture from elsewhere in the image, placed so that it
  is out of phase with the pattern around it (a periodicity break).

The mask holds every pixel the defect moved by half a pixel or more and every pixel whose 8-bit
value changed by more than :data:`~inspector_app.core.defects.MASK_LEVEL` (holes filled); every
pixel outside it is bit-identical to the input, so the mask covers every pixel that changed.
Everything is drawn from the ``rng`` given: a seed gives the same defect.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from .defects import MASK_LEVEL, TEXTURE_DEFECTS, apply_defect, grey_u8

__all__ = ["GEOMETRIC_DEFECTS", "ALL_DEFECTS", "texture_period", "apply_geometric", "paint_defect"]

GEOMETRIC_DEFECTS = ("warp", "fold", "displaced", "missing")
ALL_DEFECTS = TEXTURE_DEFECTS + GEOMETRIC_DEFECTS
#: A pixel displaced by at least this many pixels belongs to the mask.
MOVED_PX = 0.5


def _remap(x: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """``out(p) = x(p − d(p))`` with bicubic interpolation, borders mirrored."""
    h, w = x.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(x.astype(np.float32), (xx - dx).astype(np.float32), (yy - dy).astype(np.float32),
                     interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101).astype(np.float64)


def _shifted(x: np.ndarray, oy: int, ox: int) -> np.ndarray:
    """``out(p) = x(p − o)`` for a whole-pixel offset, borders mirrored (values copied exactly)."""
    m = np.array([[1, 0, ox], [0, 1, oy]], np.float32)
    out: np.ndarray = cv2.warpAffine(x.astype(np.float32), m, (x.shape[1], x.shape[0]), flags=cv2.INTER_NEAREST,
                                     borderMode=cv2.BORDER_REFLECT_101).astype(np.float64)
    return out


def texture_period(x: np.ndarray) -> np.ndarray:
    """The texture's dominant repetition: the offset ``(dy, dx)`` of the highest local maximum of
    its autocorrelation outside the central lobe (the disc where its mean over each radius is
    above half its peak), within a
    third of the image's side, with a trough half-way to it (not a point on a ridge along a
    line); of the peaks within 15 % of the highest, the shortest (a period, not its multiple). For a texture with no repetition it is about the grain's size."""
    from scipy import ndimage

    z = np.asarray(x, np.float64)
    z = z - z.mean()
    h, w = z.shape
    f = np.fft.rfft2(z, s=(2 * h, 2 * w))
    ac = np.fft.fftshift(np.fft.irfft2(np.abs(f) ** 2, s=(2 * h, 2 * w)))
    oy, ox = np.mgrid[-h:h, -w:w]
    overlap = np.maximum((h - np.abs(oy)) * (w - np.abs(ox)), 1)
    ac = ac / overlap
    reach = max(3, min(h, w) // 3)
    inside = (np.abs(oy) <= reach) & (np.abs(ox) <= reach)
    rad = np.round(np.hypot(oy, ox)).astype(np.int64)
    ring = np.bincount(rad[inside], ac[inside]) / np.maximum(np.bincount(rad[inside]), 1)
    below = np.flatnonzero(ring < 0.5 * ac[h, w])
    lobe = rad <= (int(below[0]) if below.size else reach)  # the disc where the mean is above half
    peaks = (ac == ndimage.maximum_filter(ac, size=5)) & inside & ~lobe & (rad >= 3)
    if not peaks.any():
        return np.array([0.0, 4.0])
    idx = np.flatnonzero(peaks.ravel())
    val = ac.ravel()[idx]
    # a repetition has a trough half-way to it; a point on a ridge from the centre (a long line) has not
    half = ac[h + np.round(oy.ravel()[idx] / 2).astype(int), w + np.round(ox.ravel()[idx] / 2).astype(int)]
    if (val - half >= 0.25 * ac[h, w]).any():
        idx, val = idx[val - half >= 0.25 * ac[h, w]], val[val - half >= 0.25 * ac[h, w]]
    # of peaks about as high (a period and its multiples), the shortest; all of them may lie below
    # the mean (a window with no repetition): "about as high" is then within 15 % of the highest's size
    near = idx[val >= val.max() - 0.15 * abs(val.max())]
    k = near[np.argmin(rad.ravel()[near])]
    return np.array([float(oy.ravel()[k]), float(ox.ravel()[k])])


def _bump(r: np.ndarray) -> np.ndarray:
    """(1 − r²)² inside the unit disc, 0 outside: smooth, with zero slope at the rim."""
    return np.where(r < 1.0, (1.0 - np.minimum(r, 1.0) ** 2) ** 2, 0.0)


def _warp(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = x.shape
    radius = rng.uniform(0.10, 0.22) * min(h, w)
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    amp = rng.uniform(0.15, 0.40) * radius
    y, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    vy, vx = y + 0.5 - cy, xx + 0.5 - cx
    r = np.hypot(vy, vx) / radius
    b = _bump(r)
    mode = rng.choice(["shift", "swirl", "bulge"])
    if mode == "shift":  # lines bent: one direction, most at the centre
        th = rng.uniform(0, 2 * np.pi)
        dy, dx = amp * b * np.sin(th), amp * b * np.cos(th)
    elif mode == "swirl":  # tangential, zero at the centre: the texture turned
        s = 1.6 * amp * b * rng.choice([-1, 1]) / radius  # at most 0.46·amp, at r = 0.45
        dy, dx = s * vx, -s * vy
    else:  # radial: a dent (pushed out) or a pinch (pulled in)
        s = 1.6 * amp * b * rng.choice([-1, 1]) / radius
        dy, dx = s * vy, s * vx
    return _remap(x, dy, dx), np.hypot(dy, dx)


def _fold(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = x.shape
    th = rng.uniform(0, np.pi)
    n = np.array([np.cos(th), np.sin(th)])  # normal (y, x)
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    y, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    s = (y + 0.5 - cy) * n[0] + (xx + 0.5 - cx) * n[1]  # signed distance to the line
    t = -(y + 0.5 - cy) * n[1] + (xx + 0.5 - cx) * n[0]  # along it
    half = rng.uniform(0.20, 0.475) * min(h, w)
    taper = _bump(np.abs(t) / half)  # the fold fades out at its ends
    band = rng.uniform(0.05, 0.10) * min(h, w)
    if rng.random() < 0.5:  # a crease: texture pulled towards the line from a band on each side
        k = rng.uniform(0.5, 1.2)
        u = np.clip(s / band, -1, 1)
        shift = -k * band * u * (1 - np.abs(u)) ** 2 * taper  # out(s) = x(s − shift): x(s·(1 + k)) near 0
    else:  # a flap: the texture mirrored about the line within a lens on one side
        side = rng.choice([-1.0, 1.0])
        lens = (side * s > 0) & (side * s < band * taper)
        shift = np.where(lens, 2.0 * s, 0.0)  # out(s) = x(s − 2s) = x(−s)
    dy, dx = shift * n[0], shift * n[1]
    return _remap(x, dy, dx), np.abs(shift)


def _patch_shape(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """An ellipse or a rotated rectangle of 3–8 % of the image, as a 0/1 float mask."""
    h, w = shape
    area = rng.uniform(0.03, 0.08) * h * w
    c = (rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h)
    a = np.sqrt(area) * rng.uniform(0.75, 1.3)
    canvas = np.zeros((h, w), np.uint8)
    if rng.random() < 0.5:
        axes = (int(round(a / np.sqrt(np.pi))), int(round(area / a / np.sqrt(np.pi))))
        cv2.ellipse(canvas, (int(c[0]), int(c[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    else:
        box = cv2.boxPoints((c, (a, area / a), float(rng.uniform(0, 180))))
        cv2.fillPoly(canvas, [np.round(box).astype(np.int32).reshape(-1, 1, 2)], 1)
    return canvas.astype(bool)


def _phase_offset(period: np.ndarray, frac: float) -> tuple[int, int]:
    """``frac`` of the period as a whole-pixel offset, at least 2 px long."""
    o = period * frac
    if np.hypot(*o) < 2.0:
        o = o / max(np.hypot(*o), 1e-9) * 2.0
    return int(round(o[0])), int(round(o[1]))


def _displaced(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    patch = _patch_shape(x.shape, rng)
    oy, ox = _phase_offset(texture_period(x) * rng.choice([-1, 1]), rng.uniform(0.3, 0.7))
    src = _shifted(x, oy, ox)
    return np.where(patch, src, x), patch.astype(np.float64) * max(np.hypot(oy, ox), 1.0)


def _missing(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = x.shape
    patch = _patch_shape(x.shape, rng)
    period = texture_period(x)
    o = np.array([rng.uniform(-0.5, 0.5) * h, rng.uniform(-0.5, 0.5) * w])
    p2 = float(period @ period)
    phase = float(o @ period) / max(p2, 1e-9)
    if abs(phase - round(phase)) < 0.25:  # in phase with the pattern: move it half a period off
        o = o + 0.5 * period
    oy, ox = int(round(o[0])), int(round(o[1]))
    if max(abs(oy), abs(ox)) < 2:
        ox += 4
    return np.where(patch, _shifted(x, oy, ox), x), patch.astype(np.float64) * max(np.hypot(oy, ox), 1.0)


_GEOMETRIC: dict[str, Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]] = {"warp": _warp, "fold": _fold, "displaced": _displaced, "missing": _missing}


def _finalize(x_u8: np.ndarray, moved: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8-bit image and its mask: the pixels moved by ≥ :data:`MOVED_PX` or changed by more than
    ``MASK_LEVEL`` (holes filled); every pixel outside the mask is reset to the input."""
    from scipy import ndimage

    d_u8 = np.clip(np.round(out * 255), 0, 255).astype(np.uint8)
    changed = np.abs(d_u8.astype(np.int16) - x_u8.astype(np.int16)) > MASK_LEVEL
    mask = ndimage.binary_fill_holes((moved >= MOVED_PX) | changed)
    return np.where(mask, d_u8, x_u8), mask


def apply_geometric(img: np.ndarray, kind: str, rng: np.random.Generator, min_area: float = 0.01,
                    min_changed: float = 0.004, max_tries: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Paint one geometric defect of ``kind`` (:data:`GEOMETRIC_DEFECTS`) on a grey H×W image (uint8,
    or float in [0, 1]); return ``(defective uint8 image, bool mask)`` (see the module docstring).

    A draw whose mask covers less than ``min_area`` of the image, or that changes the 8-bit value of
    fewer than ``min_changed`` of its pixels by more than ``MASK_LEVEL`` (a warp of a flat region
    moves nothing visible), is drawn again, up to ``max_tries`` times; then the draw that changed
    the most pixels is returned."""
    if kind not in _GEOMETRIC:
        raise ValueError(f"unknown geometric defect {kind!r}; valid: {', '.join(GEOMETRIC_DEFECTS)}")
    x_u8 = grey_u8(img)
    x = x_u8.astype(np.float64) / 255.0
    best, best_changed = None, -1.0
    for _ in range(max_tries):
        out, moved = _GEOMETRIC[kind](x, rng)
        bad, mask = _finalize(x_u8, moved, out)
        changed = float(np.mean(np.abs(bad.astype(np.int16) - x_u8.astype(np.int16)) > MASK_LEVEL))
        if mask.mean() >= min_area and changed >= min_changed:
            return bad, mask
        if changed > best_changed:
            best, best_changed = (bad, mask), changed
    assert best is not None
    return best


def paint_defect(img: np.ndarray, kind: str, rng: np.random.Generator,
                 donor: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One defect of any kind of :data:`ALL_DEFECTS` (or ``noise``): geometric kinds by
    :func:`apply_geometric`, the others by :func:`~inspector_app.core.defects.apply_defect`."""
    if kind in _GEOMETRIC:
        return apply_geometric(img, kind, rng)
    return apply_defect(img, kind, rng, donor=donor)
