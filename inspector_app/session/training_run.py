"""A ``train`` run in another process, read through the progress protocol (without Qt).

:class:`TrainingRun` starts ``inspector-app train … --progress-jsonl - --pause-file F`` (the same
code as the command: :func:`.new_model.train_command`), reads its standard output on a thread and
queues the protocol's lines; the window calls :meth:`TrainingRun.poll` from its event loop (a timer)
and gets the new lines, while the run keeps the curves, the latest figures and the f(x) samples.

* **Pause** creates the pause file: ``train`` stops after its current step, keeps its checkpoint and
  exits with status 3; **Resume** starts it again with ``--resume`` (the same split, weights,
  optimiser and random generators: it continues exactly).
* **Cancel** ends the process and removes everything the run wrote (the checkpoint, a temporary
  ``.part`` file, the model file if it got that far): nothing is left behind.
* The run ends ``finished`` (status 0: the model file is written), ``paused``, ``failed`` (the
  command's one-line message) or ``cancelled``.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..core.progress_protocol import decode_image, parse_line
from .new_model import NewModelSettings, train_command

PAUSED_STATUS = 3
STATES = ("idle", "running", "pausing", "paused", "finished", "failed", "cancelled")


class TrainingRun:
    """One model's training in a subprocess (see the module docstring)."""

    def __init__(self, settings: NewModelSettings, env: dict[str, str] | None = None):
        self.settings = settings
        self.env = env
        self.state = "idle"
        self.message = ""
        self.train_curve: list[tuple[int, float]] = []
        self.val_curve: list[tuple[int, float]] = []
        self.fve_curve: list[tuple[int, float]] = []
        self.latest: dict[str, Any] = {}
        self.samples: list[tuple[np.ndarray, np.ndarray]] = []
        self.phase = "idle"
        self.phase_info: dict[str, Any] = {}  # the last ``phase`` line (``calibrating``: n_images, estimate_s)
        self.calibration: dict[str, Any] = {}  # the last ``calibration`` line (done, total, eta_s, limit_s)
        self.done: dict[str, Any] | None = None
        self.skipped: list[list[str]] = []
        self._dir = Path(tempfile.mkdtemp(prefix="inspector-train-"))
        self.pause_file = self._dir / "pause"
        self._proc: subprocess.Popen[str] | None = None
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stderr: list[str] = []
        self._threads: list[threading.Thread] = []

    @property
    def out(self) -> Path:
        return self.settings.out

    @property
    def checkpoint(self) -> Path:
        return self.settings.out.with_suffix(".checkpoint")

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Start (or, after a pause, resume from the checkpoint)."""
        if self.state in ("running", "pausing"):
            raise RuntimeError("the training is already running")
        resume = self.checkpoint if self.state in ("paused", "failed") and self.checkpoint.exists() else None
        self.pause_file.unlink(missing_ok=True)
        cmd = train_command(self.settings, self.pause_file, resume)
        self._stderr = []
        self._queue = queue.Queue()
        self.calibration = {}
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, encoding="utf-8", errors="replace", bufsize=1, env=self.env)
        self.state, self.message = "running", ""
        proc, q = self._proc, self._queue
        self._threads = [threading.Thread(target=_read_lines, args=(proc.stdout, q, "line"), daemon=True),
                         threading.Thread(target=_read_lines, args=(proc.stderr, q, "err"), daemon=True)]
        for t in self._threads:
            t.start()

    def pause(self) -> None:
        """Ask the run to stop after its current step and keep its checkpoint."""
        if self.state == "running":
            self.pause_file.write_text("pause\n")
            self.state = "pausing"

    def cancel(self) -> None:
        """End the run at once and remove what it wrote."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._join()
        if self.state != "finished":
            self._remove_outputs()
            self.state = "cancelled"
        self.close()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the process to end (tests, closing); its exit status, None when still running."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.state in ("running", "pausing")

    # ------------------------------------------------------------------ reading
    def poll(self) -> list[dict[str, Any]]:
        """The protocol objects that arrived since the last call (the run's figures updated); when
        the process has ended and everything is read, the state changes and ``{"event": "exit"}``
        comes last."""
        got: list[dict[str, Any]] = []
        while True:
            try:
                kind, value = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "err":
                self._stderr.append(value)
            elif kind == "line":
                obj = parse_line(value)
                if obj is not None:
                    self._take(obj)
                    got.append(obj)
        if self.running and self._proc is not None and self._proc.poll() is not None and self._drained():
            got.append(self._ended(self._proc.returncode))
        return got

    def _drained(self) -> bool:
        self._join(timeout=0.5)
        return all(not t.is_alive() for t in self._threads) and self._queue.empty()

    def _join(self, timeout: float | None = None) -> None:
        for t in self._threads:
            t.join(timeout)

    def _take(self, o: dict[str, Any]) -> None:
        self.phase = o.get("phase", self.phase)
        if o["event"] == "phase":
            self.phase_info = o
        if o["event"] == "calibration":
            self.calibration = o
        if o["event"] in ("step", "eval"):
            self.latest = o
            if o.get("train_loss") is not None:
                self.train_curve.append((o["step"], o["train_loss"]))
        if o["event"] == "eval" and o.get("val_loss") is not None:
            self.val_curve.append((o["step"], o["val_loss"]))
            if o.get("val_fve") is not None:
                self.fve_curve.append((o["step"], o["val_fve"]))
            try:
                self.samples = [(decode_image(s["x"]), decode_image(s["fx"])) for s in o.get("samples", [])]
            except (ValueError, KeyError, TypeError):
                pass  # a malformed sample: keep the previous ones
        if o["event"] == "phase" and o.get("phase") == "done":
            self.done = o
        if o["event"] == "phase" and o.get("skipped"):
            self.skipped = o["skipped"]

    def _ended(self, status: int) -> dict[str, Any]:
        if status == 0 and self.out.exists():
            self.state = "finished"
            self.close()
        elif status == PAUSED_STATUS:
            self.state = "paused"
        else:
            self.state = "failed"
            lines = [ln.strip() for ln in self._stderr if ln.strip()]
            self.message = (lines[-1] if lines else f"the training process ended with status {status}")
            self.message = self.message.removeprefix("inspector-app: error: ").removeprefix("inspector-app: ")
            self._remove_outputs(keep_checkpoint=True)  # a resume may still continue from it
        return {"event": "exit", "status": status, "state": self.state, "message": self.message}

    def _remove_outputs(self, keep_checkpoint: bool = False) -> None:
        """The files this run may have written: the model, its checkpoint, temporary ``.part`` files."""
        for p in (self.out,) if keep_checkpoint else (self.out, self.checkpoint):
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass
        folder = self.out.parent
        for name in (self.out.name, self.checkpoint.name):
            for tmp in folder.glob(f".{name[:200]}.*.part"):
                try:
                    tmp.unlink()
                except OSError:
                    pass


def _read_lines(stream: Any, q: "queue.Queue[tuple[str, Any]]", kind: str) -> None:
    try:
        for line in stream:
            q.put((kind, line))
    except (OSError, ValueError):
        pass
    finally:
        try:
            stream.close()
        except OSError:
            pass


def child_env(threads: int | None = None) -> dict[str, str]:
    """The environment of the training process (``threads``: its torch/OpenMP threads)."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env
