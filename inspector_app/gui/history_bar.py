"""The history slider under the views: scrubs back through the run's stored frames (the session's)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget
from superqt.utils import signals_blocked

from ..session import RunState, Session


class HistoryBar(QWidget):
    """``slider`` over the session's history; its right end follows the live iterate."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.slider.setToolTip(
            "Scrub back through the run. The history keeps every drawn frame up to 200, then evenly thinned "
            "(see session/frames.py); the right end follows the live iterate.")
        self.label = QLabel("t = –")
        self.label.setMinimumWidth(120)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        row.addWidget(QLabel("History"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        session.history_changed.connect(self._update)
        session.frame_shown.connect(self._update)
        session.state_changed.connect(self._update)
        self.slider.valueChanged.connect(session.show_history)

    def _update(self, *_a) -> None:
        s = self.session
        n = len(s.history)
        with signals_blocked(self.slider):
            self.slider.setRange(0, max(0, n - 1))
            if s.follow:
                self.slider.setValue(max(0, n - 1))
            elif s.current is not None and n:  # the history may have been thinned: keep the shown frame
                self.slider.setValue(s.history.nearest(s.current.iteration))
        self.slider.setEnabled(n > 1)
        if s.follow:
            it = s.latest.iteration if s.latest is not None else None
            live = (" (paused)" if s.state == RunState.PAUSED else " (live)") if s.running else (
                " (end)" if s.result is not None else "")
            self.label.setText("t = –" if it is None else f"t = {it}{live}")
        elif s.current is not None:
            self.label.setText(f"t = {s.current.iteration} / {s.history[-1].iteration}")
