"""Start the inspection window: ``inspector-app`` / ``inspector-app gui [--model M] [IMAGE]``.

Environment hooks (for screenshots and scripts): ``INSPECTOR_APP_AUTORUN=1`` presses Run after
``INSPECTOR_APP_AUTORUN_DELAY_MS`` (1500 by default).
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget

from ..resources import DEMO_MODEL, resource
from .main_window import MainWindow
from .settings import APP_NAME, ORGANIZATION, recent_files
from .style import apply_dark_style, configure_pyqtgraph
from .welcome import install as install_welcome


def run_app(model: str | None = None, image: str | None = None) -> int:
    """Open the inspection window with ``model`` and ``image`` (see :func:`open_start`)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    if not app.organizationName():  # tests set their own, to keep off the user's settings
        app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName("Inspector")
    icon = resource("icons/inspector-app.svg")
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    configure_pyqtgraph()
    apply_dark_style(app)
    win = MainWindow()
    win.show()
    # what opens, opens after the window is up (an error box has a parent on screen); a model only once
    # the window is painted: the worker importing torch (about a second, holding the interpreter) must
    # not hold up the first paint
    if model is None and image is None and resource(DEMO_MODEL) is None:
        QTimer.singleShot(0, lambda: open_start(win, model, image))
    else:
        after_first_paint(win, lambda: open_start(win, model, image))
    return int(app.exec())


class _FirstPaint(QObject):
    """Calls ``then`` (once, from the event loop) after the first paint of a widget of ``win``."""

    def __init__(self, win: QWidget, then: Callable[[], None], fallback_ms: int):
        super().__init__(win)
        self.win, self.then = win, then
        QApplication.instance().installEventFilter(self)
        QTimer.singleShot(fallback_ms, self.fire)  # a window that is never painted (minimised) still loads

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt
        if ev.type() == QEvent.Type.Paint and isinstance(obj, QWidget) and obj.window() is self.win:
            QTimer.singleShot(0, self.fire)
        return False

    def fire(self) -> None:
        then, self.then = self.then, None
        if then is not None:
            QApplication.instance().removeEventFilter(self)
            then()


def after_first_paint(win: QWidget, then: Callable[[], None], fallback_ms: int = 3000) -> None:
    """Run ``then`` once ``win`` has been painted (or after ``fallback_ms``)."""
    _FirstPaint(win, then, fallback_ms)


def first_run() -> bool:
    """No model and no image has been opened before (the recent-files lists are empty)."""
    return not recent_files("models") and not recent_files("images")


def open_start(win: MainWindow, model: str | None, image: str | None) -> None:
    """What the window opens with: ``model`` and ``image`` (a folder: review mode); with neither, the
    welcome on a first run (:mod:`.welcome`), else the bundled demo (or, when the bundled files are
    not installed, a word on what to open)."""
    if model is None and image is None:
        if first_run() and resource(DEMO_MODEL) is not None:
            install_welcome(win)
        else:
            win.open_demo()
    else:
        if model is not None:
            win.open_model(model)
        if image is not None and os.path.isdir(image):
            win.open_folder(image)  # review mode
        elif image is not None:
            win.open_image(image)
    if os.environ.get("INSPECTOR_APP_AUTORUN", "") not in ("", "0"):
        delay = int(os.environ.get("INSPECTOR_APP_AUTORUN_DELAY_MS", "1500"))
        QTimer.singleShot(delay, win.session.request_run)
