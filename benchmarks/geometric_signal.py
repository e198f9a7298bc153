"""Where is a geometric defect's signal lost? (issue 29, item 2)

Projects good crops and defective crops (intensity and geometric kinds, from ``make-dataset
--geometric``) with a bundled model, at its calibrated defaults and at variations the method
allows (λ, the iteration budget, eq. 8 against the plain step, Adam), and measures for each defect kind:

* ``|x_T − x0|`` over the defect's mask against elsewhere (does the projection move the defect?);
* DSSIM(x0, x_T) over the mask (does the 11×11 DSSIM see what moved?);
* the image score (at the model's minimum area) against the good crops' (does the score hide it?);

for several anomaly maps: DSSIM(x0, x_T) with 11×11 windows (the method's), with 21×21, the
pixelwise maximum of the two (a multi-scale DSSIM), DSSIM(x0, f(x_T)) (the paper's appendix) and
the baseline DSSIM(x0, f(x0)); and the 11×11 map scored without a minimum area (its maximum).
For each map it prints the image AUROC of good crops against each
kind and the share of each kind scored above every good crop (a threshold that passes all of them).
Only development crops (a ``make-dataset`` set of another seed), never the test split, for choices.

    OMP_NUM_THREADS=1 python benchmarks/geometric_signal.py MODEL DEFECT_DIR GOOD_DIR [--per-kind N] [--good N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from inspector_app.core.calibration import model_defaults
from inspector_app.core.data import to_tensor
from inspector_app.core.losses import dssim_map
from inspector_app.core.metrics import image_auroc
from inspector_app.core.modelio import load_model
from inspector_app.core.params import ProjectionParams
from inspector_app.core.projection import project
from inspector_app.core.verdict import image_score

KINDS = ("stain", "scratch", "hole", "patch", "warp", "fold", "displaced", "missing")


def load(folder: Path, kind: str, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    files = sorted((folder / "test" / kind).glob("*.png"))[:n]
    imgs = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0 for f in files]
    masks = [cv2.imread(str(folder / "ground_truth" / kind / f"{f.stem}_mask.png"), cv2.IMREAD_GRAYSCALE) > 127
             if kind != "good" else np.zeros(imgs[0].shape, bool) for f in files]
    return imgs, masks


def run(model, x0: torch.Tensor, params: ProjectionParams, at: tuple[int, ...]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """x_t and f(x_t) at each iteration of ``at`` (fixed counts, no stop); a run that ended
    early (every image diverged) gives its last x_t (the lowest-energy iterate) for the rest."""
    out, rec = {}, None
    for rec in project(model, x0, params.replace(stop="none", max_iter=max(at)).validated()):
        if rec.iteration in at:
            out[rec.iteration] = (rec.x.detach().clone(), rec.reconstruction.detach().clone())
    if rec is not None and rec.iteration < max(at):
        print(f"(the run ended at iteration {rec.iteration}: {sorted(set(map(str, rec.stop_reasons)))})")
        out.update({t: (rec.x.detach().clone(), rec.reconstruction.detach().clone()) for t in at if t not in out})
    return out


def maps(x0: torch.Tensor, xt: torch.Tensor, ft: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad():
        d11 = dssim_map(x0, xt)
        d21 = dssim_map(x0, xt, 21)
        return {"x_T 11": d11.numpy(), "x_T 21": d21.numpy(), "x_T max(11,21)": torch.maximum(d11, d21).numpy(),
                "f(x_T) 11": dssim_map(x0, ft).numpy(), "f(x_T) max(11,21)": torch.maximum(dssim_map(x0, ft),
                                                                                           dssim_map(x0, ft, 21)).numpy()}


def report(name: str, x0: torch.Tensor, xt: torch.Tensor, ft: torch.Tensor, labels: list[str], masks: list[np.ndarray],
           area: int, threshold: float) -> None:
    lab = np.array(labels)
    move = (xt - x0).abs()[:, 0].numpy()
    m = maps(x0, xt, ft)
    print(f"\n== {name}")
    print("kind        |x_T-x0| in/out   DSSIM11 in  21 in   score(x_T 11) median  caught@T")
    sc11 = np.array([image_score(d, area) for d in m["x_T 11"]])
    good = sc11[lab == "good"]
    print(f"{'good':10s}  {'':16s}  {'':10s}  {'':6s}  {np.median(good):.4f} [{good.min():.4f}, {good.max():.4f}]  "
          f"passed {np.mean(good <= threshold):.0%}")
    for k in KINDS:
        sel = np.flatnonzero(lab == k)
        if not len(sel):
            continue
        inside = np.mean([move[i][masks[i]].mean() for i in sel])
        outside = np.mean([move[i][~masks[i]].mean() for i in sel])
        d_in = np.mean([m["x_T 11"][i][masks[i]].mean() for i in sel])
        d21_in = np.mean([m["x_T 21"][i][masks[i]].mean() for i in sel])
        s = sc11[sel]
        print(f"{k:10s}  {inside:.4f}/{outside:.4f}   {d_in:.4f}     {d21_in:.4f}  {np.median(s):.4f} "
              f"[{s.min():.4f}, {s.max():.4f}]  {np.mean(s > threshold):.0%}")
    print("map                 " + "  ".join(f"{k[:9]:>9s}" for k in KINDS) + "   (image AUROC vs good / share above every good)")
    for mname, mm in {**m, "x_T 11, area 1": m["x_T 11"]}.items():
        sc = np.array([image_score(d, 1 if mname.endswith("area 1") else area) for d in mm])
        g = sc[lab == "good"]
        cells = []
        for k in KINDS:
            s = sc[lab == k]
            if not len(s):
                cells.append(" " * 9)
                continue
            auc = image_auroc(np.concatenate([g, s]), np.r_[np.zeros(len(g)), np.ones(len(s))])
            cells.append(f"{auc:.2f}/{np.mean(s > g.max()):.0%}".rjust(9))
        print(f"{mname:18s}  " + "  ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("defects", type=Path)
    ap.add_argument("good", type=Path)
    ap.add_argument("--per-kind", type=int, default=5)
    ap.add_argument("--good-n", type=int, default=16)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--variants", default="defaults,lam0.01,lam0,plain,iter100")
    a = ap.parse_args()
    torch.set_grad_enabled(True)
    lm = load_model(a.model, "cpu")
    cal = model_defaults(lm.meta)
    imgs, masks, labels = [], [], []
    g, gm = load(a.good, "good", a.good_n)
    imgs += g
    masks += gm
    labels += ["good"] * len(g)
    for k in a.kinds.split(","):
        i, mk = load(a.defects, k, a.per_kind)
        imgs += i
        masks += mk
        labels += [k] * len(i)
    x0 = to_tensor(imgs)
    base = ProjectionParams(alpha=cal.alpha or 0.5)
    t_def = cal.max_iter
    print(f"{a.model}: threshold {cal.threshold:.4g}, area {cal.min_area}, α {base.alpha}, stop {cal.stop}, "
          f"{t_def} iterations; {len(g)} good crops, {len(imgs) - len(g)} defective")
    with torch.no_grad():
        f0 = lm.model.reconstruct(x0)
    report("baseline: x_T = x0 (no projection), f(x0)", x0, x0, f0, labels, masks, cal.min_area, cal.threshold)
    variants = {
        "defaults": (base, (t_def,)),
        "lam0.01": (base.replace(lam=0.01), (t_def,)),
        "lam0": (base.replace(lam=0.0), (t_def,)),
        "plain": (base.replace(grad_mask="none"), (t_def,)),
        "plain0.005": (base.replace(grad_mask="none", alpha=0.005), (t_def, 100)),
        "plain0.02": (base.replace(grad_mask="none", alpha=0.02), (t_def,)),
        "iter100": (base, (100,)),
        "adam0.01": (base.replace(optimizer="adam", alpha=0.01), (t_def,)),
        "adam0.003": (base.replace(optimizer="adam", alpha=0.003), (t_def,)),
    }
    for v in a.variants.split(","):
        p, at = variants[v]
        t0 = time.perf_counter()
        res = run(lm.model, x0, p, at)
        for t, (xt, ft) in res.items():
            report(f"{v}: α {p.alpha}, λ {p.lam}, {'eq. 8' if p.grad_mask == 'recon' else 'plain step'}{', Adam' if p.optimizer == 'adam' else ''}, {t} iterations "
                   f"({time.perf_counter() - t0:.0f} s)", x0, xt, ft, labels, masks, cal.min_area, cal.threshold)


if __name__ == "__main__":
    main()
