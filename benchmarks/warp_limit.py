"""How strong must a warp be to be caught? (issue 29, item 2)

Paints warps of one mode (``shift``: lines bent one way; ``swirl``; ``bulge``) and a fixed peak
displacement (pixels) in a disc of a fixed radius on good development crops, projects them with a
model at its calibrated defaults, and prints per condition the share caught (image score above
the threshold) and the median score, with the good crops' scores for comparison.

    OMP_NUM_THREADS=1 python benchmarks/warp_limit.py MODEL GOOD_DIR [--radius 20] [--amps 2,4,8] [--n 4]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from inspector_app.core.calibration import model_defaults
from inspector_app.core.data import to_tensor
from inspector_app.core.geodefects import _bump, _remap
from inspector_app.core.modelio import load_model
from inspector_app.core.projection import run_to_end
from inspector_app.core.verdict import image_score

from geometric_signal import load


def warp(x: np.ndarray, mode: str, radius: float, peak: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` warped in a disc at a random place; the displacement's largest length is ``peak`` px."""
    h, w = x.shape
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    y, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    vy, vx = y + 0.5 - cy, xx + 0.5 - cx
    b = _bump(np.hypot(vy, vx) / radius)
    if mode == "shift":
        th = rng.uniform(0, 2 * np.pi)
        dy, dx = b * np.sin(th), b * np.cos(th)
    elif mode == "swirl":
        dy, dx = b * vx, -b * vy
    else:
        dy, dx = b * vy, b * vx
    scale = peak / max(float(np.hypot(dy, dx).max()), 1e-9)
    return np.clip(_remap(x, dy * scale, dx * scale), 0, 1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("good", type=Path)
    ap.add_argument("--radius", type=float, default=20.0)
    ap.add_argument("--amps", default="2,4,8")
    ap.add_argument("--modes", default="shift,swirl,bulge")
    ap.add_argument("--n", type=int, default=4)
    a = ap.parse_args()
    lm = load_model(a.model, "cpu")
    cal = model_defaults(lm.meta)
    params = cal.projection_params()
    goods, _ = load(a.good, "good", 64)
    rng = np.random.default_rng(29)
    conds, imgs = [], []
    for mode in a.modes.split(","):
        for amp in map(float, a.amps.split(",")):
            for i in range(a.n):
                imgs.append(warp(goods[i % len(goods)], mode, a.radius, amp, rng))
                conds.append((mode, amp))
    imgs += goods[:16]
    conds += [("good", 0.0)] * min(16, len(goods))
    scores = []
    for s in range(0, len(imgs), 16):
        _, last, _ = run_to_end(lm.model, to_tensor(imgs[s:s + 16]), params, stats=lm.training_stats)
        scores += [image_score(m, cal.min_area) for m in last.dssim_projection.numpy()]
    scores = np.array(scores)
    g = scores[[c[0] == "good" for c in conds]]
    print(f"{Path(a.model).name}: threshold {cal.threshold:.4g}, area {cal.min_area}; warps of radius {a.radius:g} px; "
          f"good crops' scores {g.min():.4f}..{g.max():.4f} (median {np.median(g):.4f})")
    for key in dict.fromkeys(c for c in conds if c[0] != "good"):
        s = scores[[c == key for c in conds]]
        print(f"  {key[0]:6s} peak {key[1]:4.1f} px: caught {np.mean(s > cal.threshold):4.0%}, "
              f"above every good {np.mean(s > g.max()):4.0%}, median score {np.median(s):.4f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
