"""Threshold statistics over a folder's image scores (numpy only, no Qt).

Conventions (those of :mod:`inspector_app.core.verdict`): an image is flagged when its score is
**above** the threshold; a label is 1 for a defective part and 0 for a good one.

* **Verdict bands** — with two thresholds T1 ≤ T2 (Cognex's marginal band): ``good`` when
  score ≤ T1, ``marginal`` when T1 < score ≤ T2, ``defective`` when score > T2. With T2 = T1 (no
  band) this is the binary verdict at T1. T1 is also the segmentation threshold, so an image is
  ``good`` exactly when its segmentation is empty.
* **Suggested thresholds** (:class:`Suggestion`): :func:`f1_threshold` and :func:`frr_threshold`
  find the best interval of thresholds — from one score of the folder (or 0) to the next higher
  one, where every threshold gives the same verdicts — and give its lowest end; a suggestion puts
  T1 in the middle of that gap (the geometric middle, as the histogram's log axis shows it; half
  the next score when the gap starts at 0), never on a part's score, and shows the gap. None is
  made until both classes have :data:`MIN_PER_CLASS` labelled images (:func:`suggestion_note`).

  - *F1-max*: the interval with the highest F1 = 2TP / (2TP + FP + FN), the lowest on ties;
  - *false-reject rate*: the lowest interval in which at most ``rate`` of the good parts are
    flagged (a false reject), which flags the most defects under that constraint.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Iterable

import numpy as np
from numpy.typing import ArrayLike

from ...core.evaluation import HIST_FLOOR
from ...core.metrics import image_auroc, roc_curve_points
from ...core.verdict import exceeds, verdict
from ...core.vocabulary import ModelVerdict

MODEL_VERDICTS = tuple(v.value for v in ModelVerdict)  # good, marginal, defective


def model_verdict(score: float, t1: float, t2: float | None = None) -> ModelVerdict:
    """``good`` / ``marginal`` / ``defective`` (see the module docstring); ``t2`` None: no band.
    Each threshold decides as :func:`inspector_app.core.verdict.verdict` does (one comparison)."""
    if verdict(score, t1) == ModelVerdict.GOOD:
        return ModelVerdict.GOOD
    if t2 is not None and verdict(score, t2) == ModelVerdict.GOOD:
        return ModelVerdict.MARGINAL
    return ModelVerdict.DEFECTIVE


def model_verdicts(scores: np.ndarray, t1: float, t2: float | None = None) -> np.ndarray:
    """:func:`model_verdict` of each score, as indices into :data:`MODEL_VERDICTS`."""
    s = np.asarray(scores, np.float64)
    above = exceeds(s, t1)
    out = np.where(above, 2, 0)
    if t2 is not None:
        out[above & ~exceeds(s, t2)] = 1
    return out


def _checked(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    return s, y


def confusion(scores: ArrayLike, labels: ArrayLike, t1: float, t2: float | None = None) -> np.ndarray:
    """2×3 counts: rows the truth (good, defective), columns the model (good, marginal, defective)."""
    s, y = _checked(scores, labels)
    v = model_verdicts(s, t1, t2)
    m = np.zeros((2, 3), np.int64)
    for row, mask in ((0, ~y), (1, y)):
        m[row] = np.bincount(v[mask], minlength=3)
    return m


def _sweep(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds (0 and every distinct score, ascending) with the flagged positives
    (TP) and negatives (FP) at each."""
    cand = np.unique(np.concatenate([[0.0], np.clip(s, 0.0, None)]))
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    tp = pos.size - np.searchsorted(pos, cand, side="right")
    fp = neg.size - np.searchsorted(neg, cand, side="right")
    return cand, tp, fp


def f1_threshold(scores: ArrayLike, labels: ArrayLike) -> tuple[float, float] | None:
    """(threshold, F1) of the F1-max threshold, or None without a defective label."""
    s, y = _checked(scores, labels)
    if not y.any():
        return None
    cand, tp, fp = _sweep(s, y)
    fn = y.sum() - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    i = int(np.argmax(f1))  # the first maximum: the lowest threshold
    return float(cand[i]), float(f1[i])


def frr_threshold(scores: ArrayLike, labels: ArrayLike, rate: float) -> tuple[float, float, float] | None:
    """(threshold, false-reject rate, detection rate) of the lowest threshold that flags at most
    ``rate`` of the good parts; None without both labels."""
    s, y = _checked(scores, labels)
    if not y.any() or y.all():
        return None
    cand, tp, fp = _sweep(s, y)
    frr = fp / float((~y).sum())
    ok = np.nonzero(frr <= rate + 1e-12)[0]  # not empty: at the highest score nothing is flagged
    i = int(ok[0])
    return float(cand[i]), float(frr[i]), float(tp[i] / float(y.sum()))


#: Suggestions need at least this many labelled images of each class (good and defective): with
#: fewer, F1-max and the false-reject rate say more about the few images than about the parts.
MIN_PER_CLASS = 5


@dataclass(frozen=True)
class Suggestion:
    """A suggested T1 in the gap (``below``, ``above``) between two neighbouring scores: ``below``
    the highest score it passes (None: none passed), ``above`` the lowest it flags (None: none
    flagged); ``value`` the F1 or the false-reject rate there, ``detection`` the share of defects flagged."""

    threshold: float
    below: float | None
    above: float | None
    value: float
    detection: float

    @property
    def margin(self) -> float:
        """The distance from the threshold to the nearest score."""
        gaps = [self.threshold - v for v in (self.below,) if v is not None]
        gaps += [v - self.threshold for v in (self.above,) if v is not None]
        return min(gaps) if gaps else 0.0


def _in_gap(s: np.ndarray, lowest: float) -> tuple[float, float | None, float | None]:
    """(threshold, below, above): the middle of the gap that starts at ``lowest`` (a score, or 0)."""
    s = np.clip(s, 0.0, None)
    under, over = s[s <= lowest], s[s > lowest]
    below = float(under.max()) if under.size else None
    above = float(over.min()) if over.size else None
    if above is None:  # nothing flagged: a little above the highest score
        return (min(1.0, lowest * 1.1) if lowest > 0 else LOG_FLOOR), below, None
    if lowest <= 0:
        return 0.5 * above, below, above
    return float(np.sqrt(lowest * above)), below, above


def labelled_counts(labels: ArrayLike) -> tuple[int, int]:
    """(good, defective) among ``labels`` (1 defective, 0 good, NaN unlabelled)."""
    y = np.asarray(labels, np.float64)
    return int((y == 0).sum()), int((y == 1).sum())


def suggestion_note(labels: ArrayLike, min_per_class: int = MIN_PER_CLASS) -> str | None:
    """Why no threshold is suggested yet (too few labelled images of a class), or None."""
    good, bad = labelled_counts(labels)
    if good >= min_per_class and bad >= min_per_class:
        return None
    return (f"suggestions need {min_per_class} good and {min_per_class} defective images labelled "
            f"({good} and {bad} so far)")


def suggest(scores: ArrayLike, labels: ArrayLike, frr_target: float, min_per_class: int = MIN_PER_CLASS
            ) -> tuple[Suggestion | None, Suggestion | None]:
    """The F1-max and false-reject suggestions over labelled ``scores`` (``labels``: 1 defective,
    0 good), each in its gap; (None, None) while :func:`suggestion_note` says why."""
    if suggestion_note(labels, min_per_class) is not None:
        return None, None
    s, y = _checked(scores, labels)
    out: list[Suggestion | None] = []
    for found in (f1_threshold(s, y), frr_threshold(s, y, frr_target)):
        if found is None:  # (enough labels of both classes always give one)
            out.append(None)
            continue
        t, below, above = _in_gap(s, found[0])
        flagged = s > t
        out.append(Suggestion(t, below, above, found[1], float(flagged[y].mean())))
    return out[0], out[1]


@dataclass
class RocCurve:
    fpr: np.ndarray
    tpr: np.ndarray
    auroc: float


def roc(scores: ArrayLike, labels: ArrayLike) -> RocCurve | None:
    """The image-level ROC curve and its AUROC, or None without both labels."""
    s, y = _checked(scores, labels)
    if not y.any() or y.all():
        return None
    fpr, tpr, _t = roc_curve_points(s, y)
    return RocCurve(np.asarray(fpr), np.asarray(tpr), float(image_auroc(s, y)))


def operating_point(scores: ArrayLike, labels: ArrayLike, threshold: float) -> tuple[float, float] | None:
    """(false-positive rate, true-positive rate) of "score > threshold", or None without both labels."""
    s, y = _checked(scores, labels)
    if not y.any() or y.all():
        return None
    f = s > threshold
    return float(f[~y].mean()), float(f[y].mean())


#: The score histogram goes logarithmic when the scores and thresholds shown span this many times.
LOG_SPAN = 100.0
#: The lowest edge of a logarithmic histogram (scores of 0 are drawn in its first bin): the floor
#: of the pixel histograms' log bins.
LOG_FLOOR = HIST_FLOOR


def histogram_edges(scores: ArrayLike, *marks: float | None, bins: int = 40, log: bool = False) -> np.ndarray:
    """Bin edges from 0 (``log``: from half the lowest positive score or threshold, at least
    :data:`LOG_FLOOR`, log-spaced) to a little above the highest score or threshold shown."""
    s = np.asarray(scores, np.float64)
    vals = ([float(s.max())] if s.size else []) + [float(m) for m in marks if m is not None]
    if log:
        pos = [v for v in list(s[s > 0]) + vals if v > 0]
        lo = max(LOG_FLOOR, 0.5 * min(pos)) if pos else LOG_FLOOR
        hi = max([lo * 10.0] + vals) * 1.05
        return np.geomspace(lo, hi, bins + 1)
    hi = max([0.05] + vals)
    return np.linspace(0.0, hi * 1.05, bins + 1)


def wants_log_scale(scores: ArrayLike, *marks: float | None) -> bool:
    """Whether the positive scores and thresholds span at least :data:`LOG_SPAN` times (a calibrated
    model's good parts score 1e-4 and its defects 0.1: on a linear axis the good ones and T1 are
    one bar at 0)."""
    s = np.asarray(scores, np.float64)
    v = np.concatenate([s[s > 0], [float(m) for m in marks if m is not None and float(m) > 0]])
    return bool(v.size >= 2 and v.max() >= LOG_SPAN * max(v.min(), LOG_FLOOR))



@dataclass
class FolderStats:
    """What the score-distribution panel shows (labels: 1 defective, 0 good, NaN unlabelled)."""

    indices: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    confusion: np.ndarray | None  # 2×3: truth (good, defective) × model (good, marginal, defective)
    roc: RocCurve | None
    operating_point: tuple[float, float] | None
    f1: Suggestion | None  # T1 with the highest F1, in its gap
    frr: Suggestion | None  # T1 with at most the target's false rejects, in its gap
    suggestion_note: str | None  # why there are no suggestions yet
    pixel_auroc: float | None
    mean_iou: float | None
    log_scale: bool = False  # the histogram's axis is log10(score) (:func:`wants_log_scale`)
    edges: np.ndarray | None = None  # the histogram's bin edges (:func:`histogram_edges`)


def folder_stats(indices: ArrayLike, scores: ArrayLike, labels: ArrayLike, t1: float, t2: float | None,
                 frr_target: float, pixel_auroc: float | None = None,
                 ious: Iterable[float | None] = ()) -> FolderStats:
    """The confusion matrix at T1/T2, the ROC curve, the operating point at T1 and the suggested
    thresholds over the labelled scores (``labels`` NaN: unlabelled); ``ious``: the defective
    parts' IoU, averaged."""
    idx = np.asarray(indices, np.int64)
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, np.float64)
    known = ~np.isnan(labels)
    s, y = scores[known], labels[known].astype(bool)
    conf = confusion(s, y, t1, t2) if s.size else None
    given = [float(v) for v in ious if v is not None]
    log = wants_log_scale(scores, t1, t2)
    f1, frr = suggest(s, y.astype(np.float64), frr_target)
    return FolderStats(idx, scores, labels, conf, roc(s, y), operating_point(s, y, t1), f1, frr,
                       suggestion_note(labels[known]), pixel_auroc, float(np.mean(given)) if given else None,
                       log, histogram_edges(scores, t1, t2, log=log))
