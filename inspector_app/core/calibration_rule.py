"""The calibration's rule: from the scores of good validation images and synthetic defects, the
threshold and minimum area (:func:`choose_area_threshold`, :func:`robust_threshold`), and from
the scored candidates (step size × stop criterion) the one that becomes the model's default
(:func:`choose`). Pure functions of scores and tables; :mod:`inspector_app.core.calibration`
runs the projections that produce them.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from .metrics import image_auroc
from .verdict import image_score

#: Factor by which scores may drift between validation and the parts a model will see (another
#: region of the texture, other lighting): the threshold must hold under it (:func:`robust_threshold`).
DRIFT = 1.3
#: Candidate minimum defect areas (pixels at the model's size).
AREAS = (1, 4, 9, 16, 25, 36, 49, 64, 100, 144)
#: Robust accuracies within this of the best count as equally good.
ACCURACY_TOLERANCE = 0.01
#: Validation image AUROCs within this of the best count as equally good: about one standard error
#: (Hanley & McNeil) of an AUROC of 0.999 from 25 good and 100 defective validation images, a few
#: swapped pairs. Compared exactly, such a difference overruled a clearly better segmentation.
IMAGE_TOLERANCE = 0.005
#: Validation pixel AUROCs within this of the best count as equally good (then the fewest iterations win).
PIXEL_TOLERANCE = 0.001


def robust_threshold(good: np.ndarray, defects: np.ndarray, drift: float = DRIFT) -> tuple[float, float]:
    """(threshold, robust balanced accuracy): the threshold T that keeps the most images on the
    right side even when every score moves by the factor ``drift`` the wrong way, i.e. that
    maximises ½ [share of good scores with score·drift ≤ T + share of defect scores with
    score/drift > T]. Among equally good thresholds, the middle (in log scale) of the widest
    interval: the threshold sits in the gap between the classes, not at its edge."""
    g = np.asarray(good, np.float64) * drift
    d = np.asarray(defects, np.float64) / drift
    bounds = np.unique(np.concatenate([g, d, [0.0]]))
    bounds = bounds[bounds > 0] if (bounds > 0).any() else np.array([1e-6])
    edges = np.concatenate([[bounds[0] / 2.0], bounds, [bounds[-1] * 2.0]])
    best: tuple[float, float, float] | None = None  # (accuracy, threshold, width)
    for lo, hi in zip(edges[:-1], edges[1:]):
        t = float(np.sqrt(lo * hi))
        acc = float(0.5 * (np.mean(g <= t) if g.size else 1.0) + 0.5 * (np.mean(d > t) if d.size else 1.0))
        width = float(np.log(hi / lo))
        if best is None or acc > best[0] + 1e-12 or (abs(acc - best[0]) <= 1e-12 and width > best[2]):
            best = (acc, t, width)
    assert best is not None  # edges holds at least two values
    return best[1], best[0]


def whole_image_scores(scores: np.ndarray, groups: "Sequence[int] | None") -> np.ndarray:
    """The good tiles' scores as whole images' scores: the highest of each image's tiles (``groups``
    names the image each tile was cut from; None: every tile is an image of its own)."""
    if groups is None or not scores.size:
        return scores
    g = np.asarray(groups)
    return np.array([scores[g == k].max() for k in dict.fromkeys(g.tolist())])


def choose_area_threshold(good_maps: "np.ndarray | Sequence[np.ndarray]",
                          defect_maps: "np.ndarray | Sequence[np.ndarray]",
                          areas: Sequence[int] = AREAS, variants: int = 1,
                          groups: "Sequence[int] | None" = None) -> tuple[int, float, dict[str, Any]]:
    """(min_area, threshold, table): for each area, the :func:`robust_threshold` of the good
    images' and the defects' scores; the area with the best robust accuracy wins (ties: the
    higher image AUROC, then the smaller area). With ``variants`` > 1 the good maps are that many
    versions of each image (variant-major, as :func:`lighting_variants` orders them) and an
    image's score is the highest of its versions'. With ``groups`` (the validation photograph each
    good map's tile was cut from), a good photograph's score is the highest of its tiles': a whole
    photograph holds as many chances of a false region as it holds tiles, and the threshold must
    pass the photograph, not only its tiles one by one. The maps may be a stack or a list of maps
    of any sizes (whole photographs)."""
    table = {}
    best = None
    for a in areas:
        sg = np.array([image_score(m.astype(np.float32), a) for m in good_maps])
        sg = sg.reshape(variants, -1).max(axis=0) if variants > 1 and sg.size else sg
        sg = whole_image_scores(sg, groups)
        sd = np.array([image_score(m.astype(np.float32), a) for m in defect_maps])
        thr, robust = robust_threshold(sg, sd)
        auroc = image_auroc(np.concatenate([sg, sd]), np.r_[np.zeros(sg.size, bool), np.ones(sd.size, bool)]) \
            if sg.size and sd.size else float("nan")
        table[str(a)] = {"threshold": thr, "robust_accuracy": robust, "image_auroc": auroc,
                         "defects_flagged": float(np.mean(sd > thr)) if sd.size else 0.0,
                         "good_passed": float(np.mean(sg <= thr)) if sg.size else 1.0,
                         "good_scores": [float(v) for v in sg], "defect_scores": [float(v) for v in sd]}
        key = (round(robust, 6), auroc if math.isfinite(auroc) else 0.0)
        if best is None or key > best[2]:
            best = (a, thr, key)
    assert best is not None
    return best[0], best[1], table


def choose(candidates: Mapping[str, Mapping[str, Any]]) -> str:
    """The candidate (step size and stop, see the module docstring): the best robust accuracy;
    within :data:`ACCURACY_TOLERANCE` of it, the image AUROCs within :data:`IMAGE_TOLERANCE` of
    the highest; among those, the validation pixel AUROCs within :data:`PIXEL_TOLERANCE` of the
    best; then the lowest ``alpha_rank`` (0: the paper's step size), then the fewest iterations."""
    usable = {c: v for c, v in candidates.items() if math.isfinite(v["robust_accuracy"])}
    if not usable:
        raise ValueError("no stop criterion could be scored")
    best = max(v["robust_accuracy"] for v in usable.values())
    near = [c for c, v in usable.items() if v["robust_accuracy"] >= best - ACCURACY_TOLERANCE]

    def score(c: str, name: str) -> float:
        v = float(usable[c].get(name, float("nan")))
        return v if math.isfinite(v) else 0.0

    top = max(score(c, "image_auroc") for c in near)
    near = [c for c in near if score(c, "image_auroc") >= top - IMAGE_TOLERANCE]
    top = max(score(c, "pixel_auroc") for c in near)
    near = [c for c in near if score(c, "pixel_auroc") >= top - PIXEL_TOLERANCE]
    return min(near, key=lambda c: (usable[c].get("alpha_rank", 0), usable[c]["mean_iterations"]))


def candidate_key(stop: str, factor: float, alpha: float) -> str:
    """A candidate's name: its stop, with the step size unless it is the paper's."""
    return stop if factor == 1.0 else f"{stop}@alpha={alpha:g}"


def describe_candidate(key: str) -> str:
    """Words for a candidate stop: ``val-q90``, ``train-min``, ``train-q05``, ``iter:12``, each
    possibly with a step size (``iter:12@alpha=0.15``)."""
    if "@alpha=" in key:
        stop, alpha = key.split("@alpha=", 1)
        return f"{describe_candidate(stop)}, with the step size α = {alpha}"
    if key.startswith("val-q"):
        return f"Lr under the {_ordinal(key[5:])} percentile of validation Lr(x0)"
    if key == "train-min":
        return "Lr under the training minimum (the paper's)"
    if key.startswith("train-q"):
        return f"Lr under the {_ordinal(key[7:])} percentile of the training losses"
    return f"a fixed {key[5:]} iterations"


def _ordinal(digits: str) -> str:
    n = int(digits)  # "01" -> "1st", "05" -> "5th", "90" -> "90th"
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
