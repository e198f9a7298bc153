"""Two strips above the views, bound to the session: the fit warnings and the image verdict.

* :class:`WarningBanner` — every warning where model and image do not fit
  (:attr:`Session.warning_items <inspector_app.session.Session>`: already normal, out of range —
  "wrong model?", resized, converted, no training statistics), one line each, in a coloured bar
  that stays until the cause goes away (not a status-bar message that vanishes);
* :class:`VerdictBadge` — the shown frame's verdict and score ("DEFECTIVE score 0.31 > 0.24" in
  red, "GOOD" in green), from :meth:`Session.verdict_of`; before a run it says how to get one.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..core.verdict import fmt_level, verdict
from ..session import Session
from ..session.assess import can_decide

#: Background colours: a serious warning (the result means little), a note, a verdict.
SEVERE = {"already_normal", "out_of_range", "not_learned", "blank"}
SEVERE_STYLE = "background: #7a2e12; color: #ffffff; border-radius: 3px; padding: 4px 8px;"
NOTE_STYLE = "background: #5c4a12; color: #fff4d0; border-radius: 3px; padding: 4px 8px;"
DEFECTIVE_STYLE = "background: #b3261e; color: #ffffff; border-radius: 3px; padding: 3px 10px; font-weight: bold;"
GOOD_STYLE = "background: #1e7a3c; color: #ffffff; border-radius: 3px; padding: 3px 10px; font-weight: bold;"
IDLE_STYLE = "background: #2b3a48; color: #c9cdd0; border-radius: 3px; padding: 3px 10px;"
MARGINAL_STYLE = "background: #8a6d00; color: #ffffff; border-radius: 3px; padding: 3px 10px; font-weight: bold;"


class WarningBanner(QFrame):
    """One label per warning, severe ones first; hidden when there is none."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.setObjectName("warning_banner")
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.setSpacing(2)
        self.labels: list[QLabel] = []
        session.warnings_changed.connect(lambda _w: self.update_items())
        self.update_items()

    def update_items(self) -> None:
        items = sorted(self.session.warning_items, key=lambda w: w.get("code") not in SEVERE)
        for lab in self.labels:
            lab.deleteLater()
        self.labels = []
        for w in items:
            severe = w.get("code") in SEVERE
            lab = QLabel(("⚠ " if severe else "ℹ ") + w["message"])
            lab.setWordWrap(True)
            lab.setTextFormat(Qt.TextFormat.PlainText)
            lab.setStyleSheet(SEVERE_STYLE if severe else NOTE_STYLE)
            lab.setProperty("code", w.get("code"))
            self._lay.addWidget(lab)
            self.labels.append(lab)
        self.setVisible(bool(items))

    @property
    def codes(self) -> list[str]:
        """The codes of the warnings on show (tests)."""
        return [str(lab.property("code")) for lab in self.labels]

    @property
    def text(self) -> str:
        return "\n".join(lab.text() for lab in self.labels)


class VerdictBadge(QWidget):
    """The verdict of the frame on screen, with the threshold's origin beside it."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.badge = QLabel()
        self.badge.setObjectName("verdict_badge")
        self.badge.setTextFormat(Qt.TextFormat.PlainText)
        self.detail = QLabel()
        self.detail.setTextFormat(Qt.TextFormat.PlainText)
        self.detail.setStyleSheet("color: #9aa5ad;")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.badge)
        lay.addWidget(self.detail, 1)
        #: Review mode's marginal band: a function giving T2 (None: no band), set by the main window.
        self.band: Callable[[], float | None] | None = None
        s, d = session, session.display
        s.frame_shown.connect(lambda _f: self.refresh())
        s.run_cleared.connect(self.refresh)
        s.state_changed.connect(lambda _s: self.refresh())
        s.origin_changed.connect(lambda _o: self.refresh())
        for name in ("threshold", "min_area", "compare"):
            getattr(d.events, name).connect(lambda *_a: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        s = self.session
        f = s.current
        has_run = s.running or s.result is not None
        if f is None or not has_run:
            self.badge.setText("no verdict yet")
            self.badge.setStyleSheet(IDLE_STYLE)
            self.badge.setToolTip("Run the projection (F5): the verdict is read on the DSSIM map of its result.")
            self.detail.setText("")
            return
        so_far = s.running and f is s.latest
        if so_far and not can_decide(f, s.display.compare):  # x_0 against itself: no verdict yet
            self.badge.setText("running…")
            self.badge.setStyleSheet(IDLE_STYLE)
            self.badge.setToolTip("At t = 0 the projection is x₀ itself: the verdict comes with the first iterate.")
            self.detail.setText(f"t = {f.iteration}")
            return
        v = s.verdict_of(f)
        t2 = self.band() if self.band is not None else None
        if v.defective and t2 is not None and verdict(v.score, t2) == "good":  # as the gallery says it
            self.badge.setText(f"MARGINAL  score {fmt_level(v.score)} in ({fmt_level(v.threshold)}, {fmt_level(t2)}]"
                               + ("  (so far)" if so_far else ""))
            self.badge.setStyleSheet(MARGINAL_STYLE)
        else:
            self.badge.setText(v.text() + ("  (so far)" if so_far else ""))
            self.badge.setStyleSheet(DEFECTIVE_STYLE if v.defective else GOOD_STYLE)
        self.badge.setToolTip(
            "The image score is the highest DSSIM threshold at which the map still holds a connected region "
            f"(8-connectivity) of at least {v.min_area} px at the model's size; the image is defective when the "
            "score is above the threshold, which is exactly when the segmentation is not empty.")
        area = "single pixels" if v.min_area <= 1 else f"regions ≥ {v.min_area} px"
        self.detail.setText(f"t = {f.iteration} · {area}")

    @property
    def verdict_text(self) -> str:
        return self.badge.text()
