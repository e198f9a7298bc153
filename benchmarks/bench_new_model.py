"""Training started from the window against the same ``train`` command on its own (issue 24 item 6).

Both runs are the same ``train`` command line (:func:`inspector_app.session.new_model.train_command`)
on the same generated folder of brick crops, with the same step cap: one run alone (its protocol
read and discarded), one driven by the window's :class:`~inspector_app.gui.training_view.TrainingView`
in an offscreen Qt application whose event loop is probed by a 10 ms timer (its lateness: how
much later than due each tick came). The steps per second are the run's steps over its training
seconds (from its ``done`` line's model file: ``training.seconds``), so the start-up and the
calibration do not count. Alternates ``--rounds`` times (alone, window, alone, window…) so that
load from elsewhere hits both alike, and prints the medians, the ratio
``window / alone: X.XX`` (floor 0.95) and the event loop's p95 lateness (ceiling 50 ms).

    python benchmarks/bench_new_model.py [--steps 120] [--size 64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np


def make_folder(d: Path, n: int = 24, side: int = 160) -> Path:
    from skimage import data

    b = data.brick()
    rng = np.random.default_rng(0)
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        y, x = rng.integers(0, 512 - side, 2)
        cv2.imwrite(str(d / f"{i:03d}.png"), b[y:y + side, x:x + side])
    return d


def settings(folder: Path, out: Path, steps: int, size: int):
    from inspector_app.session.new_model import propose, scan_folder

    s = propose(scan_folder(folder), out.parent)
    return replace(s, out=out, image_size=size, max_steps=steps, minutes=60.0, eval_every=max(1, steps // 4),
                   calibrate_minutes=0.001)


def steps_per_s(out: Path) -> float:
    from inspector_app.core.modelio import load_model

    tr = load_model(out, "cpu").meta["training"]
    return tr["steps"] / tr["seconds"]


def alone(s, tmp: Path) -> float:
    from inspector_app.session.new_model import train_command

    subprocess.run(train_command(s, tmp / "pause-alone"), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return steps_per_s(s.out)


def in_window(app, s) -> tuple[float, list[float]]:
    from PySide6.QtCore import QTimer

    from inspector_app.gui.training_view import TrainingView
    from inspector_app.session.training_run import TrainingRun

    view = TrainingView()
    view.resize(760, 640)
    view.show()
    late: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        late.append(max(0.0, now - last[0] - 0.010))
        last[0] = now

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(tick)
    run = TrainingRun(s)
    view.start(run)
    probe.start()
    while run.state in ("idle", "running", "pausing"):
        app.processEvents()
        time.sleep(0.002)
    probe.stop()
    view.close()
    if run.state != "finished":
        raise SystemExit(f"the window's run ended {run.state}: {run.message}")
    return steps_per_s(s.out), late


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    from inspector_app.gui.style import configure_pyqtgraph

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_pyqtgraph()
    with tempfile.TemporaryDirectory(prefix="bench-new-model-") as t:
        tmp = Path(t)
        folder = make_folder(tmp / "bricks")
        a_rates, w_rates, late = [], [], []
        for r in range(a.rounds):
            a_rates.append(alone(settings(folder, tmp / f"alone{r}.safetensors", a.steps, a.size), tmp))
            rate, lat = in_window(app, settings(folder, tmp / f"window{r}.safetensors", a.steps, a.size))
            w_rates.append(rate)
            late += lat
            print(f"round {r + 1}: alone {a_rates[-1]:.2f} steps/s, from the window {w_rates[-1]:.2f} steps/s",
                  flush=True)
    ma, mw = statistics.median(a_rates), statistics.median(w_rates)
    p95 = float(np.percentile(np.asarray(late) * 1000.0, 95)) if late else float("nan")
    print(f"train alone: {ma:.2f} steps/s; started from the window: {mw:.2f} steps/s "
          f"({a.steps} steps of a {a.size}-px l2ae, batch 16, medians of {a.rounds})")
    print(f"event loop during training: p95 lateness {p95:.1f} ms, max {max(late) * 1000.0:.1f} ms "
          f"over {len(late)} ticks of a 10 ms timer")
    print(f"window / alone: {mw / ma:.2f}")


if __name__ == "__main__":
    main()
