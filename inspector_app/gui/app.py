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

from ..resources import resource
from .main_window import MainWindow
from .settings import APP_NAME, ORGANIZATION
from .style import apply_dark_style, configure_pyqtgraph


def run_app(model: str | None = None, image: str | None = None) -> int:
    """Open the inspection window with ``model`` and ``image`` (a folder opens review mode; the
    bundled demo when both are None)."""
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

    def load() -> None:
        if model is None and image is None:
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

    QTimer.singleShot(0, load)  # after the window is up, so an error box has a parent on screen
    return int(app.exec())
