"""A time limit on every call of a user's TorchScript model (no Qt).

A user's model is code: its forward may loop only from its second call, after the load check
passed. :func:`call_with_time_limit` runs each call in a daemon thread and waits for it in short
slices, so that Ctrl-C still reaches the waiting thread and a window's worker gets its answer (or
:class:`ModelStopped`) within the limit; Python cannot stop the stuck thread, which is counted in
:func:`stuck_calls` (a command ends its process at once when one is left, see ``cli.main``) and the
model is marked stopped: every later call is refused at once.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

#: One call of a user's TorchScript model may take ``CALL_FACTOR`` times what its load check took (scaled
#: by the batch), at least ``MIN_CALL_SECONDS`` and at most ``CALL_SECONDS``; ``INSPECTOR_MODEL_CALL_SECONDS``
#: sets one fixed limit instead. A model that loops from its second call is given up after 30 s.
CALL_SECONDS = 600.0
MIN_CALL_SECONDS = 30.0
CALL_FACTOR = 100.0

_stuck: set[threading.Event] = set()  # the "done" events of calls that ran out of time


class ModelStopped(RuntimeError):
    """A user's model that did not answer within the limit (or answered nonsense); it is not called again."""


def call_seconds(check_seconds: float | None = None, scale: float = 1.0) -> float:
    """The limit of one call: ``check_seconds`` is what the load check's call took, ``scale`` how many
    times larger this call's batch is."""
    try:
        v = float(os.environ.get("INSPECTOR_MODEL_CALL_SECONDS", ""))
        if v > 0 and v == v:
            return v
    except ValueError:
        pass
    if check_seconds is None:
        return CALL_SECONDS
    return min(CALL_SECONDS, max(MIN_CALL_SECONDS, CALL_FACTOR * check_seconds * max(1.0, scale)))


def stuck_calls() -> int:
    """How many calls that ran out of time are still running (in daemon threads)."""
    for done in [d for d in _stuck if d.is_set()]:
        _stuck.discard(done)
    return len(_stuck)


def call_with_time_limit(fn: Callable[..., Any], *args: Any, seconds: float, name: str) -> Any:
    """``fn(*args)`` in a daemon thread with the caller's autograd mode; its result, its exception,
    or :class:`ModelStopped` after ``seconds``. ``KeyboardInterrupt`` reaches the caller meanwhile."""
    import torch

    box: dict[str, Any] = {}
    done = threading.Event()  # not Thread.join: a join that Ctrl-C interrupts can mark the thread stopped
    grad = torch.is_grad_enabled()

    def run() -> None:
        try:
            with torch.set_grad_enabled(grad):
                box["y"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - any failure of a user's model goes to the caller
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name=f"model call {name}", daemon=True).start()
    deadline = time.monotonic() + seconds
    try:
        while not done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                raise ModelStopped(f"{name}: the model did not answer within {seconds:g} s (does its forward "
                                   "loop?); it is not used again")
            done.wait(min(left, 0.05))  # short slices: Ctrl-C is handled between them
    except BaseException:  # the limit, or Ctrl-C: the call goes on in its thread
        if not done.is_set():
            _stuck.add(done)
        raise
    if "error" in box:
        raise box["error"]
    return box.get("y")
