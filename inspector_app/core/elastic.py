"""The denoising augmentations' corruptions, and local elastic warps: the ``warp`` augmentation (issue 29).

A plain autoencoder learns to reproduce a texture so well that it reproduces a *bent* texture
too: its residual over a warp is barely above the good texture's, so the projection, which only
moves what f cannot reproduce, leaves the warp where it is. The ``warp`` augmentation makes a
denoising autoencoder of the geometric kind: half of each batch is bent by :func:`local_warp`
and f is trained to give back the straight texture, so that a bend becomes a residual.

The field is deliberately *not* one of the test set's generators
(:mod:`~inspector_app.core.geodefects`: discs with a shift, swirl, bulge or pinch, creases and
flaps, displaced and out-of-phase patches): it is a smooth random displacement, low-frequency noise
upsampled to the image, under an elongated Gaussian envelope of random size, orientation and place,
so the figures measured on those kinds are not a memory of their shapes.
"""

from __future__ import annotations

from typing import Collection

import cv2
import numpy as np
import torch

from .inpaint_masks import training_omega

__all__ = ["local_warp", "warp_field", "corrupt_batch"]

#: The envelope's standard deviations, as a share of the image's side.
SIGMA_SHARE = (0.04, 0.16)
#: The peak displacement, in pixels, as a share of the envelope's smaller standard deviation
#: (with at least :data:`MIN_PEAK_PX`).
PEAK_SHARE = (0.15, 0.6)
MIN_PEAK_PX = 1.5
#: The random field's grid (cells per side) before it is upsampled.
FIELD_CELLS = (2, 5)


def warp_field(shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A smooth displacement (dy, dx), each H×W float32, zero far from a random place."""
    h, w = shape
    side = float(min(h, w))
    sy, sx = rng.uniform(*SIGMA_SHARE, size=2) * side
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    th = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (yy - cy) * np.cos(th) + (xx - cx) * np.sin(th)
    v = -(yy - cy) * np.sin(th) + (xx - cx) * np.cos(th)
    env = np.exp(-0.5 * ((u / sy) ** 2 + (v / sx) ** 2)).astype(np.float32)
    cells = int(rng.integers(FIELD_CELLS[0], FIELD_CELLS[1] + 1))
    comps = []
    for _ in range(2):
        coarse = rng.normal(0.0, 1.0, (cells, cells)).astype(np.float32)
        comps.append(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) * env)
    dy, dx = comps
    peak = float(np.sqrt(dy ** 2 + dx ** 2).max())
    want = max(MIN_PEAK_PX, float(rng.uniform(*PEAK_SHARE)) * float(min(sy, sx)))
    k = want / peak if peak > 1e-6 else 0.0
    return (dy * k).astype(np.float32), (dx * k).astype(np.float32)


def local_warp(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``img`` (H×W or H×W×C, float) bent by :func:`warp_field`: ``out(p) = img(p − d(p))``,
    bilinear, borders mirrored; brightness is not changed, only where each value sits."""
    h, w = img.shape[:2]
    dy, dx = warp_field((h, w), rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = cv2.remap(np.ascontiguousarray(img, dtype=np.float32), xx - dx, yy - dy,
                    interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return np.asarray(out, dtype=np.float32).reshape(img.shape)


def corrupt_batch(x: torch.Tensor, rng: np.random.Generator, augment: Collection[str]) -> torch.Tensor:
    """A copy of the batch ``x`` (N×C×H×W) where every other image, drawn at random, has a
    rectangle (``noise``), or a mask of any family (``masks``), of uniform noise, or is bent
    (``warp``; with noise too, one or the other at random): the denoising augmentations' input."""
    out, noisy = x.clone(), bool({"noise", "masks"} & set(augment))
    for i in range(x.shape[0]):
        if rng.random() >= 0.5:
            continue
        if "warp" in augment and (not noisy or rng.random() < 0.5):
            bent = local_warp(x[i].permute(1, 2, 0).numpy(), rng)
            out[i] = torch.from_numpy(bent).permute(2, 0, 1).to(out.dtype)
            continue
        shape = (int(x.shape[2]), int(x.shape[3]))
        box = torch.from_numpy(training_omega(shape, rng, families="masks" in augment))
        noise = torch.from_numpy(rng.uniform(0.0, 1.0, (x.shape[1], int(box.sum()))).astype(np.float32))
        out[i][:, box] = noise.to(out.dtype)
    return out
