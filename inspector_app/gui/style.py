"""Process-wide look: pyqtgraph's options (once, before the first plot) and the dark Qt theme."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication

#: Background and foreground of the plots, matched to qdarkstyle's dark palette.
PLOT_BACKGROUND = "#19232D"
PLOT_FOREGROUND = "#C9CDD0"
#: pyqtgraph's options for this application.
PYQTGRAPH_OPTIONS = {"imageAxisOrder": "row-major", "antialias": True, "background": PLOT_BACKGROUND,
                     "foreground": PLOT_FOREGROUND}


def configure_pyqtgraph() -> None:
    """Row-major images (numpy's H×W order), antialiased curves, dark plot colours.

    Idempotent without a flag of its own: it sets the same options each time (a call after
    something else changed one of them sets it back), so there is no module state to reset."""
    pg.setConfigOptions(**PYQTGRAPH_OPTIONS)


#: Added to the theme: a disabled button keeps a visible frame and a darker face, so that it
#: still reads as a button (the theme draws it flat, like a label).
DISABLED_BUTTONS = """
QPushButton:disabled, QToolButton:disabled {
    border: 1px solid #455364;
    background-color: #1f2b36;
    color: #6b7b88;
}
"""


def apply_dark_style(app: QApplication) -> None:
    try:
        import qdarkstyle

        app.setStyleSheet(qdarkstyle.load_stylesheet(qt_api="pyside6") + DISABLED_BUTTONS)
    except Exception:  # noqa: BLE001 - the window works without the theme
        app.setStyleSheet(DISABLED_BUTTONS)
