"""The masked-inpainting schedule of a model, tuned on its validation images (never on test images).

Masked inpainting (eq. 7) walks the pixels of Ω downhill on Lr(x) with λ = 0. On the small face
models this project can train, the walk from the corrupted pixels ends near the reconstruction's
blurry optimum, and a long walk from a good start drifts back to it: what the projection adds is
largest after a few steps. So the schedule is chosen on validation faces, corrupted with noise
inside masks of the shapes a user paints (``families``, :mod:`.inpaint_masks`; or ``rect``, the
rectangles of 25-40 % of the test faces): where Ω starts (``input``, the corrupted pixels as in the
paper, or ``telea``, OpenCV's fill), the plain step α, and the number of iterations, by the mean
PSNR inside Ω against the clean face; on the families, once for thick Ω and once for thin or small
Ω (:func:`.inpainting.thin_mask`, the block's ``thin``), which gain from different schedules. The
choice and its figures are stored in the model file (``meta["inpainting"]``) and become the
defaults of the ``inpaint`` command and the comparison window (the schedule that fits the mask);
``--init input`` and the paper's schedule stay one option away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .defects import NOISE_AREA
from .inpainting import MASKED_INITS, random_box_mask, telea_inpaint, thin_mask
from .metrics import psnr
from .vocabulary import TuneMasks

if TYPE_CHECKING:
    import torch

    from .models import AutoEncoder

#: What the tuner tries: where Ω starts, and plain steps α (λ = 0, eq. 7).
TUNE_INITS = MASKED_INITS
TUNE_ALPHAS = (0.1, 0.2, 0.5)
#: Which masks the tuning corrupts the validation images with (``--inpainting-masks``).
TUNE_MASKS = tuple(m.value for m in TuneMasks)


def _corrupt(clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mask = random_box_mask(clean.shape[:2], NOISE_AREA, rng)
    bad = clean.copy()
    bad[mask] = rng.uniform(0.0, 1.0, bad[mask].shape).astype(bad.dtype)
    return bad, mask


def choose_schedule(gains: dict[str, dict[float, np.ndarray]]) -> tuple[str, float, int, float]:
    """(init, α, iterations, mean gain) with the highest mean gain over the cases; ``gains[init][α]``
    is a (cases, iterations + 1) array of PSNR gains over Telea. Ties go to fewer iterations;
    iteration 0 (no projection at all) is never chosen."""
    best = max((float(np.mean(g[:, t])), -t, init, a) for init, by_a in gains.items() for a, g in by_a.items()
               for t in range(1, g.shape[1]))
    return best[2], best[3], -best[1], best[0]


def _cases(clean_images: list[np.ndarray], repeats: int, masks: str,
           rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(clean, corrupted, Ω) for each validation image: ``repeats`` noise rectangles (``rect``), or
    ``repeats`` masks of every family of :mod:`.inpaint_masks` (``families``), noise inside Ω."""
    from .inpaint_masks import FAMILIES, family_mask
    from .inpainting import corrupt_with_noise

    if masks not in TUNE_MASKS:
        raise ValueError(f"masks must be one of {', '.join(TUNE_MASKS)}, got {masks!r}")
    cases = []
    for img in clean_images:
        clean = np.asarray(img, np.float32)
        for _ in range(repeats):
            if masks == TuneMasks.RECT:
                bad, mask = _corrupt(clean, rng)
                cases.append((clean, bad, mask))
                continue
            for fam in FAMILIES:
                mask = family_mask(fam, clean.shape[:2], rng)
                cases.append((clean, corrupt_with_noise(clean, mask, rng), mask))
    return cases


def tune_masked_inpainting(model: AutoEncoder, clean_images: list[np.ndarray], device: str | torch.device | None = None,
                           *, repeats: int = 3, max_iter: int = 60, seed: int = 0, masks: str = TuneMasks.RECT,
                           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Choose where masked inpainting starts, its step α and its iteration count on ``clean_images``
    (validation images at the model's size, float [0, 1], H×W or H×W×C), each corrupted ``repeats``
    times (``masks="families"``: ``repeats`` times with a mask of each family a user may paint).
    Returns the ``inpainting`` block of a model file: ``{"masked": {alpha, lam, optimizer,
    grad_mask, stop, max_iter}, "init", "method", "figures"}``; the figures compare the chosen
    schedule with OpenCV's Telea fill (mean PSNR inside Ω in dB, the share of cases it beats
    Telea) and give the best gain a start at the corrupted pixels reaches after ``max_iter``. On
    the families, the block holds the schedule for thick Ω and, in ``thin``, the one for thin or
    small Ω, each chosen on its own cases (the figures: of the thick cases, and ``all_cases_*``)."""
    import torch

    from .data import to_tensor
    from .params import ProjectionParams
    from .projection import project

    if not clean_images:
        raise ValueError("tuning masked inpainting needs validation images")
    device = torch.device("cpu") if device is None else device
    cases = _cases(clean_images, repeats, masks, np.random.default_rng(seed))
    # gains[init][alpha]: (cases, max_iter + 1) PSNR inside Ω minus Telea's
    gains = {i: {a: np.full((len(cases), max_iter + 1), np.nan) for a in TUNE_ALPHAS} for i in TUNE_INITS}
    telea_db = np.zeros(len(cases))
    for c, (clean, bad, mask) in enumerate(cases):
        telea = telea_inpaint(bad, mask)
        telea_db[c] = psnr(telea, clean, mask=mask)
        omega = torch.from_numpy(mask[None, None].astype(np.float32)).to(device)
        for init in TUNE_INITS:
            start = to_tensor([telea if init == "telea" else bad]).to(device)
            for a in TUNE_ALPHAS:
                p = ProjectionParams(alpha=a, lam=0.0, grad_mask="none", stop="none", max_iter=max_iter)
                for rec in project(model, start, p, mask=omega):
                    x = rec.x[0].detach().cpu().numpy().transpose(1, 2, 0).reshape(clean.shape)
                    gains[init][a][c, rec.iteration] = psnr(np.clip(x, 0, 1), clean, mask=mask) - telea_db[c]
        if progress is not None and (c + 1) % (len(cases) // len(clean_images)) == 0:
            progress(1)
    everything = gains
    thin = np.array([thin_mask(m) for _c, _b, m in cases])
    split = masks == TuneMasks.FAMILIES and 0 < int(thin.sum()) < len(cases)
    sel = ~thin if split else np.ones(len(cases), bool)
    if split:  # one schedule for thick Ω (the file's "masked"), one for thin or small Ω ("thin")
        gains = {i: {a: g[sel] for a, g in by_a.items()} for i, by_a in everything.items()}
    init, alpha, t, gain = choose_schedule(gains)
    chosen = gains[init][alpha][:, t]
    block = {
        "init": init,
        "masked": {"alpha": alpha, "lam": 0.0, "optimizer": "sgd", "grad_mask": "none", "stop": "none",
                   "max_iter": int(t)},
        "method": (f"tuned on {len(clean_images)} validation images × {_masks_text(masks, repeats)}: start at "
                   f"{_start_text(init)}, α = {alpha:g}, "
                   f"{t} iterations (best mean PSNR inside Ω)"),
        "figures": {
            "cases": int(sel.sum()),
            "telea_psnr_mask": float(telea_db[sel].mean()),
            "psnr_mask": float(telea_db[sel].mean() + gain),
            "gain_over_telea": gain,
            "beats_telea": float(np.mean(chosen > 0)),
            "input_start_best_gain": float(max(np.mean(g[:, -1]) for g in gains["input"].values())),
        },
    }
    if split:
        _add_thin(block, {i: {a: g[thin] for a, g in by_a.items()} for i, by_a in everything.items()},
                  thin, chosen, telea_db)
    return block


def _start_text(init: str) -> str:
    return "the Telea fill" if init == "telea" else "the corrupted pixels"


def _add_thin(block: dict[str, Any], gains: dict[str, dict[float, np.ndarray]], thin: np.ndarray,
              thick_chosen: np.ndarray, telea_db: np.ndarray) -> None:
    """Add ``block["thin"]``, the schedule for thin or small Ω (:func:`.inpainting.thin_mask`),
    chosen on those cases alone (``gains``), and the figures of both schedules over all cases."""
    init, alpha, t, gain = choose_schedule(gains)
    chosen = gains[init][alpha][:, t]
    tdb = telea_db[thin]
    block["thin"] = {"init": init,
                     "masked": {"alpha": alpha, "lam": 0.0, "optimizer": "sgd", "grad_mask": "none", "stop": "none",
                                "max_iter": int(t)},
                     "figures": {"cases": int(len(chosen)), "telea_psnr_mask": float(tdb.mean()),
                                 "psnr_mask": float(tdb.mean() + gain), "gain_over_telea": gain,
                                 "beats_telea": float(np.mean(chosen > 0))}}
    both = np.zeros(len(thin))
    both[thin], both[~thin] = chosen, thick_chosen
    block["figures"].update(all_cases=len(thin), all_cases_gain=float(both.mean()),
                            all_cases_beats_telea=float(np.mean(both > 0)))
    block["method"] += (f" on the {int((~thin).sum())} cases whose Ω is not thin; thin or small Ω: start at "
                        f"{_start_text(init)}, α = {alpha:g}, {t} iterations")


def _masks_text(masks: str, repeats: int) -> str:
    if masks == TuneMasks.RECT:
        return f"{repeats} noise rectangles ({int(NOISE_AREA[0] * 100)}-{int(NOISE_AREA[1] * 100)} % of the image)"
    return f"{repeats} masks of each of the 8 families (discs, strokes, brush, rectangles, eyes, mouth)"


__all__ = ["TUNE_ALPHAS", "TUNE_INITS", "TUNE_MASKS", "choose_schedule", "tune_masked_inpainting"]
