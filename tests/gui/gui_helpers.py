"""Helpers shared by the GUI tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

# the root conftest's model factory, imported by path (tests/conftest.py and tests/gui/conftest.py
# share the module name "conftest")
_spec = importlib.util.spec_from_file_location("_tests_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
make_model_file = _root.make_model_file


def write_png(path, img: np.ndarray):
    from inspector_app.core.data import write_image

    write_image(path, img)
    return path


def wait_idle(qtbot, win, timeout: int = 20000) -> None:
    """Until no model file is opening and no projection (or preview) runs."""
    qtbot.waitUntil(lambda: not win.files.loading and not win.runner.running, timeout=timeout)


def open_model(qtbot, win, path, show_errors: bool = True) -> bool:
    """Open a model file (in the window's worker) and wait; True when the session took it."""
    win.open_model(path, show_errors)
    wait_idle(qtbot, win)
    return win.session.model_path == str(path)


def set_params(win, **kw) -> None:
    from inspector_app.core.params import ProjectionParams

    win.session.params.set_params(ProjectionParams(**kw))
