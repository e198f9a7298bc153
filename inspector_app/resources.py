"""Where the bundled demo models and sample images live (no Qt here).

Looked up, in order: ``$INSPECTOR_APP_RESOURCES``; ``resources/`` beside the package (a source
checkout or an editable install); ``<prefix>/share/inspector-app/resources`` (a packaged install).
"""

from __future__ import annotations

import os
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


def resources_dir() -> Path | None:
    candidates = []
    env = os.environ.get("INSPECTOR_APP_RESOURCES")
    if env:
        candidates.append(Path(env))
    candidates.append(Path(__file__).resolve().parent.parent / "resources")
    candidates.append(Path(sys.prefix) / "share" / "inspector-app" / "resources")
    for c in candidates:
        if (c / "models").is_dir():
            return c
    return None


def resource(relative: str) -> Path | None:
    """The path of a bundled file, or None when it is not installed."""
    root = resources_dir()
    if root is None:
        return None
    p = root / relative
    return p if p.exists() else None


def sample_images() -> list[Path]:
    """Sample test images (not their ground-truth masks)."""
    root = resources_dir()
    if root is None:
        return []
    return sorted(p for p in (root / "samples").rglob("*.png") if not p.stem.endswith(("_mask", "_clean")))
