"""Helpers for the inpainting demo (section 4.2): corrupt, mask, reference inpainting, metrics.

Qt-free (numpy, OpenCV, scikit-image). Images are float arrays in [0, 1], H×W (grey) or H×W×C;
masks are boolean H×W arrays, True = inside Ω (the pixels that may change). Every function that
returns an image keeps the pixels outside the mask **bit-identical** to its input.

Sizes are ``(height, width)`` tuples (numpy order), or one int for a square.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = [
    "comparison_metrics",
    "composite",
    "corrupt_with_noise",
    "random_box_mask",
    "resize_image",
    "resize_mask",
    "telea_inpaint",
]


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"a size is (height, width) with positive sides, got {size!r}")
    return h, w


def _float_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"the {name} must be H×W or H×W×C, got shape {image.shape}")
    if image.dtype.kind != "f":
        raise ValueError(f"the {name} must be a float array in [0, 1], got dtype {image.dtype}")
    return image


def _mask_for(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.shape != image.shape[:2]:
        got = f"{mask.shape[1]}×{mask.shape[0]}" if mask.ndim == 2 else f"of shape {mask.shape}"
        raise ValueError(f"the mask is {got} but the image is {image.shape[1]}×{image.shape[0]}")
    return mask.astype(bool, copy=False)


def corrupt_with_noise(
    image: np.ndarray, mask: np.ndarray, seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """Replace the pixels inside ``mask`` by uniform noise U(0, 1), every channel independently.

    The corruption of section 4.2. Returns a new array of the image's (float) dtype; pixels
    outside the mask are bit-identical to ``image``.
    """
    image = _float_image(image)
    mask = _mask_for(image, mask)
    rng = np.random.default_rng(seed)
    out = image.copy()
    n = int(np.count_nonzero(mask))
    out[mask] = rng.random((n, *image.shape[2:])).astype(image.dtype, copy=False)
    return out


def random_box_mask(
    shape: int | tuple[int, int],
    fraction_range: tuple[float, float] = (0.2, 0.35),
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """A random axis-aligned rectangle as a boolean mask of ``shape`` (height, width).

    Its area is a fraction of the image drawn uniformly from ``fraction_range`` (up to rounding
    to whole pixels), its aspect ratio (width/height) log-uniform in [1/2, 2] (clipped to the
    image), its position uniform over the places where it fits.
    """
    h, w = _hw(shape if isinstance(shape, (int, np.integer)) else tuple(shape)[:2])
    lo, hi = (float(f) for f in fraction_range)
    if not (0.0 < lo <= hi <= 1.0):
        raise ValueError(f"fraction_range must satisfy 0 < low <= high <= 1, got {fraction_range!r}")
    rng = np.random.default_rng(rng)
    area = rng.uniform(lo, hi) * h * w
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    bh = min(max(round(math.sqrt(area / aspect)), 1), h)
    bw = min(max(round(area / bh), 1), w)
    bh = min(max(round(area / bw), 1), h)  # re-balance when the width was clipped
    top = int(rng.integers(0, h - bh + 1))
    left = int(rng.integers(0, w - bw + 1))
    mask = np.zeros((h, w), dtype=bool)
    mask[top : top + bh, left : left + bw] = True
    return mask


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def telea_inpaint(image: np.ndarray, mask: np.ndarray, radius: float = 3) -> np.ndarray:
    """Reference inpainting: OpenCV's Telea (2004) fast marching method, ``cv2.INPAINT_TELEA``.

    ``image`` is float in [0, 1], H×W or H×W×C; OpenCV works on 8 bits, so the filled pixels are
    quantized to 1/255. Returns the image's shape and dtype with the pixels outside ``mask``
    bit-identical to ``image``.
    """
    image = _float_image(image)
    mask = _mask_for(image, mask)
    out = image.copy()
    if not mask.any():
        return out
    m8 = mask.astype(np.uint8) * 255
    u8 = _to_u8(image)
    if u8.ndim == 2 or u8.shape[2] in (1, 3):
        filled = cv2.inpaint(u8, m8, float(radius), cv2.INPAINT_TELEA).reshape(image.shape)
    else:  # cv2.inpaint takes 1 or 3 channels: do the others one by one
        filled = np.stack(
            [cv2.inpaint(np.ascontiguousarray(u8[:, :, c]), m8, float(radius), cv2.INPAINT_TELEA)
             for c in range(u8.shape[2])],
            axis=2,
        )
    out[mask] = (filled[mask].astype(np.float32) / 255.0).astype(image.dtype, copy=False)
    return out


def resize_image(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an H×W or H×W×C image to ``size`` (height, width), keeping its dtype and layout.

    ``cv2.INTER_AREA`` when neither side grows (no aliasing), ``cv2.INTER_LINEAR`` otherwise.
    An H×W×1 image stays H×W×1.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"an image is H×W or H×W×C, got shape {image.shape}")
    h, w = _hw(size)
    if (h, w) == image.shape[:2]:
        return image.copy()
    shrink = h <= image.shape[0] and w <= image.shape[1]
    src = image if image.dtype != bool else image.astype(np.uint8)
    out = cv2.resize(
        np.ascontiguousarray(src), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    if image.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel
        out = out[:, :, None]
    return out


def resize_mask(mask: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a boolean mask so that Ω at the new size covers Ω at the old one.

    A pixel of the result is inside when the area it covers in the original overlaps *any*
    inside pixel: ``cv2.resize(mask as float, INTER_AREA) > 0`` (area averaging, so any overlap
    gives a positive value). Going down to the model's size this is conservative: every pixel the
    user marked is free to change at the model's resolution. (For integer factors up this is
    nearest neighbour.)
    """
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim != 2:
        raise ValueError(f"a mask is H×W, got shape {mask.shape}")
    h, w = _hw(size)
    if (h, w) == mask.shape:
        return mask.astype(bool, copy=True)
    f = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    return f > 0


def composite(original: np.ndarray, result_small: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Paste a result computed at the model's size back into ``original`` inside ``mask``.

    ``result_small`` (e.g. 32×32, grey or colour like ``original``, H×W×1 accepted for grey) is
    resized to the original's size with :func:`resize_image` (INTER_LINEAR up, INTER_AREA down);
    ``mask`` is at the original's resolution. The pixels outside the mask are bit-identical to
    ``original``; the result has the original's dtype.
    """
    original = _float_image(original, "original")
    mask = _mask_for(original, mask)
    small = np.asarray(result_small)
    if small.ndim not in (2, 3):
        raise ValueError(f"the result must be H×W or H×W×C, got shape {small.shape}")
    channels = 1 if original.ndim == 2 else original.shape[2]
    small_channels = 1 if small.ndim == 2 else small.shape[2]
    if channels != small_channels:
        raise ValueError(
            f"the result has {small_channels} channel(s) but the original has {channels}"
        )
    big = resize_image(small, original.shape[:2]).reshape(original.shape)
    out = original.copy()
    out[mask] = big[mask].astype(original.dtype, copy=False)
    return out


def _odd_win(shape: tuple[int, ...]) -> int:
    side = min(shape[:2])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise ValueError(f"images of {shape[1]}×{shape[0]} are too small for SSIM (3×3 at least)")
    return win


def comparison_metrics(image: np.ndarray, ground_truth: np.ndarray) -> dict[str, float]:
    """PSNR (dB, ``inf`` for identical images) and SSIM of ``image`` against ``ground_truth``.

    scikit-image's metrics with ``data_range=1``; colour images use ``channel_axis=-1`` (H×W×1
    is treated as grey). SSIM's window is ``min(7, smallest odd side)`` so that small images
    (25×25, 32×32) work.
    """
    a = np.asarray(image, dtype=np.float64)
    b = np.asarray(ground_truth, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare images of shapes {a.shape} and {b.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a, b = a[:, :, 0], b[:, :, 0]
    if a.ndim not in (2, 3):
        raise ValueError(f"an image is H×W or H×W×C, got shape {a.shape}")
    mse = float(np.mean((a - b) ** 2))
    psnr = math.inf if mse == 0.0 else float(peak_signal_noise_ratio(b, a, data_range=1.0))
    ssim = float(
        structural_similarity(
            b, a, data_range=1.0, win_size=_odd_win(a.shape), channel_axis=-1 if a.ndim == 3 else None
        )
    )
    return {"psnr": psnr, "ssim": ssim}
