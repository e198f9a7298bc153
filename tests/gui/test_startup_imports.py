"""The window shows itself before torch is imported: torch comes with the model, in a worker."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import sys
from inspector_app.cli import build_parser, gui
build_parser((gui,)).parse_args(["gui", "--model", "m.safetensors", "part.png"])  # what the window's start parses
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from inspector_app.gui.main_window import MainWindow
win = MainWindow(restore=False)
win.show()
app.processEvents()
heavy = sorted(m for m in ("torch", "scipy") if m in sys.modules)
print("HEAVY", heavy)
win.close()
"""


def test_the_window_is_built_and_shown_without_torch(qtbot, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
