"""Start the inspection window: ``inspector-app`` / ``inspector-app gui [--model M] [IMAGE]``.

Environment hooks (for screenshots and scripts): ``INSPECTOR_APP_AUTORUN=1`` presses Run after
``INSPECTOR_APP_AUTORUN_DELAY_MS`` (1500 by default).
"""

from __future__ import annotations

import os
import sys

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from ..resources import resource
from .settings import APP_NAME, ORGANIZATION

#: Background and foreground of the plots, matched to qdarkstyle's dark palette.
PLOT_BACKGROUND = "#19232D"
PLOT_FOREGROUND = "#C9CDD0"
_configured = False


def configure_pyqtgraph() -> None:
    """Row-major images (numpy's H×W order), antialiased curves, dark plot colours. Idempotent."""
    global _configured
    if _configured:
        return
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background=PLOT_BACKGROUND,
                        foreground=PLOT_FOREGROUND)
    _configured = True


def apply_dark_style(app: QApplication) -> None:
    try:
        import qdarkstyle

        app.setStyleSheet(qdarkstyle.load_stylesheet(qt_api="pyside6"))
    except Exception:  # noqa: BLE001 - the window works without the theme
        pass


def run_app(model: str | None = None, image: str | None = None) -> int:
    """Open the inspection window with ``model`` and ``image`` (the bundled demo when both are None)."""
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

    from .main_window import MainWindow, autorun_later

    win = MainWindow()
    win.show()

    def load() -> None:
        if model is None and image is None:
            win.open_demo()
        else:
            if model is not None:
                win.open_model(model)
            if image is not None:
                win.open_image(image)
        if os.environ.get("INSPECTOR_APP_AUTORUN", "") not in ("", "0"):
            autorun_later(win, int(os.environ.get("INSPECTOR_APP_AUTORUN_DELAY_MS", "1500")))

    QTimer.singleShot(0, load)  # after the window is up, so an error box has a parent on screen
    return int(app.exec())
