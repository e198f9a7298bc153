"""The read-only questions about an open review (no Qt, no signals): scores and verdicts at the
thresholds in use, labels, statistics and filters.

:class:`ReviewQueries` is the half of :class:`~.session.ReviewSession` that changes nothing: it
reads the state the session keeps (the folder's items, the results, the reviews, the thresholds
of the window's display settings) and answers; the session adds what changes it and emits the
signals. The model's verdicts follow :mod:`.stats`; the reviewer's ``ok`` ↔ the model's ``good``
is :mod:`inspector_app.core.vocabulary`'s one mapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...core.vocabulary import ModelVerdict, review_agrees, review_label
from .folder import GT_DEFECTIVE, GT_GOOD, FolderItem, FolderScan
from .records import Review
from .results import FolderResults
from .stats import FolderStats, folder_stats, model_verdict
from .store import AreaKey

if TYPE_CHECKING:
    from ..model import Session

FILTERS = ("all", "unreviewed", "disagreements", "marginal")
LABEL_SOURCES = ("ground_truth", "reviewer")


class ReviewQueries:
    """Read-only answers over the attributes :class:`~.session.ReviewSession` keeps: ``session``
    (the window's :class:`~inspector_app.session.model.Session`), ``scan``, ``items``,
    ``folder_results``, ``reviews``, ``marginal_upper``, ``label_source``, ``filter``, ``frr_target``."""

    session: Session
    scan: FolderScan | None
    items: list[FolderItem]
    folder_results: FolderResults
    reviews: list[Review | None]
    marginal_upper: float | None
    label_source: str
    filter: str
    frr_target: float

    # The folder run's results (:class:`~.results.FolderResults`): one per image, None until projected.
    results = property(lambda self: self.folder_results.results)
    errors = property(lambda self: self.folder_results.errors)
    run_params = property(lambda self: self.folder_results.params)
    running = property(lambda self: self.folder_results.running)

    @property
    def is_open(self) -> bool:
        return self.scan is not None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def n_done(self) -> int:
        return self.folder_results.n_done

    @property
    def n_reviewed(self) -> int:
        return sum(r is not None for r in self.reviews)

    # ================================================================== thresholds
    @property
    def threshold(self) -> float:
        return float(self.session.display.threshold)

    @property
    def compare(self) -> str:
        return str(self.session.display.compare)

    @property
    def min_area(self) -> int:
        return int(self.session.display.min_area)

    def area_key(self) -> AreaKey:
        return (self.compare, self.threshold, self.min_area)

    def score(self, i: int) -> float | None:
        r = self.results[i]
        return None if r is None else r.score(self.compare)

    def model_verdict(self, i: int) -> str | None:
        s = self.score(i)
        return None if s is None else model_verdict(s, self.threshold, self.marginal_upper)

    def stale_indices(self) -> tuple[list[int], bool]:
        """Images whose area/IoU (or, after a change of the minimum area, scores) are out of date,
        and whether their scores must be recomputed."""
        return self.folder_results.stale_indices(self.area_key(), self.min_area)

    # ================================================================== labels, statistics
    def gt_label(self, i: int) -> int | None:
        g = self.items[i].gt
        return 1 if g == GT_DEFECTIVE else 0 if g == GT_GOOD else None

    def reviewer_label(self, i: int) -> int | None:
        r = self.reviews[i]
        return None if r is None else review_label(r.verdict)

    def label(self, i: int) -> int | None:
        return self.gt_label(i) if self.label_source == "ground_truth" else self.reviewer_label(i)

    def stats(self) -> FolderStats:
        """Scores, labels, the confusion matrix at T1/T2, the ROC curve, the suggested thresholds,
        the folder's pixel AUROC and mean IoU (see :mod:`.stats`)."""
        idx = [i for i, r in enumerate(self.results) if r is not None]
        labels = [np.nan if (lab := self.label(i)) is None else lab for i in idx]
        ious = [self.results[i].iou for i in idx if self.items[i].gt == GT_DEFECTIVE]
        return folder_stats(idx, [self.results[i].score(self.compare) for i in idx], labels, self.threshold,
                            self.marginal_upper, self.frr_target, self.pixel_auroc(), ious)

    def pixel_auroc(self) -> float | None:
        """The folder's pixel AUROC under the current compare (binned, as the evaluation computes it)."""
        return self.folder_results.pixel_auroc(self.compare)

    # ================================================================== filters
    def matches(self, i: int, flt: str | None = None) -> bool:
        """Whether image ``i`` passes the filter ``flt`` (default: the current one)."""
        flt = flt or self.filter
        if flt == "all":
            return True
        if flt == "unreviewed":
            return self.reviews[i] is None
        mv = self.model_verdict(i)
        if flt == "marginal":
            return mv == ModelVerdict.MARGINAL
        r = self.reviews[i]
        return r is not None and mv is not None and review_agrees(r.verdict, mv) is False

    def visible(self) -> list[int]:
        return [i for i in range(len(self.items)) if self.matches(i)]
