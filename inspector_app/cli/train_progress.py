"""``train``'s progress: the bar (with the budget that binds) and the JSON-lines protocol
(:mod:`inspector_app.core.progress_protocol`, ``--progress-jsonl``), and the pause file."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, Any

from .common import UsageError

#: ``train``'s exit status when it stopped on ``--pause-file`` (a checkpoint, no model file)
PAUSED_STATUS = 3


def open_stream(spec: str | None, out: Path) -> IO[str] | None:
    """The stream ``--progress-jsonl`` names: ``-`` is standard output; a file must not exist (it
    is created, never replaced) and must not be the model file."""
    if spec is None:
        return None
    if spec == "-":
        return sys.stdout
    from ..core.outputs import WriteRefused, refuse_special

    p = Path(spec)
    if p.resolve() == out.resolve() or p.suffix == ".safetensors":
        raise UsageError(f"--progress-jsonl {p}: not a model file; name a .jsonl file")
    if p.resolve() == out.with_suffix(".checkpoint").resolve():  # replaced by it, then removed with it
        raise UsageError(f"--progress-jsonl {p}: is where the training keeps its checkpoint; name a .jsonl file")
    try:
        refuse_special(p)
        return open(p, "x", encoding="utf-8", buffering=1)
    except FileExistsError:
        raise UsageError(f"--progress-jsonl {p} exists; choose another name") from None
    except (WriteRefused, OSError) as e:
        raise UsageError(f"--progress-jsonl {p}: cannot write it ({getattr(e, 'strerror', None) or e})") from None


class PauseFile:
    """``should_stop`` for ``--pause-file``: true once the file exists (checked at most every 0.2 s)."""

    def __init__(self, path: str | None):
        self.path = None if path is None else Path(path)
        self.requested = False
        self._checked = 0.0

    def __call__(self) -> bool:
        if self.path is None or self.requested:
            return self.requested
        now = time.monotonic()
        if now - self._checked >= 0.2:
            self._checked = now
            self.requested = self.path.exists()
        return self.requested


class Reporter:
    """The progress bar and, with ``--progress-jsonl``, the protocol's writer, fed by ``train``."""

    def __init__(self, a: Any, tcfg: Any, n_images: int, writer: Any):
        from tqdm import tqdm

        self.writer, self.max_steps, self.max_minutes = writer, tcfg.max_steps, tcfg.max_minutes
        self.bar = tqdm(total=tcfg.max_steps, unit="step", disable=a.quiet, dynamic_ncols=True,
                        desc=f"{a.arch} on {n_images} images", initial=0)
        self.eval_every, self.eval_seconds = tcfg.eval_every, tcfg.eval_seconds
        self.device = None
        self._t = time.monotonic()
        self._steps0: int | None = None

    def progress(self, state: Any, running: float) -> None:
        from ..core.progress_protocol import binding_budget

        if self.writer is not None:
            self.writer.step(state, running)
        if self._steps0 is None:
            self._steps0, self._t = state.step - 1, time.monotonic()
        if self.bar.disable or state.step % 10:
            return
        elapsed = time.monotonic() - self._t
        rate = (state.step - self._steps0) / elapsed if elapsed > 0.5 else None
        binding, eta = binding_budget(state.step, self.max_steps, state.seconds, self.max_minutes, rate)
        if binding == "minutes" and rate and eta is not None:  # the bar's total: the steps the minutes allow
            self.bar.total = state.step + int(rate * eta)
        self.bar.n = state.step
        val = f"{state.val_curve[-1][1]:.4g}" if state.val_curve else f"none before step {self.eval_every}" + (
            f" or {self.eval_seconds:g} s" if self.eval_seconds is not None else "")
        budget = f"{self.max_minutes:g} min" if binding == "minutes" else f"{self.max_steps} steps"
        self.bar.set_postfix(loss=f"{running:.4g}", val=val, budget=budget, refresh=False)
        self.bar.refresh()

    def evaluated(self, model: Any, val_images: list, state: Any) -> None:
        """``train``'s ``on_evaluate``: an ``eval`` line with f(x) of four validation images."""
        if self.writer is None:
            return
        from ..core.progress_protocol import reconstruct_samples

        xs, fxs = reconstruct_samples(model, val_images, self.device)
        running = state.train_curve[-1][1] if state.train_curve else float("nan")
        self.writer.evaluation(state, running, xs, fxs)

    def phase(self, name: str, **extra: Any) -> None:
        if self.writer is not None:
            self.writer.phase(name, **extra)

    def close(self) -> None:
        self.bar.close()


def load_skipping(data: str, channels: int, rep_phase: Any = None) -> tuple[list, Path, list[str]]:
    """The folder's readable images (``train --skip-unreadable``): the others are named on stderr
    and in a ``loading`` phase line (``skipped``: ``[[name, why], …]``)."""
    from ..core.data import DataError, ImageError, list_images, read_image, training_folder

    folder = training_folder(data)
    images, names, skipped = [], [], []
    for f in list_images(folder):
        try:
            images.append(read_image(f, channels))
            names.append(f.name)
        except (ImageError, DataError, OSError, ValueError) as e:
            skipped.append([f.name, str(e).split(": ")[-1] or type(e).__name__])
    if skipped:
        print(f"skipped {len(skipped)} unreadable file{'s' if len(skipped) > 1 else ''}: "
              + ", ".join(n for n, _ in skipped[:10]) + (" …" if len(skipped) > 10 else ""), file=sys.stderr)
        if rep_phase is not None:
            rep_phase.phase("loading", skipped=skipped[:100], n_skipped=len(skipped))
    if not images:
        raise DataError(f"{folder}: no readable images ({len(skipped)} unreadable)")
    return images, folder, names
