"""Families of inpainting masks Ω, and masked inpainting measured on each against OpenCV's Telea.

The schedule a face model carries (``calibrate --inpainting``, :mod:`.inpaint_tuning`) was tuned on
one kind of mask: a rectangle of noise covering 25-40 % of the face. A user paints other masks. The
families here (all boolean H×W, drawn from a seeded generator, sizes relative to the image):

* ``disc_small`` / ``disc_large`` — one disc, radius 6-9 % / 15-22 % of the side;
* ``strokes`` — 1-3 straight strokes, 2-3 px wide;
* ``brush`` — a free-hand stroke: a random walk of a round brush (radius 1.5-2.5 px);
* ``rect_small`` / ``rect_large`` — a rectangle of 4-8 % / 25-40 % of the image (the tuned kind);
* ``eyes`` / ``mouth`` — a band over an aligned face's eyes (rows 30-47 %) or mouth (rows 68-84 %),
  jittered by a pixel or two.

:func:`evaluate_families` corrupts held-out clean images with noise inside each mask (as in
section 4.2), fills Ω with Telea, and runs masked inpainting (eq. 7) from the Telea fill and from
the corrupted pixels (the paper's start); it returns the PSNR inside Ω of each, per family.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .defects import NOISE_AREA
from .inpainting import THIN_DEPTH, THIN_SHARE, corrupt_with_noise, random_box_mask, telea_inpaint, thin_mask
from .metrics import psnr

if TYPE_CHECKING:
    from .modelio import LoadedModel
    from .params import ProjectionParams

FAMILIES = ("disc_small", "disc_large", "strokes", "brush", "rect_small", "rect_large", "eyes", "mouth")


def _disc(shape: tuple[int, int], rng: np.random.Generator, radius: tuple[float, float]) -> np.ndarray:
    h, w = shape
    r = rng.uniform(*radius) * min(h, w)
    cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
    yy, xx = np.mgrid[:h, :w]
    disc: np.ndarray = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return disc


def _line(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: float) -> None:
    """Draw a thick segment (a round brush of ``radius`` pixels moved from ``p0`` to ``p1``)."""
    h, w = mask.shape
    yy, xx = np.mgrid[:h, :w]
    n = max(2, int(math.hypot(p1[0] - p0[0], p1[1] - p0[1]) * 2))
    for t in np.linspace(0.0, 1.0, n):
        y, x = p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1])
        mask |= (yy - y) ** 2 + (xx - x) ** 2 <= radius * radius


def _strokes(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    m = np.zeros(shape, bool)
    for _ in range(int(rng.integers(1, 4))):
        _line(m, (rng.uniform(0, h), rng.uniform(0, w)), (rng.uniform(0, h), rng.uniform(0, w)),
              rng.uniform(1.0, 1.5))
    return m


def _brush(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    m = np.zeros(shape, bool)
    y, x = rng.uniform(0.2 * h, 0.8 * h), rng.uniform(0.2 * w, 0.8 * w)
    heading = rng.uniform(0, 2 * math.pi)
    radius = rng.uniform(1.5, 2.5)
    for _ in range(int(rng.integers(12, 26))):
        heading += rng.normal(0.0, 0.6)
        ny = float(np.clip(y + 1.5 * math.sin(heading), 0, h - 1))
        nx = float(np.clip(x + 1.5 * math.cos(heading), 0, w - 1))
        _line(m, (y, x), (ny, nx), radius)
        y, x = ny, nx
    return m


def _band(shape: tuple[int, int], rng: np.random.Generator, rows: tuple[float, float],
          cols: tuple[float, float]) -> np.ndarray:
    h, w = shape
    dy, dx = rng.integers(-1, 2), rng.integers(-2, 3)
    m = np.zeros(shape, bool)
    r0, r1 = int(round(rows[0] * h)) + dy, int(round(rows[1] * h)) + dy
    c0, c1 = int(round(cols[0] * w)) + dx, int(round(cols[1] * w)) + dx
    m[max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)] = True
    return m


def family_mask(family: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One mask of ``family`` (see the module docstring) for an image of ``shape`` (H, W)."""
    if family == "disc_small":
        return _disc(shape, rng, (0.06, 0.09))
    if family == "disc_large":
        return _disc(shape, rng, (0.15, 0.22))
    if family == "strokes":
        return _strokes(shape, rng)
    if family == "brush":
        return _brush(shape, rng)
    if family == "rect_small":
        return random_box_mask(shape, (0.04, 0.08), rng)
    if family == "rect_large":
        return random_box_mask(shape, (0.25, 0.40), rng)
    if family == "eyes":
        return _band(shape, rng, (0.30, 0.47), (0.12, 0.88))
    if family == "mouth":
        return _band(shape, rng, (0.68, 0.84), (0.28, 0.72))
    raise ValueError(f"mask family must be one of {', '.join(FAMILIES)}, got {family!r}")


def training_omega(shape: tuple[int, int], rng: np.random.Generator, families: bool = False) -> np.ndarray:
    """Ω for a denoising model's training input: a rectangle of 25-40 % of the image (the
    ``noise`` augmentation), or (``families``: the ``masks`` augmentation) a mask of a family
    drawn at random, so that the model learns to fill every shape a user paints."""
    if not families:
        return random_box_mask(shape, NOISE_AREA, rng)
    return family_mask(FAMILIES[int(rng.integers(len(FAMILIES)))], shape, rng)


def evaluate_families(loaded: LoadedModel, clean: list[np.ndarray], masked: ProjectionParams,
                      input_params: ProjectionParams, *, families: tuple[str, ...] = FAMILIES, per_image: int = 1,
                      seed: int = 0, progress: Callable[[str], None] | None = None,
                      masked_thin: ProjectionParams | None = None, thin_init: str = "telea") -> dict[str, Any]:
    """PSNR inside Ω of Telea, masked inpainting from the Telea fill (``masked``) and from the
    corrupted pixels (``input_params``), per family, over ``clean`` (held-out images at the model's
    size, float [0, 1]) each given ``per_image`` masks. Returns ``{family: {telea, from_telea,
    from_input, gain_from_telea, gain_from_input, wins_from_telea, wins_from_input, cases,
    mask_fraction}}`` (dB means; wins: cases better than Telea). ``masked_thin``: the schedule for
    a thin or small Ω (:func:`thin_mask`; a model's ``thin`` block), run from ``thin_init``
    (``telea`` or ``input``) in the ``from_telea`` column; ``thin_cases`` counts them."""
    import torch

    from .data import to_tensor
    from .projection import run_to_end

    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for fam in families:
        rows, frac, thin = [], [], 0
        for img in clean:
            img = np.asarray(img, np.float32)
            for _ in range(per_image):
                mask = family_mask(fam, img.shape[:2], rng)
                bad = corrupt_with_noise(img, mask, rng)
                telea = telea_inpaint(bad, mask)
                omega = torch.from_numpy(mask[None, None].astype(np.float32))
                row = [psnr(telea, img, mask=mask)]
                own = (telea, masked)
                if masked_thin is not None and thin_mask(mask):
                    own, thin = (telea if thin_init == "telea" else bad, masked_thin), thin + 1
                for start, p in (own, (bad, input_params)):
                    _, last, _c = run_to_end(loaded.model, to_tensor([start]), p, mask=omega)
                    x = last.x[0].detach().cpu().numpy().transpose(1, 2, 0).reshape(img.shape)
                    row.append(psnr(np.clip(x, 0.0, 1.0), img, mask=mask))
                rows.append(row)
                frac.append(float(mask.mean()))
        a = np.array(rows)
        out[fam] = {"cases": len(rows), "mask_fraction": float(np.mean(frac)), "telea": float(a[:, 0].mean()),
                    "from_telea": float(a[:, 1].mean()), "from_input": float(a[:, 2].mean()),
                    "gain_from_telea": float((a[:, 1] - a[:, 0]).mean()),
                    "gain_from_input": float((a[:, 2] - a[:, 0]).mean()),
                    "wins_from_telea": int((a[:, 1] > a[:, 0]).sum()), "wins_from_input": int((a[:, 2] > a[:, 0]).sum()),
                    "thin_cases": thin}
        if progress is not None:
            progress(fam)
    return out


__all__ = ["FAMILIES", "THIN_DEPTH", "THIN_SHARE", "evaluate_families", "family_mask", "thin_mask", "training_omega"]
