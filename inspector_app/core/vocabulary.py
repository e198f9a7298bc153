"""The application's vocabularies as enums, each defined once.

They are ``StrEnum``: a member *is* its string (``StopReason.DIVERGED == "diverged"``,
``json.dumps`` writes ``"diverged"``, ``str()`` and f-strings give the value), so the files the
application stores and the JSON it writes keep the same strings as before.

* :class:`StopKind` — the stop criteria of section 3.5 (``Stop.kind``);
* :class:`StopReason` — why a projection stopped, per image;
* :class:`ModelVerdict` — the model's verdict on an image (``marginal`` only with a review's band);
* :class:`ReviewVerdict` — a reviewer's verdict on a part;
* :class:`TuneMasks` — the masks masked inpainting is tuned on.

The reviewer's ``ok`` and the model's ``good`` mean the same thing in two vocabularies; the one
mapping between the two is :data:`REVIEW_TO_MODEL` (``unsure`` has no model counterpart) and
:func:`review_label`.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Final

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10: the same behaviour (a member is its value, str() and format() give it)

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str.__str__(self)

        def __format__(self, spec: str) -> str:
            return str.__format__(str.__str__(self), spec)


class StopKind(StrEnum):
    """A stop criterion (section 3.5): the kind of :class:`~inspector_app.core.params.Stop`."""

    NONE = "none"  # the maximum number of iterations only
    CONVERGE = "converge"  # energy convergence
    TRAIN_MIN = "train-min"  # Lr(x_t) under the training losses' minimum (the paper's)
    TRAIN_Q = "train-q"  # Lr(x_t) under a percentile of the training losses
    LR = "lr"  # Lr(x_t) under a given value


class StopReason(StrEnum):
    """Why the projection of one image stopped."""

    THRESHOLD = "threshold"  # Lr(x_t) fell under the stop criterion's value
    CONVERGED = "converged"  # the energy converged
    MAX_ITER = "max_iter"  # the iteration budget ran out
    DIVERGED = "diverged"  # the energy rose (α too large): the lowest-energy iterate was kept


class ModelVerdict(StrEnum):
    """The model's verdict on an image (:mod:`inspector_app.core.verdict`); ``marginal`` only
    between a review's two thresholds."""

    GOOD = "good"
    MARGINAL = "marginal"
    DEFECTIVE = "defective"


class ReviewVerdict(StrEnum):
    """A reviewer's verdict on a part."""

    OK = "ok"
    DEFECTIVE = "defective"
    UNSURE = "unsure"


class TuneMasks(StrEnum):
    """The masks ``calibrate --inpainting`` tunes masked inpainting on (``--inpainting-masks``)."""

    FAMILIES = "families"  # 2 of each family a user paints (core.inpaint_masks), thick and thin Ω apart
    RECT = "rect"  # 3 noise rectangles of 25-40 % (the test faces' corruption)


#: The one mapping between the reviewer's verdicts and the model's (``unsure`` has none).
REVIEW_TO_MODEL: Final[dict[ReviewVerdict, ModelVerdict]] = {
    ReviewVerdict.OK: ModelVerdict.GOOD,
    ReviewVerdict.DEFECTIVE: ModelVerdict.DEFECTIVE,
}
#: The same mapping read the other way.
MODEL_TO_REVIEW: Final[dict[ModelVerdict, ReviewVerdict]] = {m: r for r, m in REVIEW_TO_MODEL.items()}


def review_label(verdict: object) -> int | None:
    """A reviewer's verdict as a label: 1 for ``defective``, 0 for ``ok``, ``None`` otherwise
    (``unsure``, no verdict, or anything else)."""
    try:
        model = REVIEW_TO_MODEL.get(ReviewVerdict(str(verdict))) if verdict is not None else None
    except ValueError:
        return None
    return None if model is None else int(model is ModelVerdict.DEFECTIVE)


def review_agrees(review: object, model: object) -> bool | None:
    """Whether a reviewer's verdict and the model's agree; ``None`` when the reviewer's has no
    model counterpart (``unsure``, none) or the model's is ``marginal``."""
    label = review_label(review)
    if label is None or str(model) not in (ModelVerdict.GOOD, ModelVerdict.DEFECTIVE):
        return None
    return label == int(str(model) == ModelVerdict.DEFECTIVE)
