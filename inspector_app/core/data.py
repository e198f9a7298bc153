"""Images on disk: reading, writing, folders, the MVTec AD layout, and training augmentation."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # imported where tensors are made: reading images (the window's) needs no torch
    import torch

from .imageinfo import header_size, png_damage
# re-exported (the ``X as X`` form says so to type checkers)
from .outputs import atomic_write as atomic_write, atomic_write_bytes as atomic_write_bytes  # the writers' historical home
from .imageops import convert_channels as convert_channels, resize_image as resize_image, to_uint8 as to_uint8
from .imageops import row_bands

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
    """An image that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")


class DataError(ValueError):
    """A folder that cannot be used as a data set."""


#: Largest image, in pixels, :func:`read_image` decodes (``INSPECTOR_MAX_PIXELS`` overrides it).
DEFAULT_MAX_PIXELS = 40_000_000
#: Largest image file, in bytes, :func:`read_image` reads.
MAX_FILE_BYTES = 1 << 30

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # OpenCV would print before our one-line message


def max_pixels() -> int:
    """The pixel cap: ``INSPECTOR_MAX_PIXELS`` when set to a positive number, else the default."""
    try:
        v = int(float(os.environ.get("INSPECTOR_MAX_PIXELS", "")))
        return v if v > 0 else DEFAULT_MAX_PIXELS
    except ValueError:
        return DEFAULT_MAX_PIXELS


def read_image_bytes(path: str | os.PathLike[str], limit: int | None = None) -> np.ndarray:
    """The bytes of an image file, after the checks every reader needs: it exists, is a regular
    file (a FIFO or a device would block), is not empty or huge, and its header declares at most
    ``limit`` pixels (:func:`max_pixels` by default). Raises :class:`ImageError` naming the file."""
    p = Path(path)
    if not p.exists():
        raise ImageError(p, "no such file")
    if p.is_dir():
        raise ImageError(p, "is a folder, not an image")
    st = p.stat()
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(p, "is not a regular file (a pipe or a device?)")
    if st.st_size == 0:
        raise ImageError(p, "the file is empty")
    if st.st_size > MAX_FILE_BYTES:
        raise ImageError(p, f"is {st.st_size / 2**20:.0f} MB, more than an image file may be ({MAX_FILE_BYTES >> 20} MB)")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as e:
        raise ImageError(p, f"cannot be read ({e.strerror or e})") from None
    _check_header(p, data, max_pixels() if limit is None else int(limit))
    return data


def _check_header(p: Path, data: np.ndarray, cap: int) -> None:
    """The frame size read from the whole file (a JPEG's frame header may follow 1 MB of comments):
    a format whose size cannot be read before decoding is never decoded, nor one over ``cap`` pixels."""
    size = header_size(data)
    if size is None:
        raise ImageError(p, "is not a readable image (corrupt or unsupported format)")
    if size[0] * size[1] > cap:
        raise ImageError(p, f"is {size[0]}×{size[1]} = {size[0] * size[1] / 1e6:.0f} MP, over the "
                            f"{cap / 1e6:g} MP limit (set INSPECTOR_MAX_PIXELS to raise it)")


def _as_unit_float(p: Path, img: np.ndarray) -> np.ndarray:
    """Decoded pixels as float32 in [0, 1], with one float-sized allocation (the scaling is done in
    place); NaN pixels of a float image are refused (they would silently read as 0)."""
    if img.dtype in (np.uint8, np.uint16):
        out = np.empty(img.shape, np.float32)
        np.divide(img, np.float32(255.0 if img.dtype == np.uint8 else 65535.0), out=out)
        return out
    if np.issubdtype(img.dtype, np.floating):
        out = img.astype(np.float32, copy=False)
        if not np.isfinite(out).all():
            raise ImageError(p, "has NaN or infinite pixels")
        return np.clip(out, 0.0, 1.0, out=out if out is not img else None)
    raise ImageError(p, f"has an unsupported pixel type {img.dtype}")


def read_image(path: str | os.PathLike[str], channels: int | None = None, limit: int | None = None) -> np.ndarray:
    """Read an image as float32 in [0, 1]: H×W for grey, H×W×3 (RGB) for colour.

    ``channels`` converts to 1 (grey) or 3 (RGB). 16-bit images are scaled; alpha is dropped; the
    EXIF orientation of photographs is applied. Only regular files are read (a FIFO or a device
    would block), and an image declaring more than ``limit`` pixels (:func:`max_pixels` by
    default) is refused from its header, before decoding.
    """
    p = Path(path)
    return _decode(p, read_image_bytes(p, limit), channels, max_pixels() if limit is None else int(limit))


def image_from_bytes(name: str | os.PathLike[str], data: bytes | np.ndarray, channels: int | None = None,
                     limit: int | None = None) -> np.ndarray:
    """:func:`read_image` on a file's bytes that travelled without the file (``project --ray``: the
    bytes read where the file is, decoded on a worker): the same header check before decoding, the
    same decoding; messages name ``name``."""
    p = Path(name)
    return _decode(p, _travelled_bytes(p, data, limit), channels, max_pixels() if limit is None else int(limit))


def _travelled_bytes(p: Path, data: bytes | np.ndarray, limit: int | None) -> np.ndarray:
    """A file's bytes that came without the file, after the checks :func:`read_image_bytes` makes."""
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        raise ImageError(p, "the file is empty")
    _check_header(p, buf, max_pixels() if limit is None else int(limit))
    return buf


def read_image_as(path: str | os.PathLike[str], channels: int, data: bytes | np.ndarray | None = None,
                  limit: int | None = None) -> tuple[np.ndarray, int]:
    """:func:`read_image` (or :func:`image_from_bytes` on ``data``) converted to ``channels``, and the
    file's own channel count (1 or 3: what the fit warnings compare with the model's).

    A colour file read as grey is converted a band of rows at a time (the same bytes as converting
    the whole float image): the colour image is never held as floats (a 6,000-px RGB photograph
    would be 432 MB, its grey image is 144 MB)."""
    p = Path(path)
    buf = read_image_bytes(p, limit) if data is None else _travelled_bytes(p, data, limit)
    img = _decode_raw(p, buf, max_pixels() if limit is None else int(limit))
    return _unit_float_as(p, img, channels), 1 if img.ndim == 2 else 3


def _decode(p: Path, data: np.ndarray, channels: int | None, cap: int) -> np.ndarray:
    return _unit_float_as(p, _decode_raw(p, data, cap), channels)


def _unit_float_as(p: Path, img: np.ndarray, channels: int | None) -> np.ndarray:
    """Decoded pixels as float32 in [0, 1] with ``channels`` (None: as they are). Integer colour
    pixels wanted grey are converted a band of rows at a time (the same bytes as the whole float
    image converted): the colour floats are never held whole."""
    if channels == 1 and img.ndim == 3 and img.dtype in (np.uint8, np.uint16):
        grey = np.empty(img.shape[:2], np.float32)
        for band in row_bands(img.shape[0]):
            grey[band] = convert_channels(_as_unit_float(p, img[band]), 1)
        return grey
    out = _as_unit_float(p, img)
    return convert_channels(out, channels) if channels else out


def _decode_raw(p: Path, data: np.ndarray, cap: int) -> np.ndarray:
    """The decoded pixels as they are stored (integers or floats), H×W or H×W×3 RGB (alpha dropped)."""
    damage = png_damage(data)  # before libpng prints its own line, or reads a damaged file's pixels
    if damage is not None:
        raise ImageError(p, f"is not a readable image ({damage})")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        raise ImageError(p, "is not a readable image (corrupt or unsupported format)")
    if img.shape[0] * img.shape[1] > cap:
        raise ImageError(p, f"is {img.shape[1]}×{img.shape[0]}, over the {cap / 1e6:g} MP limit")
    if img.ndim == 3:  # channels first, on the decoded integers (a quarter of the float size)
        if img.shape[2] in (3, 4):  # alpha dropped
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB if img.shape[2] == 3 else cv2.COLOR_BGRA2RGB)
        elif img.shape[2] == 1:
            img = img[:, :, 0]
        else:
            raise ImageError(p, f"has {img.shape[2]} channels")
    return img


def write_image(path: str | os.PathLike[str], img: np.ndarray) -> Path:
    """Write a float [0, 1] (or uint8) image as an 8-bit file, atomically (temp file + rename)."""
    p = Path(path)
    a = img if img.dtype == np.uint8 else to_uint8(img)
    if a.ndim == 3 and a.shape[2] == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(p.suffix or ".png", a)
    if not ok:
        raise ImageError(p, "could not be encoded")
    atomic_write_bytes(p, buf.tobytes())
    return p


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"{d}: not a folder")
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


#: ``dataset.json`` says which program wrote the folder, and whether it finished.
MARKER = "inspector-app make-dataset"


def dataset_marker(folder: Path) -> dict[str, Any] | None:
    """The ``dataset.json`` of a folder written by :func:`make_dataset`, or ``None``."""
    import json

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


def existing_folder(folder: str | os.PathLike[str]) -> Path:
    """``folder`` as a Path; :class:`DataError` when it is missing, not a folder, or still being written."""
    d = Path(folder)
    if not d.exists():
        raise DataError(f"{d}: no such folder")
    if not d.is_dir():
        raise DataError(f"{d}: not a folder")
    try:
        check_complete(d)
    except ValueError as e:
        raise DataError(str(e)) from None
    return d


def training_folder(folder: str | os.PathLike[str]) -> Path:
    """The folder of normal images: ``DIR/train/good`` for an MVTec AD category, else ``DIR``."""
    d = existing_folder(folder)
    good = d / "train" / "good"
    return good if good.is_dir() else d


def load_training_images(folder: str | os.PathLike[str], channels: int,
                         with_names: bool = False) -> tuple[Any, ...]:
    """The normal images of ``folder`` (see :func:`training_folder`): ``(images, folder)``, and
    their file names third when ``with_names``."""
    d = training_folder(folder)
    files = list_images(d)
    if not files:
        raise DataError(f"{d}: no images found (expected .png/.jpg/... files, or an MVTec category with train/good)")
    images = [read_image(f, channels) for f in files]
    if with_names:
        return images, d, [f.name for f in files]
    return images, d


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise ``OSError`` naming ``path`` when a file cannot be created there (checked before any
    long computation, so that its result is not lost at the end)."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    probe_dir = parent
    while not probe_dir.exists():  # the folder will be created: its first existing ancestor must be writable
        if probe_dir.parent == probe_dir:
            break
        probe_dir = probe_dir.parent
    if probe_dir.exists() and not probe_dir.is_dir():
        raise OSError(f"{p}: {probe_dir} is not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".inspector-write-test.", dir=probe_dir)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise OSError(f"{p}: cannot write there ({e.strerror or e})") from None


def to_tensor(images: list[np.ndarray] | np.ndarray) -> torch.Tensor:
    """List of H×W or H×W×C float images → B×C×H×W float tensor."""
    import torch

    arr = [im[None] if im.ndim == 2 else np.transpose(im, (2, 0, 1)) for im in images]
    return torch.from_numpy(np.ascontiguousarray(np.stack(arr).astype(np.float32)))


class Augmenter:
    """Training samples under the paper's protocols (section 4.1).

    ``crop=True`` (textures): each image larger than 512 px is resized to 512×512 (MVTec's
    1024×1024 textures, as in the paper), smaller ones kept as they are (but at least ``size``),
    then random ``size``×``size`` crops.
    ``crop=False`` (objects): resized to ``size``, random rotation (±``max_angle``°) and
    translation (±``max_shift`` of the size), reflected borders.
    """

    def __init__(self, images: list[np.ndarray], size: int, crop: bool, seed: int = 0,
                 texture_size: int = 512, max_angle: float = 10.0, max_shift: float = 0.05):
        if not images:
            raise DataError("no training images")
        self.size = size
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        self.max_angle = max_angle
        self.max_shift = max_shift
        if crop:
            self.images = []
            from .tiling import WorkingScale  # the shape an image to inspect is brought to as well

            scale = WorkingScale("crops", texture_size)
            for im in images:
                self.images.append(resize_image(im, scale.shape_for(im.shape[0], im.shape[1], size)))
        else:
            self.images = [resize_image(im, (size, size)) for im in images]

    def sample(self) -> np.ndarray:
        im = self.images[int(self.rng.integers(len(self.images)))]
        s = self.size
        if self.crop:
            h, w = im.shape[:2]
            y = int(self.rng.integers(0, h - s + 1))
            x = int(self.rng.integers(0, w - s + 1))
            return np.ascontiguousarray(im[y:y + s, x:x + s])
        angle = float(self.rng.uniform(-self.max_angle, self.max_angle))
        tx, ty = self.rng.uniform(-self.max_shift, self.max_shift, 2) * s
        m = cv2.getRotationMatrix2D((s / 2.0, s / 2.0), angle, 1.0)
        m[:, 2] += (tx, ty)
        out = cv2.warpAffine(im, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        return out

    def batch(self, n: int) -> torch.Tensor:
        return to_tensor([self.sample() for _ in range(n)])

    def eval_images(self) -> Iterator[np.ndarray]:
        """The training images at model size, unaugmented, for the training-loss statistics.

        Textures give their 512×512 image's non-overlapping tiles.
        """
        s = self.size
        for im in self.images:
            if self.crop:
                for y in range(0, im.shape[0] - s + 1, s):
                    for x in range(0, im.shape[1] - s + 1, s):
                        yield im[y:y + s, x:x + s]
            else:
                yield im


def eval_image_count(shapes: Iterable[tuple[int, ...]], size: int, crop: bool, texture_size: int = 512) -> int:
    """How many images :meth:`Augmenter.eval_images` gives for images of these shapes (H, W, …),
    without resizing them: what a calibration on them projects (a time budget counts its tiles)."""
    shapes = list(shapes)
    if not crop:
        return len(shapes)
    from .tiling import WorkingScale

    scale = WorkingScale("crops", texture_size)
    sides = [scale.shape_for(int(s[0]), int(s[1]), size) for s in shapes]
    return sum((h // size) * (w // size) for h, w in sides)


def split_validation(names: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, validation) of a seeded random split; at least one image each way when
    ``fraction`` > 0 and there are two images or more."""
    n = len(names)
    if n == 0:
        raise ValueError("no training images")
    n_val = int(round(fraction * n))
    if fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    order = np.random.default_rng(seed + 7919).permutation(n)
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return train, val
