"""The live view of a model's training (File → New Model from Folder…): loss curves, figures, f(x).

Thin: everything it shows comes from a :class:`~inspector_app.session.training_run.TrainingRun`
(the ``train`` process read through the progress protocol), polled every 100 ms on the event loop.
The training and validation loss curves (pyqtgraph), the step, the budget that binds, steps per
second and the ETA, the share of variance f(x) explains on the validation images, and four
validation images above f(x) of each, refreshed at each evaluation — a flat grey f(x) shows at once.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..core.model_fit import LEARNED_FVE_MIN, share_text
from ..session.training_run import TrainingRun

PHASE_TEXT = {"loading": "reading the images…", "training": "training", "statistics": "training-loss statistics…",
              "calibrating": "calibrating on the validation images…", "saving": "saving the model…",
              "done": "done", "paused": "paused", "failed": "failed"}
SAMPLE_PX = 96


def pixmap(a: np.ndarray, side: int = SAMPLE_PX) -> QPixmap:
    """A uint8 grey or RGB array as a pixmap scaled to ``side`` px (nearest: the pixels stay visible)."""
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if a.ndim == 2 else QImage.Format.Format_RGB888
    img = QImage(a.data, w, h, a.strides[0], fmt).copy()
    return QPixmap.fromImage(img).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.FastTransformation)


def _duration(s: float | None) -> str:
    if s is None:
        return "–"
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


class TrainingView(QWidget):
    """Shows one :class:`TrainingRun` (see the module docstring); ``ended(state)`` when its process ends."""

    ended = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run: TrainingRun | None = None
        lay = QVBoxLayout(self)
        self.phase_label = QLabel()
        self.phase_label.setObjectName("training_phase")
        self.phase_label.setStyleSheet("font-size: 12pt; font-weight: bold;")
        self.phase_label.setWordWrap(True)  # the calibration's line is long
        self.figures = QLabel()
        self.figures.setObjectName("training_figures")
        self.figures.setTextFormat(Qt.TextFormat.PlainText)
        self.calibration_bar = QProgressBar()  # images projected by the calibration, shown while it runs
        self.calibration_bar.setObjectName("calibration_progress")
        self.calibration_bar.setFormat("%v of %m images projected")
        self.calibration_bar.hide()
        lay.addWidget(self.phase_label)
        lay.addWidget(self.calibration_bar)
        lay.addWidget(self.figures)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("training_plot")
        self.plot.setMinimumHeight(200)
        self.plot.addLegend(offset=(-10, 10))
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "Lr per image")
        self.train_line = self.plot.plot([], [], name="training loss", pen=pg.mkPen("#5aa0e0", width=2))
        self.val_line = self.plot.plot([], [], name="validation loss", pen=pg.mkPen("#f0a040", width=2),
                                       symbol="o", symbolSize=5, symbolBrush="#f0a040")
        lay.addWidget(self.plot, 1)
        lay.addWidget(QLabel("Four validation images (top) and f(x) of each (bottom), at the last evaluation:"))
        grid = QGridLayout()
        self.sample_labels: list[tuple[QLabel, QLabel]] = []
        for i in range(4):
            x, fx = QLabel(), QLabel()
            for lab in (x, fx):
                lab.setFixedSize(SAMPLE_PX, SAMPLE_PX)
                lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
                lab.setStyleSheet("background: #20262c;")
            grid.addWidget(x, 0, i)
            grid.addWidget(fx, 1, i)
            self.sample_labels.append((x, fx))
        row = QHBoxLayout()
        row.addLayout(grid)
        row.addStretch(1)
        lay.addLayout(row)
        self.message = QLabel()
        self.message.setObjectName("training_message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.message)
        buttons = QHBoxLayout()
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("training_pause")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("training_cancel")
        buttons.addStretch(1)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        lay.addLayout(buttons)
        self.pause_button.clicked.connect(self.pause_or_resume)
        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.poll)

    # ------------------------------------------------------------------ control
    def start(self, run: TrainingRun) -> None:
        self.run = run
        run.start()
        self.message.setText("")
        self.phase_label.setText("starting the training process…")
        self.pause_button.setText("Pause")
        self.pause_button.setEnabled(True)
        self.timer.start()

    def pause_or_resume(self) -> None:
        run = self.run
        if run is None:
            return
        if run.state == "running":
            run.pause()
            self.pause_button.setEnabled(False)
            self.phase_label.setText("pausing after this step (the checkpoint is kept)…")
        elif run.state in ("paused", "failed"):
            self.start(run)

    def cancel(self) -> None:
        """End the run and remove what it wrote."""
        if self.run is not None:
            self.timer.stop()
            self.run.cancel()
            self.phase_label.setText("cancelled: nothing was kept")
            self.pause_button.setEnabled(False)

    # ------------------------------------------------------------------ updates
    def poll(self) -> None:
        run = self.run
        if run is None:
            return
        events = run.poll()
        if not events:
            return
        self.refresh()
        for e in events:
            if e["event"] == "exit":
                self._ended(e)

    def refresh(self) -> None:
        run = self.run
        assert run is not None
        o = run.latest
        text = PHASE_TEXT.get(run.phase, run.phase)
        info = run.phase_info
        if run.phase == "calibrating" and info.get("n_images"):
            text = calibration_text(info, run.calibration)
        self._show_calibration(run.calibration if run.phase == "calibrating" else {})
        self.phase_label.setText(text if run.state != "pausing" else "pausing after this step…")
        if run.train_curve:
            s, v = zip(*run.train_curve)
            self.train_line.setData(np.asarray(s, float), np.asarray(v, float))
        if run.val_curve:
            s, v = zip(*run.val_curve)
            self.val_line.setData(np.asarray(s, float), np.asarray(v, float))
        if o:
            self.figures.setText(figures_text(o, run.phase))
        for (lx, lf), (x, fx) in zip(self.sample_labels, run.samples):
            lx.setPixmap(pixmap(x))
            lf.setPixmap(pixmap(fx))

    def _show_calibration(self, c: dict) -> None:
        """The bar of images projected (hidden outside the calibration)."""
        if c.get("total"):
            self.calibration_bar.setRange(0, int(c["total"]))
            self.calibration_bar.setValue(min(int(c.get("done", 0)), int(c["total"])))
        self.calibration_bar.setVisible(bool(c.get("total")))

    def _ended(self, e: dict) -> None:
        self.timer.stop()
        self.calibration_bar.hide()
        state = e["state"]
        if state == "paused":
            self.phase_label.setText(f"paused at step {(self.run.latest or {}).get('step', 0)}: Resume continues "
                                     "from the checkpoint")
            self.pause_button.setText("Resume")
            self.pause_button.setEnabled(True)
        elif state == "failed":
            self.phase_label.setText("the training stopped")
            self.message.setText(e["message"])
            self.pause_button.setText("Resume" if self.run.checkpoint.exists() else "Pause")
            self.pause_button.setEnabled(self.run.checkpoint.exists())
        else:
            self.pause_button.setEnabled(False)
            self.cancel_button.setEnabled(False)
        self.ended.emit(state)


def calibration_text(info: dict, c: dict) -> str:
    """The calibration's line: images projected of the total, the time left and the limit (the
    ``calibrating`` phase line ``info`` and the last ``calibration`` line ``c``)."""
    limit = f" of at most {_duration(info['limit_s'])}" if info.get("limit_s") else ""
    n, photos = info["n_images"], info.get("n_photographs")  # a texture's: tiles of whole photographs
    text = (f"calibrating on {n} tiles of the {photos} validation images" if photos and photos != n
            else f"calibrating on {n} validation images")
    if c.get("total"):
        left = (f"about {_duration(c['eta_s'])} left" if c.get("eta_s") is not None
                else f"estimated {_duration(info.get('estimate_s'))}")
        text += f": {c['done']} of {c['total']} images projected, {left}{limit}"
    else:
        text += f" (estimated {_duration(info.get('estimate_s'))}{limit})"
    return text + " — Cancel stops it and keeps nothing…"


def figures_text(o: dict, phase: str) -> str:
    """The step, the budget that binds, steps/s, ETA, the losses and FVE of a ``step``/``eval`` line."""
    budget = f"{o['max_minutes']:g} min" if o.get("binding") == "minutes" else f"{o['max_steps']} steps"
    rate = o.get("steps_per_s")
    fve = o.get("val_fve")
    val = o.get("val_loss")
    lines = [f"step {o['step']} of at most {o['max_steps']}"
             + (f" or {o['max_minutes']:g} min" if o.get("max_minutes") is not None else "")
             + f" — the budget that binds: {budget}",
             f"{rate:.1f} steps/s, " if rate else "– steps/s, ",
             ]
    lines[1] += (f"training ends in {_duration(o.get('eta_s'))}" if phase == "training" else phase)
    lines.append(f"training loss {o['train_loss']:.4g}" if o.get("train_loss") is not None else "training loss –")
    lines[-1] += (f", validation loss {val:.4g}" if val is not None else ", validation loss: none yet")
    if fve is not None:
        lines.append(f"f(x) explains {share_text(fve)} of the validation images' variance"
                     + ("  ⚠ not learning yet" if fve < LEARNED_FVE_MIN else ""))
    return "\n".join(lines)
