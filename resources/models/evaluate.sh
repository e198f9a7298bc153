#!/usr/bin/env bash
# Evaluates every bundled model (textures, and the faces with their noise rectangles) on its own synthetic test set (made by recipe.sh) with the
# model's calibrated defaults (threshold, minimum area, stop criterion; the paper's α = 0.5,
# λ = 0.05 and eq. 8), writing eval/NAME.json and eval/NAME_curve.png (figure 5, ITER iterations,
# default 100) beside the models, then the table of results.
#   bash resources/models/evaluate.sh [DATA_DIR] [extra evaluate flags, e.g. --paper-defaults]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:-/tmp/inspector-data}; shift || true
app=${INSPECTOR_APP:-inspector-app}
out=${EVAL_OUT:-$here/eval}
mkdir -p "$out"
for m in "$here"/*.safetensors; do
  name=$(basename "$m" .safetensors)
  src=${name%%_*}
  $app evaluate --model "$m" --data "$data/$src" --iterations "${ITER:-100}" --quiet --overwrite \
      --json "$out/$name.json" --plot "$out/${name}_curve.png" "$@" | tail -n +3 | head -n 1
done
