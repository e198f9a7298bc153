"""Frame pacing between the projection (worker thread) and the window: one Qt-free generator.

:func:`paced` drives a projection generator (``core.projection.project``) as fast as it can and
decides, in one place, what reaches the GUI and when:

* **energy** — every iteration's ``(iteration, E, Lr, λ‖x−x0‖₁)`` is posted, with every frame and at
  least ``ENERGY_HZ`` times a second between frames, so the curve gets every iteration;
* **frames** — the first record, every stepped record, the record a pause stops on, and otherwise
  at most ``max_fps`` a second and no more often than the budgets allow: making a frame may take
  at most ``PREP_BUDGET`` of the worker's CPU time, and the GUI's reported CPU time for drawing one
  at most ``DRAW_BUDGET`` of it (up to ``1 / MIN_FPS`` CPU seconds between frames). The budgets are
  counted in the worker thread's CPU time, not in wall time, so that on a busy machine, where the
  projection gets less of the CPU, the window draws less too: it never takes more than its share of
  what the projection gets. Frames are made by ``to_frame`` here, in the worker thread (numpy
  only leaves it);
* **final** — the last record's frame, always posted exactly once, with ``done``.

Everything goes into an :class:`Outbox` (a thread-safe mailbox: energy values accumulate, a new
frame replaces one not yet taken, except the frames that must be seen — the first, a stepped one,
the one a pause stops on — which are kept in order). The generator yields ``True`` when the outbox needs a reader's
attention (it was empty), else ``None``; a Qt worker turns ``True`` into one signal, so the GUI is
never flooded. It receives :class:`Control` values through ``send()`` (the newest wins; ``None``
means "unchanged"): α and λ (applied from the next iteration, continuing from x_t), pause, a step
counter, stop, and the GUI's drawing cost. It returns after posting the final frame.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterable

DEFAULT_MAX_FPS = 12.0
#: Making a frame (two DSSIM maps, copies) may take at most this fraction of the worker's CPU time.
PREP_BUDGET = 0.03
#: The GUI thread's CPU time for drawing may be at most this fraction of the worker's CPU time …
DRAW_BUDGET = 0.03
#: … but frames still come at least once per 1 / MIN_FPS seconds of the worker's CPU time.
MIN_FPS = 1.0
#: Energy values are posted with every frame, and at least this many times a second between frames.
ENERGY_HZ = 1.0
#: While paused, how often the generator looks for a new control (seconds).
PAUSE_POLL = 0.01


@dataclass(frozen=True)
class Control:
    """What the GUI asks of a running projection; each ``send()`` carries the whole of it.

    ``steps`` counts the step requests of the run so far (a counter, not a flag, so that a newer
    control never loses an older request); ``draw_cost`` is the GUI's CPU seconds per drawn frame.
    """

    alpha: float | None = None
    lam: float | None = None
    paused: bool = False
    steps: int = 0
    stop: bool = False
    draw_cost: float = 0.0


@dataclass
class Mail:
    """What a reader takes from an :class:`Outbox` at once: the energy values in order, the frames
    to show in order (at most one that could have been dropped, the newest, last), and at the end
    the final frame with ``done``."""

    energy: list[Any] = field(default_factory=list)
    frames: list[Any] = field(default_factory=list)
    final: Any = None
    error: str | None = None
    done: bool = False


class Outbox:
    """A thread-safe mailbox from the worker to the GUI (no Qt). :meth:`post` returns True when the
    reader must be told (the box was empty since the last :meth:`take`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mail = Mail()
        self._notified = False
        self._kept_last = False

    def post(self, energy: Iterable[Any] = (), frame: Any = None, keep: bool = False, final: Any = None,
             error: str | None = None, done: bool = False) -> bool:
        """Add energy values and/or a frame (``keep``: never replaced by a newer one), or the end."""
        with self._lock:
            m = self._mail
            m.energy.extend(energy)
            if frame is not None:
                if m.frames and not self._kept_last:
                    m.frames[-1] = frame  # the GUI has not taken it: only the newest is worth drawing
                else:
                    m.frames.append(frame)
                self._kept_last = keep
            if done:
                m.final, m.error, m.done, m.frames = final, error, True, []
            notify = not self._notified
            self._notified = True
            return notify

    def take(self) -> Mail:
        with self._lock:
            m, self._mail = self._mail, Mail(done=self._mail.done, final=self._mail.final, error=self._mail.error)
            self._notified = False
            self._kept_last = False
            self._mail.energy = []
            if m.done:  # the final mail is taken once
                self._mail.final, self._mail.error = None, None
            return m


class _Average:
    """Exponential moving average; 0 until the first sample."""

    def __init__(self) -> None:
        self.value = 0.0

    def add(self, v: float) -> None:
        self.value = v if self.value == 0.0 else 0.7 * self.value + 0.3 * v


def frame_interval(prep_cost: float, draw_cost: float) -> float:
    """Seconds of the worker's CPU time between two frames, from the CPU seconds a frame costs to make
    (worker) and to draw (GUI); see the module docstring. ``max_fps`` bounds the wall time apart."""
    return max(prep_cost / PREP_BUDGET, min(draw_cost / DRAW_BUDGET, 1.0 / MIN_FPS))


def one_line(e: BaseException) -> str:
    """An exception as the one line a dialog shows (a bad input's ValueError as its own message)."""
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return msg if isinstance(e, ValueError) else f"{type(e).__name__}: {msg}"


class _Pacer:
    """The bookkeeping of :func:`paced`: pending energy values, the times of the last frame and
    energy post, the average cost of making a frame."""

    def __init__(self, outbox: Outbox, to_frame: Callable[[Any], Any], clock: Callable[[], float],
                 cpu_clock: Callable[[], float], max_fps: float):
        self.outbox, self.to_frame, self.clock, self.cpu_clock = outbox, to_frame, clock, cpu_clock
        self.min_wall = 1.0 / max(max_fps, 0.1)
        self.pending: list[Any] = []
        self.prep = _Average()
        self.last_frame = self.last_energy = self.last_cpu = -math.inf

    def post_frame(self, rec: Any, keep: bool) -> bool:
        c = self.cpu_clock()
        f = self.to_frame(rec)
        self.last_cpu = self.cpu_clock()
        self.prep.add(self.last_cpu - c)
        notify = self.outbox.post(energy=self.pending, frame=f, keep=keep)
        self.pending = []
        self.last_frame = self.last_energy = self.clock()
        return notify

    def post(self, rec: Any, forced: bool, draw_cost: float) -> tuple[bool, bool]:
        """After each iteration: a frame when forced or due, else the energy values when due.
        Returns (notify the reader, a frame of ``rec`` was posted)."""
        now = self.clock()
        due = (now - self.last_frame >= self.min_wall
               and self.cpu_clock() - self.last_cpu >= frame_interval(self.prep.value, draw_cost))
        if forced or due:
            return self.post_frame(rec, forced), True
        if now - self.last_energy >= 1.0 / ENERGY_HZ:
            notify = self.outbox.post(energy=self.pending)
            self.pending, self.last_energy = [], now
            return notify, False
        return False, False

    def finish(self, rec: Any, error: str | None) -> bool:
        final = None
        if rec is not None:
            try:
                final = self.to_frame(rec)
            except Exception as e:  # noqa: BLE001 - e.g. out of memory while computing the maps
                error = error or one_line(e)
        return self.outbox.post(energy=self.pending, final=final, error=error, done=True)


def _live(ctl: Control, applied: tuple[float | None, float | None]) -> dict[str, float] | None:
    """The α, λ to send into the projection when ``ctl`` changes them."""
    if (ctl.alpha, ctl.lam) == applied:
        return None
    return {k: v for k, v in (("alpha", ctl.alpha), ("lam", ctl.lam)) if v is not None}


def paced(
    make_records: Callable[[], Generator[Any, Any, Any]],
    outbox: Outbox,
    to_frame: Callable[[Any], Any],
    energy_of: Callable[[Any], tuple[float, ...]],
    control: Control = Control(),
    *,
    max_fps: float = DEFAULT_MAX_FPS,
    first_frame: bool = True,
    clock: Callable[[], float] = time.perf_counter,
    cpu_clock: Callable[[], float] = time.thread_time,
    sleep: Callable[[float], None] = time.sleep,
) -> Generator[bool | None, Control | None, bool]:
    """Drive ``make_records()`` (a projection generator, made here so that its errors are reported)
    with pacing; see the module docstring. ``clock`` is wall time, ``cpu_clock`` the worker thread's
    CPU time (call this generator in the thread it measures). ``first_frame=False``: the reader
    already has iteration 0's frame (the window's x0 preview), so it is not made again, and the
    next frame and the next energy values come when due (iteration 0's value with them).
    Returns True when the run ended on its own."""
    pacer = _Pacer(outbox, to_frame, clock, cpu_clock, max_fps)
    ctl, served, rec, error, ended = control, 0, None, None, False
    applied = (control.alpha, control.lam)
    try:
        records: Generator[Any, Any, Any] = make_records()
        rec = next(records)
        forced = first_frame
        if not first_frame:  # the intervals count from here, as if iteration 0 had been posted (its
            # energy goes with the next post: the reader has its values in its frame)
            pacer.last_frame, pacer.last_cpu = clock(), cpu_clock()
            pacer.last_energy = pacer.last_frame
        while True:
            pacer.pending.append(energy_of(rec))
            if rec.finished:
                ended = True
                break
            notify, shown = pacer.post(rec, forced, ctl.draw_cost)
            ctl = (yield (True if notify else None)) or ctl
            while not ctl.stop and ctl.paused and ctl.steps <= served:  # paused: show x_t, then wait
                notify = not shown and pacer.post_frame(rec, True)
                shown = True
                new = yield (True if notify else None)
                if new is None:
                    sleep(PAUSE_POLL)
                ctl = new or ctl
            if ctl.stop:
                break
            forced = ctl.paused and ctl.steps > served  # a stepped iteration is always drawn
            served = served + 1 if forced else ctl.steps
            update = _live(ctl, applied)
            applied = (ctl.alpha, ctl.lam)
            rec = records.send(update)
        records.close()
    except Exception as e:  # noqa: BLE001 - reported to the GUI in one line
        error = one_line(e)
    if pacer.finish(rec, error):
        yield True
    return ended
