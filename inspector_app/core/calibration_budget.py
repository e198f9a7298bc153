"""How long a calibration (and the training-loss statistics) will take, said before it starts, and
a calibration sized to fit a time budget.

:func:`inspector_app.core.calibration.calibrate` projects :func:`images_projected` images (half the
validation split, its lighting variants and synthetic defects, at each step size) for ``max_iter``
iterations, keeps a DSSIM map at each candidate stop, then scores every candidate (an image score
per map and candidate minimum area). :func:`measure` times each of these on the model itself (a
few iterations of a batch, one DSSIM map, the scoring of a few maps); :func:`estimate_seconds`
adds them up for a split size and an iteration budget; :func:`plan` picks the largest calibration
(first fewer iterations, down to 20, then fewer validation images, then fewer iterations still)
whose estimate fits a budget in minutes. A calibration that does not fit whole is sized for its
first step size only: the others run after it only while time is left (the calibration's own
deadline), so the budget buys validation images — what the threshold is placed on — before
step sizes. (Sized for all three, the New Model dialog's 2 minutes on a 128-px model kept 11 of 50
validation images, 5 good ones for the threshold, and then skipped a step size anyway.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from .calibration import ALPHA_FACTORS, ITERATIONS, LR_STOPS, VAL_QUANTILES, images_projected
from .calibration_rule import choose_area_threshold
from .metrics import pixel_auroc
from .models import AutoEncoder
from .params import ProjectionParams
from .projection import project

T = TypeVar("T")

#: Below this many iterations a budget first takes validation images away (the fixed-iteration
#: candidates up to 20 are where most calibrations end: the bundled models chose 3 to 20).
MIN_ITER_BEFORE_IMAGES = 20
#: The fewest validation images a reduced calibration keeps (one per half).
MIN_IMAGES = 2
#: A reduced calibration's estimate fills at most this share of its budget (the estimate was within
#: ±20 % of the time taken on 32×32 and 64×64 models, 8 validation images, 20–60 iterations).
MARGIN = 0.8


@dataclass(frozen=True)
class Rates:
    """Seconds per unit of a calibration's work, measured on the model (:func:`measure`)."""

    iteration: float  # one projection iteration of one image
    dssim_map: float  # one DSSIM map of one image
    score: float  # one map scored for one candidate stop (every candidate area) and its pixel AUROC
    forward: float  # one forward pass of one image (the statistics, the stop levels)


@dataclass(frozen=True)
class Plan:
    """A calibration's size: ``n_images`` of the ``n_val`` validation images, ``max_iter``
    iterations, ``seconds`` estimated; ``reduced`` says what a budget took away ("" if nothing)."""

    n_images: int
    max_iter: int
    seconds: float
    reduced: str = ""


def measure(model: AutoEncoder, image_shape: tuple[int, ...], device: torch.device, batch: int = 32) -> Rates:
    """Time the calibration's units of work on ``model`` with a batch of ``batch`` random images of
    ``image_shape`` (H, W) or (H, W, C) — about a second on a CPU for a 128×128 model."""
    from .data import to_tensor

    rng = np.random.default_rng(0)
    images = [rng.random(image_shape).astype(np.float32) for _ in range(max(int(batch), 1))]
    x0 = to_tensor(images).to(device)
    n = x0.shape[0]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model.forward_loss(x0)  # warm-up (allocations, kernels)
            t = time.perf_counter()
            model.forward_loss(x0)
            forward = (time.perf_counter() - t) / n
        params = ProjectionParams(stop="none", max_iter=3).validated()
        gen = project(model, x0, params)
        next(gen)  # t = 0: f(x0) and Lr(x0), as every run starts
        t = time.perf_counter()
        steps = 0
        rec = None
        for rec in gen:
            steps += 1
        iteration = (time.perf_counter() - t) / (max(steps, 1) * n)
        if rec is None:
            raise RuntimeError("the projection gave no iterate to time")
        t = time.perf_counter()
        maps = rec.dssim_projection.detach().cpu().numpy().astype(np.float16)
        dssim = (time.perf_counter() - t) / n
    finally:
        model.train(was_training)
    k = min(n, 8)
    t = time.perf_counter()
    choose_area_threshold(maps[:k], maps[-k:])
    pixel_auroc(maps[:2 * k].astype(np.float32), np.arange(maps[:2 * k].size).reshape(maps[:2 * k].shape) % 7 == 0)
    score = (time.perf_counter() - t) / (2 * k)
    return Rates(iteration=iteration, dssim_map=dssim, score=score, forward=forward)


def estimate_seconds(rates: Rates, n_val: int, max_iter: int, step_sizes: int = len(ALPHA_FACTORS)) -> float:
    """Seconds :func:`~inspector_app.core.calibration.calibrate` takes on ``n_val`` validation
    images with ``max_iter`` iterations at ``step_sizes`` of its step sizes (all three by default;
    a step-down, which only a diverging model needs, is not counted)."""
    if n_val < 1:
        return 0.0
    n = images_projected(n_val) * step_sizes // len(ALPHA_FACTORS)
    fixed = sum(1 for t in ITERATIONS if t <= max_iter)
    levels = len(LR_STOPS) + len(VAL_QUANTILES)
    maps_per_image = min(max_iter + 1, fixed + 2 * levels)  # each level is run at two drifts
    return (n * (max_iter + 1) * rates.iteration + n * maps_per_image * rates.dssim_map
            + n * (fixed + levels) * rates.score + (n_val + 1) // 2 * rates.forward)


def statistics_seconds(rates: Rates, n_train: int) -> float:
    """Seconds of the training-loss statistics over ``n_train`` images (one forward pass each)."""
    return n_train * rates.forward


def plan(rates: Rates, n_val: int, max_iter: int, minutes: float | None, unit: str = "validation images") -> Plan:
    """The calibration to run: all ``n_val`` images and ``max_iter`` iterations when that fits
    ``minutes`` (or ``minutes`` is None), else the largest one whose estimate does (see the module
    docstring); at least :data:`MIN_IMAGES` images and one iteration, whatever the budget.
    ``unit`` names the images in ``reduced`` (the working-scale tiles of whole photographs:
    "validation tiles")."""
    full = estimate_seconds(rates, n_val, max_iter)
    budget = MARGIN * 60.0 * minutes if minutes is not None else float("inf")
    if full <= budget or n_val < 1:
        return Plan(n_val, max_iter, full)

    def fits(n: int, it: int) -> bool:  # the first step size; the others only if time is left
        return estimate_seconds(rates, n, it, step_sizes=1) <= budget

    it = max(t for t in range(1, max_iter + 1) if fits(n_val, t) or t == 1)
    n = n_val
    if it < min(MIN_ITER_BEFORE_IMAGES, max_iter) or not fits(n, it):
        it = min(MIN_ITER_BEFORE_IMAGES, max_iter)
        n = max([m for m in range(MIN_IMAGES, n_val + 1) if fits(m, it)], default=min(MIN_IMAGES, n_val))
        if not fits(n, it):
            it = max([t for t in range(1, it + 1) if fits(n, t)], default=1)
    what = [f"{_iterations(it)} instead of {max_iter}"] if it < max_iter else []
    what += [f"{n} of the {n_val} {unit}"] if n < n_val else []
    return Plan(n, it, estimate_seconds(rates, n, it, step_sizes=1), "; ".join(what))


def _iterations(n: int) -> str:
    return f"{n} iteration" + ("" if n == 1 else "s")


def subset(images: list[T], n: int) -> list[T]:
    """``n`` of ``images``, evenly spaced (all of them when ``n`` ≥ their number)."""
    if n >= len(images):
        return list(images)
    idx = np.unique(np.linspace(0, len(images) - 1, max(n, 1)).round().astype(int))
    return [images[i] for i in idx]


__all__ = ["MARGIN", "MIN_IMAGES", "MIN_ITER_BEFORE_IMAGES", "Plan", "Rates", "estimate_seconds", "measure",
           "plan", "statistics_seconds", "subset"]
