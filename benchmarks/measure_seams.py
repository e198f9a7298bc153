"""Measure tile seams: the good 512-px brick photograph and one with a stain painted across a tile
border, projected with a bundled texture model at its calibrated defaults, for several tile overlaps
and with the Lr gradient coverage-normalised (the default) or not (a plain gradient of w·ΣLr).

Prints, per setting: the good photograph's image score, the DSSIM map's mean within 3 px of a
tile border against elsewhere (a seam shows as a higher border mean), the good photograph's
segmented area, and the stained photograph's score and IoU of its segmentation with the stain.

    python benchmarks/measure_seams.py [MODEL]   (default resources/models/brick_l2ae.safetensors)
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from skimage import data

from inspector_app.core import tiling
from inspector_app.core.calibration import model_defaults
from inspector_app.core.data import to_tensor
from inspector_app.core.modelio import load_model
from inspector_app.core.projection import run_to_end
from inspector_app.core.verdict import image_score, segment


def border_band(h: int, w: int, size: int, overlap: int, width: int = 3) -> np.ndarray:
    band = np.zeros((h, w), bool)
    for y in tiling.tile_starts(h, size, overlap):
        for e in (y, y + size):
            if 0 < e < h:
                band[max(0, e - width):e + width, :] = True
    for x in tiling.tile_starts(w, size, overlap):
        for e in (x, x + size):
            if 0 < e < w:
                band[:, max(0, e - width):e + width] = True
    return band


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "resources/models/brick_l2ae.safetensors"
    torch.set_num_threads(2)
    loaded = load_model(path, "cpu")
    cal = model_defaults(loaded.meta)
    params = cal.projection_params()
    good = data.brick().astype(np.float32) / 255.0
    stained = good.copy()
    yy, xx = np.mgrid[:512, :512]
    stain = (yy - 100) ** 2 + (xx - 96) ** 2 <= 9 ** 2  # across the first tile's right border (x = 96..128)
    stained[stain] *= 0.45
    size = loaded.model.image_size
    print(f"{path}: threshold {cal.threshold:g}, min area {cal.min_area}, {params.max_iter} steps at α {params.alpha:g}, stop {params.stop}")
    print("overlap  gradient     good score  border/elsewhere DSSIM  good area  stain score  stain IoU  s/image")
    for overlap in (0, 16, 32, 64):
        for norm in (True, False):
            original = tiling.TileGrid.__init__

            def patched(self, *a, _norm=norm, **k):
                original(self, *a, **k)
                if not _norm:
                    self.inv_coverage = torch.full_like(self.inv_coverage, self.weight)

            tiling.TileGrid.__init__ = patched
            try:
                t0 = time.perf_counter()
                _f, last, _c = run_to_end(loaded.model, to_tensor([good, stained]), params, tile_overlap=overlap)
                dt = (time.perf_counter() - t0) / 2
            finally:
                tiling.TileGrid.__init__ = original
            d = last.dssim_projection.numpy()
            band = border_band(512, 512, size, overlap)
            s_good = image_score(d[0], cal.min_area)
            seg_good = segment(d[0], cal.threshold, cal.min_area)
            s_bad = image_score(d[1], cal.min_area)
            seg_bad = segment(d[1], cal.threshold, cal.min_area)
            iou = (seg_bad & stain).sum() / max(1, (seg_bad | stain).sum())
            print(f"{overlap:7d}  {'1/coverage' if norm else 'uniform w ':11s}  {s_good:10.4f}  "
                  f"{d[0][band].mean():.5f} / {d[0][~band].mean():.5f}       {int(seg_good.sum()):9d}  "
                  f"{s_bad:11.4f}  {iou:9.3f}  {dt:7.1f}")


if __name__ == "__main__":
    main()
