#!/usr/bin/env bash
# Run every headless command of a built bundle once on tiny inputs, in a clean environment
# (env -i, from a temporary folder): make-dataset, train, project, evaluate, inpaint. The
# self-test covers the window, the models and the projection; this covers the modules the other
# commands import (training reaches far into torch), which trimming could have cut.
#
#   bash packaging/smoke.sh [dist/inspector-app]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bundle=$(cd "${1:-$here/../dist/inspector-app}" && pwd)
exe=$bundle/inspector-app
res=$bundle/_internal/resources
[ -x "$exe" ] || { echo "smoke.sh: no bundle at $bundle" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

run() {
    echo "+ inspector-app $*"
    env -i HOME="$tmp" "$exe" "$@" 2>&1 | tail -n 3
    return "${PIPESTATUS[0]}"
}

run make-dataset --source faces --out ds --n-train 16 --n-test 6
run train --arch vae --data ds --out m.safetensors --image-size 32 --latent 16 --max-steps 6 --batch 4 --eval-every 3 --quiet
run project --model m.safetensors ds/test --out results --max-iter 3 --quiet
run evaluate --model m.safetensors --data ds --json r.json --plot fig5.png --max-iter 2 --iterations 3
run inpaint --model "$res/models/faces_vae.safetensors" "$res/samples/faces/noise_000.png" \
    --mask "$res/samples/faces/noise_000_mask.png" --ground-truth "$res/samples/faces/noise_000_clean.png" \
    --out inpaint --max-iter 5 --quiet
for f in m.safetensors results/summary.csv r.json fig5.png; do
    [ -s "$f" ] || { echo "smoke.sh: $f was not written" >&2; exit 1; }
done
[ -n "$(ls inpaint/*_masked.png 2>/dev/null)" ] || { echo "smoke.sh: inpaint wrote no _masked.png" >&2; exit 1; }
echo "smoke ok"
