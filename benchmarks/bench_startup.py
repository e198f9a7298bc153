"""How long from the command to a painted window? A new process each time, offscreen.

Each run starts ``python -c DRIVER`` (what ``inspector-app gui --model M IMAGE`` runs, with a hook
that notes the time of paint events) in a fresh process with fresh settings (its own HOME and
XDG folders) and reports, from the moment before the process was started:

* **painted** — the first paint of the window's input view after the window is shown (the panels
  say "loading the model…" while the model opens in a worker);
* **x0 drawn** — the first paint after the worker's evaluation of x0 (f(x0), E(x0)) reached the
  window: the window holds the model and the image, ready to Run;
* **welcome** (``--welcome``) — the same first paint for a first start with nothing to open.

The medians over ``--runs`` (default 5) are printed, then, from one more process run with
``python -X importtime``, the modules that the window's import spends its time on.

    python benchmarks/bench_startup.py [--runs 5] [--model M] [--image I] [--welcome]

Target: painted < 1.5 s on the 2-core development machine.
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

DRIVER = r"""
import json, sys, time
from inspector_app.gui import main_window as mw
marks = {}
_show = mw.MainWindow.show

def show(self):
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    win = self

    class Paints(QObject):
        def eventFilter(self, obj, ev):
            if ev.type() == QEvent.Type.Paint and getattr(obj, "window", None) and obj.window() is win:
                marks.setdefault("painted", time.time())
                if sys.argv[1] == "welcome" or ("frame" in marks and obj is view):
                    marks.setdefault("x0_drawn", time.time())
                    print(json.dumps(marks), flush=True)
                    QApplication.instance().removeEventFilter(self)
                    QTimer.singleShot(0, lambda: (win.close(), QApplication.quit()))
            return False

    def shown(frame):
        if frame is not None and "frame" not in marks:
            marks["frame"] = time.time()
            view.update()

    marks["shown"] = time.time()
    self._paints = Paints()
    view = self.grid.input_panel.viewport()
    QApplication.instance().installEventFilter(self._paints)
    self.session.frame_shown.connect(shown)
    _show(self)

mw.MainWindow.show = show
marks["imported"] = time.time()
from inspector_app.cli import main
args = [] if sys.argv[1] == "welcome" else ["gui", "--model", sys.argv[1], sys.argv[2]]
sys.exit(main(args))
"""


def one_run(model: str, image: str, timeout: float) -> dict:
    home = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "data"), "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", DRIVER, model, image], env=env, capture_output=True, text=True,
                         timeout=timeout)
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            m = json.loads(line)
            return {k: (v - t0) * 1000.0 for k, v in m.items()}
    raise RuntimeError(f"the window reported no paint:\n{out.stdout}\n{out.stderr[-3000:]}")


def import_profile(top: int = 10) -> list[tuple[str, float]]:
    """The packages the window's import spends its time on (``-X importtime``: each package's
    cumulative time where it is first imported, ms), and the whole."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import inspector_app.cli, inspector_app.gui.app"],
                         capture_output=True, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    packages: dict[str, float] = {}
    total = float("nan")
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line[len("import time:"):].split("|")
        name = name.strip()
        if name == "inspector_app.gui.app":
            total = int(cumulative) / 1000.0
        elif "." not in name and not name.startswith("_"):
            packages[name] = max(packages.get(name, 0.0), int(cumulative) / 1000.0)
    rows = sorted(packages.items(), key=lambda r: -r[1])[:top]
    return rows + [("the window's modules, everything included", total)]


def main() -> None:
    from inspector_app.resources import DEMO_IMAGE, DEMO_MODEL, resource

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default=str(resource(DEMO_MODEL)))
    ap.add_argument("--image", default=str(resource(DEMO_IMAGE)))
    ap.add_argument("--welcome", action="store_true", help="also time a first start (the welcome)")
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    runs = [one_run(a.model, a.image, a.timeout) for _ in range(a.runs)]
    painted = [r["painted"] for r in runs]
    drawn = [r["x0_drawn"] for r in runs]
    print(f"model {Path(a.model).name}, image {Path(a.image).name}; {a.runs} new processes, offscreen")
    print(f"painted (ms): {', '.join(f'{v:.0f}' for v in painted)}")
    print(f"x0 drawn (ms): {', '.join(f'{v:.0f}' for v in drawn)}")
    if a.welcome:
        welcome = [one_run("welcome", "", a.timeout)["painted"] for _ in range(a.runs)]
        print(f"welcome painted (ms): {', '.join(f'{v:.0f}' for v in welcome)}; "
              f"median {statistics.median(welcome):.0f} ms")
    print("imports of the window (cumulative ms, one process):")
    for name, ms in import_profile():
        print(f"  {ms:8.0f}  {name}")
    print(f"x0 evaluated and drawn: {statistics.median(drawn):.0f} ms (median)")
    print(f"startup to a painted window: {statistics.median(painted):.0f} ms (median of {a.runs})")


if __name__ == "__main__":
    main()
