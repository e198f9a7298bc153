"""The model card's table from the JSON files ``evaluate.sh`` writes:

    python resources/models/summarize.py resources/models/eval/*.json

One row per model: the variance f(x) explains on good test images (median, min), pixel AUROC of
the baseline DSSIM(x0, f(x0)), of the projection DSSIM(x0, x_T) and of DSSIM(x0, f(x_T)), image
AUROC from the map's maximum (baseline → projection) and from the image score (the projection,
with the model's minimum area), AUPRO, and with the model's defaults the share of defective images
flagged and of good images passed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _f(v) -> str:
    return "—" if v is None or v != v else f"{v:.3f}".replace("0.", ".", 1) if abs(v) < 1 else f"{v:.3f}"


def row(path: Path) -> str:
    r = json.loads(path.read_text())
    b, g, v, fve = r["baseline"], r["grad"], r["verdicts"], r["variance_explained_good"]
    return (f"| {path.stem} | {_f(fve['median'])} ({_f(fve['min'])}) | {_f(b['pixel_auroc'])} | {_f(g['pixel_auroc'])} | "
            f"{_f(g['pixel_auroc_recon'])} | {_f(b.get('image_auroc'))} → {_f(g.get('image_auroc'))} | "
            f"{_f(g.get('image_auroc_score'))} | "
            f"{_f(b['aupro'])} → {_f(g['aupro'])} | "
            f"{v['defective_flagged']:.0%} | {v['good_passed']:.0%} | {g['iterations']:.0f} |")


def main(paths: list[str]) -> None:
    print("| model | FVE good, median (min) | pixel AUROC baseline | x_T | f(x_T) | image AUROC (max DSSIM) base → x_T | image AUROC (image score) | AUPRO base → x_T "
          "| defective flagged | good passed | iterations |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in sorted(paths):
        print(row(Path(p)))


if __name__ == "__main__":
    main(sys.argv[1:])
