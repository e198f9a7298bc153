"""Run the projection generator (``core.projection.project``) off the GUI thread.

:class:`ProjectionRunner` owns one :class:`QThread` per run. The worker thread drives the
generator as fast as it can; the GUI never slows it down:

* **frames** — at most ``max_fps`` per second the worker prepares the newest record for drawing
  (``IterationRecord.to_cpu()`` with both DSSIM maps already computed, in the worker thread) and
  puts it in a one-slot mailbox, overwriting a frame the GUI has not taken yet: frames are
  dropped, the newest is kept. The GUI is notified once per filled mailbox (no signal backlog).
  Preparing frames may take at most ``PREP_BUDGET`` of the worker's time (the interval between
  frames grows when the maps are slow), so that drawing never slows the projection down much.
* **energy** — every iteration's ``(iteration, E, Lr, λ‖x−x0‖₁)`` of the first image is appended to
  the mailbox and delivered as one list with the next notification (at most ``ENERGY_HZ`` a
  second, and with every frame), so a curve gets every iteration even when frames are dropped.
* **finished** — the last record, always delivered exactly once per :meth:`ProjectionRunner.start`
  (after the last energy list). After :meth:`stop` it is delivered synchronously, before ``stop``
  returns. Its record is ``None`` only when the run failed before its first iteration.
* **errored** — a one-line message; ``finished`` follows it.

Pause, step and stop act between iterations (one iteration is never interrupted).
``set_live(alpha=, lam=)`` is sent into the generator (``gen.send({...})``) and applies from the
next step on, continuing from x_t.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Mapping

import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ..core.params import ProjectionParams
from ..core.projection import IterationRecord, project

#: Default ceiling on frames handed to the GUI per second (drawing costs about one iteration).
DEFAULT_MAX_FPS = 12.0
#: Preparing a frame (two DSSIM maps, a copy) may take at most this fraction of the worker's time:
#: the frame interval grows to ``cost / PREP_BUDGET`` when the maps are slow (a busy CPU).
PREP_BUDGET = 0.03
#: Energy values are posted with every frame, and at least this many times a second between frames.
ENERGY_HZ = 2.0


def prepare_frame(record: IterationRecord) -> IterationRecord:
    """A record ready for drawing: both DSSIM maps computed (here, in the calling thread), on the CPU."""
    record.dssim_projection  # noqa: B018 - computes and caches the map
    record.dssim_reconstruction  # noqa: B018
    return record.to_cpu()


def energy_terms(record: IterationRecord, index: int = 0) -> tuple[int, float, float, float]:
    """``(iteration, E, Lr, λ‖x−x0‖₁)`` of image ``index`` of a record (eq. 4)."""
    return (
        int(record.iteration),
        float(record.energy[index]),
        float(record.recon_loss[index]),
        float(record.reg[index]),
    )


class _ProjectionThread(QThread):
    """The worker thread: drives one generator; talks to the runner only through its mailbox."""

    mail = Signal()  # "the mailbox has something": emitted at most once until it is drained

    def __init__(self, model, x0, params, mask, x_start, stats, max_fps, paused, parent=None):
        super().__init__(parent)
        self._args = (model, x0, params, mask, x_start, stats)
        self._min_dt = 1.0 / max(float(max_fps), 0.1)
        self._cond = threading.Condition()
        # control (guarded by _cond)
        self._stop = False
        self._paused = bool(paused)
        self._step_budget = 0
        self._live: dict[str, float] = {}
        # mailbox (guarded by _cond)
        self._energy: list[tuple[int, float, float, float]] = []
        self._frame: IterationRecord | None = None
        self._final: IterationRecord | None = None
        self._error: str | None = None
        self._done = False
        self._notified = False
        self.iterations = 0  # records produced (read from the GUI thread for statistics)

    # ----------------------------------------------------------------- control (any thread)
    def request_stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def set_paused(self, paused: bool) -> None:
        with self._cond:
            self._paused = paused
            if not paused:
                self._step_budget = 0
            self._cond.notify_all()

    def request_step(self) -> None:
        with self._cond:
            self._paused = True
            self._step_budget += 1
            self._cond.notify_all()

    def set_live(self, values: Mapping[str, float]) -> None:
        with self._cond:
            self._live.update(values)

    def set_max_fps(self, max_fps: float) -> None:
        self._min_dt = 1.0 / max(float(max_fps), 0.1)  # a float store: atomic for the worker

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._paused

    def drain(self) -> dict[str, Any]:
        """Everything the worker has posted since the last drain (GUI thread)."""
        with self._cond:
            out = {
                "energy": self._energy, "frame": self._frame,
                "error": self._error, "done": self._done, "final": self._final,
            }
            self._energy, self._frame, self._error = [], None, None
            self._notified = False
            return out

    # ----------------------------------------------------------------- worker side
    def _post(self, **items: Any) -> None:
        with self._cond:
            for k, v in items.items():
                if k == "energy":
                    self._energy.extend(v)
                else:
                    setattr(self, "_" + k, v)
            notify = not self._notified
            self._notified = True
        if notify:
            self.mail.emit()

    def run(self) -> None:
        model, x0, params, mask, x_start, stats = self._args
        self._args = None
        pending: list[tuple[int, float, float, float]] = []
        last: IterationRecord | None = None
        last_frame = last_energy = 0.0
        prep_cost = 0.0  # moving average of the seconds a frame takes to prepare
        error: str | None = None

        def frame_of(rec: IterationRecord) -> IterationRecord:
            nonlocal prep_cost
            t = time.perf_counter()
            f = prepare_frame(rec)
            dt = time.perf_counter() - t
            prep_cost = dt if prep_cost == 0.0 else 0.7 * prep_cost + 0.3 * dt
            return f

        try:
            gen = project(model, x0, params, mask=mask, x_start=x_start, stats=stats)
            update: Mapping[str, float] | None = None
            forced = True  # the first record is always drawn
            while True:
                rec = next(gen) if last is None else gen.send(update)
                last = rec
                self.iterations += 1
                pending.append(energy_terms(rec))
                if rec.finished:
                    break
                now = time.perf_counter()
                shown = False
                if forced or now - last_frame >= max(self._min_dt, prep_cost / PREP_BUDGET):
                    self._post(energy=pending, frame=frame_of(rec))
                    pending, last_frame, last_energy, shown = [], now, now, True
                elif now - last_energy >= 1.0 / ENERGY_HZ:
                    self._post(energy=pending)
                    pending, last_energy = [], now
                # between iterations: stop / pause / step, and the live α, λ for the next step
                stop = False
                while True:
                    with self._cond:
                        if self._stop:
                            stop = True
                            break
                        if not self._paused or self._step_budget > 0:
                            forced = self._step_budget > 0  # a stepped iteration is always drawn
                            if forced:
                                self._step_budget -= 1
                            update, self._live = (dict(self._live) or None), {}
                            break
                        if shown:
                            self._cond.wait()
                            continue
                    # paused on an iterate the GUI has not seen: show it, then wait
                    self._post(energy=pending, frame=frame_of(rec))
                    pending, last_frame, shown = [], time.perf_counter(), True
                if stop:
                    break
            gen.close()
        except Exception as e:  # noqa: BLE001 - reported to the GUI in one line
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            error = msg if isinstance(e, ValueError) else f"{type(e).__name__}: {msg}"
        try:
            final = prepare_frame(last) if last is not None else None
        except Exception:  # noqa: BLE001 - e.g. out of memory while computing the maps
            final = last.to_cpu() if last is not None else None
        with self._cond:
            self._energy.extend(pending)
            self._final = final
            self._error = error
            self._frame = None
            self._done = True
            notify = not self._notified
            self._notified = True
        if notify:
            self.mail.emit()


class ProjectionRunner(QObject):
    """Drive :func:`inspector_app.core.projection.project` in a worker thread (see module docstring).

    Signals: ``frame(IterationRecord)``, ``energy(list[(iteration, E, Lr, reg)])``,
    ``finished(IterationRecord | None)``, ``errored(str)``, ``state_changed(str)``
    (``"running"``, ``"paused"``, ``"idle"``).
    """

    frame = Signal(object)
    energy = Signal(object)
    finished = Signal(object)
    errored = Signal(str)
    state_changed = Signal(str)

    def __init__(self, parent: QObject | None = None, max_fps: float = DEFAULT_MAX_FPS):
        super().__init__(parent)
        self._thread: _ProjectionThread | None = None
        self._max_fps = float(max_fps)
        self._starts = 0
        self.last_record: IterationRecord | None = None

    # ----------------------------------------------------------------- properties
    @property
    def max_fps(self) -> float:
        """Ceiling on frames per second handed to the GUI; may be changed during a run."""
        return self._max_fps

    @max_fps.setter
    def max_fps(self, value: float) -> None:
        self._max_fps = max(0.1, float(value))
        if self._thread is not None:
            self._thread.set_max_fps(self._max_fps)

    @property
    def running(self) -> bool:
        """True from :meth:`start` until ``finished`` has been emitted (also while paused)."""
        return self._thread is not None

    @property
    def paused(self) -> bool:
        return self._thread is not None and self._thread.paused

    @property
    def starts(self) -> int:
        """How many runs this runner has started (tests use it)."""
        return self._starts

    @property
    def iterations_done(self) -> int:
        return self._thread.iterations if self._thread is not None else 0

    # ----------------------------------------------------------------- control
    def start(
        self,
        model,
        x0: torch.Tensor,
        params: ProjectionParams | None = None,
        mask: torch.Tensor | None = None,
        x_start: torch.Tensor | None = None,
        stats: Mapping[str, Any] | None = None,
        *,
        paused: bool = False,
    ) -> None:
        """Start a run (stopping any run in progress first). ``paused=True`` evaluates x0 and waits."""
        self.stop()
        self.last_record = None
        t = _ProjectionThread(model, x0, params or ProjectionParams(), mask, x_start, stats, self.max_fps, paused)
        t.mail.connect(self._on_mail, Qt.ConnectionType.QueuedConnection)
        self._thread = t
        self._starts += 1
        t.start()
        self.state_changed.emit("paused" if paused else "running")

    def pause(self) -> None:
        if self._thread is not None:
            self._thread.set_paused(True)
            self.state_changed.emit("paused")

    def resume(self) -> None:
        if self._thread is not None:
            self._thread.set_paused(False)
            self.state_changed.emit("running")

    def step(self) -> None:
        """Run exactly one more iteration, then pause."""
        if self._thread is not None:
            self._thread.request_step()
            self.state_changed.emit("paused")

    def set_live(self, alpha: float | None = None, lam: float | None = None) -> None:
        """Change α and/or λ from the next iteration on (continuing from x_t)."""
        values = {k: float(v) for k, v in (("alpha", alpha), ("lam", lam)) if v is not None}
        if values and self._thread is not None:
            self._thread.set_live(values)

    def stop(self) -> None:
        """Stop the run, join its thread, and deliver its last energy values and ``finished``."""
        t = self._thread
        if t is None:
            return
        t.request_stop()
        t.wait()
        self._deliver(t)

    # ----------------------------------------------------------------- delivery (GUI thread)
    @Slot()
    def _on_mail(self) -> None:
        t = self._thread
        if t is None or t is not self.sender():
            return  # a stale notification from a run already stopped and delivered
        self._deliver(t)

    def _deliver(self, t: _ProjectionThread) -> None:
        box = t.drain()
        if box["energy"]:
            self.energy.emit(box["energy"])
        if box["done"]:
            t.wait()
            try:
                t.mail.disconnect(self._on_mail)
            except (RuntimeError, TypeError):
                pass
            self._thread = None
            t.deleteLater()
            if box["error"]:
                self.errored.emit(box["error"])
            self.last_record = box["final"]
            self.state_changed.emit("idle")
            self.finished.emit(box["final"])
            return
        if box["frame"] is not None:
            self.last_record = box["frame"]
            self.frame.emit(box["frame"])
