"""The core never imports Qt: checked by import-linter's contract and by importing it bare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contract():
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "The core never imports Qt KEPT" in r.stdout


def test_core_imports_without_qt():
    code = (
        "import sys, importlib, pkgutil, inspector_app.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('inspector_app.core.' + m.name)\n"
        "import inspector_app.cli\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt', 'qdarkstyle')]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
