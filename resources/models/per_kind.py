"""Each defect kind apart (issue 29, item 3): a model at its calibrated defaults on a
``make-dataset --geometric`` set of crops, scored per kind.

For every kind: the share caught (image score at the model's minimum area above its threshold),
the pixel AUROC and the AUPRO (FPR ≤ 0.3, exact) of DSSIM(x0, x_T) over the good crops and that
kind's crops; and the share of good crops passed. The intensity kinds and the geometric kinds
are also pooled. Writes a JSON file with every image's score.

    OMP_NUM_THREADS=1 python resources/models/per_kind.py MODEL DATA_DIR OUT.json [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from inspector_app.core.calibration import model_defaults
from inspector_app.core.data import to_tensor
from inspector_app.core.defects import TEXTURE_DEFECTS
from inspector_app.core.geodefects import GEOMETRIC_DEFECTS
from inspector_app.core.metrics import aupro, pixel_auroc
from inspector_app.core.modelio import load_model
from inspector_app.core.projection import run_to_end
from inspector_app.core.verdict import image_score


def read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    lm = load_model(a.model, "cpu")
    cal = model_defaults(lm.meta)
    params = cal.projection_params()
    kinds = ["good"] + [k for k in (*TEXTURE_DEFECTS, *GEOMETRIC_DEFECTS) if (a.data / "test" / k).is_dir()]
    files = [(k, f) for k in kinds for f in sorted((a.data / "test" / k).glob("*.png"))]
    imgs = [read(f).astype(np.float32) / 255.0 for _, f in files]
    gts = [np.zeros(imgs[0].shape, bool) if k == "good" else read(a.data / "ground_truth" / k / f"{f.stem}_mask.png") > 127
           for k, f in files]
    t0 = time.perf_counter()
    maps, iters = [], []
    for s in range(0, len(imgs), a.batch):
        _, last, _ = run_to_end(lm.model, to_tensor(imgs[s:s + a.batch]), params, stats=lm.training_stats)
        maps += list(last.dssim_projection.numpy().astype(np.float32))
        iters += last.steps.tolist()
    seconds = time.perf_counter() - t0
    lab = np.array([k for k, _ in files])
    scores = np.array([image_score(m, cal.min_area) for m in maps])
    caught = scores > cal.threshold
    good = lab == "good"

    def figures(sel: np.ndarray) -> dict:
        idx = np.flatnonzero(good | sel)
        s, g = np.stack([maps[i] for i in idx]), np.stack([gts[i] for i in idx])
        return {"n": int(sel.sum()), "caught": float(caught[sel].mean()),
                "pixel_auroc": pixel_auroc(s, g), "aupro": aupro(s, g, 0.3)}

    per = {k: figures(lab == k) for k in kinds[1:]}
    groups = {"intensity": [k for k in TEXTURE_DEFECTS if k in per], "geometric": [k for k in GEOMETRIC_DEFECTS if k in per]}
    pooled = {g: figures(np.isin(lab, ks)) for g, ks in groups.items() if ks}
    result = {
        "model": a.model, "data": str(a.data), "threshold": cal.threshold, "min_area": cal.min_area,
        "params": params.to_dict(), "mean_iterations": float(np.mean(iters)), "seconds": round(seconds, 1),
        "n_good": int(good.sum()), "good_passed": float((~caught[good]).mean()),
        "good_scores": [float(v) for v in scores[good]],
        "per_kind": per, "pooled": pooled,
        "scores": [{"image": f"{k}/{f.name}", "score": float(v)} for (k, f), v in zip(files, scores)],
    }
    a.out.write_text(json.dumps(result, indent=1))
    print(f"{Path(a.model).name}: {len(files)} crops in {seconds:.0f} s ({np.mean(iters):.1f} iterations); "
          f"good passed {result['good_passed']:.0%} (scores {scores[good].min():.4f}..{scores[good].max():.4f}, "
          f"threshold {cal.threshold:.4g})")
    for k, v in {**per, **{f"[{g}]": v for g, v in pooled.items()}}.items():
        s = scores[lab == k] if k in per else scores[np.isin(lab, groups[k.strip('[]')])]
        print(f"  {k:11s} caught {v['caught']:4.0%} ({v['n']})  pixel AUROC {v['pixel_auroc']:.3f}  AUPRO {v['aupro']:.3f}  "
              f"scores median {np.median(s):.4f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
