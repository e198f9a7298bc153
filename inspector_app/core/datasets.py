"""Synthetic anomaly-detection categories in the MVTec AD layout, from images scikit-image bundles.

:func:`make_dataset` writes one category::

    OUT/train/good/000.png ...                 normal training images
    OUT/test/good/000.png ...                  normal test images
    OUT/test/<defect>/000.png ...              defective test images
    OUT/ground_truth/<defect>/000_mask.png     0/255 mask of each defective image, same size
    OUT/clean/<defect>/000.png                 (faces only, outside MVTec's layout) the clean
                                               original of each corrupted test image
    OUT/dataset.json, OUT/README.txt           source, seed, counts, region split, crop boxes

All images are 8-bit grey PNGs. Sources (:data:`SOURCES`):

* ``brick``, ``grass``, ``gravel`` — the 512×512 textures of ``skimage.data``;
* ``grid`` — a generated regular grid (dark lines on a light background, anti-aliased, slightly
  tilted, with uneven lighting and noise), 512×512, like figure 1 of Dehaene et al. (2020);
* ``faces`` — the 100 faces of ``skimage.data.lfw_subset()`` (25×25, resized to 32×32).

Textures and grid: every image is a square crop (128×128 by default, ``image_size`` overrides)
of the source, at a random position from ``np.random.default_rng(seed)``, then randomly flipped
and rotated by a multiple of 90°. Train and test crops come from disjoint parts of the source
(:func:`split_regions`): the train crops from the left columns, the test crops from a strip of
the right columns (a quarter of the width, at least one crop wide). Test crops may overlap each
other but never a train crop. Defects (:data:`DEFECTS`, :func:`apply_defect`) are painted on
test crops: ``stain``, ``scratch``, ``hole`` and ``patch``.

Faces: train/good are faces 0..79 (if ``n_train`` > 80, horizontally flipped copies of faces
0..79 follow, so at most 160); test/good are faces 80..99 and test/noise the same faces with a
rectangle (25–40 % of the area) replaced by uniform noise U(0, 1) — the corruption of the paper's
inpainting experiment; ``clean/noise/`` holds the originals. Counts are capped accordingly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

__all__ = [
    "SOURCES",
    "DEFECTS",
    "MASK_LEVEL",
    "load_source",
    "split_regions",
    "apply_defect",
    "make_dataset",
]

SOURCES = ("brick", "grass", "gravel", "grid", "faces")
TEXTURE_DEFECTS = ("stain", "scratch", "hole", "patch")
DEFECTS: dict[str, tuple[str, ...]] = {
    "brick": TEXTURE_DEFECTS,
    "grass": TEXTURE_DEFECTS,
    "gravel": TEXTURE_DEFECTS,
    "grid": TEXTURE_DEFECTS,
    "faces": ("noise",),
}
#: A pixel belongs to a defect's mask when the defect changed its 8-bit value by more than this.
MASK_LEVEL = 2

SOURCE_SIZE = 512
DEFAULT_CROP = 128
DEFAULT_FACE_SIZE = 32
N_FACES = 100
N_TRAIN_FACES = 80
# Donor texture of the "patch" defect for each source (None: a rotated, rescaled copy of the source).
_PATCH_DONOR = {"brick": "gravel", "grass": "brick", "gravel": "grass", "grid": None}

Progress = Callable[[int, int], None]


# ----------------------------------------------------------------------------------------- sources

def _grid_image(size: int = SOURCE_SIZE, seed: int = 0) -> np.ndarray:
    """A regular grid, dark lines on a light background, as uint8 (size × size).

    Drawn at twice the size and reduced with area averaging (anti-aliasing), slightly tilted,
    with a smooth lighting gradient and a little Gaussian noise."""
    rng = np.random.default_rng(seed)
    big = 2 * size
    period = 2 * 21.0  # pixels of the large image: ~6 cells across a 128 crop
    half_width = 2 * 1.6
    angle = np.deg2rad(rng.uniform(2.0, 5.0))
    y, x = np.mgrid[0:big, 0:big].astype(np.float64)
    u = x * np.cos(angle) + y * np.sin(angle) + rng.uniform(0, period)
    v = -x * np.sin(angle) + y * np.cos(angle) + rng.uniform(0, period)

    def lines(t):
        d = np.abs((t % period) - period / 2)  # distance to the nearest line, which sits at period/2
        return np.clip(half_width + 0.5 - d, 0.0, 1.0)

    ink = np.maximum(lines(u), lines(v))
    img = 0.80 * (1 - ink) + 0.18 * ink
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:size, 0:size] / size
    a, b = rng.uniform(-1, 1, 2)
    img = img + 0.05 * (a * (xx - 0.5) + b * (yy - 0.5)) + 0.03 * np.sin(2 * np.pi * (xx + yy) * 0.7)
    img = img + rng.normal(0.0, 0.015, img.shape)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def load_source(source: str, seed: int = 0) -> np.ndarray:
    """The source image of a texture category (uint8, 512×512), or the 100 faces (100×25×25 uint8)."""
    import skimage.data

    _check_source(source)
    if source == "grid":
        return _grid_image(SOURCE_SIZE, seed)
    if source == "faces":
        faces = skimage.data.lfw_subset()[:N_FACES]
        return np.clip(np.round(faces * 255), 0, 255).astype(np.uint8)
    img = getattr(skimage.data, source)()
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.shape != (SOURCE_SIZE, SOURCE_SIZE):
        img = cv2.resize(img, (SOURCE_SIZE, SOURCE_SIZE), interpolation=cv2.INTER_AREA)
    return img.astype(np.uint8)


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; valid sources: {', '.join(SOURCES)}")


# ------------------------------------------------------------------------------------- region split

def split_regions(shape: tuple[int, int], crop_size: int = DEFAULT_CROP) -> dict[str, tuple[int, int, int, int]]:
    """Disjoint train and test regions of a source image, as boxes ``(y0, x0, y1, x1)`` (end exclusive).

    The test region is the strip of the rightmost ``max(W // 4, crop_size)`` columns, full height;
    the train region is every column left of it. Any crop lying inside one region is disjoint from
    any crop lying inside the other. Raises ``ValueError`` when a crop does not fit in both.
    """
    h, w = int(shape[0]), int(shape[1])
    test_w = max(w // 4, crop_size)
    train_w = w - test_w
    if crop_size > h or train_w < crop_size:
        raise ValueError(
            f"crops of {crop_size} px do not fit a {h}×{w} source split into train and test parts; "
            f"the largest image_size for it is {min(h, w // 2)}"
        )
    return {"train": (0, 0, h, train_w), "test": (0, train_w, h, w)}


def _random_box(region, size: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    y0r, x0r, y1r, x1r = region
    y0 = int(rng.integers(y0r, y1r - size + 1))
    x0 = int(rng.integers(x0r, x1r - size + 1))
    return (y0, x0, y0 + size, x0 + size)


def _augment(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    k = int(rng.integers(0, 4))
    flip = bool(rng.integers(0, 2))
    out = np.rot90(img, k)
    if flip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out), {"rot90": k, "flip_lr": flip}


# ------------------------------------------------------------------------------------------ defects

def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _ellipse_weight(shape, area_frac, rng, soft=0.35) -> np.ndarray:
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


def _coverage(shape, draw, scale: int = 4) -> np.ndarray:
    """Anti-aliased coverage in [0, 1]: ``draw(canvas, scale)`` paints 255 on a canvas ``scale`` times larger."""
    h, w = shape
    canvas = np.zeros((h * scale, w * scale), np.uint8)
    draw(canvas, scale)
    return cv2.resize(canvas.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)


def _random_polygon(shape, area_frac, rng, n_min=7, n_max=12) -> np.ndarray:
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


def _stain(x, rng, donor=None):
    w = _ellipse_weight(x.shape, rng.uniform(0.02, 0.06), rng)
    shift = _far_level(x, w) * rng.uniform(0.25, 0.45)
    return x + w * shift


def _scratch(x, rng, donor=None):
    h, w = x.shape
    length = rng.uniform(0.5, 0.9) * max(h, w)
    n_seg = 24
    step = length / n_seg
    p = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
    heading = rng.uniform(0, 2 * np.pi)
    turn = rng.normal(0, 0.08)
    pts = [p.copy()]
    for _ in range(n_seg):
        heading += turn + rng.normal(0, 0.12)
        p = p + step * np.array([np.cos(heading), np.sin(heading)])
        pts.append(p.copy())
    pts = np.array(pts)
    thickness = rng.uniform(1.0, 3.0)

    def draw(canvas, scale):
        q = np.round(pts * scale).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [q], False, 255, thickness=max(1, int(round(thickness * scale))), lineType=cv2.LINE_AA)

    cov = _coverage(x.shape, draw)
    level = 0.95 if _far_level(x, cov) > 0 else 0.05
    alpha = rng.uniform(0.75, 0.95)
    return x + alpha * cov * (level - x)


def _hole(x, rng, donor=None):
    poly = _random_polygon(x.shape, rng.uniform(0.02, 0.06), rng)

    def draw(canvas, scale):
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
    return x * (1 - cov) + cov * val


def _self_donor(x, rng) -> np.ndarray:
    """The image rotated by 30–60° and rescaled by 1.4–2.2 (mirrored at its borders)."""
    h, w = x.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(30, 60) * rng.choice([-1, 1])), float(rng.uniform(1.4, 2.2)))
    return cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _patch(x, rng, donor=None):
    h, w = x.shape
    if donor is None:
        src = _self_donor(x, rng)
    else:
        d = np.asarray(donor, dtype=np.float64)
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

        def draw(canvas, scale):
            cv2.fillPoly(canvas, [np.round(box * scale).astype(np.int32).reshape(-1, 1, 2)], 255, lineType=cv2.LINE_AA)

        cov = _coverage(x.shape, draw)
    # match the foreign texture's mean to the surroundings: it differs in character, not in brightness
    sel = cov > 0.5
    if sel.any():
        src = src - src[sel].mean() + x[sel].mean()
    return x * (1 - cov) + cov * src


_DEFECT_FUNCS = {"stain": _stain, "scratch": _scratch, "hole": _hole, "patch": _patch}


def _noise_rect(x_u8: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = x_u8.shape
    area = rng.uniform(0.25, 0.40) * h * w
    rh = int(np.clip(round(np.sqrt(area) * rng.uniform(0.75, 1.33)), 1, h))
    rw = int(np.clip(round(area / rh), 1, w))
    y0 = int(rng.integers(0, h - rh + 1))
    x0 = int(rng.integers(0, w - rw + 1))
    out = x_u8.copy()
    mask = np.zeros((h, w), bool)
    mask[y0:y0 + rh, x0:x0 + rw] = True
    noise = rng.uniform(0.0, 1.0, (rh, rw))
    out[y0:y0 + rh, x0:x0 + rw] = np.clip(np.round(noise * 255), 0, 255).astype(np.uint8)
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
    x_u8 = np.asarray(img)
    if x_u8.ndim != 2:
        raise ValueError(f"expected a grey H×W image, got shape {x_u8.shape}")
    if x_u8.dtype != np.uint8:
        x_u8 = np.clip(np.round(np.asarray(x_u8, np.float64) * 255), 0, 255).astype(np.uint8)
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


# ------------------------------------------------------------------------------------------ writing

def _counter(total: int, progress: Progress | None) -> Callable[[], None]:
    """A ``step()`` that counts written images and reports ``progress(done, total)``."""
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    return step


def _split_counts(n_test: int, defects: tuple[str, ...]) -> tuple[int, dict[str, int]]:
    """n_test // (k + 1) good test images; the rest spread evenly over the k defects (first ones get extras)."""
    k = len(defects)
    n_good = n_test // (k + 1)
    rest = n_test - n_good
    per = {d: rest // k + (1 if i < rest % k else 0) for i, d in enumerate(defects)}
    return n_good, per


def _write(path: Path, img: np.ndarray) -> None:
    from .data import write_image

    write_image(path, img)  # atomic: an interrupted run never leaves half an image


_OWNED = ("train", "test", "ground_truth", "clean", "dataset.json", "README.txt")
#: ``dataset.json`` says which program wrote the folder, and whether it finished.
MARKER = "inspector-app make-dataset"


def dataset_marker(folder: Path) -> dict | None:
    """The ``dataset.json`` of a folder written by :func:`make_dataset`, or ``None``."""
    f = Path(folder) / "dataset.json"
    try:
        meta = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("written_by") == MARKER else None


def check_complete(folder: Path) -> None:
    """Raise ``ValueError`` when ``folder`` is a make-dataset folder whose writing was interrupted."""
    for d in (Path(folder), Path(folder).parent.parent):  # the category, or train/good inside it
        meta = dataset_marker(d)
        if meta is not None and not meta.get("complete", False):
            raise ValueError(f"{d}: this data set was not finished (make-dataset was interrupted); "
                             "write it again with make-dataset --overwrite")


def _prepare_out(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise FileExistsError(f"{out_dir} exists and is not a directory")
        present = [n for n in _OWNED if (out_dir / n).exists()]
        if present:
            if dataset_marker(out_dir) is None:
                raise FileExistsError(
                    f"{out_dir} already holds {', '.join(present)}, not written by make-dataset; "
                    "it is left alone (choose another folder)")
            if not overwrite:
                raise FileExistsError(f"{out_dir} already holds a dataset ({', '.join(present)}); "
                                      "choose another folder or overwrite")
            for n in present:  # only what make-dataset itself writes
                p = out_dir / n
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _write_marker(out_dir: Path, meta: dict, complete: bool) -> None:
    from .data import atomic_write_bytes

    atomic_write_bytes(out_dir / "dataset.json",
                       json.dumps({"written_by": MARKER, "complete": complete, **meta}, indent=1).encode())


def make_dataset(source: str, out_dir: Path, n_train: int = 500, n_test: int = 60, seed: int = 0,
                 image_size: int | None = None, progress: Progress | None = None,
                 overwrite: bool = False) -> dict:
    """Write one synthetic category in the MVTec AD layout (see the module docstring) and return a summary.

    ``source`` is one of :data:`SOURCES`. Textures and grid: ``n_train`` train crops and ``n_test``
    test crops of ``image_size`` (default 128) pixels from disjoint regions of the 512×512 source
    (:func:`split_regions`); of the test images ``n_test // (k + 1)`` are good and the rest are
    spread evenly over the k defect types of :data:`DEFECTS`. Faces: counts are capped at 160 train
    images (80 faces and their mirror images) and 20 good + 20 noisy test faces; ``image_size``
    (default 32) is the side the faces are resized to. Everything is drawn from
    ``np.random.default_rng(seed)``, so a seed gives the same files.

    ``progress(done, total)`` is called after each image. An ``out_dir`` that already holds a
    dataset raises ``FileExistsError`` unless ``overwrite`` (which deletes only the dataset's own
    folders and files). The summary holds ``source``, ``seed``, ``image_size``, ``defects``,
    ``counts`` (``{"train/good": n, "test/good": n, "test/<defect>": n, ...}``), ``regions`` and
    ``out_dir``; ``dataset.json`` holds the same plus the box and transform of each image.
    """
    _check_source(source)
    n_train, n_test = int(n_train), int(n_test)
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be at least 1, got {n_train} and {n_test}")
    if image_size is not None and int(image_size) < 8:
        raise ValueError(f"image_size must be at least 8, got {image_size}")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    if source == "faces":
        meta = _make_faces(out_dir, n_train, n_test, rng, image_size or DEFAULT_FACE_SIZE, progress, overwrite)
    else:
        meta = _make_texture(source, out_dir, n_train, n_test, rng, seed, image_size or DEFAULT_CROP, progress,
                             overwrite)
    meta = {"source": source, "seed": seed, **meta}
    from .data import atomic_write_bytes

    atomic_write_bytes(out_dir / "README.txt", _readme(meta).encode())
    _write_marker(out_dir, meta, complete=True)  # last: a folder without it was interrupted
    summary = {k: v for k, v in meta.items() if k != "files"}
    summary["out_dir"] = str(out_dir)
    return summary


def _make_texture(source, out_dir, n_train, n_test, rng, seed, size, progress, overwrite) -> dict:
    src = load_source(source, seed)
    regions = split_regions(src.shape, size)  # validates size before anything is written
    donor_name = _PATCH_DONOR[source]
    donor = load_source(donor_name, seed) if donor_name else None
    defects = DEFECTS[source]
    n_good, per_defect = _split_counts(n_test, defects)
    _prepare_out(out_dir, overwrite)
    _write_marker(out_dir, {"source": source, "seed": seed}, complete=False)
    total = n_train + n_test
    files = []
    counts = {"train/good": n_train, "test/good": n_good}

    def crop(split):
        box = _random_box(regions[split], size, rng)
        img, tf = _augment(src[box[0]:box[2], box[1]:box[3]], rng)
        return img, {"box": list(box), **tf}

    step = _counter(total, progress)

    for i in range(n_train):
        img, info = crop("train")
        _write(out_dir / "train" / "good" / f"{i:03d}.png", img)
        files.append({"file": f"train/good/{i:03d}.png", "split": "train", **info})
        step()
    for i in range(n_good):
        img, info = crop("test")
        _write(out_dir / "test" / "good" / f"{i:03d}.png", img)
        files.append({"file": f"test/good/{i:03d}.png", "split": "test", **info})
        step()
    for d in defects:
        counts[f"test/{d}"] = per_defect[d]
        for i in range(per_defect[d]):
            img, info = crop("test")
            bad, mask = apply_defect(img, d, rng, donor=donor)
            _write(out_dir / "test" / d / f"{i:03d}.png", bad)
            _write(out_dir / "ground_truth" / d / f"{i:03d}_mask.png", mask.astype(np.uint8) * 255)
            files.append({"file": f"test/{d}/{i:03d}.png", "split": "test", "defect": d,
                          "mask": f"ground_truth/{d}/{i:03d}_mask.png",
                          "defect_area": float(mask.mean()), **info})
            step()
    return {
        "image_size": size,
        "source_shape": list(src.shape),
        "defects": list(defects),
        "patch_donor": donor_name or "rotated and rescaled copy of the source",
        "counts": counts,
        "regions": {k: list(v) for k, v in regions.items()},
        "region_split": (f"train crops lie in columns {regions['train'][1]}..{regions['train'][3] - 1}, "
                         f"test crops in columns {regions['test'][1]}..{regions['test'][3] - 1} of the "
                         f"{src.shape[0]}x{src.shape[1]} source: no test crop overlaps a train crop"),
        "files": files,
    }


def _make_faces(out_dir, n_train, n_test, rng, size, progress, overwrite) -> dict:
    faces = load_source("faces")

    def prep(f):
        return cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) if f.shape != (size, size) else f.copy()

    n_train = min(n_train, 2 * N_TRAIN_FACES)
    n_good, per = _split_counts(n_test, ("noise",))
    n_test_faces = N_FACES - N_TRAIN_FACES
    n_good = min(n_good, n_test_faces)
    n_noise = min(per["noise"], n_test_faces)
    _prepare_out(out_dir, overwrite)
    _write_marker(out_dir, {"source": "faces"}, complete=False)
    total = n_train + n_good + n_noise
    files = []

    step = _counter(total, progress)

    for i in range(n_train):
        j = i % N_TRAIN_FACES
        img = prep(faces[j])
        flip = i >= N_TRAIN_FACES
        if flip:
            img = np.ascontiguousarray(img[:, ::-1])
        _write(out_dir / "train" / "good" / f"{i:03d}.png", img)
        files.append({"file": f"train/good/{i:03d}.png", "split": "train", "face": j, "flip_lr": flip})
        step()
    for i in range(n_good):
        j = N_TRAIN_FACES + i
        _write(out_dir / "test" / "good" / f"{i:03d}.png", prep(faces[j]))
        files.append({"file": f"test/good/{i:03d}.png", "split": "test", "face": j})
        step()
    for i in range(n_noise):
        j = N_TRAIN_FACES + i
        clean = prep(faces[j])
        bad, mask = apply_defect(clean, "noise", rng)
        _write(out_dir / "test" / "noise" / f"{i:03d}.png", bad)
        _write(out_dir / "ground_truth" / "noise" / f"{i:03d}_mask.png", mask.astype(np.uint8) * 255)
        _write(out_dir / "clean" / "noise" / f"{i:03d}.png", clean)
        files.append({"file": f"test/noise/{i:03d}.png", "split": "test", "face": j, "defect": "noise",
                      "mask": f"ground_truth/noise/{i:03d}_mask.png", "clean": f"clean/noise/{i:03d}.png",
                      "defect_area": float(mask.mean())})
        step()
    return {
        "image_size": size,
        "defects": ["noise"],
        "counts": {"train/good": n_train, "test/good": n_good, "test/noise": n_noise},
        "region_split": (f"train: faces 0..{N_TRAIN_FACES - 1} of skimage.data.lfw_subset()"
                         + (" and their mirror images" if n_train > N_TRAIN_FACES else "")
                         + f"; test: faces {N_TRAIN_FACES}..{N_FACES - 1} (different people's images)"),
        "files": files,
    }


def _readme(meta: dict) -> str:
    lines = [
        f"Synthetic anomaly-detection category '{meta['source']}' in the MVTec AD layout,",
        "written by inspector_app.core.datasets.make_dataset.",
        "",
        f"source:     {meta['source']}",
        f"seed:       {meta['seed']}",
        f"image size: {meta['image_size']} x {meta['image_size']} (8-bit grey PNG)",
        f"defects:    {', '.join(meta['defects'])}",
        f"split:      {meta['region_split']}",
        "",
        "counts:",
        *(f"  {k}: {v}" for k, v in meta["counts"].items()),
        "",
        "ground_truth/<defect>/NNN_mask.png: 0/255 mask of test/<defect>/NNN.png.",
    ]
    if meta["source"] == "faces":
        lines.append("clean/noise/NNN.png (not part of MVTec's layout): the clean original of test/noise/NNN.png.")
    lines.append("dataset.json: the same, plus the crop box / transform of every image.")
    return "\n".join(lines) + "\n"
