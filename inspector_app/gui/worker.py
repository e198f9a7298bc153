"""Worker threads for the window: a small worker of our own on the window's own thread pool.

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

Why not superqt's ``GeneratorWorker`` / ``FunctionWorker`` (used here before): four of their
behaviours had to be changed, and that took overriding their private members (``_incoming_value``,
``work()``, the ``_worker_set`` bookkeeping and ``run``), which any superqt release may rename. The
worker here is the part of them the window uses, with those four behaviours as they must be:

1. it starts at once on :func:`thread_pool`, or on a runner's own one-thread pool (Qt's global
   pool has one thread per core, two here, so a third job would wait; and a worker queued by
   superqt's 1 ms timer cannot be joined), and :meth:`~_Worker.wait` joins it;
2. a generator's yields reach ``yielded`` only when they carry something (the paced job yields
   ``None`` between iterations to take a new control without a signal);
3. :meth:`ProjectionWorker.send` is locked (superqt read and cleared the value in two steps, so a
   ``stop`` sent in between was lost);
4. it never swaps the process-wide ``warnings.showwarning`` while it runs (see
   :func:`_route_warnings`); a warning raised in a worker is raised again on the GUI thread.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import replace
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from ..core.params import ProjectionParams
from ..session.jobs import projection_job
from ..session.pacing import DEFAULT_MAX_FPS, Control, Outbox

_POOL_NAME = "inspector-app-workers"

TEAM_NOTE = """Why a projection runner has a thread of its own. torch's CPU kernels run on OpenMP
(GNU libgomp in the PyPI wheels): every thread that runs a parallel kernel gets a team of helper
threads that lives as long as that thread. While the teams' threads outnumber the cores, libgomp's
barriers stop spinning and sleep instead (its "throttled" spin count), and a projection at 128 px
on 2 cores runs at about 60 iterations/s instead of 110 (measured here: a runner whose successive
runs landed on two pool threads alternated between the two rates, run by run). So each
:class:`ProjectionRunner` runs its runs and x0 previews on one thread of its own (a pool of one,
kept ``RUNNER_EXPIRY_MS`` after its last run), and the shared pool's idle threads leave after
``GENERAL_EXPIRY_MS``, taking their teams with them. Nothing on the GUI thread runs torch. The
price: for up to ``RUNNER_EXPIRY_MS`` after a Run or an x0 preview, a projection on another thread
(the review's folder, the inpainting comparison) shares the cores with that idle team's count and
runs at the slower rate, as two projections at once would anyway."""

#: a runner's thread is kept this long after its last run (Runs while tuning come seconds apart)
RUNNER_EXPIRY_MS = 5000
#: the shared pool's idle threads leave after this long
GENERAL_EXPIRY_MS = 250


class _Workers(QObject):
    """The window's thread pool and the workers running on it (kept alive until they end), owned
    by the application object: one per process, found again with ``findChild``."""

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.setObjectName(_POOL_NAME)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(16)
        # idle threads leave soon: a thread that ran torch keeps its OpenMP team while it lives
        # (see ``TEAM_NOTE``)
        self.pool.setExpiryTimeout(GENERAL_EXPIRY_MS)
        self.live: set[_Worker] = set()

    @Slot(object)
    def release(self, worker: "_Worker") -> None:
        """A worker has run: let it go (here, on the GUI thread, after the signals it sent, which
        need it: let go in its own thread, a queued ``returned`` could be lost)."""
        self.live.discard(worker)


def _workers() -> _Workers:
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("the window's workers need a QApplication")
    found = app.findChild(_Workers, _POOL_NAME)
    return found if found is not None else _Workers(app)


def running_workers() -> int:
    """The window's workers, on any pool (a runner's own too), started and not yet ended."""
    return sum(1 for w in list(_workers().live) if not w.done)


def thread_pool() -> QThreadPool:
    """The window's own pool (not Qt's global one, whose size is the number of cores)."""
    return _workers().pool


_THREAD = threading.local()  # .emitter: the running worker's ``warned`` signal, in its own thread


def _route_warnings() -> None:
    """Install, once, a ``warnings.showwarning`` that hands a warning raised in one of these
    workers' threads to that worker (its ``warned`` signal, then :func:`_rewarn` on the GUI thread)
    and shows any other warning as before.

    superqt's workers instead swapped the process-wide ``showwarning`` for their own emitter
    inside ``catch_warnings`` while each ran. With two workers at once that is not thread-safe: the
    GUI thread's warnings went to a running worker and back (a loop that ended in RecursionError),
    and workers that ended out of order left a finished worker's emitter installed for the rest of
    the process. :meth:`_Worker.run` does not swap anything."""
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


class WorkerSignals(QObject):
    """A worker's signals (they live in the GUI thread; emitted from the worker's, they arrive queued)."""

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    warned = Signal(tuple)
    aborted = Signal()
    finished = Signal()
    ended = Signal(object)  # the worker itself, last: the pool lets go of it


class _Worker(QRunnable):
    """Runs :meth:`work` once on :func:`thread_pool`; see the module docstring. Its signals are
    ``self.signals`` (also reachable as ``self.yielded`` …)."""

    def __init__(self):
        super().__init__()
        self.signals = WorkerSignals()
        self.signals.warned.connect(_rewarn)
        self._done = threading.Event()
        self._abort = threading.Event()
        self._running = False
        self.exception: BaseException | None = None

    def __getattr__(self, name: str):
        if name in ("started", "yielded", "returned", "errored", "warned", "aborted", "finished"):
            return getattr(self.signals, name)
        raise AttributeError(name)

    def work(self) -> Any:
        raise NotImplementedError

    def start(self, pool: QThreadPool | None = None) -> None:
        """Run on ``pool`` (a runner's own), else on :func:`thread_pool`."""
        workers = _workers()
        # the pool deletes the C++ runnable once it has run (auto-delete, as superqt's workers did); the
        # Python object, whose signals may still be queued to the GUI thread, stays until ``release``
        workers.live.add(self)
        self.signals.ended.connect(workers.release, Qt.ConnectionType.QueuedConnection)
        (pool if pool is not None else workers.pool).start(self)

    def run(self) -> None:
        _route_warnings()
        sig = self.signals
        _THREAD.emitter = sig.warned
        self._running = True
        try:
            sig.started.emit()
            try:
                result = self.work()
                if self._abort.is_set():
                    sig.aborted.emit()
                else:
                    sig.returned.emit(result)
            except Exception as exc:  # noqa: BLE001 - handed to errored (and kept for ProjectionRunner)
                self.exception = exc
                sig.errored.emit(exc)
            sig.finished.emit()
        finally:
            self._running = False
            _THREAD.emitter = None
            self._forget()
            self._done.set()
            sig.ended.emit(self)

    def _forget(self) -> None:
        """Drop what the work held (a job, its callbacks' data): a worker that has run keeps nothing
        alive until the pool lets go of it."""

    def quit(self) -> None:
        """Ask the worker to stop at its next yield (a function runs to its end)."""
        self._abort.set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    @property
    def running(self) -> bool:
        return self._running

    def wait(self, timeout: float | None = None) -> bool:
        """Until ``run`` has returned (True), or ``timeout`` seconds (False)."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()


class ProjectionWorker(_Worker):
    """Drives a generator made by ``func(*args, **kwargs)``: emits ``yielded`` for the values that are
    not None, sends it the newest value given to :meth:`send` (None when there is none)."""

    def __init__(self, func: Callable, *args, **kwargs):
        super().__init__()
        self._gen = func(*args, **kwargs)
        self._lock = threading.Lock()
        self._incoming: Any = None

    def send(self, value) -> None:
        with self._lock:
            self._incoming = value

    def _next_value(self):
        with self._lock:
            out, self._incoming = self._incoming, None
        return out

    def work(self):
        first = True
        while not self._abort.is_set():
            try:
                out = next(self._gen) if first else self._gen.send(self._next_value())
            except StopIteration as exc:
                return exc.value
            first = False
            if out is not None:
                self.signals.yielded.emit(out)
        self._gen.close()
        return None

    def _forget(self) -> None:
        self._gen = None


class TaskWorker(_Worker):
    """Runs ``fn(*args, **kwargs)``; its value goes to ``returned``, its exception to ``errored``."""

    def __init__(self, fn: Callable, *args, **kwargs):
        super().__init__()
        self._call = (fn, args, kwargs)

    def work(self):
        fn, args, kwargs = self._call
        return fn(*args, **kwargs)

    def _forget(self) -> None:
        self._call = None


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
        self._draw_cost = 0.0  # the GUI's last reported drawing cost: a new run's pacing starts from it
        self.pool = QThreadPool(self)  # one thread for all this runner's runs: see TEAM_NOTE
        self.pool.setMaxThreadCount(1)
        self.pool.setExpiryTimeout(RUNNER_EXPIRY_MS)

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
              stats=None, paused: bool = False, to_frame: Callable | None = None, first_frame: bool = True) -> None:
        """Start a run of ``x0`` (numpy, at the model's size; ``mask``: Ω at that size), stopping any
        run in progress first. ``paused=True`` evaluates x0 and waits (for :meth:`step`);
        ``first_frame=False``: iteration 0's frame is not sent (the caller has it)."""
        self.stop()
        self._ctl = Control(alpha=params.alpha, lam=params.lam, paused=paused, draw_cost=self._draw_cost)
        self._outbox = Outbox()
        kw = {"to_frame": to_frame} if to_frame is not None else {}
        w = ProjectionWorker(projection_job, model, x0, params, self._outbox, mask=mask, stats=stats,
                             control=self._ctl, max_fps=self.max_fps, first_frame=first_frame, **kw)
        w.yielded.connect(self._on_signal, Qt.ConnectionType.QueuedConnection)
        w.finished.connect(self._on_signal, Qt.ConnectionType.QueuedConnection)
        self._worker = w
        self._starts += 1
        w.start(self.pool)

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
        """The GUI's CPU seconds per drawn frame: the pacing keeps drawing within its budget. Kept
        for the next runs too, whose first frames then come when that budget allows (with a cost of
        0 a run's first streamed frame came at once, one more drawing per Run)."""
        self._draw_cost = float(seconds)
        self._send(draw_cost=self._draw_cost)

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
