"""Runs the projection for the session: Run, Step, Pause, Stop, Reset, the x0 preview, live α/λ.

The controller is the only part that talks to the :class:`~inspector_app.gui.worker.ProjectionRunner`;
everything else reads the session. Frames arrive as numpy; the session keeps them. The GUI's
drawing cost per frame is measured here and reported to the pacing generator (the only place that
decides the frame rate).
"""

from __future__ import annotations

import time
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox, QWidget

from ..session import RunState, Session
from ..session.assess import lr_threshold
from ..session.pacing import DEFAULT_MAX_FPS
from ..core.params import RANGES
from ..core.vocabulary import StopReason
from ..session.params import LIVE, RESTART
from .worker import ProjectionRunner

class RunController(QObject):
    """Serves the run actions and the session's run/stop requests (see the module docstring).

    Signal ``run_finished(Frame)``: a projection run (not a preview) ended with this final frame.
    """

    run_finished = Signal(object)

    def __init__(self, session: Session, actions: dict[str, QAction], dialog_parent: QWidget,
                 max_fps: float = DEFAULT_MAX_FPS):
        super().__init__(dialog_parent)
        self.session = s = session
        self.actions = actions
        self._parent = dialog_parent
        self.runner = ProjectionRunner(self, max_fps=max_fps)
        self.draw_cost = 0.0  # moving average of the GUI thread's CPU seconds per frame interval
        self._cpu_mark = time.thread_time()
        self._restart_declined = False
        self._run_when_loaded = False
        self._x0_frame = None  # the x0 preview's frame (iteration 0), for the runs that follow it
        self.runner.frame.connect(self._on_frame)
        self.runner.energy.connect(s.add_energy)
        self.runner.finished.connect(self._on_finished)
        self.runner.errored.connect(self._on_error)
        for key, slot in (("run", self.run), ("pause", self.toggle_pause), ("stop", self.stop),
                          ("step", self.step), ("reset", self.reset)):
            actions[key].triggered.connect(slot)
        s.run_requested.connect(self.run)
        s.stop_requested.connect(self.runner.stop)
        s.model_changed.connect(self._after_input_change)
        s.image_changed.connect(self._after_input_change)
        s.state_changed.connect(self._update_actions)
        s.params.events.connect(self._on_param)
        self._update_actions()

    # ------------------------------------------------------------------ actions
    def _update_actions(self, *_a) -> None:
        s, a = self.session, self.actions
        ready = s.ready and s.state != RunState.LOADING
        for key in ("run", "step", "reset"):
            a[key].setEnabled(ready)
        a["pause"].setEnabled(s.running)
        a["pause"].setText("Resume" if s.state == RunState.PAUSED else "Pause")
        a["stop"].setEnabled(s.running)

    def _params(self):
        s = self.session
        if s.state == RunState.LOADING:
            self._run_when_loaded = True  # e.g. autorun while the model still loads
            return None
        if not s.ready:
            s.notice.emit("Open a model (Ctrl+M) and an image (Ctrl+O) first.", 6000)
            return None
        try:
            return s.params.to_params()
        except ValueError as e:
            QMessageBox.critical(self._parent, "Bad parameters", str(e))
            return None

    def run(self) -> None:
        """Start the projection from x0 (a run in progress is stopped first)."""
        p = self._params()
        if p is not None:
            self._start(p)

    def step(self) -> None:
        """One iteration, then pause (starts a paused run from x0 when none is in progress)."""
        if self.session.running:
            self.runner.step()
            self.session.set_state(RunState.PAUSED)
            return
        p = self._params()
        if p is not None:
            self._start(p, paused=True)
            self.runner.step()

    def toggle_pause(self) -> None:
        s = self.session
        if s.state == RunState.RUNNING:
            self.runner.pause()
            s.set_state(RunState.PAUSED)
        elif s.state == RunState.PAUSED:
            self.runner.resume()
            s.set_state(RunState.RUNNING)

    def stop(self) -> None:
        if self.session.running:
            self.runner.stop()

    def reset(self) -> None:
        """Stop, forget the run, show x0 again (and evaluate it)."""
        self.runner.stop()
        self._after_input_change()

    # ------------------------------------------------------------------ starting
    def _start(self, params, paused: bool = False) -> None:
        s = self.session
        self.runner.stop()
        prep = s.prepared
        first = self._first_frame(params)
        # the worker starts first, then the window shows iteration 0 while it projects (its mail
        # waits for the event loop, after begin_run)
        self.runner.start(s.loaded.model, prep.model_input, params, mask=prep.mask_model,
                          stats=s.loaded.training_stats, paused=paused, first_frame=first is None)
        s.begin_run(paused)
        if first is not None:  # the x0 preview is iteration 0: shown now, not made and drawn again
            s.accept_frame(first)
        self._restart_declined = False
        self._cpu_mark = time.thread_time()

    def _first_frame(self, params):
        """Iteration 0 of a run from the x0 preview (evaluated in the worker when the model or the
        image changed: x = x0, f(x0), Lr(x0), λ‖x − x0‖₁ = 0), with the run's parameters; None
        before the preview has ended."""
        f = self._x0_frame
        if f is None or self.session.running:
            return None
        return replace(f, params=params, steps=0, stop_reason=None, finished=False,
                       lr_threshold=lr_threshold(params.stop, self.session.loaded.training_stats))

    def _after_input_change(self, *_a) -> None:
        """A new model or image: forget the run, evaluate x0 alone in the worker (f(x0), E(x0))."""
        s = self.session
        self.runner.stop()
        self._x0_frame = None  # the preview below makes the new x0's
        if s.state == RunState.LOADING:
            return
        s.clear_run()
        if self._run_when_loaded and s.ready:
            self._run_when_loaded = False
            self.run()
            return
        p = s.prepared
        if p is None:
            return
        try:
            params = s.params.to_params().replace(max_iter=0, stop="none")
        except ValueError:
            return
        s.set_state(RunState.PREVIEW)
        self.runner.start(s.loaded.model, p.model_input, params, mask=p.mask_model, stats=s.loaded.training_stats)

    # ------------------------------------------------------------------ runner → session
    def _on_frame(self, frame) -> None:
        self.session.accept_frame(frame)
        if self.session.running:
            self._report_cost()

    def _report_cost(self) -> None:
        """The GUI thread's CPU time per frame interval (this frame's handling, the painting and the
        energy updates since the previous frame), smoothed, for the pacing generator."""
        now = time.thread_time()
        cost, self._cpu_mark = now - self._cpu_mark, now
        if cost > 0.0:
            self.draw_cost = cost if self.draw_cost == 0.0 else 0.7 * self.draw_cost + 0.3 * cost
            self.runner.report_draw_cost(self.draw_cost)

    def _on_finished(self, final) -> None:
        s = self.session
        was_run = s.running
        if not was_run and final is not None and final.iteration == 0 and not s.run_error:
            self._x0_frame = final  # the preview: every Run of this x0 starts from it
        s.end_run(final, s.run_error)
        self._update_actions()
        if not was_run or final is None:
            return
        if final.stop_reason == StopReason.DIVERGED:
            self._warn_diverged(final)
        self.run_finished.emit(final)

    def _on_error(self, msg: str) -> None:
        self.session.run_error = msg
        self.session.notice.emit(f"projection failed: {msg}", 15000)
        QMessageBox.warning(self._parent, "Projection failed", msg)

    def _warn_diverged(self, final) -> None:
        """A divergent step size: say so in a (non-blocking) dialog; the best iterate is kept."""
        p = final.params
        box = QMessageBox(QMessageBox.Icon.Warning, "The projection diverged",
                          f"With α = {p.alpha:g} ({'Adam' if p.optimizer == 'adam' else 'plain step'}) the energy "
                          f"went up instead of down, or stopped being finite, after {final.steps} "
                          f"iteration{'' if final.steps == 1 else 's'}. The lowest-energy iterate is shown."
                          "\n\nLower α and run again "
                          "(Adam moves every pixel by about α per step: try α ≈ 0.01).",
                          QMessageBox.StandardButton.Ok, self._parent)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.setObjectName("diverged_dialog")
        smaller = p.alpha / 10.0
        if smaller >= RANGES["alpha"].minimum:  # one click to the next decade down (the calibration's step-down)
            again = box.addButton(f"Run again with α = {smaller:.3g}", QMessageBox.ButtonRole.AcceptRole)
            again.setObjectName("diverged_retry")
            again.clicked.connect(lambda: self._retry_with_alpha(smaller))
        box.open()

    def _retry_with_alpha(self, alpha: float) -> None:
        self.session.params.alpha = alpha
        self.run()

    # ------------------------------------------------------------------ parameters during a run
    def _on_param(self, info) -> None:
        name, value = info.signal.name, info.args[0]
        s = self.session
        if not s.running:
            return
        if name in LIVE:
            self.runner.set_live(**{name: value})
            s.notice.emit(f"{'α' if name == 'alpha' else 'λ'} = {value:.4g} from the next iteration on", 4000)
        elif name in RESTART and not self._restart_declined:
            what = RESTART[name]
            if ask_restart(self._parent, what):
                self.run()
            else:
                self._restart_declined = True
                s.notice.emit(f"the new {what} applies to the next run", 6000)


def ask_restart(parent: QWidget, what: str) -> bool:
    ans = QMessageBox.question(
        parent, "Restart the projection?",
        f"The {what} cannot change during a run.\nRestart the projection from x₀ with the new settings?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
    return ans == QMessageBox.StandardButton.Yes
