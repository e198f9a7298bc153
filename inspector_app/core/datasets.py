"""Synthetic anomaly-detection categories in the MVTec AD layout, from images scikit-image bundles.

:func:`make_dataset` writes one category::

    OUT/train/good/000.png ...                 normal training images
    OUT/test/good/000.png ...                  normal test images
    OUT/test/<defect>/000.png ...              defective test images
    OUT/ground_truth/<defect>/000_mask.png     0/255 mask of each defective image, same size
    OUT/clean/<defect>/000.png                 (faces only, outside MVTec's layout) the clean
                                               original of each corrupted test image
    OUT/dataset.json, OUT/README.txt           source, seed, counts, region split, crop boxes
    OUT/full/test/..., OUT/full/ground_truth/... (textures, ``full_size`` > 0) whole sources with
                                               defects anywhere, in the same layout
                                               (:mod:`inspector_app.core.datasets_full`)

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
test crops: ``stain``, ``scratch``, ``hole`` and ``patch``; with ``geometric``, also the defects that
move the texture without changing its brightness (:data:`GEOMETRIC_DEFECTS`, :mod:`inspector_app.core.geodefects`):
``warp``, ``fold``, ``displaced`` and ``missing``.

Faces: train/good are faces 0..79 (if ``n_train`` > 80, horizontally flipped copies of faces
0..79 follow, so at most 160); test/good are faces 80..99 and test/noise the same faces with a
rectangle (25–40 % of the area) replaced by uniform noise U(0, 1) — the corruption of the paper's
inpainting experiment; ``clean/noise/`` holds the originals. Counts are capped accordingly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from .data import MARKER, check_complete, dataset_marker  # noqa: F401 - the marker is the data sets' own
from .defects import MASK_LEVEL, TEXTURE_DEFECTS, apply_defect  # noqa: F401 - re-exported: the test sets' defects
from .geodefects import GEOMETRIC_DEFECTS, paint_defect

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
DEFECTS: dict[str, tuple[str, ...]] = {
    "brick": TEXTURE_DEFECTS,
    "grass": TEXTURE_DEFECTS,
    "gravel": TEXTURE_DEFECTS,
    "grid": TEXTURE_DEFECTS,
    "faces": ("noise",),
}

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

    def lines(t: np.ndarray) -> np.ndarray:
        d = np.abs((t % period) - period / 2)  # distance to the nearest line, which sits at period/2
        return np.clip(half_width + 0.5 - d, 0.0, 1.0)

    ink = np.maximum(lines(u), lines(v))
    img = 0.80 * (1 - ink) + 0.18 * ink
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:size, 0:size] / size
    a, b = rng.uniform(-1, 1, 2)
    img = img + 0.05 * (a * (xx - 0.5) + b * (yy - 0.5)) + 0.03 * np.sin(2 * np.pi * (xx + yy) * 0.7)
    img = img + rng.normal(0.0, 0.015, img.shape)
    out: np.ndarray = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    return out


def load_source(source: str, seed: int = 0) -> np.ndarray:
    """The source image of a texture category (uint8, 512×512), or the 100 faces (100×25×25 uint8)."""
    import skimage.data

    _check_source(source)
    if source == "grid":
        return _grid_image(SOURCE_SIZE, seed)
    if source == "faces":
        faces = skimage.data.lfw_subset()[:N_FACES]  # type: ignore[no-untyped-call]
        out: np.ndarray = np.clip(np.round(faces * 255), 0, 255).astype(np.uint8)
        return out
    img = getattr(skimage.data, source)()
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.shape != (SOURCE_SIZE, SOURCE_SIZE):
        img = cv2.resize(img, (SOURCE_SIZE, SOURCE_SIZE), interpolation=cv2.INTER_AREA)
    grey: np.ndarray = img.astype(np.uint8)
    return grey


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


def _random_box(region: tuple[int, int, int, int], size: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    y0r, x0r, y1r, x1r = region
    y0 = int(rng.integers(y0r, y1r - size + 1))
    x0 = int(rng.integers(x0r, x1r - size + 1))
    return (y0, x0, y0 + size, x0 + size)


def _augment(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    k = int(rng.integers(0, 4))
    flip = bool(rng.integers(0, 2))
    out = np.rot90(img, k)
    if flip:
        out = out[:, ::-1]
    return np.ascontiguousarray(out), {"rot90": k, "flip_lr": flip}


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


_OWNED = ("train", "test", "ground_truth", "clean", "full", "dataset.json", "README.txt")
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


def _write_marker(out_dir: Path, meta: dict[str, Any], complete: bool) -> None:
    from .data import atomic_write_bytes

    atomic_write_bytes(out_dir / "dataset.json",
                       json.dumps({"written_by": MARKER, "complete": complete, **meta}, indent=1).encode())


#: Most images of one kind a synthetic category holds (10,000 crops of 512 px are about 2 GB of PNG).
MAX_IMAGES = 10_000


def make_dataset(source: str, out_dir: Path, n_train: int = 500, n_test: int = 60, seed: int = 0,
                 image_size: int | None = None, progress: Progress | None = None,
                 overwrite: bool = False, full_size: int = 0, full_good: int | None = None,
                 geometric: bool = False) -> dict[str, Any]:
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

    ``full_size`` > 0 (textures only) also writes that many full-size test images per defect type
    and ``full_good`` good ones (default: as many as the defective ones) under ``OUT/full/``
    (:mod:`inspector_app.core.datasets_full`), from their own random stream (``default_rng([seed,
    1])``): the crops are the same with or without them, and they are the same whatever the crop counts.

    ``geometric`` (textures only) adds the geometric defects (:data:`GEOMETRIC_DEFECTS`) to the crops'
    defect kinds, after the intensity ones; without it the files are the same as before they existed.
    """
    _check_source(source)
    n_train, n_test = int(n_train), int(n_test)
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be at least 1, got {n_train} and {n_test}")
    if max(n_train, n_test) > MAX_IMAGES:
        raise ValueError(f"n_train and n_test must be at most {MAX_IMAGES}, got {n_train} and {n_test}")
    if image_size is not None and not 8 <= int(image_size) <= SOURCE_SIZE:
        raise ValueError(f"image_size must be in [8, {SOURCE_SIZE}] (the sources are {SOURCE_SIZE} px), got {image_size}")
    if not 0 <= int(full_size) <= MAX_IMAGES or (full_good is not None and not 0 <= int(full_good) <= MAX_IMAGES):
        raise ValueError(f"full_size and full_good must be in [0, {MAX_IMAGES}], got {full_size} and {full_good}")
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    full = None
    if full_size:
        if source == "faces":
            raise ValueError("full-size images are for textures; a face is already whole")
        from .datasets_full import full_size_counts

        full = full_size_counts(int(full_size), full_good, DEFECTS[source] + (GEOMETRIC_DEFECTS if geometric else ()))
    if geometric and source == "faces":
        raise ValueError("geometric defects are for textures; the faces' defect is the noise rectangle")
    if source == "faces":
        meta = _make_faces(out_dir, n_train, n_test, rng, image_size or DEFAULT_FACE_SIZE, progress, overwrite)
    else:
        meta = _make_texture(source, out_dir, n_train, n_test, rng, seed, image_size or DEFAULT_CROP, progress,
                             overwrite, full, DEFECTS[source] + (GEOMETRIC_DEFECTS if geometric else ()))
    meta = {"source": source, "seed": seed, **meta}
    from .data import atomic_write_bytes

    atomic_write_bytes(out_dir / "README.txt", _readme(meta).encode())
    _write_marker(out_dir, meta, complete=True)  # last: a folder without it was interrupted
    summary = {k: v for k, v in meta.items() if k != "files"}
    summary["out_dir"] = str(out_dir)
    return summary


def _make_texture(source: str, out_dir: Path, n_train: int, n_test: int, rng: np.random.Generator, seed: int,
                  size: int, progress: Progress | None, overwrite: bool, full: dict[str, int] | None = None,
                  kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
    src = load_source(source, seed)
    regions = split_regions(src.shape, size)  # validates size before anything is written
    donor_name = _PATCH_DONOR[source]
    donor = load_source(donor_name, seed) if donor_name else None
    defects = tuple(kinds or DEFECTS[source])
    n_good, per_defect = _split_counts(n_test, defects)
    _prepare_out(out_dir, overwrite)
    _write_marker(out_dir, {"source": source, "seed": seed}, complete=False)
    total = n_train + n_test + sum((full or {}).values())
    if full:
        from .datasets_full import N_VALIDATION

        total += 2 * N_VALIDATION
    files = []
    counts = {"train/good": n_train, "test/good": n_good}

    def crop(split: str) -> tuple[np.ndarray, dict[str, Any]]:
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
            bad, mask = paint_defect(img, d, rng, donor=donor)
            _write(out_dir / "test" / d / f"{i:03d}.png", bad)
            _write(out_dir / "ground_truth" / d / f"{i:03d}_mask.png", mask.astype(np.uint8) * 255)
            files.append({"file": f"test/{d}/{i:03d}.png", "split": "test", "defect": d,
                          "mask": f"ground_truth/{d}/{i:03d}_mask.png",
                          "defect_area": float(mask.mean()), **info})
            step()
    extra: dict[str, Any] = {}
    if full:
        from .datasets_full import BRIGHTNESS, FULL_NOTE, write_full_size, write_region_photos

        # their own random stream: the same full-size images whatever the crop counts
        full_rng = np.random.default_rng([seed, 1])
        files += write_full_size(src, out_dir / "full", full, size, full_rng, donor, _write, step)
        counts.update({f"full/test/{k}": v for k, v in full.items()})
        # whole photographs of the train region (validation) and of the test strip (held out),
        # each from a random stream of its own
        for (region, sub, split), k in zip((("train", "validation/good", "full-validation"),
                                            ("test", "heldout/good", "full-heldout")), (2, 3)):
            photos = write_region_photos(src, regions[region], out_dir / "full", sub, split,
                                         np.random.default_rng([seed, k]), _write, step)
            files += photos
            counts[f"full/{sub}"] = len(photos)
        extra["full_size"] = FULL_NOTE.format(side=src.shape[0], size=size, brightness=BRIGHTNESS,
                                              cols=regions["train"][3] - 1)
    return {
        **extra,
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


def _make_faces(out_dir: Path, n_train: int, n_test: int, rng: np.random.Generator, size: int,
                progress: Progress | None, overwrite: bool) -> dict[str, Any]:
    faces = load_source("faces")

    def prep(f: np.ndarray) -> np.ndarray:
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


def _readme(meta: dict[str, Any]) -> str:
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
    if meta.get("full_size"):
        lines += ["", f"full/ (full-size test images): {meta['full_size']}"]
    if meta["source"] == "faces":
        lines.append("clean/noise/NNN.png (not part of MVTec's layout): the clean original of test/noise/NNN.png.")
    lines.append("dataset.json: the same, plus the crop box / transform of every image.")
    return "\n".join(lines) + "\n"
