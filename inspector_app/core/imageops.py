"""Image operations every part of the core shares, at the bottom of its import graph.

numpy and OpenCV only. Images are float arrays in [0, 1], H×W (grey) or H×W×C; masks are boolean
H×W arrays; sizes are ``(height, width)`` tuples (numpy order), or one int for a square.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["composite", "convert_channels", "float_image", "hw", "mask_for", "resize_image", "resize_mask",
           "row_bands", "to_uint8"]


def hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"a size is (height, width) with positive sides, got {size!r}")
    return h, w


def float_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"the {name} must be H×W or H×W×C, got shape {image.shape}")
    if image.dtype.kind != "f":
        raise ValueError(f"the {name} must be a float array in [0, 1], got dtype {image.dtype}")
    return image


def mask_for(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.shape != image.shape[:2]:
        got = f"{mask.shape[1]}×{mask.shape[0]}" if mask.ndim == 2 else f"of shape {mask.shape}"
        raise ValueError(f"the mask is {got} but the image is {image.shape[1]}×{image.shape[0]}")
    return mask.astype(bool, copy=False)


def resize_image(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an H×W or H×W×C image to ``size`` (height, width), keeping its dtype and layout.

    ``cv2.INTER_AREA`` when neither side grows (no aliasing), ``cv2.INTER_LINEAR`` otherwise.
    An H×W×1 image stays H×W×1.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"an image is H×W or H×W×C, got shape {image.shape}")
    h, w = hw(size)
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
    h, w = hw(size)
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
    original = float_image(original, "original")
    mask = mask_for(original, mask)
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


def convert_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Grey ↔ RGB conversion to what a model takes."""
    if channels == 1 and img.ndim == 3:
        return cv2.cvtColor(np.asarray(img, np.float32), cv2.COLOR_RGB2GRAY)  # no copy of a float32 image
    if channels == 3 and img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    return img


#: Rows of an image that :func:`to_uint8` (and the full-size outputs' writers) handle at a time: the
#: float temporaries of a 6,000-px image stay a few MB instead of twice the image (issue 26).
BAND_ROWS = 256


def row_bands(height: int, rows: int = BAND_ROWS) -> list[slice]:
    """Slices of ``rows`` rows covering ``range(height)``, in order."""
    return [slice(r, r + rows) for r in range(0, int(height), rows)]


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Quantise a float image in [0, 1] to 8 bits (rounding to the nearest level).

    A float image is quantised :data:`BAND_ROWS` rows at a time, with the same operations in the
    same dtype as the whole expression ``(clip(img, 0, 1) * 255 + 0.5).astype(uint8)`` (the same
    bytes), so that only the 8-bit result has the image's size."""
    img = np.asarray(img)
    if img.ndim == 0 or img.dtype.kind != "f":
        whole: np.ndarray = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return whole
    out = np.empty(img.shape, np.uint8)
    for band in row_bands(img.shape[0]):
        t = np.clip(img[band], 0.0, 1.0)
        t *= 255.0
        t += 0.5
        out[band] = t  # the unsafe cast of astype: truncation of values in [0.5, 255.5]
    return out
