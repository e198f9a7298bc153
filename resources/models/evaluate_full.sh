#!/usr/bin/env bash
# Full-size figures of the bundled texture models (issue 22): whole photographs inspected at each
# model's working scale with its calibrated defaults.
#   bash resources/models/evaluate_full.sh [DATA_DIR] [MODEL ...]
# For each model NAME (default: every brick_* and grid_* model here), on DATA_DIR/SOURCE made by
#   inspector-app make-dataset --source SOURCE --n-train 1 --n-test 5 --seed 0 --full-size 2 --full-good 8
# (made here when missing):
#   eval/full_NAME.json     evaluate on full/ (8 good whole sources, 8 with a defect at a tile border,
#                           in a corner or anywhere)
#   eval/heldout_NAME.csv   project's summary of full/heldout/good/ (8 good photographs of the test
#                           strip only: no pixel or border of them was trained or calibrated on)
# and one line per model: good whole sources passed, defective caught, held-out photographs passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:-/tmp/inspector-full}; shift || true
app=${INSPECTOR_APP:-inspector-app}
out=${EVAL_OUT:-$here/eval}
models_dir=${MODEL_DIR:-$here}  # where the model files are (default: beside this script)
mkdir -p "$out"
models=("$@")
[ ${#models[@]} -gt 0 ] || models=($(cd "$models_dir" && ls brick_*.safetensors grid_*.safetensors | sed 's/\.safetensors$//'))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in "${models[@]}"; do
  src=${name%%_*}
  [ -d "$data/$src/full/heldout" ] || $app make-dataset --source "$src" --out "$data/$src" --n-train 1 --n-test 5 \
      --seed 0 --full-size 2 --full-good 8 --overwrite > /dev/null
  $app evaluate --model "$models_dir/$name.safetensors" --data "$data/$src/full" --no-curve --quiet --overwrite \
      --json "$out/full_$name.json" > /dev/null
  $app project --model "$models_dir/$name.safetensors" "$data/$src/full/heldout/good" --out "$work/$name" --quiet > /dev/null
  cp "$work/$name/summary.csv" "$out/heldout_$name.csv"
  python3 - "$out/full_$name.json" "$out/heldout_$name.csv" "$name" <<'EOF'
import csv, json, sys
v = json.load(open(sys.argv[1]))["verdicts"]
rows = list(csv.DictReader(open(sys.argv[2])))
held = sum(r["verdict"] == "good" for r in rows)
print(f"{sys.argv[3]}: whole sources: good passed {v['good_passed']:.0%}, defective caught "
      f"{v['defective_flagged']:.0%}; held-out photographs passed {held}/{len(rows)} "
      f"(threshold {v['threshold']:.4g}, min area {v['min_area']})")
EOF
done
