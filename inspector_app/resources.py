"""Where the bundled demo models and sample images live (no Qt here).

Looked up, in order:

1. ``$INSPECTOR_APP_RESOURCES``;
2. a PyInstaller bundle's ``resources/`` (``sys._MEIPASS``);
3. ``resources/`` beside the package in a source checkout (an editable install);
4. the wheel's data files: ``<prefix>/share/inspector-app/resources`` for the running prefix
   (a virtual environment or a system install), the user base (``pip install --user``), or
   wherever the installed distribution's file list puts them.

The first folder that holds ``models/`` wins; :func:`locate` also says which kind it was.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

#: The model and the sample the window opens with.
DEMO_MODEL = "models/brick_l2ae.safetensors"
DEMO_IMAGE = "samples/brick/stain_000.png"
#: The face inpainting demo: model, a corrupted face, its mask and the clean face.
FACE_MODEL = "models/faces_vae.safetensors"
FACE_IMAGE = "samples/faces/noise_000.png"
FACE_MASK = "samples/faces/noise_000_mask.png"
FACE_CLEAN = "samples/faces/noise_000_clean.png"
#: The application icon (the window's and the desktop entry's).
ICON = "icons/inspector-app.svg"
#: Every file the application names (models are otherwise found by :func:`model_files`).
REQUIRED = (DEMO_MODEL, DEMO_IMAGE, FACE_MODEL, FACE_IMAGE, FACE_MASK, FACE_CLEAN, ICON)

#: Where a wheel's data files go, relative to the installation prefix.
DATA_SUBDIR = Path("share") / "inspector-app" / "resources"

#: What :func:`locate` calls each kind of place.
ENV, BUNDLE, CHECKOUT, INSTALLED = ("$INSPECTOR_APP_RESOURCES", "bundle", "source checkout", "installed data files")


def _installed_candidates() -> list[Path]:
    out = [Path(sys.prefix) / DATA_SUBDIR]
    user_base = getattr(site, "USER_BASE", None) or ""
    if user_base:
        out.append(Path(user_base) / DATA_SUBDIR)
    return out


def _from_distribution() -> Path | None:
    """The data folder as the installed distribution's RECORD lists it (any installation scheme)."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        files = distribution("inspector-app").files or []
    except PackageNotFoundError:
        return None
    root = "/".join(DATA_SUBDIR.parts)
    for f in files:
        s = str(f).replace("\\", "/")
        i = s.find(root + "/models/")
        if i >= 0:
            return Path(str(distribution("inspector-app").locate_file(s[:i + len(root)]))).resolve()
    return None


def _candidates() -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    env = os.environ.get("INSPECTOR_APP_RESOURCES")
    if env:
        out.append((Path(env), ENV))
    meipass = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and meipass:
        out.append((Path(meipass) / "resources", BUNDLE))
    top = Path(__file__).resolve().parent.parent
    if (top / "pyproject.toml").is_file():  # a checkout, not site-packages
        out.append((top / "resources", CHECKOUT))
    out += [(p, INSTALLED) for p in _installed_candidates()]
    return out


def locate() -> tuple[Path, str] | None:
    """The resources folder in use and what kind of place it is (:data:`ENV`, :data:`BUNDLE`,
    :data:`CHECKOUT` or :data:`INSTALLED`), or None when nothing is installed."""
    for c, origin in _candidates():
        if (c / "models").is_dir():
            return c, origin
    found = _from_distribution()
    if found is not None and (found / "models").is_dir():
        return found, INSTALLED
    return None


def resources_dir() -> Path | None:
    found = locate()
    return found[0] if found else None


def resource(relative: str) -> Path | None:
    """The path of a bundled file, or None when it is not installed."""
    root = resources_dir()
    if root is None:
        return None
    p = root / relative
    return p if p.exists() else None


def model_files() -> list[Path]:
    """Every bundled model (``models/*.safetensors``), sorted by name."""
    root = resources_dir()
    if root is None:
        return []
    return sorted((root / "models").glob("*.safetensors"))


def sample_images() -> list[Path]:
    """Sample test images (not their ground-truth masks)."""
    root = resources_dir()
    if root is None:
        return []
    return sorted(p for p in (root / "samples").rglob("*.png") if not p.stem.endswith(("_mask", "_clean")))
