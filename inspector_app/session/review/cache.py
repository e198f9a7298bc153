"""Review results that outlive the review: a bounded, evictable cache on disk (no Qt).

Reopening a folder must not project it all again when nothing changed. Each image's result — its
maps at the model's size (x_T and f(x_T) as float16, the two DSSIM maps as float32), its energy
curve, its thumbnail and the run's figures — is kept in one ``.npz`` file named by
:func:`result_key`: the SHA-256 of the image's bytes, of the model file and of the projection
parameters (with this format's number and the application's version). Another image, model or
parameter is another key; the ground truth, the scores at a minimum area and the areas at a
threshold are recomputed from the maps when a result is taken back (:mod:`.jobs`), so a mask edited
since, or another threshold, is followed.

The files live in ``$XDG_CACHE_HOME/inspector-app/review-results/`` (``~/.cache/…``). The cache is
bounded (:attr:`ResultCache.max_bytes`): after each write the least recently used files go until
it fits (a hit refreshes a file's time). Files are written atomically (temporary file + rename)
and read with ``allow_pickle=False``: a damaged or foreign file is a miss and is removed, never
code run. Review → Clear Result Cache empties it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__
from ...core.params import ProjectionParams

#: The layout of a cache file; another number is another key (old files age out).
CACHE_FORMAT = 1
#: The default bound of the cache folder.
DEFAULT_MAX_BYTES = 1 << 30
#: What a cached result keeps of an :class:`~.store.ImageResult` besides its arrays.
FIELDS = ("iterations", "stop_reason", "recon_loss_x0", "energy_final", "recon_loss", "reg", "lr_threshold",
          "shape", "seconds", "warnings")
_ARRAYS = {"images": (np.float16, (3, 4)), "dssim": (np.float32, (3,)), "energy": (np.float64, (2,)),
           "thumbnail": (np.uint8, (3,))}  # name: (dtype, dimensions: images are grey or colour)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/inspector-app/review-results`` (``~/.cache`` without the variable)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "inspector-app" / "review-results"


def result_key(image_sha256: str | None, model_sha256: str | None, params: ProjectionParams,
               extra: dict[str, Any] | None = None) -> str | None:
    """The key of one image's result under one model and parameters (``extra``: anything else that
    changes the result); None when a hash is unknown (nothing is cached then)."""
    if not image_sha256 or not model_sha256:
        return None
    what = {"format": CACHE_FORMAT, "version": __version__, "image": image_sha256, "model": model_sha256,
            "params": params.to_dict(), "extra": extra or {}}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class CachedResult:
    """One image's result as cached: ``fields`` (:data:`FIELDS` and ``params``), ``x`` and
    ``reconstruction`` (float32 from float16), ``dssim`` (compare → map), ``energy``, ``thumbnail``."""

    fields: dict[str, Any]
    x: np.ndarray
    reconstruction: np.ndarray
    dssim: dict[str, np.ndarray]
    energy: np.ndarray
    thumbnail: np.ndarray

    @property
    def params(self) -> ProjectionParams:
        p = self.fields["params"]
        return ProjectionParams(**{k: v for k, v in p.items() if k in ProjectionParams.__dataclass_fields__})


class ResultCache:
    """See the module docstring. Safe to use from the worker and the GUI thread at once."""

    def __init__(self, folder: str | Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        self.folder = Path(folder) if folder is not None else cache_dir()
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._bytes: int | None = None  # the folder's size, counted on first use

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def get(self, key: str | None) -> CachedResult | None:
        """The result cached under ``key``, or None (a damaged file is removed)."""
        if not key:
            return None
        p = self._path(key)
        try:
            with open(p, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in (*_ARRAYS, "fields")}
            fields = json.loads(arrays.pop("fields").tobytes().decode())
            for k, (dtype, ndims) in _ARRAYS.items():
                if arrays[k].dtype != dtype or arrays[k].ndim not in ndims:
                    raise ValueError(f"{k}: {arrays[k].dtype}, {arrays[k].ndim} dimensions")
            if not (isinstance(fields, dict) and set(FIELDS) | {"params"} <= set(fields)):
                raise ValueError("fields missing")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
            if self._remove(p):
                with self._lock:
                    self._bytes = None  # count again
            return None
        try:
            os.utime(p)  # recently used
        except OSError:
            pass
        imgs, dss = arrays["images"].astype(np.float32), arrays["dssim"]
        return CachedResult(fields, imgs[0], imgs[1], {"projection": dss[0], "reconstruction": dss[1]},
                            arrays["energy"], arrays["thumbnail"])

    def put(self, key: str | None, fields: dict[str, Any], x: np.ndarray, reconstruction: np.ndarray,
            dssim: dict[str, np.ndarray], energy: np.ndarray, thumbnail: np.ndarray) -> None:
        """Keep one result under ``key`` (nothing without a key; a full disk only skips it)."""
        if not key:
            return
        meta = json.dumps({k: fields[k] for k in (*FIELDS, "params")}, default=str).encode()
        p = self._path(key)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.savez(f, images=np.stack([x, reconstruction]).astype(np.float16),
                         dssim=np.stack([dssim["projection"], dssim["reconstruction"]]).astype(np.float32),
                         energy=np.asarray(energy, np.float64).reshape(-1, 4),
                         thumbnail=np.asarray(thumbnail, np.uint8), fields=np.frombuffer(meta, np.uint8))
            old = p.stat().st_size if p.exists() else 0
            os.replace(tmp, p)
            size = p.stat().st_size
        except OSError:
            self._remove(tmp)
            return
        with self._lock:
            if self._bytes is not None:
                self._bytes += size - old
        self.evict()

    def _files(self) -> list[tuple[float, int, Path]]:
        out = []
        for p in self.folder.glob("*.npz"):
            try:
                s = p.stat()
            except OSError:
                continue
            out.append((s.st_mtime, s.st_size, p))
        return out

    @property
    def size(self) -> int:
        """Bytes held (counted once, then kept up to date)."""
        with self._lock:
            if self._bytes is None:
                self._bytes = sum(n for _t, n, _p in self._files())
            return self._bytes

    def evict(self, max_bytes: int | None = None) -> list[Path]:
        """Remove the least recently used files until the cache holds at most ``max_bytes``
        (default :attr:`max_bytes`). Returns the files removed."""
        limit = self.max_bytes if max_bytes is None else int(max_bytes)
        if self.size <= limit:
            return []
        removed = []
        with self._lock:
            files = sorted(self._files())
            total = sum(n for _t, n, _p in files)
            for _t, n, p in files:
                if total <= limit:
                    break
                if self._remove(p):
                    total -= n
                    removed.append(p)
            self._bytes = total
        return removed

    def clear(self) -> int:
        """Remove every cached result; returns how many."""
        return len(self.evict(0))

    @staticmethod
    def _remove(p: Path) -> bool:
        try:
            p.unlink()
            return True
        except OSError:
            return False
