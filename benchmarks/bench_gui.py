"""Does the window slow the projection down? Headless vs in-window iteration rate, GUI latency, startup.

The same projection (128×128 grey l2ae with random weights, stop='none', a fixed number of
iterations) runs

* headless: a plain loop over ``core.projection.project``;
* in the inspection window (offscreen Qt), through the run controller, the superqt worker, the
  pacing generator and the views, exactly as a user's Run does (numpy frames made in the worker and
  dropped to the pacing's rate, the energy curve fed every iteration).

Both are timed from the start of the run to its last record, in ``--repeats`` adjacent pairs
(alternating which goes first); the reported ratio is the median of the pairs' ratios, which
cancels the slow load drifts of a shared machine. The headless loop drives the very model and x0
the window holds, on the window's projection thread (the run controller's runner's own pool of
one thread): torch's OpenMP team is per thread, and two teams on two cores halve both loops' rate
(``inspector_app.gui.worker.TEAM_NOTE``).
During two further in-window runs a 10 ms QTimer measures how late the event loop serves it
(p95, ms); the timed pairs run without it (see ``measure``). The GUI thread's CPU time per
in-window run is printed too: that work (the pyqtgraph painting, the energy curve, the frames'
segmentation) holds the interpreter lock, which the worker's loop needs between torch calls.
A separate process measures the startup time to a painted window holding the model and an image. The last line reads ``gui/headless iteration rate: X.XX``.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py [--iters 150] [--repeats 8] [--threads N]

Targets: ratio ≥ 0.95, p95 latency < 50 ms.
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
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from inspector_app.core.data import to_tensor, write_image  # noqa: E402
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
from inspector_app.gui.style import apply_dark_style, configure_pyqtgraph
configure_pyqtgraph(); apply_dark_style(app)
from inspector_app.gui.main_window import MainWindow
win = MainWindow(restore=False)
class F(QObject):  # the first paint of the input view after x0's preview frame is shown
    armed = False
    def eventFilter(self, obj, ev):
        if self.armed and ev.type() == QEvent.Type.Paint:
            print(json.dumps({"painted": time.time()}), flush=True)
            QTimer.singleShot(0, lambda: (win.close(), app.quit()))
            obj.removeEventFilter(self)
        return False
f = F()
view = win.grid.input_panel.viewport()
view.installEventFilter(f)
def shown(frame):
    if frame is not None and not f.armed:
        f.armed = True
        view.update()
win.session.frame_shown.connect(shown)
win.show()
win.open_model(sys.argv[1]); win.open_image(sys.argv[2])
app.exec()
"""


def make_inputs(folder: Path, size: int = 128):
    """The model file and the image. The model is made in a thread that then ends: torch run on
    this (the GUI) thread would leave it an OpenMP team for good, which slows every projection of
    the process (``inspector_app.gui.worker.TEAM_NOTE``); the window never runs torch there."""
    import threading

    made: list = []

    def make() -> None:
        torch.manual_seed(0)
        made.append(freeze(create_model(ModelConfig("l2ae", size, 1, 100))))

    t = threading.Thread(target=make)
    t.start()
    t.join()
    model = made[0]
    model_path = save_model(model, folder / "bench_l2ae.safetensors", {"training": {"data": "random weights"}})
    rng = np.random.default_rng(0)
    img = np.clip(0.5 + 0.15 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)
    img[40:60, 50:70] = 0.05  # a dark "defect"
    image_path = write_image(folder / "bench.png", img)
    x0 = torch.from_numpy(img)[None, None]
    return model, model_path, image_path, x0


def headless_seconds(model, x0, params, pool) -> float:
    """A plain loop over the generator, on the window's projection thread (``pool``: the runner's
    own pool of one thread; on another thread each would have its OpenMP team, see
    ``inspector_app.gui.worker.TEAM_NOTE``); the event loop waits for it without polling."""
    from PySide6.QtCore import QEventLoop

    from inspector_app.gui.worker import TaskWorker

    def loop() -> float:
        t = time.perf_counter()
        n = 0
        for _rec in project(model, x0, params):
            n += 1
        assert n == params.max_iter + 1
        return time.perf_counter() - t

    out: list = []
    ev = QEventLoop()
    w = TaskWorker(loop)
    w.returned.connect(lambda s: (out.append(s), ev.quit()))
    w.errored.connect(lambda e: (out.append(e), ev.quit()))
    w.start(pool)
    ev.exec()
    w.wait()
    if isinstance(out[0], BaseException):
        raise out[0]
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


class Harness:
    """The window and the timers of the in-window runs."""

    def __init__(self, app, model_path: Path, image_path: Path, params):
        from PySide6.QtCore import Qt, QTimer

        from inspector_app.gui.main_window import MainWindow

        self.app, self.params = app, params
        self.win = win = MainWindow(restore=False)
        win.resize(1560, 940)
        win.show()
        win.open_model(model_path)
        win.open_image(image_path)
        self.spin(lambda: win.session.loaded is not None and not win.files.loading and not win.runner.running)
        win.session.params.set_params(params)
        self.frames: list[int] = []
        self.gui_cpu = 0.0  # the GUI thread's CPU seconds during the last in-window run
        win.runner.frame.connect(lambda f: self.frames.append(f.iteration))
        self.lateness: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.last = 0.0
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last:
            self.lateness.append(max(0.0, (now - self.last) * 1000.0 - 10.0))
        self.last = now

    @staticmethod
    def spin(cond, timeout_s: float = 600.0) -> None:
        """Run the event loop until ``cond()`` (polled every 50 ms: the harness must not load the GUI
        thread itself)."""
        from PySide6.QtCore import QEventLoop, QTimer

        end = time.perf_counter() + timeout_s
        while not cond():
            if time.perf_counter() > end:
                raise TimeoutError
            loop = QEventLoop()
            QTimer.singleShot(50, loop.quit)
            loop.exec()

    def idle_p95(self, seconds: float = 2.0) -> float:
        self.lateness.clear()
        self.last = 0.0
        self.timer.start()
        end = time.perf_counter() + seconds
        self.spin(lambda: time.perf_counter() > end)
        self.timer.stop()
        return float(np.percentile(self.lateness, 95)) if self.lateness else float("nan")

    def gui_seconds(self, timed_ticks: bool = False) -> float:
        """One Run in the window, timed from the press to its final frame; ``timed_ticks``: with the
        10 ms timer whose lateness measures the event loop."""
        from PySide6.QtCore import QEventLoop

        win, done, loop = self.win, [], QEventLoop()

        def on_finished(_frame) -> None:
            done.append(time.perf_counter())
            loop.quit()

        conn = win.runs.run_finished.connect(on_finished)
        self.frames.clear()
        self.last = 0.0  # (lateness accumulates over all the timed runs)
        if timed_ticks:
            self.timer.start()
        t, cpu = time.perf_counter(), time.thread_time()
        win.runs.run()
        if not done:
            loop.exec()  # the window's own event loop until the run's end: no polling
        self.gui_cpu = time.thread_time() - cpu  # the GUI thread's CPU seconds during the run
        self.timer.stop()
        win.runs.run_finished.disconnect(conn)
        n = self.params.max_iter
        assert win.energy_plot.point_count == n + 1 and win.session.result.iteration == n
        return done[0] - t


def measure(h: Harness, model, x0, params, repeats: int) -> dict:
    """Warm-ups, the idle latency, ``repeats`` adjacent headless/in-window pairs in alternating order
    (the slow drifts of a shared machine cancel), then two runs with the 10 ms timer for the
    event-loop latency. The rate pairs run without the timer: on this virtual machine a thread that
    wakes every 10 ms changes how fast torch's OpenMP threads wake up, by up to 20 %."""
    pool = h.win.runs.runner.pool
    headless_seconds(model, x0, params.replace(max_iter=10), pool)
    h.gui_seconds()
    idle = h.idle_p95()
    out: dict = {"hs": [], "gs": [], "frames": [], "ratios": [], "idle": idle, "gui_cpu": []}
    for i in range(repeats):
        if i % 2 == 0:
            hsec = headless_seconds(model, x0, params, pool)
            gsec = h.gui_seconds()
        else:
            gsec = h.gui_seconds()
            hsec = headless_seconds(model, x0, params, pool)
        out["hs"].append(hsec)
        out["gs"].append(gsec)
        out["ratios"].append(hsec / gsec)
        out["frames"].append(len(h.frames))
        out["gui_cpu"].append(h.gui_cpu)
    h.lateness.clear()
    for _ in range(2):
        h.gui_seconds(timed_ticks=True)
    return out


def report(m: dict, h: Harness, iters: int, repeats: int, startup: float) -> None:
    n = iters + 1
    hs, gs, lat = m["hs"], m["gs"], h.lateness
    p95 = float(np.percentile(lat, 95)) if lat else float("nan")
    print(f"model: l2ae 128×128 grey, random weights; {iters} iterations (stop=none); "
          f"torch threads {torch.get_num_threads()}; repeats {repeats} (medians)")
    print(f"headless: {n / statistics.median(hs):.2f} it/s  (runs: {', '.join(f'{n / s:.2f}' for s in hs)})")
    print(f"in window: {n / statistics.median(gs):.2f} it/s  (runs: {', '.join(f'{n / s:.2f}' for s in gs)}); "
          f"frames drawn per run: {', '.join(map(str, m['frames']))} (paced, ≤ {h.win.runner.max_fps:g}/s; "
          f"drawing {1000 * h.win.runs.draw_cost:.1f} ms of GUI CPU per frame)")
    cpu = statistics.median(m["gui_cpu"])
    print(f"GUI thread CPU per in-window run: {1000 * cpu:.0f} ms ({100 * cpu / statistics.median(gs):.1f} % of the run; "
          "the window's Python and the Qt calls it makes hold the interpreter lock the worker's loop needs)")
    print(f"GUI event-loop latency during two more runs (10 ms timer lateness): p95 {p95:.1f} ms, "
          f"max {max(lat) if lat else float('nan'):.1f} ms over {len(lat)} ticks "
          f"(idle window, no run: p95 {m['idle']:.1f} ms)")
    print(f"startup to a painted window (new process, model and image loaded, x0 evaluated): {startup:.0f} ms")
    print(f"paired ratios (in window / headless): {', '.join(f'{r:.2f}' for r in m['ratios'])}")
    print(f"gui/headless iteration rate: {statistics.median(m['ratios']):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="bench_gui_"))
    QCoreApplication.setOrganizationName("inspector-app-bench")  # keep off the user's settings
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    from inspector_app.gui.style import apply_dark_style, configure_pyqtgraph

    configure_pyqtgraph()
    apply_dark_style(app)
    model, model_path, image_path, x0 = make_inputs(tmp)
    params = ProjectionParams(stop="none", max_iter=a.iters)
    h = Harness(app, model_path, image_path, params)
    # the very model and x0 the window projects (x0 as read back from the PNG, 8-bit: the same work)
    x0 = to_tensor([h.win.session.prepared.model_input])
    m = measure(h, h.win.session.loaded.model, x0, params, a.repeats)
    h.win.close()
    startup = startup_ms(model_path, image_path)
    shutil.rmtree(tmp, ignore_errors=True)
    report(m, h, a.iters, a.repeats, startup)


if __name__ == "__main__":
    main()
