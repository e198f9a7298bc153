"""Worker threads for the window: superqt's ``GeneratorWorker`` / ``FunctionWorker``, joinable.

* :class:`ProjectionRunner` runs :func:`inspector_app.session.jobs.projection_job` (the paced
  projection) in a :class:`ProjectionWorker`. The job posts numpy frames and energy values into an
  :class:`~inspector_app.session.pacing.Outbox` and yields ``True`` when the GUI should look; the
  runner takes the mail on the GUI thread and emits ``frame(frame)``, ``energy(list)``,
  ``errored(str)`` and ``finished(final frame | None)`` — every energy value before ``finished``,
  which comes exactly once per :meth:`~ProjectionRunner.start`. ``send()`` carries one
  :class:`~inspector_app.session.pacing.Control` (α, λ, pause, step counter, stop, drawing cost);
  :meth:`~ProjectionRunner.stop` joins the worker and delivers ``finished`` before it returns.
* :func:`run_in_worker` runs a function (opening a model file, the inpainting panels) and hands
  its result or its exception to the GUI thread.

Four changes to superqt's workers, each for a reason: they start at once on this module's own
thread pool (Qt's global pool has one thread per core — two here — so a third job would wait, and a
worker queued by superqt's 1 ms timer cannot be joined); :meth:`ProjectionWorker.work` emits only
the yields that carry something (the job yields ``None`` between iterations to take a new control
without a signal); ``send()`` is locked (superqt reads and clears the value in two steps, so a
``stop`` sent in between would be lost); ``run`` does not swap the process-wide
``warnings.showwarning`` (see :func:`_route_warnings`). Warnings raised in a worker are raised
again on the GUI thread.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import replace
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, QThreadPool, Signal, Slot
from superqt.utils import FunctionWorker, GeneratorWorker

from ..core.params import ProjectionParams
from ..session.jobs import projection_job
from ..session.pacing import DEFAULT_MAX_FPS, Control, Outbox

_POOL: QThreadPool | None = None


def thread_pool() -> QThreadPool:
    """The window's own pool (not Qt's global one, whose size is the number of cores)."""
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(16)
        _POOL.setExpiryTimeout(2000)
    return _POOL


_THREAD = threading.local()  # .emitter: the running worker's ``warned`` signal, in its own thread


def _route_warnings() -> None:
    """Install, once, a ``warnings.showwarning`` that hands a warning raised in one of these
    workers' threads to that worker (its ``warned`` signal, then :func:`_rewarn` on the GUI thread)
    and shows any other warning as before.

    superqt's ``WorkerBase.run`` instead swaps the process-wide ``showwarning`` for its own emitter
    inside ``catch_warnings`` while each worker runs. With two workers at once that is not
    thread-safe: the GUI thread's warnings went to a running worker and back (a loop that ended in
    RecursionError), and workers that ended out of order left a finished worker's emitter installed
    for the rest of the process. :meth:`_Joinable.run` does not swap anything."""
    previous = warnings.showwarning
    if getattr(previous, "_inspector_route", False):
        return

    def showwarning(message, category, filename, lineno, file=None, line=None):
        emitter = getattr(_THREAD, "emitter", None)
        if emitter is not None:
            emitter.emit((message, category, filename, lineno, file, line))
        else:
            previous(message, category, filename, lineno, file, line)

    showwarning._inspector_route = True  # type: ignore[attr-defined]
    warnings.showwarning = showwarning


def _rewarn(w: tuple) -> None:
    """Raise a worker's warning again on the GUI thread (where nothing routes it back)."""
    message, category, filename, lineno = w[:4]
    warnings.warn_explicit(message, category, filename, lineno)


class _Joinable:
    """Start on :func:`thread_pool` at once; :meth:`wait` until ``run`` has returned."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._done = threading.Event()
        self.exception: BaseException | None = None
        self.signals.warned.connect(_rewarn)

    def start(self) -> None:
        self._worker_set.add(self)
        self._finished.connect(self._set_discard)
        thread_pool().start(self)

    def run(self) -> None:
        """superqt's ``WorkerBase.run`` without its process-wide ``showwarning`` swap (see
        :func:`_route_warnings`): a warning in this thread goes to this worker's ``warned``."""
        _route_warnings()
        _THREAD.emitter = self.warned
        try:
            self.started.emit()
            self._running = True
            try:
                result = self.work()
                if isinstance(result, Exception):
                    raise result
                if not self.abort_requested:
                    self.returned.emit(result)
            except Exception as exc:  # noqa: BLE001 - handed to errored, as superqt does
                self.errored.emit(exc)
            self._running = False
            self.finished.emit()
            self._finished.emit(self)
        finally:
            _THREAD.emitter = None
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()


class ProjectionWorker(_Joinable, GeneratorWorker):
    """A ``GeneratorWorker`` for a paced job: emits ``yielded`` only for values that are not None."""

    def __init__(self, func, *args, **kwargs):
        super().__init__(func, *args, **kwargs)
        self._lock = threading.Lock()

    def send(self, value) -> None:
        with self._lock:
            self._incoming_value = value

    def _next_value(self):
        with self._lock:
            out, self._incoming_value = self._incoming_value, None
        return out

    def work(self):
        first = True
        while not self.abort_requested:
            try:
                out = next(self._gen) if first else self._gen.send(self._next_value())
            except StopIteration as exc:
                return exc.value
            except Exception as exc:  # noqa: BLE001 - a bug in the job: kept for stop(), then errored
                self.exception = exc
                raise
            first = False
            if out is not None:
                self.yielded.emit(out)
        self.aborted.emit()
        return None


class TaskWorker(_Joinable, FunctionWorker):
    """A ``FunctionWorker`` on the window's pool."""


def run_in_worker(fn: Callable, *args, on_result: Callable[[Any], None],
                  on_error: Callable[[BaseException], None], **kwargs) -> TaskWorker:
    """Run ``fn(*args, **kwargs)`` in a worker; its result or exception goes to the callback, on the
    GUI thread."""
    w = TaskWorker(fn, *args, **kwargs)
    w.returned.connect(on_result)
    w.errored.connect(on_error)
    w.start()
    return w


class ProjectionRunner(QObject):
    """Drive one projection at a time in a worker thread (see the module docstring)."""

    frame = Signal(object)
    energy = Signal(object)
    finished = Signal(object)
    errored = Signal(str)

    def __init__(self, parent: QObject | None = None, max_fps: float = DEFAULT_MAX_FPS):
        super().__init__(parent)
        self.max_fps = float(max_fps)
        self._worker: ProjectionWorker | None = None
        self._outbox: Outbox | None = None
        self._ctl = Control()
        self._starts = 0

    # ----------------------------------------------------------------- state
    @property
    def running(self) -> bool:
        """True from :meth:`start` until ``finished`` has been emitted (also while paused)."""
        return self._worker is not None

    @property
    def paused(self) -> bool:
        return self.running and self._ctl.paused

    @property
    def starts(self) -> int:
        """How many runs this runner has started."""
        return self._starts

    # ----------------------------------------------------------------- control
    def start(self, model, x0: np.ndarray, params: ProjectionParams, *, mask: np.ndarray | None = None,
              stats=None, paused: bool = False, to_frame: Callable | None = None) -> None:
        """Start a run of ``x0`` (numpy, at the model's size; ``mask``: Ω at that size), stopping any
        run in progress first. ``paused=True`` evaluates x0 and waits (for :meth:`step`)."""
        self.stop()
        self._ctl = Control(alpha=params.alpha, lam=params.lam, paused=paused)
        self._outbox = Outbox()
        kw = {"to_frame": to_frame} if to_frame is not None else {}
        w = ProjectionWorker(projection_job, model, x0, params, self._outbox, mask=mask, stats=stats,
                             control=self._ctl, max_fps=self.max_fps, **kw)
        w.yielded.connect(self._on_signal, Qt.ConnectionType.QueuedConnection)
        w.finished.connect(self._on_signal, Qt.ConnectionType.QueuedConnection)
        self._worker = w
        self._starts += 1
        w.start()

    def _send(self, **changes) -> None:
        if self._worker is not None:
            self._ctl = replace(self._ctl, **changes)
            self._worker.send(self._ctl)

    def pause(self) -> None:
        self._send(paused=True)

    def resume(self) -> None:
        self._send(paused=False)

    def step(self) -> None:
        """Run exactly one more iteration, then pause."""
        self._send(paused=True, steps=self._ctl.steps + 1)

    def set_live(self, alpha: float | None = None, lam: float | None = None) -> None:
        """Change α and/or λ from the next iteration on (continuing from x_t)."""
        ch = {k: float(v) for k, v in (("alpha", alpha), ("lam", lam)) if v is not None}
        if ch:
            self._send(**ch)

    def report_draw_cost(self, seconds: float) -> None:
        """The GUI's CPU seconds per drawn frame: the pacing keeps drawing within its budget."""
        self._send(draw_cost=float(seconds))

    def stop(self) -> None:
        """Stop the run, join its worker, and deliver its last energy values and ``finished``."""
        w = self._worker
        if w is None:
            return
        self._send(stop=True)
        w.wait()
        self._deliver(final=True)

    # ----------------------------------------------------------------- delivery (GUI thread)
    @Slot()
    def _on_signal(self, *_args) -> None:
        w = self._worker
        if w is None or self.sender() is not w.signals:
            return  # from a run already stopped and delivered
        self._deliver(final=w.done)

    def _deliver(self, final: bool) -> None:
        w, box = self._worker, self._outbox
        assert w is not None and box is not None
        mail = box.take()
        if mail.energy:
            self.energy.emit(mail.energy)
        if not (mail.done or final):
            for f in mail.frames:
                self.frame.emit(f)
            return
        w.wait()
        self._worker = self._outbox = None
        error = mail.error
        if not mail.done:  # the job itself failed (a bug): say so rather than hang
            error = f"{type(w.exception).__name__}: {w.exception}" if w.exception else "the worker ended early"
        if error:
            self.errored.emit(error)
        self.finished.emit(mail.final)
