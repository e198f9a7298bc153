#!/usr/bin/env bash
# Rebuilds the bundled demo models with the project's own commands (CPU, 2 cores).
#   bash resources/models/recipe.sh [DATA_DIR]
# Writes the synthetic categories to DATA_DIR (default /tmp/inspector-data), trains each model
# for a fixed wall-clock budget (two at a time, one thread each) and evaluates it on its own
# test set (JSON and figure-5 plot beside the model). Takes about 40 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:-/tmp/inspector-data}
app=${INSPECTOR_APP:-inspector-app}
minutes=${MINUTES:-7}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

for src in brick grass grid; do
  [ -d "$data/$src" ] || $app make-dataset --source "$src" --out "$data/$src" --n-train 500 --n-test 60 --seed 0
done
[ -d "$data/faces" ] || $app make-dataset --source faces --out "$data/faces" --n-train 160 --n-test 40 --seed 0

train() {  # name arch source [extra args]
  local name=$1 arch=$2 src=$3; shift 3
  $app train --arch "$arch" --data "$data/$src" --out "$here/$name.safetensors" --seed 0 \
     --description "synthetic '$src' category (inspector-app make-dataset --source $src --seed 0), train/good" \
     --quiet "$@"
}
tex=(--image-size 128 --batch 16 --lr 5e-4 --max-minutes "$minutes")
train brick_l2ae l2ae brick "${tex[@]}" & train brick_dsae dsae brick "${tex[@]}"; wait
train brick_vae vae brick "${tex[@]}" & train brick_gvae gvae brick "${tex[@]}"; wait
train grass_l2ae l2ae grass "${tex[@]}" & train grid_l2ae l2ae grid "${tex[@]}"; wait
train faces_vae vae faces --image-size 32 --batch 32 --lr 1e-3 --max-minutes 4 --latent 32
