"""Masked inpainting on several families of mask (issue 25, item 9): the face model's own schedule
(from the Telea fill) and the paper's start (the corrupted pixels) against OpenCV's Telea, inside Ω,
on the held-out faces 80-99 of ``lfw_subset()`` (never trained on, never used to tune).

    OMP_NUM_THREADS=1 python resources/models/inpainting_families.py [MODEL] [OUT.json] [--per-image 2]

Prints one row per family (see ``inspector_app.core.inpaint_masks``) and writes the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from inspector_app.core.datasets import N_TRAIN_FACES, load_source
from inspector_app.core.inpaint_masks import evaluate_families
from inspector_app.core.inpainting import inpaint_params, model_inpainting
from inspector_app.core.modelio import load_model

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=str(HERE / "faces_vae.safetensors"))
    ap.add_argument("out", nargs="?", default=str(HERE / "eval" / "faces_vae_inpaint_families.json"))
    ap.add_argument("--per-image", type=int, default=2, help="masks of each family per face")
    ap.add_argument("--input-iters", type=int, default=40, help="iterations from the corrupted pixels")
    a = ap.parse_args()
    loaded = load_model(a.model, "cpu")
    size = int(loaded.model.image_size)
    faces = load_source("faces")[N_TRAIN_FACES:]  # 80-99: held out
    clean = [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0 for f in faces]
    masked = inpaint_params("masked", loaded=loaded)
    from_input = masked.replace(max_iter=a.input_iters)
    sched, thin = model_inpainting(loaded), model_inpainting(loaded, thin=True)
    has_thin = "thin" in sched  # the file's own schedule for thin or small Ω
    t0 = time.perf_counter()
    res = evaluate_families(loaded, clean, masked, from_input, per_image=a.per_image,
                            masked_thin=inpaint_params("masked", loaded=loaded, thin=True) if has_thin else None,
                            thin_init=str(thin.get("init", "input")),
                            progress=lambda f: print(f"  {f} done ({time.perf_counter() - t0:.0f} s)", flush=True))
    print(f"{len(clean)} held-out faces × {a.per_image} masks per family; schedule: start at "
          f"{sched.get('init', 'input')}, α = {masked.alpha:g}, {masked.max_iter} iterations "
          f"(from the corrupted pixels: {a.input_iters})")
    if has_thin:
        tp = inpaint_params("masked", loaded=loaded, thin=True)
        print(f"thin or small Ω (the 'thin' column): start at {thin.get('init', 'input')}, α = {tp.alpha:g}, "
              f"{tp.max_iter} iterations")
    print(f"{'family':12s} {'Ω %':>5s} {'Telea':>7s} {'from Telea':>11s} {'gain':>6s} {'wins':>6s} "
          f"{'from input':>11s} {'gain':>6s} {'wins':>6s} {'thin':>5s}")
    for fam, r in res.items():
        print(f"{fam:12s} {100 * r['mask_fraction']:5.1f} {r['telea']:7.2f} {r['from_telea']:11.2f} "
              f"{r['gain_from_telea']:+6.2f} {r['wins_from_telea']:3d}/{r['cases']:<2d} {r['from_input']:11.2f} "
              f"{r['gain_from_input']:+6.2f} {r['wins_from_input']:3d}/{r['cases']:<2d} {r['thin_cases']:5d}")
    mean_t = float(np.mean([r["gain_from_telea"] for r in res.values()]))
    mean_i = float(np.mean([r["gain_from_input"] for r in res.values()]))
    wins = sum(r["wins_from_telea"] for r in res.values()) / sum(r["cases"] for r in res.values())
    print(f"mean over the families: the model's schedule {mean_t:+.2f} dB (better than Telea in {wins:.0%} of "
          f"the cases), from the corrupted pixels {mean_i:+.2f} dB")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"model": Path(a.model).name, "faces": "lfw_subset 80-99 (held out)",
                                       "per_image": a.per_image, "masked_params": masked.to_dict(),
                                       "input_iters": a.input_iters, "families": res,
                                       "mean_gain_from_telea": mean_t, "mean_gain_from_input": mean_i,
                                       "wins_from_telea": wins}, indent=1))
    print(f"wrote {a.out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
