"""Start the inspection window: ``inspector-app`` / ``inspector-app gui [--model M] [IMAGE]``.

Environment hooks (for screenshots and scripts): ``INSPECTOR_APP_AUTORUN=1`` presses Run after
``INSPECTOR_APP_AUTORUN_DELAY_MS`` (1500 by default).
"""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

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
    QTimer.singleShot(0, lambda: open_start(win, model, image))  # after the window is up: an error box has a parent
    return int(app.exec())


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
