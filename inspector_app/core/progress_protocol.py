"""The training progress protocol: one JSON object per line (``train --progress-jsonl``).

A line-based, documented protocol that a window (or any other program) reads instead of scraping
the progress bar. Every line is a JSON object with at least

* ``v``: the protocol version (:data:`VERSION`);
* ``event``: ``phase`` (a new phase begins), ``step`` (a batch of training steps, at most every
  ``every_s`` seconds), ``eval`` (a validation evaluation), ``calibration`` (images projected by
  the calibration after training), ``done`` (the model file is written), ``paused`` (training
  stopped on request with a checkpoint, no model written) or ``error``;
* ``phase``: one of :data:`PHASES`;
* ``t``: seconds since the command started.

``step`` and ``eval`` lines also carry ``step``, ``max_steps``, ``max_minutes`` (null: no time cap),
``seconds`` (training time, resumed runs included), ``train_loss`` (the running training loss),
``val_loss`` and ``val_fve`` (the last validation evaluation's mean Lr and median share of variance
f(x) explains; null before the first), ``steps_per_s`` (over the last few seconds), ``binding``
(``steps`` or ``minutes``: the cap that ends training first at this rate) and ``eta_s`` (seconds
until it does). An ``eval`` line adds ``samples``: four validation images and f(x) of each, as
:func:`encode_image` records (grey or RGB uint8, at most :data:`SAMPLE_SIDE` px, base64).
A ``phase`` line for ``calibrating`` carries ``estimate_s``, ``n_images`` and ``limit_s`` (the time
limit, null for none). A ``calibration`` line (one when the calibration starts, then as images are
projected — a batch's images counted as its iterations go —, at most every ``every_s`` seconds, and
one at the end) carries ``done``
and ``total`` (images projected and to project: the total grows when a smaller step size is added
and shrinks when the time limit leaves step sizes out), ``seconds`` (since the calibration
started), ``images_per_s``, ``eta_s`` (null until the first batch) and ``limit_s``; ``done`` carries
``out``, ``steps``, ``val_fve`` and the calibration's ``good_passed`` and ``defects_flagged``
(null without a calibration); ``error`` carries ``message``.
"""

from __future__ import annotations

import base64
import json
import math
import time
from typing import IO, Any

import numpy as np

VERSION = 1
PHASES = ("loading", "training", "statistics", "calibrating", "saving", "done", "paused", "failed")
EVENTS = ("phase", "step", "eval", "calibration", "done", "paused", "error")
#: the longer side of the sample images an ``eval`` line carries
SAMPLE_SIDE = 96
N_SAMPLES = 4


def binding_budget(step: int, max_steps: int, seconds: float, max_minutes: float | None,
                   steps_per_s: float | None) -> tuple[str, float | None]:
    """(the cap that ends training first — ``steps`` or ``minutes`` —, seconds until it does, or None
    while the rate is unknown and only steps bound)."""
    steps_left = max(0, max_steps - step)
    eta_steps = steps_left / steps_per_s if steps_per_s and steps_per_s > 0 else math.inf
    if max_minutes is not None:
        eta_minutes = max(0.0, 60.0 * max_minutes - seconds)
        if eta_minutes < eta_steps:
            return "minutes", eta_minutes
    return "steps", eta_steps if math.isfinite(eta_steps) else None


def encode_image(im: np.ndarray, side: int = SAMPLE_SIDE) -> dict[str, Any]:
    """A float image in [0, 1] (H×W or H×W×C) as ``{h, w, c, data}``: uint8, subsampled to at most
    ``side`` px on its longer side, base64."""
    a = np.asarray(im, dtype=np.float32)
    step = max(1, int(math.ceil(max(a.shape[:2]) / side)))
    a = a[::step, ::step]
    u8 = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    c = 1 if u8.ndim == 2 else u8.shape[2]
    return {"h": int(u8.shape[0]), "w": int(u8.shape[1]), "c": int(c),
            "data": base64.b64encode(np.ascontiguousarray(u8).tobytes()).decode("ascii")}


def decode_image(rec: dict[str, Any]) -> np.ndarray:
    """The uint8 array of an :func:`encode_image` record (``ValueError`` when it is not one)."""
    try:
        h, w, c = int(rec["h"]), int(rec["w"]), int(rec["c"])
        raw = base64.b64decode(rec["data"], validate=True)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"not an image record ({e})") from None
    if not (0 < h <= 4 * SAMPLE_SIDE and 0 < w <= 4 * SAMPLE_SIDE and c in (1, 3)) or len(raw) != h * w * c:
        raise ValueError(f"not an image record ({h}×{w}×{c}, {len(raw)} bytes)")
    a = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, c)
    return a[:, :, 0] if c == 1 else a


def parse_line(line: str) -> dict[str, Any] | None:
    """The protocol object of one line, or None for a line that is not one (a blank line, text
    another part of the program printed)."""
    s = line.strip()
    if not s.startswith("{"):
        return None
    try:
        obj = json.loads(s)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("v") != VERSION or obj.get("event") not in EVENTS:
        return None
    return obj


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class ProgressWriter:
    """Writes the protocol's lines to ``stream`` (flushed at once; see the module docstring)."""

    def __init__(self, stream: IO[str], max_steps: int, max_minutes: float | None, every_s: float = 0.5):
        self.stream, self.max_steps, self.max_minutes, self.every_s = stream, max_steps, max_minutes, every_s
        self.t0 = time.monotonic()
        self._last = -math.inf
        self._window: list[tuple[float, int]] = []  # (time, step) over the last few seconds
        self.phase_name = "loading"
        self._cal_t0: float | None = None  # when the calibration's first line was written

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        obj = {"v": VERSION, "event": event, "phase": self.phase_name,
               "t": round(time.monotonic() - self.t0, 3), **fields}
        self.stream.write(json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n")
        self.stream.flush()
        return obj

    def phase(self, name: str, **extra: Any) -> dict[str, Any]:
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}")
        self.phase_name = name
        return self.emit("phase", **extra)

    def rate(self, step: int) -> float | None:
        """Steps per second over the last 10 s (None until two points are 0.2 s apart)."""
        now = time.monotonic()
        self._window.append((now, step))
        while len(self._window) > 2 and now - self._window[0][0] > 10.0:
            self._window.pop(0)
        t0, s0 = self._window[0]
        return (step - s0) / (now - t0) if now - t0 >= 0.2 and step > s0 else None

    def _fields(self, state: Any, running: float) -> dict[str, Any]:
        rate = self.rate(state.step)
        binding, eta = binding_budget(state.step, self.max_steps, state.seconds, self.max_minutes, rate)
        last = state.val_curve[-1] if state.val_curve else None
        return {"step": state.step, "max_steps": self.max_steps, "max_minutes": self.max_minutes,
                "seconds": round(state.seconds, 2), "train_loss": _num(running),
                "val_loss": _num(last[1]) if last else None, "val_fve": _num(last[2]) if last else None,
                "steps_per_s": _num(rate), "binding": binding, "eta_s": _num(eta)}

    def step(self, state: Any, running: float, force: bool = False) -> dict[str, Any] | None:
        """A ``step`` line, at most every ``every_s`` seconds (or when ``force``)."""
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            self.rate(state.step)
            return None
        self._last = now
        return self.emit("step", **self._fields(state, running))

    def calibration(self, done: float, total: int, limit_s: float | None, force: bool = False) -> dict[str, Any] | None:
        """A ``calibration`` line: ``done`` of ``total`` images projected (the first call starts the
        clock; at most every ``every_s`` seconds unless ``force`` or the calibration is complete)."""
        now = time.monotonic()
        if self._cal_t0 is None:
            self._cal_t0, force = now, True
        if not force and done < total and now - self._last < self.every_s:
            return None
        self._last = now
        seconds = now - self._cal_t0
        rate = done / seconds if done > 0 and seconds > 0 else None
        return self.emit("calibration", done=int(done), total=int(total), seconds=round(seconds, 2),
                         images_per_s=_num(rate), eta_s=_num(max(0.0, total - done) / rate) if rate else None,
                         limit_s=_num(limit_s))

    def evaluation(self, state: Any, running: float, inputs: list[np.ndarray],
                   outputs: list[np.ndarray]) -> dict[str, Any]:
        samples = [{"x": encode_image(x), "fx": encode_image(f)} for x, f in zip(inputs, outputs)]
        return self.emit("eval", **self._fields(state, running), samples=samples)


def sample_indices(n: int, k: int = N_SAMPLES) -> list[int]:
    """``k`` indices spread evenly over ``n`` validation images (all of them when fewer)."""
    if n <= k:
        return list(range(n))
    return [int(round(i * (n - 1) / (k - 1))) for i in range(k)]


def reconstruct_samples(model: Any, images: list[np.ndarray], device: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(four validation images, f(x) of each) for an ``eval`` line, the model left as it was."""
    import torch

    from .data import to_tensor

    picked = [images[i] for i in sample_indices(len(images))]
    if not picked:
        return [], []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            rec = model.reconstruct(to_tensor(picked).to(device)).clamp(0, 1).cpu().numpy()
    finally:
        model.train(was_training)
    outs = [r[0] if r.shape[0] == 1 else np.transpose(r, (1, 2, 0)) for r in rec]
    return picked, outs
