"""Has a model learned its images? The warning for one that has not, and the new model's card.

A model file records the share of the validation images' variance its f(x) explained at its best
step (``training.best_val_fve``, the median over the validation images). A model that explains
under :data:`LEARNED_FVE_MIN` of it returns little more than a flat grey image: every projection
then moves most pixels, and its verdicts mean nothing. Opening such a model warns, in the window
and on the command line (``project``, ``evaluate``).
"""

from __future__ import annotations

import math
from typing import Any, Final

#: A model whose validation f(x) explains less than this share of the variance has not learned.
LEARNED_FVE_MIN: Final = 0.15
#: Fewer training images than this make a warning on the new model's card.
FEW_IMAGES: Final = 20


def share_text(v: float) -> str:
    """``v`` as a whole percentage; a share that rounds to zero reads '0%', never '-0%' (a fresh
    model's f(x) explains a hair under nothing of its images' variance)."""
    return f"{0.0 if round(v * 100) == 0 else v:.0%}"


def validation_fve(meta: dict[str, Any]) -> float | None:
    """The stored validation FVE of a model file's metadata (None when it records none)."""
    tr = meta.get("training") if isinstance(meta, dict) else None
    v = tr.get("best_val_fve") if isinstance(tr, dict) else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def not_learned_warning(meta: dict[str, Any]) -> str | None:
    """One sentence when the model explains under :data:`LEARNED_FVE_MIN` of its validation images'
    variance, else None (also None when the file records no FVE)."""
    fve = validation_fve(meta)
    if fve is None or fve >= LEARNED_FVE_MIN:
        return None
    return (f"this model has not learned its images: f(x) explains {share_text(fve)} of the variance of its validation "
            f"images (under {LEARNED_FVE_MIN:.0%}; it returns little more than a flat image), so its verdicts "
            "mean nothing; train it longer or on more images")


def card_lines(meta: dict[str, Any], folder_warnings: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """The new model's short card: what it learned, what its calibration passes and catches, and
    the warnings that apply (``folder_warnings``: those of the training folder)."""
    tr = meta.get("training", {}) if isinstance(meta, dict) else {}
    fve = validation_fve(meta)
    lines = [f"learned: f(x) explains {share_text(fve)} of the validation images' variance" if fve is not None
             else "learned: no validation FVE recorded"]
    lines.append(f"trained {tr.get('steps', '?')} steps in {float(tr.get('seconds') or 0) / 60:.1f} min "
                 f"on {tr.get('n_train', '?')} images (stopped: {tr.get('stop_reason', '?')})")
    fig = (meta.get("calibration") or {}).get("figures") or {}
    if fig:
        lines.append(f"calibration: {fig.get('good_passed', 0):.0%} of good validation images pass, "
                     f"{fig.get('defects_flagged', 0):.0%} of synthetic defects are caught")
    else:
        lines.append("calibration: none (the paper's defaults apply)")
    warns = list(folder_warnings)
    n = tr.get("n_images")
    if isinstance(n, int) and n < FEW_IMAGES:
        warns.append(f"only {n} images: a model of your parts needs more (at least {FEW_IMAGES})")
    w = not_learned_warning(meta)
    if w:
        warns.append(w)
    return lines + [f"warning: {x}" for x in warns]
