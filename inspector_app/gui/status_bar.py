"""The status bar, bound to the session: device, iteration, rate, E, Lr, why the run stopped, notices."""

from __future__ import annotations

import collections
import time

from PySide6.QtWidgets import QLabel, QStatusBar

from ..session import RunState, Session
from ..session.assess import stop_explanation

FIELDS = (("device", "Where the model runs"), ("iteration", "Iteration t of the shown iterate"),
          ("rate", "Iterations per second"), ("energy", "E(x_t) = Lr + λ‖x_t − x₀‖₁ (eq. 4)"),
          ("lr", "Reconstruction loss Lr(x_t)"), ("reason", "Why the projection stopped"))


class StatusBar:
    """Fills ``bar`` from ``session`` (no state of its own but the iteration-rate window)."""

    def __init__(self, session: Session, bar: QStatusBar):
        self.session, self.bar = session, bar
        self.labels: dict[str, QLabel] = {}
        for key, tip in FIELDS:
            lab = QLabel("")
            lab.setToolTip(tip)
            lab.setStyleSheet("padding: 0 6px;")
            bar.addPermanentWidget(lab)
            self.labels[key] = lab
        self._rate: collections.deque = collections.deque(maxlen=64)
        s = session
        s.notice.connect(lambda text, ms: bar.showMessage(text, ms))
        s.model_changed.connect(self._on_model)
        s.device_changed.connect(self._on_device)
        s.run_cleared.connect(self._on_cleared)
        s.energy_added.connect(self._on_energy)
        s.frame_shown.connect(self._on_frame)
        s.state_changed.connect(self._on_state)
        self._on_model(s.loaded)
        self._on_cleared()

    def set(self, **texts: str) -> None:
        for k, v in texts.items():
            self.labels[k].setText(v)

    def _on_model(self, loaded) -> None:
        # without a model: the device the next one will open on (the Device box's choice), not "–"
        self.set(device=f"device: {loaded.device}" if loaded is not None else f"device: {self.session.device}")

    def _on_device(self, _device: str) -> None:
        if self.session.loaded is None:  # a model's own device is said when it opens
            self._on_model(None)

    def _on_cleared(self) -> None:
        self._rate.clear()
        self.set(iteration="t = –", rate="– it/s", energy="E –", lr="Lr –", reason="")

    def _on_frame(self, frame) -> None:
        if frame is not None:
            self.set(iteration=f"t = {frame.iteration}", energy=f"E {frame.energy:.4g}", lr=f"Lr {frame.recon_loss:.4g}")

    def _on_energy(self, terms) -> None:
        now = time.perf_counter()
        self._rate.append((now, terms[-1][0]))
        while len(self._rate) > 2 and now - self._rate[0][0] > 3.0:
            self._rate.popleft()
        (t0, i0), (t1, i1) = self._rate[0], self._rate[-1]
        if t1 > t0:
            self.set(rate=f"{(i1 - i0) / (t1 - t0):.1f} it/s")
        if self.session.follow:
            it, e, lr, _reg = terms[-1]
            self.set(iteration=f"t = {int(it)}", energy=f"E {e:.4g}", lr=f"Lr {lr:.4g}")

    def _on_state(self, state: RunState) -> None:
        s = self.session
        if s.running:
            self.set(reason="running…" if state == RunState.RUNNING else "paused")
        elif state == RunState.LOADING:
            self.set(reason="opening the model…")
        elif s.run_error:
            self.set(reason="error")
        elif s.result is not None:
            self.set(reason=f"stop: {stop_explanation(s.result, s.lr0)}")
        elif s.current is not None:
            self.set(reason="ready: Run (F5)")
