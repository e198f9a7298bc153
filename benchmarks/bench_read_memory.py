"""Peak memory of reading one colour image: the previous ``read_image`` (float conversion, then
scaling, then the colour swap, each a full float copy) against the current one (the colour swap on
the decoded integers, one float array scaled in place), measured with ``tracemalloc`` (numpy and
OpenCV's arrays are traced) in one run on the same file.

    python benchmarks/bench_read_memory.py [--side 3000]

Prints each peak in MB, the peak as a multiple of the returned float image, and their ratio
(previous / current: above 1 means the current one needs less). Issue 26: a 6,000×6,000 RGB PNG
took 2.8 GB end to end; the reading's share was three float copies.
"""

from __future__ import annotations

import argparse
import tempfile
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

from inspector_app.core.data import read_image, read_image_bytes


def previous_read(path: Path) -> np.ndarray:
    """The reading as it was at commit a5abea3 (the colour path of a uint8 image)."""
    img = cv2.imdecode(read_image_bytes(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    img = img.astype(np.float32) / 255.0
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def peak(fn, path: Path) -> tuple[float, int]:
    tracemalloc.start()
    out = fn(path)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 1e6, out.nbytes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=3000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "rgb.png"
        img = np.zeros((a.side, a.side, 3), np.uint8)
        img[::7] = 200
        img[:, ::5, 1] = 90
        cv2.imwrite(str(p), img)
        np.testing.assert_array_equal(previous_read(p), read_image(p))
        (old, n), (new, _) = peak(previous_read, p), peak(read_image, p)
    print(f"{a.side}×{a.side} RGB: float image {n / 1e6:.0f} MB")
    print(f"previous read_image peak {old:.0f} MB ({old * 1e6 / n:.2f}× the image)")
    print(f"current  read_image peak {new:.0f} MB ({new * 1e6 / n:.2f}× the image)")
    print(f"ratio previous / current: {old / new:.2f}")


if __name__ == "__main__":
    main()
