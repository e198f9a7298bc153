"""A run's outputs at the image's own size, from the numpy :class:`~.frames.Frame` the window holds.

The core's :func:`~inspector_app.core.pipeline.finish` does the work (one implementation for the
``project`` command, the evaluation and the window); this only hands it the frame as the core's
numpy :class:`~inspector_app.core.pipeline.FinalState`.
"""

from __future__ import annotations

from typing import Any

from ..core.pipeline import FinalState, PreparedImage, ProjectionOutput, finish
from ..core.ranges import PAPER_THRESHOLD
from .frames import Frame


def final_state(frame: Frame, compare: str) -> FinalState:
    """The frame as the core's final state, with the DSSIM map ``compare`` names."""
    return FinalState(frame.x, frame.reconstruction, frame.dssim(compare), int(frame.steps), frame.stop_reason,
                      float(frame.energy), float(frame.recon_loss), float(frame.reg), frame.lr_threshold,
                      frame.params)


def finish_frame(prep: PreparedImage, frame: Frame, *, compare: str = "projection",
                 threshold: float = PAPER_THRESHOLD, min_area: int = 1, threshold_source: str = "", warnings: list[dict[str, str]] | None = None,
                 energy_curve: list[float] | None = None, extra: dict[str, Any] | None = None) -> ProjectionOutput:
    """The outputs of ``frame`` at the original image's size (``core.pipeline.finish``): the same
    score, verdict, segmentation and fields as the ``project`` command writes for these settings."""
    return finish(prep, final_state(frame, compare), compare=compare, threshold=threshold, min_area=min_area,
                  threshold_source=threshold_source, energy_curve=energy_curve, params=frame.params,
                  warnings=warnings, extra=extra)
