"""The iterative energy-based projection (Dehaene et al. 2020, section 3).

One generator, :func:`project`, is driven by the GUI worker, the ``project`` command and the
evaluation alike. Each iteration t:

1. one forward pass gives f(x_t) and Lr(x_t), hence E(x_t) = Lr(x_t) + λ‖x_t − x0‖₁ (eq. 4);
2. a record of x_t is yielded;
3. images whose stop criterion holds are frozen (each image of a batch stops on its own);
4. one backward pass to the input gives ∇ₓE; the gradient is masked by the user mask Ω (eq. 7)
   and/or by the reconstruction error (x_t − f(x_t))² (eq. 8), and a plain step (eq. 5) or an Adam
   step moves x; pixels are kept in [0, 1].

Model weights are frozen; no parameter gradient is ever computed. A caller may stop consuming
at any time, and may ``send({"alpha": ..., "lam": ...})`` to change α or λ from the next step on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Mapping

import numpy as np
import torch

from .losses import dssim_map, uninspected_margin
from .models import AutoEncoder
from .params import ProjectionParams, Stop
from .tiling import Loss, TiledLoss, TileGrid, plain_loss
from .vocabulary import StopKind, StopReason

#: Which images of the batch an evaluation covers: all of them (a slice: views) or their indices.
Index = slice | torch.Tensor

class ProjectionError(ValueError):
    """Bad input to the projection (shape, range, mask)."""


# Divergence (section 3.5 asks for a stop on convergence; a step size that is too large must
# not produce garbage): an image diverges when its energy or f(x) is not finite, when E jumps
# above E_ref + diverge_factor·max(|E_ref|, 1), or when E stays above E_ref for diverge_patience
# iterations (the walk goes uphill). Its x then falls back to its lowest-energy iterate.
# E_ref is E(x0) (E(x_start) when continuing), re-based on E(x_t) at the first iterate after a
# live change of α or λ: a larger λ raises E(x_t) by (λ' − λ)‖x_t − x0‖₁ without any step having
# gone uphill, and energies under another λ are not comparable, so the uphill count restarts and
# the fallback iterate is the lowest-energy one under the new λ.


def threshold_from_stats(stop: "str | Stop", stats: Mapping[str, Any] | None) -> float | None:
    """The Lr threshold a stop criterion names, from the model's training-loss statistics.

    ``train-min`` is the paper's choice (section 4.1); ``train-qNN`` the NN-th percentile;
    ``lr:VALUE`` a typed value. ``none`` and ``converge`` have no threshold.
    """
    rule = Stop.parse(stop)
    value = rule.value  # the Lr value of lr:VALUE, the percentile of train-qNN
    if rule.kind == StopKind.LR and value is not None:
        return float(value)
    if rule.kind not in (StopKind.TRAIN_MIN, StopKind.TRAIN_Q):
        return None
    if not stats or not _finite(stats.get("min")):
        raise ProjectionError(f"stop criterion {str(rule)!r} needs the model's training-loss statistics, which it lacks")
    if rule.kind == StopKind.TRAIN_MIN:
        return float(stats["min"])
    q = stats.get("quantiles")
    k = int(value or 0)
    if not isinstance(q, (list, tuple)) or len(q) != 101 or not _finite(q[k]):
        raise ProjectionError(f"stop criterion {str(rule)!r}: the model file has no training-loss quantiles")
    return float(q[k])


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class IterationRecord:
    """State after ``iteration`` steps: x_t, f(x_t), the energy terms and each image's stop reason.

    Tensors are B×C×H×W (images) or B (scalars) on the model's device, detached. The DSSIM maps
    are computed on first access (the GUI only asks for the frames it draws).
    """

    iteration: int
    x0: torch.Tensor
    x: torch.Tensor
    reconstruction: torch.Tensor
    energy: torch.Tensor
    recon_loss: torch.Tensor
    reg: torch.Tensor
    active: torch.Tensor
    stop_reasons: list[str | None]
    steps: torch.Tensor  # iterations each image has run
    params: ProjectionParams
    lr_threshold: float | None
    _cache: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def dssim_projection(self) -> torch.Tensor:
        """DSSIM(x0, x_t), B×H×W (0 on the ``params.margin`` outermost pixels)."""
        if "p" not in self._cache:
            with torch.no_grad():
                self._cache["p"] = uninspected_margin(dssim_map(self.x0, self.x), self.params.margin)
        return self._cache["p"]

    @property
    def dssim_reconstruction(self) -> torch.Tensor:
        """DSSIM(x0, f(x_t)), B×H×W (0 on the ``params.margin`` outermost pixels)."""
        if "r" not in self._cache:
            with torch.no_grad():
                self._cache["r"] = uninspected_margin(dssim_map(self.x0, self.reconstruction), self.params.margin)
        return self._cache["r"]

    def dssim(self, compare: str = "projection") -> torch.Tensor:
        return self.dssim_projection if compare == "projection" else self.dssim_reconstruction

    @property
    def finished(self) -> bool:
        return not bool(self.active.any())

    def to_cpu(self) -> "IterationRecord":
        """A copy with every tensor on the CPU (maps already computed are kept)."""
        def mv(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to("cpu")

        return IterationRecord(
            self.iteration, mv(self.x0), mv(self.x), mv(self.reconstruction), mv(self.energy),
            mv(self.recon_loss), mv(self.reg), mv(self.active), list(self.stop_reasons), mv(self.steps),
            self.params, self.lr_threshold, {k: mv(v) for k, v in self._cache.items()},
        )


def _check_input(model: AutoEncoder, x0: torch.Tensor, mask: torch.Tensor | None) -> None:
    if x0.dim() != 4:
        raise ProjectionError(f"expected a B×C×H×W batch, got shape {tuple(x0.shape)}")
    b, c, h, w = x0.shape
    if c != model.channels or h < model.image_size or w < model.image_size:
        raise ProjectionError(
            f"the model takes {model.channels}-channel images of at least {model.image_size}×{model.image_size} "
            f"(larger ones are covered by tiles), got {c}×{h}×{w}"
        )
    if not torch.isfinite(x0).all():
        raise ProjectionError("the input contains NaN or infinite values")
    if mask is not None:
        if mask.dim() == 3:
            mask = mask[:, None]
        if mask.dim() != 4 or mask.shape[0] not in (1, b) or mask.shape[1] not in (1, c) or mask.shape[2:] != x0.shape[2:]:
            raise ProjectionError(
                f"the mask has shape {tuple(mask.shape)}, which does not fit images of shape {tuple(x0.shape)}"
            )


def project(
    model: AutoEncoder,
    x0: torch.Tensor,
    params: ProjectionParams | None = None,
    mask: torch.Tensor | None = None,
    x_start: torch.Tensor | None = None,
    stats: Mapping[str, Any] | None = None,
    tile_overlap: int | None = None,
) -> Generator[IterationRecord, Mapping[str, float] | None, None]:
    """Project the batch ``x0`` onto the model's normal manifold; yield one record per iteration.

    Images larger than the model's size are covered by model-size tiles that overlap by
    ``tile_overlap`` pixels (:data:`~inspector_app.core.tiling.TILE_OVERLAP_FRACTION` of the tile
    by default) and walked on one energy over the whole image (:mod:`inspector_app.core.tiling`);
    images of exactly the model's size take the plain path, unchanged.

    ``mask`` is Ω of eq. 7 (1 = may change, 0 = stays bit-identical to x0), B×1×H×W, 1×1×H×W or
    B×H×W. ``x_start`` continues a previous run from its x_t (the L1 term still measures from x0).
    ``stats`` are the training-loss statistics for the ``train-*`` stop criteria; by default the
    model's own (``model.training_stats``).
    """
    p = (params or ProjectionParams()).validated()
    _check_input(model, x0, mask)
    if stats is None:
        stats = getattr(model, "training_stats", None)
    size = model.image_size
    if x0.shape[2:] == (size, size):
        loss = plain_loss(model)
    else:
        device = next(iter(model.parameters()), torch.empty(0)).device
        loss = TiledLoss(model, TileGrid(x0.shape[2], x0.shape[3], size, tile_overlap, device))
    walk = _Walk(model, x0, p, mask, x_start, threshold_from_stats(p.stop, stats), loss)
    t = 0
    while True:
        grad, ix, idx = walk.evaluate(t)
        record = walk.record(t)
        update = yield record
        if record.finished:
            return
        if update:
            walk.update(update)
        walk.step(grad, ix, idx)
        t += 1


class _Walk:
    """The state of one projection (eq. 4–8) between iterations; :func:`project` drives it.

    Per image: x_t, f(x_t) and the energy terms of the last evaluation, whether it is still
    active and why it stopped, its lowest-energy iterate (the divergence fallback), the divergence
    reference and uphill count, the convergence count and Adam's moments.
    """

    BETA1, BETA2, EPS = 0.9, 0.999, 1e-8

    def __init__(self, model: AutoEncoder, x0: torch.Tensor, p: ProjectionParams, mask: torch.Tensor | None,
                 x_start: torch.Tensor | None, lr_threshold: float | None, loss: Loss):
        for prm in model.parameters():  # frozen: no parameter gradients
            prm.requires_grad_(False)
        model.eval()
        self.model, self.p, self.lr_threshold, self.loss = model, p, lr_threshold, loss
        device = next(iter(model.parameters()), torch.empty(0)).device
        self.x0 = x0 = x0.detach().to(device=device, dtype=torch.float32).clamp(0.0, 1.0)
        self.b = b = x0.shape[0]
        self.omega = None
        if mask is not None:
            m = mask.to(device=device, dtype=torch.float32)
            if m.dim() == 3:
                m = m[:, None]
            self.omega = (m > 0.5).to(torch.float32).expand(b, x0.shape[1], -1, -1).contiguous()
        x = (x0 if x_start is None else x_start.detach().to(device=device, dtype=torch.float32)).clone()
        if self.omega is not None:  # eq. 7: outside Ω, x is x0, bit for bit
            x = torch.where(self.omega > 0, x, x0)
        self.x = x
        self.alpha, self.lam = float(p.alpha), float(p.lam)
        def zeros(dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.zeros(b, dtype=dtype, device=device)

        self.active = torch.ones(b, dtype=torch.bool, device=device)
        self.reasons: list[str | None] = [None] * b
        self.steps = zeros(torch.long)
        self.energy, self.lr, self.reg = zeros(), zeros(), zeros()
        self.recon = torch.zeros_like(x0)
        self.e_ref: torch.Tensor | None = None  # E(x_start), for the divergence test (re-based on a live change)
        self.rebase = self.rebase_lam = False  # α / λ changed since the last evaluation
        self.prev_e = torch.full((b,), float("inf"), device=device)
        self.calm, self.uphill = zeros(torch.long), zeros(torch.long)
        self.best_e = torch.full((b,), float("inf"), device=device)
        self.best_x, self.best_rec = x.clone(), torch.zeros_like(x0)
        self.best_terms = torch.zeros(b, 3, device=device)
        adam = p.optimizer == "adam"
        self.adam_m = torch.zeros_like(x0) if adam else None
        self.adam_v = torch.zeros_like(x0) if adam else None
        self.adam_t = zeros()
        self.n_pix = float(x0[0].numel())

    # ---------------------------------------------------------------- evaluation of x_t
    def evaluate(self, t: int) -> tuple[torch.Tensor | None, Index, torch.Tensor]:
        """One forward pass (f, Lr, E) of the active images — of their tiles, for images larger than
        the model — the divergence and stop tests, and — when a step follows — one backward pass to
        the input. Returns (∇ₓE, ix, idx)."""
        idx = self.active.nonzero().squeeze(1)
        # all images active (the usual case): slices give views instead of gathers and scatters
        ix = slice(None) if idx.numel() == self.b else idx
        if not idx.numel():
            return None, ix, idx
        xa = self.x[ix]
        want_step = t < self.p.max_iter
        # Lr as the stop criteria see it, λ‖x − x0‖₁, E, f(x) and ∇ₓE (0 where E or f(x) is not
        # finite): one forward and, when a step follows, one backward pass to the input
        lr_a, reg_a, e_a, rec_a, grad = self.loss(xa, self.x0[ix], self.lam, want_step)
        finite = torch.isfinite(e_a) & torch.isfinite(rec_a).flatten(1).all(1)
        diverged = self._diverged(e_a, finite, ix)
        if bool(diverged.all()):
            grad = None
        terms = (e_a, lr_a, reg_a, rec_a)
        ok = ~diverged
        self._keep(terms, ok, ix, idx)
        self._stop(terms[0], terms[1], ok, diverged, idx, want_step)
        return grad, ix, idx

    def _diverged(self, e_det: torch.Tensor, finite: torch.Tensor, ix: Index) -> torch.Tensor:
        p = self.p
        if self.e_ref is None:
            if not bool(finite.all()):
                raise ProjectionError("the model's loss is not finite on this input")
            self.e_ref = e_det.clone()
        elif self.rebase:  # α or λ changed: measure divergence from here (see the note above)
            self.e_ref[ix] = torch.where(finite, e_det, self.e_ref[ix])
            self.uphill[ix] = 0
            if self.rebase_lam:
                self.best_e[ix] = float("inf")
        self.rebase = self.rebase_lam = False
        e_ref_a = self.e_ref[ix]
        bound = p.diverge_factor * e_ref_a.abs().clamp_min(1.0) + e_ref_a
        up_a = self.uphill[ix]
        up = torch.where(finite & (e_det > e_ref_a), up_a + 1, torch.zeros_like(up_a))
        self.uphill[ix] = up
        return ~finite | (e_det > bound) | (up >= p.diverge_patience)

    def _keep(self, terms: tuple[torch.Tensor, ...], ok: torch.Tensor, ix: Index, idx: torch.Tensor) -> None:
        """Store the evaluation of the images that did not diverge; track each image's
        lowest-energy iterate; put the diverged ones back on theirs."""
        e_d, lr_d, reg_d, rec_d = terms
        all_ok = bool(ok.all())
        if all_ok:
            self.energy[ix], self.lr[ix], self.reg[ix], self.recon[ix] = e_d, lr_d, reg_d, rec_d
        else:
            ok_idx = idx[ok]
            self.energy[ok_idx], self.lr[ok_idx], self.reg[ok_idx] = e_d[ok], lr_d[ok], reg_d[ok]
            self.recon[ok_idx] = rec_d[ok]
        better = ok & (e_d < self.best_e[ix])  # the lowest-energy iterate so far, to fall back on
        if bool(better.all()):
            self.best_e[ix], self.best_x[ix], self.best_rec[ix] = e_d, self.x[ix], rec_d
            self.best_terms[ix] = torch.stack([e_d, lr_d, reg_d], 1)
        elif bool(better.any()):
            b_idx = idx[better]
            self.best_e[b_idx] = e_d[better]
            self.best_x[b_idx], self.best_rec[b_idx] = self.x[b_idx], rec_d[better]
            self.best_terms[b_idx] = torch.stack([e_d[better], lr_d[better], reg_d[better]], 1)
        for j in ([] if all_ok else idx[~ok].tolist()):
            self.reasons[j] = StopReason.DIVERGED
            self.x[j], self.recon[j] = self.best_x[j], self.best_rec[j]  # the best finite iterate
            self.energy[j], self.lr[j], self.reg[j] = self.best_terms[j]

    def _stop(self, e_d: torch.Tensor, lr_d: torch.Tensor, ok: torch.Tensor, diverged: torch.Tensor,
              idx: torch.Tensor, want_step: bool) -> None:
        """The stop criteria (section 3.5) on x_t: each image stops on its own."""
        p = self.p
        stop_now = diverged.clone()
        if self.lr_threshold is not None:
            hit = ok & (lr_d < self.lr_threshold)
            for j in idx[hit].tolist():
                self.reasons[j] = StopReason.THRESHOLD
            stop_now |= hit
        if Stop.parse(p.stop).kind == StopKind.CONVERGE:
            de = (e_d - self.prev_e[idx]).abs() / self.n_pix
            self.calm[idx] = torch.where(de < p.tol, self.calm[idx] + 1, torch.zeros_like(self.calm[idx]))
            self.prev_e[idx] = e_d
            conv = ok & ~stop_now & (self.calm[idx] >= p.patience)
            for j in idx[conv].tolist():
                self.reasons[j] = StopReason.CONVERGED
            stop_now |= conv
        if not want_step:
            for j in idx[~stop_now].tolist():
                self.reasons[j] = StopReason.MAX_ITER
            stop_now |= True
        if bool(stop_now.any()):
            self.active[idx[stop_now]] = False

    def record(self, t: int) -> IterationRecord:
        return IterationRecord(
            t, self.x0, self.x.clone(), self.recon.clone(), self.energy.clone(), self.lr.clone(), self.reg.clone(),
            self.active.clone(), list(self.reasons), self.steps.clone(),
            self.p.replace(alpha=self.alpha, lam=self.lam), self.lr_threshold,
        )

    def update(self, update: Mapping[str, float]) -> None:
        """A live change of α or λ, from the next step on."""
        new_alpha = float(update.get("alpha", self.alpha))
        new_lam = float(update.get("lam", self.lam))
        if new_alpha <= 0 or new_lam < 0:
            raise ProjectionError(f"bad live update alpha={new_alpha}, lam={new_lam}")
        self.rebase_lam = self.rebase_lam or new_lam != self.lam
        self.rebase = self.rebase or self.rebase_lam or new_alpha != self.alpha
        self.alpha, self.lam = new_alpha, new_lam

    # ---------------------------------------------------------------- the step
    def step(self, grad: torch.Tensor | None, ix: Index, idx: torch.Tensor) -> None:
        """Move the images still active: eq. 8 weighting, eq. 7 mask, then eq. 5 or Adam; [0, 1]."""
        move = self.active[ix]
        if grad is None or not bool(move.any()):
            return
        sel: Index
        if isinstance(ix, slice) and bool(move.all()):
            g, sel = grad, ix
        else:
            g, sel = grad[move], idx[move]
        x = self.x
        if self.p.grad_mask == "recon":  # eq. 8: (x − f(x))² weighting, from the same forward pass
            g = g * (x[sel] - self.recon[sel]).square()
        if self.omega is not None:  # eq. 7
            g = g * self.omega[sel]
        if self.p.optimizer == "adam" and self.adam_m is not None and self.adam_v is not None:
            self.adam_t[sel] += 1
            tt = self.adam_t[sel].view(-1, 1, 1, 1)
            self.adam_m[sel] = self.BETA1 * self.adam_m[sel] + (1 - self.BETA1) * g
            self.adam_v[sel] = self.BETA2 * self.adam_v[sel] + (1 - self.BETA2) * g * g
            mhat = self.adam_m[sel] / (1 - self.BETA1 ** tt)
            vhat = self.adam_v[sel] / (1 - self.BETA2 ** tt)
            delta = self.alpha * mhat / (vhat.sqrt() + self.EPS)
        else:  # eq. 5
            delta = self.alpha * g
        x_sel = x[sel]
        new = (x_sel - delta).clamp(0.0, 1.0)
        new = torch.where(torch.isfinite(new), new, x_sel)
        if self.omega is not None:
            new = torch.where(self.omega[sel] > 0, new, self.x0[sel])
        x[sel] = new
        self.steps[sel] += 1


def run_to_end(
    model: AutoEncoder,
    x0: torch.Tensor,
    params: ProjectionParams | None = None,
    mask: torch.Tensor | None = None,
    stats: Mapping[str, Any] | None = None,
    on_record: Callable[[IterationRecord], None] | None = None,
    tile_overlap: int | None = None,
) -> tuple[IterationRecord, IterationRecord, list[list[float]]]:
    """Drive :func:`project` to its end. Returns (first record, last record, energy curves per image).

    Only the first and the last records are kept (bounded memory); ``on_record`` sees every one.
    """
    first = last = None
    curves: list[list[float]] = [[] for _ in range(x0.shape[0])]
    computed = [True] * x0.shape[0]  # which images the last iteration evaluated
    for rec in project(model, x0, params, mask=mask, stats=stats, tile_overlap=tile_overlap):
        if first is None:
            first = rec
        last = rec
        e = rec.energy.tolist()
        for i, c in enumerate(computed):
            if c:
                curves[i].append(e[i])
        computed = rec.active.tolist()
        if on_record is not None:
            on_record(rec)
    assert first is not None and last is not None
    return first, last, curves


def to_numpy_image(t: torch.Tensor) -> np.ndarray:
    """C×H×W tensor → H×W (grey) or H×W×3 float32 array."""
    a = t.detach().to("cpu").float().numpy()
    return a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))
