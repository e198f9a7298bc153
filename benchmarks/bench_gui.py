"""Does the window slow the projection down? Headless vs in-window iteration rate, GUI latency, startup.

The same projection (128×128 grey l2ae with random weights, stop='none', a fixed number of
iterations) runs

* headless: a plain loop over ``core.projection.project``;
* in the inspection window (offscreen Qt), through the ``ProjectionRunner`` and the views, exactly
  as a user's Run does (frames dropped to ``max_fps``, the energy curve fed every iteration).

Both are timed from the start of the run to its last record, in ``--repeats`` adjacent pairs
(alternating which goes first); the reported ratio is the median of the pairs' ratios, which
cancels the slow load drifts of a shared machine. The headless loop runs in a worker thread, as
the window's does (torch's OpenMP kernels behave differently in a busy machine's main thread).
During the in-window runs a 10 ms QTimer measures how late the event loop serves it (p95, ms).
A separate process measures the startup time to a painted window holding the model and an image. The last line reads ``gui/headless iteration rate: X.XX``.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py [--iters 150] [--repeats 8] [--threads N]

Targets: ratio ≥ 0.90, p95 latency < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from inspector_app.core.data import write_image  # noqa: E402
from inspector_app.core.modelio import save_model  # noqa: E402
from inspector_app.core.models import ModelConfig, create_model, freeze  # noqa: E402
from inspector_app.core.params import ProjectionParams  # noqa: E402
from inspector_app.core.projection import project  # noqa: E402

STARTUP_SCRIPT = r"""
import os, sys, time, json
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
QCoreApplication.setOrganizationName("inspector-app-bench")
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[3])
from inspector_app.gui.app import apply_dark_style, configure_pyqtgraph
configure_pyqtgraph(); apply_dark_style(app)
from inspector_app.gui.main_window import MainWindow
win = MainWindow(restore=False)
win.open_model(sys.argv[1]); win.open_image(sys.argv[2])
class F(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            print(json.dumps({"painted": time.time()}), flush=True)
            QTimer.singleShot(0, lambda: (win.close(), app.quit()))
            obj.removeEventFilter(self)
        return False
f = F()
win.grid.input_panel.viewport().installEventFilter(f)
win.show()
app.exec()
"""


def make_inputs(folder: Path, size: int = 128):
    torch.manual_seed(0)
    model = freeze(create_model(ModelConfig("l2ae", size, 1, 100)))
    model_path = save_model(model, folder / "bench_l2ae.safetensors", {"training": {"data": "random weights"}})
    rng = np.random.default_rng(0)
    img = np.clip(0.5 + 0.15 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)
    img[40:60, 50:70] = 0.05  # a dark "defect"
    image_path = write_image(folder / "bench.png", img)
    x0 = torch.from_numpy(img)[None, None]
    return model, model_path, image_path, x0


def headless_seconds(model, x0, params) -> float:
    """A plain loop over the generator, in a worker thread like the window's (OpenMP, which torch's
    CPU kernels use, behaves differently in the main thread of a busy machine)."""
    out: list[float] = []

    def loop() -> None:
        t = time.perf_counter()
        n = 0
        for _rec in project(model, x0, params):
            n += 1
        assert n == params.max_iter + 1
        out.append(time.perf_counter() - t)

    th = threading.Thread(target=loop)
    th.start()
    th.join()
    return out[0]


def startup_ms(model_path: Path, image_path: Path) -> float:
    t = time.time()
    settings = Path(model_path).parent / "settings"
    out = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT, str(model_path), str(image_path), str(settings)],
                         capture_output=True, text=True, timeout=300)
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            return (json.loads(line)["painted"] - t) * 1000.0
    raise RuntimeError(f"the startup process printed no paint time:\n{out.stdout}\n{out.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="bench_gui_"))
    QCoreApplication.setOrganizationName("inspector-app-bench")  # keep off the user's settings
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    from inspector_app.gui.app import apply_dark_style, configure_pyqtgraph
    from inspector_app.gui.main_window import MainWindow

    configure_pyqtgraph()
    apply_dark_style(app)
    model, model_path, image_path, x0 = make_inputs(tmp)
    params = ProjectionParams(stop="none", max_iter=a.iters)

    win = MainWindow(restore=False)
    win.resize(1560, 940)
    win.show()
    assert win.open_model(model_path) and win.open_image(image_path)
    win.controls.set_params(params)
    model_gui = win.loaded.model

    def spin(cond, timeout_s=600.0):
        """Run the event loop until ``cond()`` (polled every 50 ms: the harness must not load the GUI
        thread itself)."""
        end = time.perf_counter() + timeout_s
        while not cond():
            if time.perf_counter() > end:
                raise TimeoutError
            loop = QEventLoop()
            QTimer.singleShot(50, loop.quit)
            loop.exec()

    spin(lambda: not win.runner.running)  # the preview of x0
    frames = []
    win.runner.frame.connect(lambda r: frames.append(r.iteration))
    lateness: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    last = [0.0]

    def tick():
        now = time.perf_counter()
        if last[0]:
            lateness.append(max(0.0, (now - last[0]) * 1000.0 - 10.0))
        last[0] = now

    timer.timeout.connect(tick)

    def idle_p95(seconds: float = 2.0) -> float:
        lateness.clear()
        last[0] = 0.0
        timer.start()
        end = time.perf_counter() + seconds
        spin(lambda: time.perf_counter() > end)
        timer.stop()
        return float(np.percentile(lateness, 95)) if lateness else float("nan")

    def gui_seconds() -> float:
        done = []
        loop = QEventLoop()

        def on_finished(_rec) -> None:
            done.append(time.perf_counter())
            loop.quit()

        conn = win.run_finished.connect(on_finished)
        frames.clear()
        last[0] = 0.0  # (lateness accumulates over all the in-window runs)
        timer.start()
        t = time.perf_counter()
        win.run()
        if not done:
            loop.exec()  # the window's own event loop until the run's end: no polling
        timer.stop()
        win.run_finished.disconnect(conn)
        assert win.energy_plot.point_count == a.iters + 1 and win.last_record.iteration == a.iters
        return done[0] - t

    headless_seconds(model, x0, params.replace(max_iter=10))  # warm-ups
    gui_seconds()
    idle = idle_p95()
    lateness.clear()
    hs, gs, nframes, ratios = [], [], [], []
    for i in range(a.repeats):  # paired, alternating order: slow drifts of a shared machine cancel
        if i % 2 == 0:
            h = headless_seconds(model, x0, params)
            g = gui_seconds()
        else:
            g = gui_seconds()
            h = headless_seconds(model, x0, params)
        hs.append(h)
        gs.append(g)
        ratios.append(h / g)
        nframes.append(len(frames))
    assert model_gui is not None
    win.close()

    n = a.iters + 1
    h_rate = n / statistics.median(hs)
    g_rate = n / statistics.median(gs)
    ratio = statistics.median(ratios)
    p95 = float(np.percentile(lateness, 95)) if lateness else float("nan")
    st = startup_ms(model_path, image_path)
    print(f"model: l2ae 128×128 grey, random weights; {a.iters} iterations (stop=none); "
          f"torch threads {torch.get_num_threads()}; repeats {a.repeats} (medians)")
    print(f"headless: {h_rate:.2f} it/s  (runs: {', '.join(f'{n / s:.2f}' for s in hs)})")
    print(f"in window: {g_rate:.2f} it/s  (runs: {', '.join(f'{n / s:.2f}' for s in gs)}); "
          f"frames drawn per run: {', '.join(map(str, nframes))} (adaptive, ≤ {win.max_fps:g}/s; "
          f"last rate {win.runner.max_fps:.1f}/s for {1000 * win._draw_cost:.1f} ms per frame)")
    print(f"GUI event-loop latency during the runs (10 ms timer lateness): p95 {p95:.1f} ms, "
          f"max {max(lateness) if lateness else float('nan'):.1f} ms over {len(lateness)} ticks "
          f"(idle window, no run: p95 {idle:.1f} ms)")
    print(f"startup to a painted window (new process, model and image loaded): {st:.0f} ms")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"paired ratios (in window / headless): {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"gui/headless iteration rate: {ratio:.2f}")


if __name__ == "__main__":
    main()
