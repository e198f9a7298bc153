#!/usr/bin/env bash
# Blind vs masked inpainting vs OpenCV Telea over the held-out corrupted faces of the faces
# category (recipe.sh makes it: faces 80-99 of lfw_subset(), never trained on), with the model's
# own inpainting schedule (calibrate --inpainting); prints the mean PSNR of each panel inside Ω and
# over the image, and how often masked inpainting beats Telea inside Ω; writes eval/NAME_inpaint.json.
#   bash resources/models/evaluate_inpainting.sh [DATA_DIR] [MODEL] [extra inpaint flags]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:-/tmp/inspector-data}/faces; shift || true
model=${1:-$here/faces_vae.safetensors}; shift || true
app=${INSPECTOR_APP:-inspector-app}
py=${PYTHON:-python3}
name=$(basename "$model" .safetensors)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for img in "$data"/test/noise/*.png; do
  i=$(basename "$img" .png)
  $app inpaint --model "$model" "$img" --mask "$data/ground_truth/noise/${i}_mask.png" \
      --ground-truth "$data/clean/noise/$i.png" --out "$work" --name "f$i" --quiet "$@"
done
"$py" - "$work" "${EVAL_OUT:-$here/eval}/${name}_inpaint.json" <<'PY'
import glob, json, sys
import numpy as np
rows = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/*_inpaint.json"))]
panels = [p for p in rows[0]["metrics"]]
out = {"images": len(rows), "masked_init": rows[0].get("masked_init"), "schedule": rows[0].get("schedule"),
       "masked_params": rows[0]["runs"]["masked"]["params"], "blind_params": rows[0]["runs"]["blind"]["params"],
       "panels": {}}
for p in panels:
    m = [r["metrics"][p] for r in rows]
    out["panels"][p] = {k: float(np.mean([v[k] for v in m])) for k in ("psnr", "psnr_mask", "ssim")}
    print(f"{p:15s} inside Ω {out['panels'][p]['psnr_mask']:6.2f} dB   image {out['panels'][p]['psnr']:6.2f} dB   SSIM {out['panels'][p]['ssim']:.3f}")
d = np.array([r["metrics"]["masked"]["psnr_mask"] - r["metrics"]["telea"]["psnr_mask"] for r in rows])
out["masked_minus_telea_mask_db"] = {"mean": float(d.mean()), "wins": int((d > 0).sum()), "per_image": d.round(3).tolist()}
print(f"masked − Telea inside Ω: {d.mean():+.2f} dB on average, better on {(d > 0).sum()} of {len(d)} faces")
json.dump(out, open(sys.argv[2], "w"), indent=1)
PY
