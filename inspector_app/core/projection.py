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
from typing import Any, Generator, Mapping

import numpy as np
import torch

from .losses import dssim_map
from .models import AutoEncoder
from .params import ProjectionParams, Stop

#: Stop reasons a record can carry, per image.
STOP_REASONS = ("max_iter", "converged", "threshold", "diverged")


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
    if rule.kind == "lr":
        return float(rule.value)
    if rule.kind not in ("train-min", "train-q"):
        return None
    if not stats or not _finite(stats.get("min")):
        raise ProjectionError(f"stop criterion {str(rule)!r} needs the model's training-loss statistics, which it lacks")
    if rule.kind == "train-min":
        return float(stats["min"])
    q = stats.get("quantiles")
    if not isinstance(q, (list, tuple)) or len(q) != 101 or not _finite(q[int(rule.value)]):
        raise ProjectionError(f"stop criterion {str(rule)!r}: the model file has no training-loss quantiles")
    return float(q[int(rule.value)])


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
        """DSSIM(x0, x_t), B×H×W."""
        if "p" not in self._cache:
            with torch.no_grad():
                self._cache["p"] = dssim_map(self.x0, self.x)
        return self._cache["p"]

    @property
    def dssim_reconstruction(self) -> torch.Tensor:
        """DSSIM(x0, f(x_t)), B×H×W."""
        if "r" not in self._cache:
            with torch.no_grad():
                self._cache["r"] = dssim_map(self.x0, self.reconstruction)
        return self._cache["r"]

    def dssim(self, compare: str = "projection") -> torch.Tensor:
        return self.dssim_projection if compare == "projection" else self.dssim_reconstruction

    @property
    def finished(self) -> bool:
        return not bool(self.active.any())

    def to_cpu(self) -> "IterationRecord":
        """A copy with every tensor on the CPU (maps already computed are kept)."""
        mv = lambda t: t.detach().to("cpu")  # noqa: E731
        return IterationRecord(
            self.iteration, mv(self.x0), mv(self.x), mv(self.reconstruction), mv(self.energy),
            mv(self.recon_loss), mv(self.reg), mv(self.active), list(self.stop_reasons), mv(self.steps),
            self.params, self.lr_threshold, {k: mv(v) for k, v in self._cache.items()},
        )


def _check_input(model: AutoEncoder, x0: torch.Tensor, mask: torch.Tensor | None) -> None:
    if x0.dim() != 4:
        raise ProjectionError(f"expected a B×C×H×W batch, got shape {tuple(x0.shape)}")
    b, c, h, w = x0.shape
    if c != model.channels or h != model.image_size or w != model.image_size:
        raise ProjectionError(
            f"the model takes {model.channels}×{model.image_size}×{model.image_size} images, got {c}×{h}×{w}"
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
) -> Generator[IterationRecord, Mapping[str, float] | None, None]:
    """Project the batch ``x0`` onto the model's normal manifold; yield one record per iteration.

    ``mask`` is Ω of eq. 7 (1 = may change, 0 = stays bit-identical to x0), B×1×H×W, 1×1×H×W or
    B×H×W. ``x_start`` continues a previous run from its x_t (the L1 term still measures from x0).
    ``stats`` are the training-loss statistics for the ``train-*`` stop criteria; by default the
    model's own (``model.training_stats``).
    """
    p = (params or ProjectionParams()).validated()
    _check_input(model, x0, mask)
    if stats is None:
        stats = getattr(model, "training_stats", None)
    lr_threshold = threshold_from_stats(p.stop, stats)

    for prm in model.parameters():  # frozen: no parameter gradients
        prm.requires_grad_(False)
    model.eval()

    device = next(iter(model.parameters()), torch.empty(0)).device
    x0 = x0.detach().to(device=device, dtype=torch.float32).clamp(0.0, 1.0)
    b = x0.shape[0]
    omega = None
    if mask is not None:
        m = mask.to(device=device, dtype=torch.float32)
        if m.dim() == 3:
            m = m[:, None]
        omega = (m > 0.5).to(torch.float32).expand(b, x0.shape[1], -1, -1).contiguous()

    x = (x0 if x_start is None else x_start.detach().to(device=device, dtype=torch.float32)).clone()
    if omega is not None:  # eq. 7: outside Ω, x is x0, bit for bit
        x = torch.where(omega > 0, x, x0)
    alpha, lam = float(p.alpha), float(p.lam)

    active = torch.ones(b, dtype=torch.bool, device=device)
    reasons: list[str | None] = [None] * b
    steps = torch.zeros(b, dtype=torch.long, device=device)
    energy = torch.zeros(b, device=device)
    lr_all = torch.zeros(b, device=device)
    reg_all = torch.zeros(b, device=device)
    recon_all = torch.zeros_like(x0)
    e_ref: torch.Tensor | None = None  # E(x_start), for the divergence test (re-based on a live change)
    rebase = rebase_lam = False  # α / λ changed since the last evaluation
    prev_e = torch.full((b,), float("inf"), device=device)
    calm = torch.zeros(b, dtype=torch.long, device=device)
    uphill = torch.zeros(b, dtype=torch.long, device=device)
    best_e = torch.full((b,), float("inf"), device=device)
    adam_m = torch.zeros_like(x0) if p.optimizer == "adam" else None
    adam_v = torch.zeros_like(x0) if p.optimizer == "adam" else None
    adam_t = torch.zeros(b, device=device)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    n_pix = float(x0[0].numel())
    best_x = x.clone()
    best_rec = torch.zeros_like(x0)
    best_terms = torch.zeros(b, 3, device=device)

    t = 0
    while True:
        idx = active.nonzero().squeeze(1)
        # all images active (the usual case): slices give views instead of gathers and scatters
        ix = slice(None) if idx.numel() == b else idx
        grad = None
        if idx.numel():
            xa = x[ix].detach().requires_grad_(True)
            with torch.enable_grad():
                lr_a, rec_a = model.forward_loss(xa)
                reg_a = lam * (xa - x0[ix]).abs().flatten(1).sum(1)
                e_a = lr_a + reg_a
            finite = torch.isfinite(e_a) & torch.isfinite(rec_a).flatten(1).all(1)
            if e_ref is None:
                if not bool(finite.all()):
                    raise ProjectionError("the model's loss is not finite on this input")
                e_ref = e_a.detach().clone()
            elif rebase:  # α or λ changed: measure divergence from here (see the note above)
                e_ref[ix] = torch.where(finite, e_a.detach(), e_ref[ix])
                uphill[ix] = 0
                if rebase_lam:
                    best_e[ix] = float("inf")
            rebase = rebase_lam = False
            e_ref_a = e_ref[ix]
            bound = p.diverge_factor * e_ref_a.abs().clamp_min(1.0) + e_ref_a
            e_det = e_a.detach()
            up_a = uphill[ix]
            up = torch.where(finite & (e_det > e_ref_a), up_a + 1, torch.zeros_like(up_a))
            uphill[ix] = up
            diverged = ~finite | (e_det > bound) | (up >= p.diverge_patience)
            want_step = t < p.max_iter
            # one backward pass to the input, only if some image will move
            if want_step and bool((~diverged).any()):
                (grad,) = torch.autograd.grad(torch.where(finite, e_a, torch.zeros_like(e_a)).sum(), xa)
            e_d, lr_d, reg_d, rec_d = e_a.detach(), lr_a.detach(), reg_a.detach(), rec_a.detach()

            ok = ~diverged
            all_ok = bool(ok.all())
            if all_ok:
                energy[ix], lr_all[ix], reg_all[ix], recon_all[ix] = e_d, lr_d, reg_d, rec_d
            else:
                ok_idx = idx[ok]
                energy[ok_idx], lr_all[ok_idx], reg_all[ok_idx] = e_d[ok], lr_d[ok], reg_d[ok]
                recon_all[ok_idx] = rec_d[ok]
            better = ok & (e_d < best_e[ix])  # the lowest-energy iterate so far, to fall back on
            if bool(better.all()):
                best_e[ix], best_x[ix], best_rec[ix] = e_d, x[ix], rec_d
                best_terms[ix] = torch.stack([e_d, lr_d, reg_d], 1)
            elif bool(better.any()):
                b_idx = idx[better]
                best_e[b_idx] = e_d[better]
                best_x[b_idx], best_rec[b_idx] = x[b_idx], rec_d[better]
                best_terms[b_idx] = torch.stack([e_d[better], lr_d[better], reg_d[better]], 1)
            for j in ([] if all_ok else idx[diverged].tolist()):
                reasons[j] = "diverged"
                x[j], recon_all[j] = best_x[j], best_rec[j]  # the best finite iterate
                energy[j], lr_all[j], reg_all[j] = best_terms[j]
            # stop criteria on x_t
            stop_now = diverged.clone()
            if lr_threshold is not None:
                hit = ok & (lr_d < lr_threshold)
                for j in idx[hit].tolist():
                    reasons[j] = "threshold"
                stop_now |= hit
            if p.stop.kind == "converge":
                de = (e_d - prev_e[idx]).abs() / n_pix
                calm[idx] = torch.where(de < p.tol, calm[idx] + 1, torch.zeros_like(calm[idx]))
                prev_e[idx] = e_d
                conv = ok & ~stop_now & (calm[idx] >= p.patience)
                for j in idx[conv].tolist():
                    reasons[j] = "converged"
                stop_now |= conv
            if not want_step:
                for j in idx[~stop_now].tolist():
                    reasons[j] = "max_iter"
                stop_now |= True
            if bool(stop_now.any()):
                active[idx[stop_now]] = False
        record = IterationRecord(
            t, x0, x.clone(), recon_all.clone(), energy.clone(), lr_all.clone(), reg_all.clone(),
            active.clone(), list(reasons), steps.clone(), p.replace(alpha=alpha, lam=lam), lr_threshold,
        )
        update = yield record
        if record.finished:
            return
        if update:
            new_alpha = float(update.get("alpha", alpha))
            new_lam = float(update.get("lam", lam))
            if new_alpha <= 0 or new_lam < 0:
                raise ProjectionError(f"bad live update alpha={new_alpha}, lam={new_lam}")
            rebase_lam = rebase_lam or new_lam != lam
            rebase = rebase or rebase_lam or new_alpha != alpha
            alpha, lam = new_alpha, new_lam
        # ---- the step, for images still active
        move = active[ix]
        if grad is None or not bool(move.any()):
            t += 1
            continue
        if isinstance(ix, slice) and bool(move.all()):
            g, sel = grad, ix
        else:
            g, sel = grad[move], idx[move]
        if p.grad_mask == "recon":  # eq. 8: (x − f(x))² weighting, from the same forward pass
            g = g * (x[sel] - recon_all[sel]).square()
        if omega is not None:  # eq. 7
            g = g * omega[sel]
        if p.optimizer == "adam":
            adam_t[sel] += 1
            tt = adam_t[sel].view(-1, 1, 1, 1)
            adam_m[sel] = beta1 * adam_m[sel] + (1 - beta1) * g
            adam_v[sel] = beta2 * adam_v[sel] + (1 - beta2) * g * g
            mhat = adam_m[sel] / (1 - beta1 ** tt)
            vhat = adam_v[sel] / (1 - beta2 ** tt)
            delta = alpha * mhat / (vhat.sqrt() + eps)
        else:  # eq. 5
            delta = alpha * g
        x_sel = x[sel]
        new = (x_sel - delta).clamp(0.0, 1.0)
        new = torch.where(torch.isfinite(new), new, x_sel)
        if omega is not None:
            new = torch.where(omega[sel] > 0, new, x0[sel])
        x[sel] = new
        steps[sel] += 1
        t += 1


def run_to_end(
    model: AutoEncoder,
    x0: torch.Tensor,
    params: ProjectionParams | None = None,
    mask: torch.Tensor | None = None,
    stats: Mapping[str, Any] | None = None,
    on_record=None,
) -> tuple[IterationRecord, IterationRecord, list[list[float]]]:
    """Drive :func:`project` to its end. Returns (first record, last record, energy curves per image).

    Only the first and the last records are kept (bounded memory); ``on_record`` sees every one.
    """
    first = last = None
    curves: list[list[float]] = [[] for _ in range(x0.shape[0])]
    computed = [True] * x0.shape[0]  # which images the last iteration evaluated
    for rec in project(model, x0, params, mask=mask, stats=stats):
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
