#!/usr/bin/env bash
# Evaluates every bundled texture model on its own synthetic test set (made by recipe.sh) with the
# paper's settings (α = 0.5, λ = 0.05, eq. 8, stop at the training minimum, at most ITER (default 100) iterations),
# writing eval/NAME.json and eval/NAME_curve.png beside the models, then the table of results.
#   bash resources/models/evaluate.sh [DATA_DIR] [extra evaluate flags]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:-/tmp/inspector-data}; shift || true
app=${INSPECTOR_APP:-inspector-app}
mkdir -p "$here/eval"
for m in "$here"/*.safetensors; do
  name=$(basename "$m" .safetensors)
  src=${name%%_*}
  [ "$src" = faces ] && continue
  $app evaluate --model "$m" --data "$data/$src" --iterations "${ITER:-100}" --quiet \
      --json "$here/eval/$name.json" --plot "$here/eval/${name}_curve.png" "$@"
done
