"""Review mode: does projecting a folder in the window keep up with the headless ``project`` command?

A folder of ``--n`` images (``make-dataset --source brick``'s test split, MVTec layout with
ground truth) is projected

* headless: ``inspector-app project --model M FOLDER/test --out TMP`` (the command's own code, in
  this process, in a thread of the window's pool as the window's own work runs; it also writes
  every result file and summary.csv);
* in the window (offscreen Qt): File → Open Folder on the category, timed from the call until the
  folder run has delivered its last batch (listing and hashing the folder included) — the worker,
  the batches streaming into the gallery, the histogram and the statistics redrawn as they come.

Both use the same model, the same parameters (``--iters`` iterations, stop='none', batch 8) and the
same images. They run in ``--repeats`` adjacent pairs, alternating which goes first; the reported
ratio is the median of the pairs' ratios (slow load drifts of a shared machine cancel).

Two further window runs measure the event loop while it projects: a 10 ms QTimer's lateness (p95,
max), the second with a simulated reviewer pressing PageDown (select, load the stored maps, draw)
and moving the threshold (re-segment, every verdict, the histogram) every 0.3 s. They run apart from the timed
pairs, as in bench_gui.py (on this virtual machine a thread waking every 10 ms changes torch's
speed). The resident memory is sampled every 50 ms during the window runs (peak RSS).

    QT_QPA_PLATFORM=offscreen nice -n 5 python benchmarks/bench_review.py [--n 200] [--iters 30]
        [--repeats 2] [--model resources/models/brick_l2ae.safetensors]

Last, the folder is opened twice with the result cache (issue 25): projected and kept, then
reopened with every result taken from the cache; both times are printed. The timed runs above
project every image (no cache).

Floors (issue 10): throughput ratio ≥ 0.9, p95 lateness < 50 ms. The last line reads
``window/headless folder throughput: X.XX``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class RssSampler:
    """The largest resident set seen while running (a thread reading /proc every 50 ms)."""

    def __init__(self):
        self.peak = 0.0
        self._stop = threading.Event()
        self._t: threading.Thread | None = None

    def __enter__(self):
        self._stop.clear()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_mb())


def spin(cond, timeout_s: float = 3600.0) -> None:
    """Run the event loop until ``cond()`` (polled every 50 ms)."""
    from PySide6.QtCore import QEventLoop, QTimer

    end = time.perf_counter() + timeout_s
    while not cond():
        if time.perf_counter() > end:
            raise TimeoutError
        loop = QEventLoop()
        QTimer.singleShot(50, loop.quit)
        loop.exec()


def headless_seconds(model: Path, folder: Path, out: Path, iters: int) -> float:
    """``inspector-app project`` on the folder, in a thread of the window's pool."""
    from PySide6.QtCore import QEventLoop

    from inspector_app.cli import main
    from inspector_app.gui.worker import run_in_worker

    def go() -> float:
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # one line per image
            rc = main(["project", "--model", str(model), str(folder), "--out", str(out), "--max-iter", str(iters),
                       "--stop", "none", "--batch", "8", "--quiet", "--overwrite"])
        dt = time.perf_counter() - t
        if rc != 0:
            raise RuntimeError(f"project exited with {rc}")
        return dt

    res: list = []
    ev = QEventLoop()
    w = run_in_worker(go, on_result=lambda s: (res.append(s), ev.quit()), on_error=lambda e: (res.append(e), ev.quit()))
    ev.exec()
    w.wait()
    if isinstance(res[0], BaseException):
        raise res[0]
    return res[0]


class Harness:
    def __init__(self, model: Path, iters: int):
        from PySide6.QtCore import Qt, QTimer

        from inspector_app.gui.main_window import MainWindow

        self.win = win = MainWindow(restore=False)
        win.resize(1560, 940)
        win.show()
        win.open_model(model)
        spin(lambda: win.session.loaded is not None and not win.files.loading and not win.runner.running)
        self.iters = iters
        self._params()
        self.lateness: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.user = QTimer()
        self.user.setInterval(300)
        self.user.timeout.connect(self._act)
        self._k = 0

    def _params(self) -> None:
        p = self.win.session.params
        p.max_iter, p.stop_kind = self.iters, "none"
        self.win.session.display.threshold = 0.2

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last:
            self.lateness.append(max(0.0, (now - self.last) * 1000.0 - 10.0))
        self.last = now

    def _act(self) -> None:
        """A reviewer: the next image, and the threshold nudged."""
        self._k += 1
        self.win.review.step(1)
        d = self.win.session.display
        d.threshold = 0.15 + 0.01 * (self._k % 10)

    def run_folder(self, folder: Path, measured: bool = False, reviewer: bool = False,
                   cache: bool = False) -> tuple[float, float]:
        """Open ``folder`` and wait for its run to end: (seconds, seconds of the projection alone).
        ``cache``: with the result cache (in the benchmark's own folder), else every image is projected."""
        from inspector_app.session.review.cache import ResultCache

        win = self.win
        rv = win.review.review
        if rv.is_open:
            win.review.close_folder()
        rv.cache = ResultCache() if cache else None
        for f in folder.glob("inspector-review*"):
            f.unlink()
        self._params()
        started: list[float] = []
        conn = rv.running_changed.connect(lambda on: started.append(time.perf_counter()) if on else None)
        if measured:
            self.last = 0.0
            self.timer.start()
        if reviewer:
            self.user.start()
        t = time.perf_counter()
        win.open_folder(folder)
        spin(lambda: rv.is_open and not win.review.running and rv.n_done == len(rv) and len(rv) > 0)
        dt = time.perf_counter() - t
        self.timer.stop()
        self.user.stop()
        rv.running_changed.disconnect(conn)
        assert rv.n_done == len(rv) and all(r is not None for r in rv.results), "some images were not projected"
        return dt, time.perf_counter() - started[0] if started else dt


def make_folder(root: Path, n: int) -> Path:
    from inspector_app.core.datasets import make_dataset

    make_dataset("brick", root, n_train=8, n_test=n, seed=0)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="images in the folder")
    ap.add_argument("--iters", type=int, default=30, help="iterations per image (stop='none')")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default=str(ROOT / "resources" / "models" / "brick_l2ae.safetensors"))
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    ap.add_argument("--folder", default=None, help="an existing make-dataset category (else one is made)")
    ap.add_argument("--memory-only", action="store_true",
                    help="one window run and its peak RSS only (e.g. --n 2000 --iters 1: the 1 GB bound)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="bench_review_"))
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")  # the result cache: the benchmark's own, never the user's
    QCoreApplication.setOrganizationName("inspector-app-bench")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    from inspector_app.gui.style import apply_dark_style, configure_pyqtgraph

    configure_pyqtgraph()
    apply_dark_style(app)
    folder = Path(a.folder) if a.folder else make_folder(tmp / "brick", a.n)
    n_images = sum(1 for _ in (folder / "test").rglob("*.png"))
    model = Path(a.model)
    rss0 = rss_mb()
    h = Harness(model, a.iters)
    rss_window = rss_mb()
    # warm-ups: a few images each way (imports, first allocations)
    warm = tmp / "warm"
    (warm / "test" / "good").mkdir(parents=True)
    for p in sorted((folder / "test" / "good").glob("*.png"))[:8]:
        shutil.copy(p, warm / "test" / "good" / p.name)
    (warm / "ground_truth").mkdir()
    if a.memory_only:
        with RssSampler() as sampler:
            gsec, gproj = h.run_folder(folder)
        rv = h.win.review.review
        print(f"folder: {n_images} images, model {model.name}, {a.iters} iterations; window run {gsec:.0f} s "
              f"({n_images / gsec:.2f} images/s)")
        print(f"peak RSS: {sampler.peak:.0f} MB during the run (process at start {rss0:.0f} MB, with the window "
              f"{rss_window:.0f} MB); maps on disk {sum(f.stat().st_size for f in rv.store.folder.glob('*.npy')) / 2**20:.0f} MB, "
              f"in memory for {rv.store.cached} images")
        h.win.close()
        shutil.rmtree(tmp, ignore_errors=True)
        return
    headless_seconds(model, warm / "test", tmp / "warm_out", a.iters)
    h.run_folder(warm)
    hs, gs, gp, ratios = [], [], [], []
    with RssSampler() as sampler:
        for i in range(a.repeats):
            if i % 2 == 0:
                hsec = headless_seconds(model, folder / "test", tmp / "out", a.iters)
                gsec, gproj = h.run_folder(folder)
            else:
                gsec, gproj = h.run_folder(folder)
                hsec = headless_seconds(model, folder / "test", tmp / "out", a.iters)
            hs.append(hsec)
            gs.append(gsec)
            gp.append(gproj)
            ratios.append(hsec / gsec)
            print(f"pair {i + 1}: headless {hsec:.1f} s, window {gsec:.1f} s (projection {gproj:.1f} s), "
                  f"ratio {hsec / gsec:.2f}", flush=True)
        h.lateness.clear()
        h.run_folder(folder, measured=True)
        lat = list(h.lateness)
        h.lateness.clear()
        h.run_folder(folder, measured=True, reviewer=True)
        lat_user = list(h.lateness)
    fill, _p = h.run_folder(folder, cache=True)  # projected, and kept in the result cache
    reopen, _p = h.run_folder(folder, cache=True)  # reopened: every result from the cache
    rv = h.win.review.review
    cached = rv.store.cached if rv.store is not None else 0
    h.win.close()
    shutil.rmtree(tmp, ignore_errors=True)
    p95 = float(np.percentile(lat, 95)) if lat else float("nan")
    print(f"folder: {n_images} images (make-dataset brick, test/), model {model.name}, {a.iters} iterations "
          f"(stop=none), batch 8, torch threads {torch.get_num_threads()}, repeats {a.repeats}")
    print(f"headless project: {n_images / statistics.median(hs):.2f} images/s "
          f"(runs: {', '.join(f'{n_images / s:.2f}' for s in hs)})")
    print(f"in window: {n_images / statistics.median(gs):.2f} images/s (runs: {', '.join(f'{n_images / s:.2f}' for s in gs)}; "
          f"listing and hashing included, projection alone {', '.join(f'{n_images / s:.2f}' for s in gp)})")
    print(f"paired ratios (headless time / window time): {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"event-loop lateness while the folder runs (10 ms timer): p95 {p95:.1f} ms, "
          f"max {max(lat) if lat else float('nan'):.1f} ms over {len(lat)} ticks")
    print(f"  … with a reviewer pressing PageDown and moving the threshold every 0.3 s: "
          f"p95 {float(np.percentile(lat_user, 95)) if lat_user else float('nan'):.1f} ms, "
          f"max {max(lat_user) if lat_user else float('nan'):.1f} ms over {len(lat_user)} ticks")
    print(f"peak RSS: {sampler.peak:.0f} MB during the runs (process at start {rss0:.0f} MB, with the window "
          f"{rss_window:.0f} MB; high-water mark {hwm_mb():.0f} MB); maps cached in memory at the end: {cached} images")
    print(f"reopening the folder with its results cached: {reopen:.2f} s against {fill:.1f} s projecting it "
          f"(listing and hashing included): {fill / reopen:.0f}× faster")
    print(f"window/headless folder throughput: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
