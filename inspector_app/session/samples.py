"""The bundled samples and the models they belong to (no Qt).

A sample ``samples/<category>/<name>.png`` belongs to the models ``models/<category>_*.safetensors``
(the L2 autoencoder first). Beside it, ``<name>_mask.png`` is, for the texture categories, the
ground truth of its defect (shown as an outline, never used as Ω); for the faces, the corrupted
region of an inpainting sample — Ω of eq. 7 — with ``<name>_clean.png`` the clean face.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..resources import model_files, resources_dir

#: Categories whose ``_mask.png`` is the inpainting mask Ω, not a defect's ground truth.
INPAINTING_CATEGORIES = ("faces",)
#: The model kinds tried first for a category, in order.
PREFERRED_KINDS = ("l2ae", "vae", "dsae", "gvae")


@dataclass(frozen=True)
class Sample:
    """A bundled sample and the files that go with it."""

    path: Path
    category: str
    mask: Path | None  # the ``_mask.png`` beside it
    clean: Path | None  # the ``_clean.png`` beside it (inpainting samples)

    @property
    def mask_is_omega(self) -> bool:
        return self.category in INPAINTING_CATEGORIES


def sample_info(path: str | Path) -> Sample:
    p = Path(path)
    mask = p.with_name(f"{p.stem}_mask.png")
    clean = p.with_name(f"{p.stem}_clean.png")
    return Sample(p, p.parent.name, mask if mask.is_file() else None, clean if clean.is_file() else None)


def category_of_model(path: str | Path | None) -> str | None:
    """``brick`` for ``…/brick_l2ae.safetensors``; None for a name without a category prefix."""
    if not path:
        return None
    stem = Path(path).stem
    return stem.split("_", 1)[0] if "_" in stem else None


def matching_model(sample: str | Path, current_model: str | Path | None = None) -> Path | None:
    """The bundled model to open for ``sample``, or None when the current model already belongs to
    its category (or no bundled model does)."""
    category = Path(sample).parent.name
    if category_of_model(current_model) == category:
        return None
    candidates = [m for m in model_files() if category_of_model(m) == category]
    if not candidates:
        return None

    def rank(m: Path) -> int:
        kind = m.stem.split("_", 1)[1] if "_" in m.stem else ""
        return PREFERRED_KINDS.index(kind) if kind in PREFERRED_KINDS else len(PREFERRED_KINDS)

    return min(candidates, key=lambda m: (rank(m), m.name))


def inside_resources(path: str | Path) -> bool:
    """Whether ``path`` lies in the bundled resources folder (which the window never writes into)."""
    root = resources_dir()
    if root is None:
        return False
    try:
        Path(path).resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _data_home() -> Path:
    import os

    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def sample_parts_folder(category: str = "brick") -> Path | None:
    """A folder of the bundled ``category`` samples (images and ground-truth masks) to review, copied
    to ``$XDG_DATA_HOME/inspector-app/sample-parts/<category>`` so that the review file is written
    there and never into the bundled resources; files already there are kept as they are. None when
    the samples are not installed."""
    import shutil

    src = (resources_dir() or Path("/nonexistent")) / "samples" / category
    files = sorted(p for p in src.glob("*.png") if p.is_file()) if src.is_dir() else []
    if not files:
        return None
    dest = _data_home() / "inspector-app" / "sample-parts" / category
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        if not (dest / f.name).exists():
            shutil.copyfile(f, dest / f.name)
    return dest
