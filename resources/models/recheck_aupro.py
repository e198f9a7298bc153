"""AUPRO of the evaluation files again, with the exact computation (issue 23: it sampled 200
thresholds before), old against new, per file:

    python resources/models/recheck_aupro.py DATA_DIR [--full] [eval/NAME.json ...]

Each file's test set is made again in ``DATA_DIR`` with ``make-dataset`` (the recipe's arguments:
500 train and 60 test images with seed 0, the faces with 80 and 40; the same arguments give the
same files) and scored with the file's own settings
(``params``, threshold, minimum area), but without the figure-5 curves. By default only the
baseline, DSSIM(x0, f(x0)), is computed (one forward pass, the projection stopped after its first
iteration); ``--full`` runs the file's projection too and checks x_T's figures.

Each line says whether the maps are the file's — the pixel AUROC, exact before and after, must
agree to 1e-9 — and the AUPRO it holds against the exact one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The data folder's name in the evaluation files → make-dataset's arguments (recipe.sh, README).
DATASETS = {
    "brick": ("brick", 500, 60, 0), "grass": ("grass", 500, 60, 0), "gravel": ("gravel", 500, 60, 0),
    "grid": ("grid", 500, 60, 0), "faces80": ("faces", 80, 40, 0),
}
# The second set (eval/dev_*.json, --seed 1, 80 test images) was made with a number of train images
# that is not recorded: 80, 100, 200, 300, 400, 500 and 1000 all give other test crops.


def dataset(data_dir: Path, name: str) -> Path:
    out = data_dir / name
    if not out.exists():
        source, n_train, n_test, seed = DATASETS[name]
        subprocess.run([sys.executable, "-m", "inspector_app", "make-dataset", "--source", source, "--out", str(out),
                        "--n-train", str(n_train), "--n-test", str(n_test), "--seed", str(seed)], check=True,
                       stdout=subprocess.DEVNULL)
    return out


def recheck(path: Path, data_dir: Path, full: bool) -> list[str]:
    from inspector_app.core.evaluation import evaluate, load_category
    from inspector_app.core.modelio import load_model
    from inspector_app.core.params import ProjectionParams

    old = json.loads(path.read_text())
    if not old.get("data"):
        return [f"{path.name}: no test set recorded (not an evaluate file)"]
    if Path(old["data"]).name not in DATASETS:
        return [f"{path.name}: its test set's make-dataset arguments are not recorded: skipped"]
    category = load_category(dataset(data_dir, Path(old["data"]).name))
    if len(category.images) != old["n_images"]:
        return [f"{path.name}: {len(category.images)} test images made, the file has {old['n_images']}: skipped"]
    model = HERE.parent.parent / old["model"]
    if not model.exists():
        return [f"{path.name}: its model {old['model']} is no longer bundled: skipped"]
    loaded = load_model(str(model), "cpu")
    params = ProjectionParams(**old["params"])
    if not full:
        params = params.replace(max_iter=1, stop="none")
    v = old["verdicts"]
    new = evaluate(loaded, category, params, threshold=v["threshold"], min_area=v["min_area"], curve=False)
    lines = []
    checks = [("baseline", "aupro", "pixel_auroc")]
    if full:
        checks += [("grad", "aupro", "pixel_auroc"), ("grad", "aupro_recon", "pixel_auroc_recon")]
    for part, key, auroc in checks:
        same = abs(new[part][auroc] - old[part][auroc]) < 1e-9
        a, b = old[part][key], new[part][key]
        lines.append(f"{path.name}: {part} {key}: {a:.4f} → {b:.4f} ({b - a:+.4f})"
                     + ("" if same else f"  [maps differ: pixel AUROC {old[part][auroc]:.6f} vs {new[part][auroc]:.6f}]"))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--full", action="store_true", help="run each file's projection too (x_T's AUPRO)")
    a = ap.parse_intermixed_args()
    files = a.files or sorted((HERE / "eval").glob("*.json"))
    for f in files:
        for line in recheck(f, a.data_dir, a.full):
            print(line, flush=True)


if __name__ == "__main__":
    main()
