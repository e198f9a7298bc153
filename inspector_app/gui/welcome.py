"""The first run's welcome: what a person can do at once, in place of the empty image views.

Shown by :func:`install` when the window opens with nothing to open and no model or image has been
opened before (the recent-files lists are empty); it goes away, and the views come back, as soon as
a model, an image or a folder opens, whichever way. Four actions, each one click:

* **Inspect a sample part** — the bundled brick model and a stained brick (Demo → Brick Demo);
* **Review a folder of sample parts** — review mode on the bundled brick samples with their ground
  truth, copied first to ``$XDG_DATA_HOME/inspector-app/sample-parts/brick`` (the review file is
  written beside the parts, never into the bundled resources);
* **Face inpainting demo** — blind vs masked inpainting on a corrupted face (Demo → Face Inpainting Demo);
* **Build a model of your own parts** — File → New Model from Folder… (:mod:`.new_model_dialog`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMainWindow, QPushButton, QVBoxLayout, QWidget

from ..resources import DEMO_MODEL, resource
from ..session.samples import sample_parts_folder

TEXT = (
    "<h2>Inspector</h2>"
    "<p>An autoencoder trained on good parts walks a suspect image, step by step, onto what it knows "
    "as normal; the pixels that had to move are the defect (Dehaene et al., ICLR 2020).</p>"
    "<p>Start with one of these, or open your own model and image (File → Open Model…, Ctrl+M; "
    "File → Open Image…, Ctrl+O; or drop them on the window).</p>"
)

ACTIONS = (
    ("welcome_sample", "Inspect a sample part",
     "The bundled brick model and a stained brick: press Run (F5) to watch the projection find the stain."),
    ("welcome_review", "Review a folder of sample parts",
     "The bundled brick parts (a good one and eight defects) with their ground truth, projected in turn: "
     "the gallery, the score histogram, "
     "your verdicts (O, D, U)."),
    ("welcome_faces", "Face inpainting demo",
     "Blind inpainting (eq. 8) against masked inpainting (eq. 7) and OpenCV's Telea on a corrupted face."),
    ("welcome_new_model", "Build a model of your own parts",
     "Choose a folder of photographs of good parts: the window trains a model on them in minutes, shows it "
     "learning, calibrates it and opens it (File → New Model from Folder…)."),
)


class Welcome(QFrame):
    """The welcome page (see the module docstring); ``buttons`` by object name."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("welcome")
        outer = QHBoxLayout(self)
        column = QWidget()
        column.setFixedWidth(640)  # a readable measure; the labels wrap inside it
        outer.addStretch(1)
        outer.addWidget(column)
        outer.addStretch(1)
        lay = QVBoxLayout(column)
        lay.setSpacing(6)
        lay.addStretch(1)
        text = QLabel(TEXT)
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(text)
        lay.addSpacing(12)
        self.buttons: dict[str, QPushButton] = {}
        for name, title, what in ACTIONS:
            b = QPushButton(title)
            b.setObjectName(name)
            b.setMinimumHeight(40)
            b.setToolTip(what)
            b.setStyleSheet("font-size: 12pt; padding: 6px 18px;")
            lay.addWidget(b)
            note = QLabel(what)
            note.setWordWrap(True)
            note.setStyleSheet("color: #9aa4ae; margin: 0 4px 14px 4px;")
            lay.addWidget(note)
            self.buttons[name] = b
        lay.addStretch(2)


def install(win: QMainWindow) -> Welcome:
    """Show the welcome over ``win``'s image views (a :class:`~.main_window.MainWindow`) until a
    model, an image or a folder opens."""
    grid = win.grid
    layout = grid.parentWidget().layout()
    page = Welcome(grid.parentWidget())
    layout.insertWidget(layout.indexOf(grid), page, 1)
    grid.hide()
    page.show()
    s = win.session
    done = []

    def leave(*_a) -> None:
        if done:
            return
        done.append(True)
        page.hide()
        grid.show()
        layout.removeWidget(page)
        page.deleteLater()
        win.welcome = None

    s.model_changed.connect(leave)
    s.image_changed.connect(leave)
    page.leave = leave  # type: ignore[attr-defined]
    page.buttons["welcome_sample"].clicked.connect(win.open_demo)
    page.buttons["welcome_review"].clicked.connect(lambda: review_samples(win) and leave())
    page.buttons["welcome_faces"].clicked.connect(win.inpainting.open_face_demo)
    page.buttons["welcome_new_model"].clicked.connect(lambda: win.new_model_from_folder())
    win.welcome = page
    return page


def review_samples(win) -> bool:
    """Review mode on a copy of the bundled brick samples, with the bundled brick model."""
    folder = sample_parts_folder("brick")
    model = resource(DEMO_MODEL)
    if folder is None or model is None:
        win.session.notice.emit("The bundled samples are not installed: open a folder of your own "
                                "(File → Open Folder…).", 0)
        return False
    if win.session.model_path is None or str(win.session.model_path) != str(model):
        win.open_model(model)
    return win.open_folder(folder)
