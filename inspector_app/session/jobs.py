"""The work a worker thread does for the window (no Qt): a paced projection, opening a model file,
the inpainting comparison's panels. Each takes and gives numpy (and the opaque loaded model); the
tensors live and die in the worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generator, Mapping

import numpy as np

from ..core.params import ProjectionParams
from .frames import energy_terms, frame_from_record
from .pacing import DEFAULT_MAX_FPS, Control, Outbox, paced

if TYPE_CHECKING:  # torch is imported by the jobs, in the worker threads: the window starts without it
    from ..core.inpainting import InpaintJob
    from ..core.modelio import LoadedModel
    from ..core.models import AutoEncoder
    from ..core.projection import IterationRecord


def projection_job(
    model: AutoEncoder,
    x0: np.ndarray,
    params: ProjectionParams,
    outbox: Outbox,
    *,
    mask: np.ndarray | None = None,
    stats: Mapping[str, Any] | None = None,
    control: Control = Control(),
    to_frame: Callable[[IterationRecord], Any] = frame_from_record,
    max_fps: float = DEFAULT_MAX_FPS,
    first_frame: bool = True,
) -> Generator[bool | None, Control | None, bool]:
    """Project one image ``x0`` (H×W or H×W×C float32 at the model's size) with :func:`paced`.

    ``mask`` is Ω at the model's size (H×W bool, True = may change: eq. 7). The tensors are made
    here, in the worker thread; frames (``to_frame(record)``) go out through ``outbox``.
    """

    def records() -> Generator[IterationRecord, Mapping[str, float] | None, None]:
        from ..core.data import to_tensor
        from ..core.projection import project

        x = to_tensor([np.asarray(x0, np.float32)])
        m = None
        if mask is not None:
            m = to_tensor([np.asarray(mask, np.float32)])
        return project(model, x, params, mask=m, stats=stats)

    return (yield from paced(records, outbox, to_frame, energy_terms, control, max_fps=max_fps,
                             first_frame=first_frame))


def load_model(path: str, device: str) -> LoadedModel:
    """:func:`inspector_app.core.modelio.load_model`, imported on first use (in the worker: the
    window starts without torch)."""
    from ..core.modelio import load_model as core_load_model

    return core_load_model(path, device)


def open_model(path: str, device: str) -> LoadedModel:
    """``core.modelio.load_model`` (a TorchScript file runs one forward pass to check itself) and a
    check that its calibration can be used: call it in a worker. Raises ``ModelFileError``, or
    ``OSError`` / ``RuntimeError`` / ``ValueError``."""
    from .assess import check_model_defaults

    loaded = load_model(path, device)
    check_model_defaults(loaded)
    return loaded


@dataclass
class InpaintingFrame:
    """One iterate of an inpainting run as its panel at the image's size, with its metrics against
    the ground truth (None without one); made in the worker (SSIM is not cheap)."""

    iteration: int
    steps: int
    stop_reason: str | None
    panel: np.ndarray
    metrics: dict[str, float] | None


def inpainting_frame(job: InpaintJob, mode: str) -> Callable[[IterationRecord], InpaintingFrame]:
    """A ``to_frame`` for :func:`projection_job` that makes :class:`InpaintingFrame` panels."""

    def to_frame(record: IterationRecord) -> InpaintingFrame:
        panel = job.panel(mode, record.x[0])
        return InpaintingFrame(int(record.iteration), int(record.steps[0]), record.stop_reasons[0], panel,
                               job.metrics(mode, panel))

    return to_frame


def inpainting_static(job: InpaintJob) -> tuple[dict[str, np.ndarray], dict[str, dict[str, float]]]:
    """The comparison's panels that need no projection (the reconstruction f(x0) runs the model:
    call this in a worker) and their metrics against the ground truth."""
    panels = job.static_panels()
    metrics = {}
    for name, img in panels.items():
        if name != "ground_truth":
            m = job.metrics(name, img)
            if m is not None:
                metrics[name] = m
    return panels, metrics


def available_devices() -> list[tuple[str, str]]:
    """(label, device) for the device menu: CUDA first when torch finds a GPU, then the CPU. A torch
    built without CUDA is told by its ``version.py`` alone: the window starts without importing torch."""
    if not torch_has_cuda_build():
        return [("CPU", "cpu")]
    from ..core.modelio import resolve_device

    return ([("CUDA", "cuda")] if resolve_device("auto").type == "cuda" else []) + [("CPU", "cpu")]


def torch_has_cuda_build() -> bool:
    """Whether the installed torch was built with CUDA (``torch.version.cuda``), read from its
    ``version.py`` without importing torch; True when that cannot be read (then torch is asked)."""
    import importlib.util
    import re
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("torch")
        text = (Path(spec.origin).parent / "version.py").read_text() if spec and spec.origin else ""
    except (ImportError, OSError, ValueError):
        return True
    m = re.search(r"^cuda\b[^=]*=\s*(.+)$", text, re.MULTILINE)
    return m is None or m.group(1).strip() != "None"
