"""Anomaly maps besides DSSIM (section 4.1): appendix A's single-gradient maps. The segmentation and
the image score are in :mod:`inspector_app.core.verdict`."""

from __future__ import annotations

import torch

from .losses import dssim_map, kl_divergence
from .models import AutoEncoder, VariationalAE


def gradient_maps(model: AutoEncoder, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Appendix A (after Zimmerer et al.): maps from a single gradient at x, each B×H×W.

    ``grad``: |∇ₓ Lr|; ``grad_x_error``: |∇ₓ Lr| ⊙ (x − f(x))²; for the VAEs also ``grad_kl``:
    |∇ₓ L_KL| and ``grad_kl_x_error``. Channels are averaged. Weights stay frozen.
    """
    for p in model.parameters():
        p.requires_grad_(False)
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        lr, recon = model.forward_loss(xg)
        (g,) = torch.autograd.grad(lr.sum(), xg)
    err = (x - recon.detach()) ** 2
    out = {"grad": g.abs().mean(1), "grad_x_error": (g.abs() * err).mean(1)}
    if isinstance(model, VariationalAE):
        xk = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            mu, logvar = model.encode(xk)
            (gk,) = torch.autograd.grad(kl_divergence(mu, logvar).sum(), xk)
        out["grad_kl"] = gk.abs().mean(1)
        out["grad_kl_x_error"] = (gk.abs() * err).mean(1)
    return out


__all__ = ["dssim_map", "gradient_maps"]
