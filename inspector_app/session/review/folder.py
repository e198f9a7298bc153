"""A folder of parts for review mode: which files are parts, and their ground truth (no Qt).

What is a part
--------------
Every image file under the folder, recursively (:data:`~inspector_app.core.data.IMAGE_EXTENSIONS`),
except

* ground-truth masks: ``*_mask.*`` anywhere, and anything under a ``ground_truth/`` folder;
* what an earlier ``project`` run wrote (``NAME_projection.png`` … beside its ``NAME.json``), or
  ``inpaint`` (``NAME_blind.png`` … beside its ``NAME_inpaint.json``);
* hidden files and folders (``.name``: the review's own cache, editors' backups);
* in an **MVTec AD category** (the folder holds ``test/`` and ``ground_truth/``), the training
  images: only ``test/`` is reviewed (``train/`` holds the normal images the model learnt from;
  ``project --train`` takes them too, as good parts).

Ground truth
------------
* MVTec layout: ``test/<defect>/NAME.png`` pairs with ``ground_truth/<defect>/NAME_mask.png``
  (as :func:`inspector_app.core.evaluation.load_category` reads it); ``test/good/*`` is good; a
  ``test/<defect>`` image without its mask is defective, with no mask to draw.
* Elsewhere, a sibling ``NAME_mask.*`` is the image's ground-truth mask (the bundled samples'
  layout). When a folder holds any mask, its images without one are taken as good (an empty mask).
* A folder without masks has no ground truth (``gt`` is None).

The ``project`` command lists folders with :func:`scan_folder` too: the window and the command
take the same parts, with the same ground truth (its ``summary.csv`` carries it). A category's
``test/`` folder given alone pairs with the category's ``ground_truth/``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ...core.data import IMAGE_EXTENSIONS
from ...core.inpainting import PANELS as INPAINT_PANELS
from ...core.pipeline import OUTPUT_SUFFIXES

GT_GOOD, GT_DEFECTIVE = "good", "defective"


@dataclass(frozen=True)
class FolderItem:
    """One part: its file, its name relative to the folder (posix), its ground truth."""

    path: Path
    rel: str
    mask_path: Path | None = None
    gt: str | None = None  # GT_GOOD, GT_DEFECTIVE, or None (unknown)
    defect: str | None = None  # the MVTec defect folder's name, when there is one

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class FolderScan:
    """The parts of a folder, in name order, and what was left out (counts, for the user)."""

    root: Path
    items: list[FolderItem]
    mvtec: bool = False
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def has_ground_truth(self) -> bool:
        return any(it.gt is not None for it in self.items)

    def describe(self) -> str:
        """One line for the status bar: how many parts, and what was skipped."""
        parts = [f"{len(self.items)} image{'s' * (len(self.items) != 1)}"]
        if self.mvtec:
            parts.append("MVTec layout" + (": test/ only" if self.skipped.get("training images") else ""))
        skipped = ", ".join(f"{n} {what}" for what, n in self.skipped.items() if n)
        if skipped:
            parts.append(f"skipped {skipped}")
        if self.has_ground_truth:
            parts.append(f"ground truth for {sum(it.gt is not None for it in self.items)}")
        return "; ".join(parts)


class FolderError(ValueError):
    """A folder that cannot be reviewed (missing, not a folder, no images); the message says which."""


def _is_mask(p: Path) -> bool:
    return p.stem.endswith("_mask")


def _earlier_output(p: Path) -> bool:
    """What ``project`` wrote (``NAME_projection.png`` … beside ``NAME.json``) or ``inpaint`` wrote
    (``NAME_blind.png`` … beside ``NAME_inpaint.json``)."""
    for suffix in OUTPUT_SUFFIXES.values():
        if suffix != ".json" and p.name.endswith(suffix):
            if (p.parent / f"{p.name[:-len(suffix)]}.json").exists():
                return True
    for panel in INPAINT_PANELS:
        suffix = f"_{panel}.png"
        if p.name.endswith(suffix) and (p.parent / f"{p.name[:-len(suffix)]}_inpaint.json").exists():
            return True
    return False


def _walk(root: Path) -> Iterator[Path]:
    """Image files under ``root`` (sorted, hidden entries skipped), without following links to folders
    (a link loop would never end)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS:
                yield Path(dirpath) / f


def is_mvtec_category(root: Path) -> bool:
    return (root / "test").is_dir() and (root / "ground_truth").is_dir()


def _sibling_mask(p: Path) -> Path | None:
    for ext in IMAGE_EXTENSIONS:
        for e in (ext, ext.upper()):
            m = p.with_name(f"{p.stem}_mask{e}")
            if m.is_file():
                return m
    return None


def _mvtec_item(p: Path, category: Path, rel: str) -> FolderItem:
    """An image under ``category/test`` or ``category/train`` with its MVTec ground truth."""
    parts = p.relative_to(category).parts  # ("test", defect, name) or ("train", "good", name)
    defect = parts[1] if len(parts) > 2 else None
    if parts[0] == "train":
        return FolderItem(p, rel, None, GT_GOOD, "train")
    if defect is None:
        return FolderItem(p, rel)
    if defect == "good":
        return FolderItem(p, rel, None, GT_GOOD, "good")
    m = category / "ground_truth" / defect / f"{p.stem}_mask.png"
    return FolderItem(p, rel, m if m.is_file() else None, GT_DEFECTIVE, defect)


def scan_folder(folder: str | os.PathLike[str], include_train: bool = False) -> FolderScan:
    """The parts of ``folder`` (see the module docstring); ``include_train``: an MVTec category's
    ``train/`` images too (good parts). The ``project`` command lists folders with it, so that the
    window and the command agree. Raises :class:`FolderError`."""
    root = Path(folder)
    if not root.exists():
        raise FolderError(f"{root}: no such folder")
    if not root.is_dir():
        raise FolderError(f"{root}: not a folder")
    try:  # os.walk would show an unreadable folder as an empty one
        with os.scandir(root) as it:
            next(it, None)
    except OSError as e:
        raise FolderError(f"{root}: cannot be read ({e.strerror or e})") from None
    mvtec = is_mvtec_category(root)
    # ``CATEGORY/test`` given alone: its ground truth is the category's
    category = root if mvtec else root.parent if root.name == "test" and is_mvtec_category(root.parent) else None
    bases = [root / "test"] if mvtec else [root]
    skipped = {"ground-truth masks": 0, "earlier results": 0}
    if mvtec and (root / "train").is_dir():
        if include_train:
            bases.append(root / "train")
        else:
            skipped["training images"] = sum(1 for _ in _walk(root / "train"))
    files: list[Path] = []
    for base in bases:
        for p in _walk(base):
            rel_parts = p.relative_to(root).parts
            if _is_mask(p) or "ground_truth" in rel_parts[:-1]:
                skipped["ground-truth masks"] += 1
            elif _earlier_output(p):
                skipped["earlier results"] += 1
            else:
                files.append(p)
    if category is not None:
        items = [_mvtec_item(p, category, p.relative_to(root).as_posix()) for p in files]
    else:
        masks = {p: _sibling_mask(p) for p in files}
        any_mask = any(m is not None for m in masks.values())
        items = [FolderItem(p, p.relative_to(root).as_posix(), masks[p],
                            (GT_DEFECTIVE if masks[p] is not None else GT_GOOD) if any_mask else None) for p in files]
    if not items:
        what = f" ({', '.join(f'{n} {w}' for w, n in skipped.items() if n)} skipped)" if any(skipped.values()) else ""
        raise FolderError(f"{root}: no images in this folder{what}")
    return FolderScan(root, items, category is not None, skipped)


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def hash_items(items: list[FolderItem]) -> list[str | None]:
    """Each part's SHA-256, or None when it cannot be read (the projection says why). Call it in a
    worker: it reads every file."""
    out: list[str | None] = []
    for it in items:
        try:
            out.append(file_sha256(it.path))
        except OSError:
            out.append(None)
    return out
