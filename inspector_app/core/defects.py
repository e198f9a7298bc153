"""Synthetic defects painted on grey images (:func:`apply_defect`), for the test sets of
:mod:`inspector_app.core.datasets` and the synthetic validation defects of
:mod:`inspector_app.core.calibration`."""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from .inpainting import random_box_mask

__all__ = ["TEXTURE_DEFECTS", "MASK_LEVEL", "NOISE_AREA", "apply_defect"]

TEXTURE_DEFECTS = ("stain", "scratch", "hole", "patch")
#: A pixel belongs to a defect's mask when the defect changed its 8-bit value by more than this.
MASK_LEVEL = 2
#: Share of the image a ``noise`` rectangle covers (the inpainting corruption of section 4.2).
NOISE_AREA = (0.25, 0.40)


Shape = tuple[int, ...]
#: ``draw(canvas, scale)`` paints 255 on a uint8 canvas ``scale`` times larger than the image.
Draw = Callable[[np.ndarray, int], None]


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    out: np.ndarray = t * t * (3 - 2 * t)
    return out


def _ellipse_weight(shape: Shape, area_frac: float, rng: np.random.Generator, soft: float = 0.35) -> np.ndarray:
    """A random ellipse of about ``area_frac`` of the image, weight 1 inside, soft edge to 0 at its rim."""
    h, w = shape
    ratio = rng.uniform(0.45, 1.0)
    a = np.sqrt(area_frac * h * w / (np.pi * ratio))  # semi-axes a, a·ratio
    b = a * ratio
    cy = rng.uniform(0.2, 0.8) * h
    cx = rng.uniform(0.2, 0.8) * w
    th = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    dy, dx = y + 0.5 - cy, x + 0.5 - cx
    u = dx * np.cos(th) + dy * np.sin(th)
    v = -dx * np.sin(th) + dy * np.cos(th)
    r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    return _smoothstep((1.0 - r) / soft)


def _coverage(shape: Shape, draw: Draw, scale: int = 4) -> np.ndarray:
    """Anti-aliased coverage in [0, 1]: ``draw(canvas, scale)`` paints 255 on a canvas ``scale`` times larger."""
    h, w = shape
    canvas = np.zeros((h * scale, w * scale), np.uint8)
    draw(canvas, scale)
    return cv2.resize(canvas.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)


def _random_polygon(shape: Shape, area_frac: float, rng: np.random.Generator, n_min: int = 7,
                    n_max: int = 12) -> np.ndarray:
    """Vertices (x, y) of a random star-shaped polygon of about ``area_frac`` of the image."""
    h, w = shape
    n = int(rng.integers(n_min, n_max + 1))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(0.65, 1.0, n)
    # area of the polygon with unit mean radius, to scale it to the wanted area
    xs, ys = rad * np.cos(ang), rad * np.sin(ang)
    unit_area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
    s = np.sqrt(area_frac * h * w / max(unit_area, 1e-6))
    cy = rng.uniform(0.25, 0.75) * h
    cx = rng.uniform(0.25, 0.75) * w
    return np.stack([cx + s * xs, cy + s * ys], axis=1)


def _far_level(img: np.ndarray, weight: np.ndarray) -> float:
    """+1 to brighten, -1 to darken: away from the mean grey level under ``weight``."""
    m = float(np.sum(img * weight) / max(np.sum(weight), 1e-9))
    return -1.0 if m > 0.5 else 1.0


def _stain(x: np.ndarray, rng: np.random.Generator, donor: np.ndarray | None = None) -> np.ndarray:
    w = _ellipse_weight(x.shape, rng.uniform(0.02, 0.06), rng)
    shift = _far_level(x, w) * rng.uniform(0.25, 0.45)
    return x + w * shift


def _scratch(x: np.ndarray, rng: np.random.Generator, donor: np.ndarray | None = None) -> np.ndarray:
    h, w = x.shape
    length = rng.uniform(0.5, 0.9) * max(h, w)
    n_seg = 24
    step = length / n_seg
    p = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
    heading = rng.uniform(0, 2 * np.pi)
    turn = rng.normal(0, 0.08)
    points = [p.copy()]
    for _ in range(n_seg):
        heading += turn + rng.normal(0, 0.12)
        p = p + step * np.array([np.cos(heading), np.sin(heading)])
        points.append(p.copy())
    pts = np.array(points)
    thickness = rng.uniform(1.0, 3.0)

    def draw(canvas: np.ndarray, scale: int) -> None:
        q = np.round(pts * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [q], False, 255, thickness=max(1, int(round(thickness * scale))), lineType=cv2.LINE_AA)

    cov = _coverage(x.shape, draw)
    level = 0.95 if _far_level(x, cov) > 0 else 0.05
    alpha = rng.uniform(0.75, 0.95)
    return x + alpha * cov * (level - x)


def _hole(x: np.ndarray, rng: np.random.Generator, donor: np.ndarray | None = None) -> np.ndarray:
    poly = _random_polygon(x.shape, rng.uniform(0.02, 0.06), rng)

    def draw(canvas: np.ndarray, scale: int) -> None:
        cv2.fillPoly(canvas, [np.round(poly * scale).astype(np.int32).reshape(-1, 1, 2)], 255, lineType=cv2.LINE_AA)

    cov = _coverage(x.shape, draw)
    inside = (cov > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3).astype(np.float64)
    # the wall of the hole: lighter near the rim, dark at the bottom, lit from one side
    gy, gx = np.gradient(dist)
    light = rng.uniform(0, 2 * np.pi)
    side = 0.5 + 0.5 * (gx * np.cos(light) + gy * np.sin(light))
    dark = rng.uniform(0.03, 0.12)
    val = dark + 0.18 * np.exp(-dist / 2.0) * side + rng.normal(0, 0.01, x.shape)
    out: np.ndarray = x * (1 - cov) + cov * val
    return out


def _self_donor(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image rotated by 30–60° and rescaled by 1.4–2.2 (mirrored at its borders)."""
    h, w = x.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(30, 60) * rng.choice([-1, 1])), float(rng.uniform(1.4, 2.2)))
    return cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _patch(x: np.ndarray, rng: np.random.Generator, donor: np.ndarray | None = None) -> np.ndarray:
    h, w = x.shape
    if donor is None:
        src = _self_donor(x, rng)
    else:
        d: np.ndarray = np.asarray(donor, dtype=np.float64)
        if d.max() > 1.0:
            d = d / 255.0
        if d.shape[0] < h or d.shape[1] < w:
            d = cv2.resize(d, (max(w, d.shape[1]), max(h, d.shape[0])), interpolation=cv2.INTER_LINEAR)
        y0 = int(rng.integers(0, d.shape[0] - h + 1))
        x0 = int(rng.integers(0, d.shape[1] - w + 1))
        src = d[y0:y0 + h, x0:x0 + w]
    area = rng.uniform(0.03, 0.08)
    if rng.random() < 0.5:
        cov = np.clip(_ellipse_weight(x.shape, area, rng, soft=0.05) * 1.0, 0, 1)
    else:
        side_a = np.sqrt(area * h * w) * rng.uniform(0.75, 1.3)
        side_b = area * h * w / side_a
        rect = ((rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h), (side_a, side_b), rng.uniform(0, 180))
        box = cv2.boxPoints(rect)

        def draw(canvas: np.ndarray, scale: int) -> None:
            cv2.fillPoly(canvas, [np.round(box * scale).astype(np.int32).reshape(-1, 1, 2)], 255, lineType=cv2.LINE_AA)

        cov = _coverage(x.shape, draw)
    # match the foreign texture's mean to the surroundings: it differs in character, not in brightness
    sel = cov > 0.5
    if sel.any():
        src = src - src[sel].mean() + x[sel].mean()
    out: np.ndarray = x * (1 - cov) + cov * src
    return out


_DEFECT_FUNCS: dict[str, Callable[[np.ndarray, np.random.Generator, np.ndarray | None], np.ndarray]] = {
    "stain": _stain, "scratch": _scratch, "hole": _hole, "patch": _patch}


def _noise_rect(x_u8: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mask = random_box_mask(x_u8.shape, NOISE_AREA, rng)
    out = x_u8.copy()
    out[mask] = np.clip(np.round(rng.uniform(0.0, 1.0, int(mask.sum())) * 255), 0, 255).astype(np.uint8)
    return out, mask


def _finalize(x_u8: np.ndarray, defective: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantise a defective float image and derive its exact mask.

    The mask holds the pixels whose 8-bit value changed by more than :data:`MASK_LEVEL`, with holes
    filled and specks under 10 pixels dropped; every pixel outside the mask is reset to the original,
    so the image differs from the original only inside the mask."""
    from scipy import ndimage

    d_u8 = np.clip(np.round(defective * 255), 0, 255).astype(np.uint8)
    changed = np.abs(d_u8.astype(np.int16) - x_u8.astype(np.int16)) > MASK_LEVEL
    mask = ndimage.binary_fill_holes(changed)
    lab, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n > 0:
        sizes = np.bincount(lab.ravel())[1:]
        keep = np.flatnonzero(sizes >= min(10, sizes.max())) + 1
        mask = np.isin(lab, keep)
    out = np.where(mask, d_u8, x_u8)
    return out, mask


def grey_u8(img: np.ndarray) -> np.ndarray:
    """A grey H×W image as uint8 (floats in [0, 1] are scaled); ``ValueError`` for any other shape."""
    x_u8 = np.asarray(img)
    if x_u8.ndim != 2:
        raise ValueError(f"expected a grey H×W image, got shape {x_u8.shape}")
    if x_u8.dtype != np.uint8:
        x_u8 = np.clip(np.round(np.asarray(x_u8, np.float64) * 255), 0, 255).astype(np.uint8)
    return x_u8


def apply_defect(img: np.ndarray, kind: str, rng: np.random.Generator, donor: np.ndarray | None = None,
                 min_area: float = 0.003, min_change: float = 10.0,
                 max_tries: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Paint one defect of ``kind`` on a grey image; return ``(defective uint8 image, bool mask)``.

    ``img`` is an H×W uint8 image (a float image in [0, 1] is converted to uint8 first). Kinds:

    * ``stain`` — a smooth elliptical blob, brighter or darker (away from the local grey level),
      with a soft edge, 2–6 % of the area;
    * ``scratch`` — a thin (1–3 px) bright or dark anti-aliased random curve;
    * ``hole`` — a filled dark random polygon with shaded walls, 2–6 % of the area;
    * ``patch`` — an ellipse or rotated rectangle (3–8 %) of foreign texture: a crop of ``donor``
      when given, else a rotated and rescaled copy of the image itself; its mean is matched to the
      surroundings;
    * ``noise`` — a rectangle of 25–40 % of the area replaced by uniform noise U(0, 1) (the
      inpainting corruption of Dehaene et al.); its mask is the whole rectangle.

    Except for ``noise``, the mask is exactly where the 8-bit value changed by more than
    :data:`MASK_LEVEL` (holes filled, specks under 10 px dropped), and pixels outside the mask are
    bit-identical to the input. A defect covering less than ``min_area`` of the image, or changing
    its pixels by less than ``min_change`` grey levels on average, is drawn again (up to
    ``max_tries`` times; then the most visible draw is returned).
    """
    if kind not in _DEFECT_FUNCS and kind != "noise":
        raise ValueError(f"unknown defect {kind!r}; valid defects: {', '.join((*_DEFECT_FUNCS, 'noise'))}")
    x_u8 = grey_u8(img)
    if kind == "noise":
        return _noise_rect(x_u8, rng)
    x = x_u8.astype(np.float64) / 255.0
    best, best_score = None, -1.0
    for _ in range(max_tries):
        out, mask = _finalize(x_u8, _DEFECT_FUNCS[kind](x, rng, donor))
        if not mask.any():
            continue
        change = float(np.abs(out.astype(np.int16) - x_u8.astype(np.int16))[mask].mean())
        if mask.mean() >= min_area and change >= min_change:
            return out, mask
        score = min(mask.mean() / min_area, 1.0) * min(change / min_change, 1.0)
        if score > best_score:
            best, best_score = (out, mask), score
    if best is None:
        raise RuntimeError(f"could not paint a visible {kind} defect on this image")
    return best
