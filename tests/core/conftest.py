"""Fixtures shared by the core's tests."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


@pytest.fixture
def folder(tmp_path, texture_images):
    """A folder of the texture images as 8-bit PNGs (``normal/000.png`` …)."""
    d = tmp_path / "normal"
    d.mkdir()
    for i, im in enumerate(texture_images):
        cv2.imwrite(str(d / f"{i:03d}.png"), (im * 255).astype(np.uint8))
    return d
