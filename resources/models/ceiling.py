"""How much pixel AUROC a perfect projection would reach on a make-dataset texture category, and
what share of that ceiling's gain each evaluated model reaches:

    python resources/models/ceiling.py DATA_DIR/brick resources/models/eval/brick_*.json

A perfect projection returns the clean crop the defect was painted on (``dataset.json`` records
every test crop's box and turn, so the clean crop is cut again from the source). Its map,
DSSIM(x0, clean), is zero off the defect's 11×11 neighbourhood, yet its pixel AUROC stays under
1: the window carries the defect onto the good pixels around it. That is the ceiling of
DSSIM(x0, x_T), and ``ceiling − baseline`` the largest gain any model could show. The figure
"without the ring" leaves out the good pixels within 5 px of a defect (half the window).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from inspector_app.core.data import read_image
from inspector_app.core.datasets import load_source
from inspector_app.core.losses import SSIM_WINDOW, dssim_map
from inspector_app.core.metrics import pixel_auroc


def _unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32)
    return a / 255.0 if a.max() > 1.5 else a


def oracle(category: Path) -> dict[str, float]:
    """Pixel AUROC of DSSIM(x0, clean) over the category's test split, with and without the ring."""
    meta = json.loads((category / "dataset.json").read_text())
    if "box" not in meta["files"][0]:
        raise ValueError(f"{category}: not a make-dataset texture category (no crop boxes in dataset.json)")
    src = _unit(load_source(meta["source"], meta["seed"]))
    xs, cleans, gts = [], [], []
    for f in meta["files"]:
        if f["split"] != "test":
            continue
        path = category / f["file"]
        y0, x0, y1, x1 = f["box"]
        clean = np.rot90(src[y0:y1, x0:x1], f["rot90"])
        clean = clean[:, ::-1] if f["flip_lr"] else clean
        x = _unit(read_image(path))
        kind = path.parent.name
        if kind == "good":
            gt = np.zeros(x.shape, bool)
            if np.abs(x - clean).max() > 1.0 / 255:
                raise ValueError(f"{path}: does not match its crop box; the source has changed")
        else:
            gt = cv2.imread(str(category / "ground_truth" / kind / f"{path.stem}_mask.png"), cv2.IMREAD_GRAYSCALE) > 127
        xs.append(x)
        cleans.append(np.ascontiguousarray(clean))
        gts.append(gt)
    x = torch.from_numpy(np.stack(xs))[:, None]
    maps = dssim_map(x, torch.from_numpy(np.stack(cleans))[:, None]).numpy()
    gt = np.stack(gts)
    kernel = np.ones((SSIM_WINDOW, SSIM_WINDOW), np.uint8)
    ring = np.stack([cv2.dilate(g.astype(np.uint8), kernel) > 0 for g in gt]) & ~gt
    return {"all": pixel_auroc(maps, gt), "without_ring": pixel_auroc(maps[~ring], gt[~ring]), "n_images": len(xs)}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    try:
        o = oracle(Path(argv[0]))
        results = [(Path(p).stem, json.loads(Path(p).read_text())) for p in argv[1:]]
    except (OSError, ValueError, KeyError, IndexError) as e:  # one line, exit 2, as the inspector-app command
        print(f"ceiling.py: error: {e}", file=sys.stderr)
        return 2
    print(f"{argv[0]}: a perfect projection's pixel AUROC {o['all']:.4f} ({o['without_ring']:.4f} without the "
          f"{SSIM_WINDOW // 2}-px ring around each defect), {o['n_images']} test images")
    print("| model | baseline | x_T | gain | largest possible gain | share reached |")
    print("|---|---|---|---|---|---|")
    for name, r in results:
        b, t = r["baseline"]["pixel_auroc"], r["grad"]["pixel_auroc"]
        room = o["all"] - b
        share = f"{(t - b) / room:.0%}" if room > 0 else "—"
        print(f"| {name} | {b:.4f} | {t:.4f} | {t - b:+.4f} | {room:+.4f} | {share} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
