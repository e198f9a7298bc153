"""Whole images at the model's working scale: what the tiles cost in time and memory.

1. **Speed**: one 1,024×1,024 image's tiled projection (one energy, its tiles in chunks) against
   the same number of separate model-size crops projected as one batch (the plain path), in
   ``--repeats`` adjacent pairs (alternating which goes first); prints the seconds per iteration of
   each, the median ratio tiled / crops (floor: ≤ 1.15) and the time per 1,024-px image at the
   bundled models' usual 20 iterations.
2. **Memory**: a 4,096×4,096 image projected for ``--big-iters`` iterations in a fresh process;
   prints its peak resident memory (floor: < 2 GB), the process's memory before the projection and
   the tile count.
3. **Window** (``--gui``): the in-window iteration rate on a 1,024-px image against the headless
   loop, and the event loop's p95 lateness, with ``bench_gui.py``'s harness (floors: ≥ 0.9, < 50 ms).

The model is the 128×128 grey Bergmann autoencoder with random weights (the cost does not depend
on the weights), on the CPU unless ``--device cuda``.

    python benchmarks/bench_tiles.py [--repeats 3] [--iters 5] [--big-iters 2] [--gui] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from inspector_app.core.modelio import save_model
from inspector_app.core.models import ModelConfig, create_model, freeze
from inspector_app.core.params import ProjectionParams
from inspector_app.core.projection import project
from inspector_app.core.tiling import TileGrid

SIZE = 128


def model_on(device: str):
    torch.manual_seed(0)
    return freeze(create_model(ModelConfig("l2ae", SIZE, 1, 100))).to(device)


def photo(side: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    img = rng.standard_normal((side, side), dtype=np.float32)
    img *= 0.15
    img += 0.5
    np.clip(img, 0, 1, out=img)
    return torch.from_numpy(img)[None, None]


def seconds_per_iteration(model, x0: torch.Tensor, iters: int) -> float:
    params = ProjectionParams(max_iter=iters, stop="none")
    if x0.is_cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _rec in project(model, x0, params, stats={}):
        pass
    if x0.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / (iters + 1)


def speed(device: str, repeats: int, iters: int) -> None:
    model = model_on(device)
    big = photo(1024).to(device)
    grid = TileGrid(1024, 1024, SIZE)
    crops = torch.cat([big[:, :, y:y + SIZE, x:x + SIZE] for y, x in grid.boxes]).to(device)
    seconds_per_iteration(model, big, 1)
    seconds_per_iteration(model, crops, 1)
    tiled, plain, ratios = [], [], []
    for i in range(repeats):
        if i % 2 == 0:
            a = seconds_per_iteration(model, big, iters)
            b = seconds_per_iteration(model, crops, iters)
        else:
            b = seconds_per_iteration(model, crops, iters)
            a = seconds_per_iteration(model, big, iters)
        tiled.append(a)
        plain.append(b)
        ratios.append(a / b)
    print(f"device {device}, torch threads {torch.get_num_threads()}; 1024×1024 image = {len(grid)} tiles of "
          f"{SIZE} px (overlap {grid.overlap} px); {iters} iterations, {repeats} pairs")
    print(f"tiled image: {statistics.median(tiled):.3f} s/iteration  (runs: {', '.join(f'{v:.3f}' for v in tiled)})")
    print(f"{len(grid)} separate crops as one batch: {statistics.median(plain):.3f} s/iteration  "
          f"(runs: {', '.join(f'{v:.3f}' for v in plain)})")
    print(f"time per 1024-px image at 20 iterations: {21 * statistics.median(tiled):.1f} s")
    print(f"tiled / separate crops (median of pairs): {statistics.median(ratios):.3f}  (floor ≤ 1.15)")


_CHILD = r"""
import json, resource, sys, time, torch
sys.path.insert(0, sys.argv[1])
from bench_tiles import model_on, photo
from inspector_app.core.params import ProjectionParams
from inspector_app.core.projection import project
from inspector_app.core.tiling import TileGrid
side, iters, device = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
model = model_on(device)
x0 = photo(side).to(device)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
t = time.perf_counter()
last = None
for rec in project(model, x0, ProjectionParams(max_iter=iters, stop="none"), stats={}):
    last = rec
d = last.dssim_projection  # the anomaly map of the whole image, as every caller computes it
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"before_mb": before, "peak_mb": peak, "seconds": time.perf_counter() - t,
                  "tiles": len(TileGrid(side, side, 128)), "map": list(d.shape)}))
"""


def memory(device: str, iters: int, side: int = 4096) -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(Path(__file__).parent), str(side), str(iters), device],
                         capture_output=True, text=True, check=True)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{side}×{side} image, {m['tiles']} tiles, {iters} iterations and its DSSIM map: peak resident memory "
          f"{m['peak_mb']:.0f} MB (the process before the projection: {m['before_mb']:.0f} MB; "
          f"{m['seconds']:.0f} s)  (floor < 2048 MB)")


def gui(iters: int, repeats: int) -> None:
    """The window on a 1,024-px image, with bench_gui.py's harness."""
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import bench_gui
    from PySide6.QtWidgets import QApplication

    from inspector_app.core.data import write_image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = model_on("cpu")
        model_path = save_model(model, folder / "tiles_l2ae.safetensors",
                                {"training": {"data": "random weights"}, "working_scale": {"mode": "crops", "max_side": None}})
        x0 = photo(1024)
        image_path = write_image(folder / "photo.png", x0[0, 0].numpy())
        from PySide6.QtCore import QSettings

        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        app = QApplication.instance() or QApplication([])
        app.setOrganizationName("inspector-bench")
        from inspector_app.gui.style import configure_pyqtgraph

        configure_pyqtgraph()
        params = ProjectionParams(max_iter=iters, stop="none")
        h = bench_gui.Harness(app, model_path, image_path, params)
        loaded_model = h.win.session.loaded.model
        x_win = torch.from_numpy(np.ascontiguousarray(h.win.session.x0, dtype=np.float32))[None, None]
        m = bench_gui.measure(h, loaded_model, x_win, params, repeats)
        n = iters + 1
        lat = h.lateness
        print(f"window on a 1024×1024 image ({len(TileGrid(1024, 1024, SIZE))} tiles), {iters} iterations, {repeats} pairs")
        print(f"headless: {n / statistics.median(m['hs']):.3f} it/s; in window: {n / statistics.median(m['gs']):.3f} it/s")
        print(f"event-loop p95 lateness during runs: {float(np.percentile(lat, 95)) if lat else float('nan'):.1f} ms "
              f"(floor < 50 ms)")
        print(f"gui/headless iteration rate on a 1024-px image: {statistics.median(m['ratios']):.2f}  (floor ≥ 0.9)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--big-iters", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--gui", action="store_true", help="also the window's rate and latency on a 1024-px image")
    ap.add_argument("--skip-memory", action="store_true")
    a = ap.parse_args()
    speed(a.device, a.repeats, a.iters)
    if not a.skip_memory:
        memory(a.device, a.big_iters)
    if a.gui:
        gui(a.iters, a.repeats)


if __name__ == "__main__":
    main()
