"""Reconstruction losses and the DSSIM anomaly map.

Every loss here is *per sample*: a batch of B images gives a tensor of B values, so a
batch is B independent problems (the projection engine relies on this). Losses are sums
over pixels (and channels), which keeps the paper's step size α = 0.5 and λ = 0.05 on the
same scale as the reconstruction term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Bergmann et al.'s SSIM patch size, used everywhere in the paper's DSSIM maps.
SSIM_WINDOW = 11
_C1 = (0.01 * 1.0) ** 2
_C2 = (0.03 * 1.0) ** 2


def _box_mean(x: torch.Tensor, win: int) -> torch.Tensor:
    """Mean over a ``win``×``win`` window, same size output (reflect-padded borders); separable."""
    pad = win // 2
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    return F.avg_pool2d(F.avg_pool2d(xp, (win, 1), stride=1), (1, win), stride=1)


def ssim_map(a: torch.Tensor, b: torch.Tensor, win: int = SSIM_WINDOW) -> torch.Tensor:
    """Per-pixel SSIM between two B×C×H×W tensors in [0, 1], uniform ``win``×``win`` window.

    Matches ``skimage.metrics.structural_similarity(win_size=win, data_range=1)`` (which uses
    the unbiased, sample covariance) away from the borders. Returns B×C×H×W.
    """
    if a.shape != b.shape:
        raise ValueError(f"ssim_map: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    n = win * win
    cov_norm = n / (n - 1.0)
    # one pooling call for the five moments
    c = a.shape[1]
    stack = torch.cat([a, b, a * a, b * b, a * b], dim=1)
    m = _box_mean(stack, win)
    ux, uy, uxx, uyy, uxy = torch.split(m, c, dim=1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    num = (2 * ux * uy + _C1) * (2 * vxy + _C2)
    den = (ux * ux + uy * uy + _C1) * (vx + vy + _C2)
    return num / den


def dssim_map(a: torch.Tensor, b: torch.Tensor, win: int = SSIM_WINDOW) -> torch.Tensor:
    """Structural dissimilarity (1 − SSIM)/2 per pixel, channels averaged: B×C×H×W → B×H×W.

    The anomaly map of section 4.1 (Bergmann et al. 2018's 11×11 window).
    """
    if a.dim() != 4:
        raise ValueError(f"dssim_map expects B×C×H×W tensors, got {tuple(a.shape)}")
    h, w = a.shape[2], a.shape[3]
    if a.shape[0] * h * w <= STRIP_PIXELS:
        return ((1.0 - ssim_map(a, b, win)) / 2.0).mean(dim=1)
    # a large image in strips of rows, each with the win // 2 rows around it that its windows reach
    # (the same windows, the same sums: the same map), so that the moments' buffers stay small
    rows = max(win, STRIP_PIXELS // max(1, a.shape[0] * w))
    halo = win // 2
    out = torch.empty(a.shape[0], h, w, dtype=a.dtype, device=a.device)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        lo, hi = max(0, r0 - halo), min(h, r1 + halo)
        if hi - lo <= halo:  # reflect padding needs more rows than it pads
            lo = max(0, hi - halo - 1)
        part = ((1.0 - ssim_map(a[:, :, lo:hi], b[:, :, lo:hi], win)) / 2.0).mean(dim=1)
        out[:, r0:r1] = part[:, r0 - lo:r0 - lo + (r1 - r0)]
    return out


def uninspected_margin(dmap: torch.Tensor, margin: int) -> torch.Tensor:
    """``dmap`` (…×H×W) with its ``margin`` outermost rows and columns set to 0 (in place): the
    image's edge, where the model has no context beyond it, left out of the inspection."""
    m = int(margin)
    if m > 0:
        dmap[..., :m, :] = 0
        dmap[..., -m:, :] = 0
        dmap[..., :, :m] = 0
        dmap[..., :, -m:] = 0
    return dmap


#: Above this many pixels (batch × H × W), :func:`dssim_map` works in strips of rows (its moments
#: take about 15 image-sized buffers at once: 1 GB for one 4,096×4,096 image).
STRIP_PIXELS = 1 << 22


def l2_loss(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Σ (x − f(x))², per sample."""
    return ((x - recon) ** 2).flatten(1).sum(1)


def dssim_loss(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Σ DSSIM(x, f(x)) over pixels, per sample (the DSAE's loss)."""
    return dssim_map(x, recon).flatten(1).sum(1)


def gaussian_nll(x: torch.Tensor, recon: torch.Tensor, log_gamma: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian reconstruction term −log p(x | z) with the decoder mean ``recon``, per sample.

    Unit variance (VAE): ½ Σ (x − f)². Learned scalar standard deviation γ (γ-VAE, Dai & Wipf):
    Σ (x − f)² / (2γ²) + D log γ. The constant ½ D log 2π is dropped (it moves no pixel).
    """
    sq = ((x - recon) ** 2).flatten(1).sum(1)
    if log_gamma is None:
        return 0.5 * sq
    d = x[0].numel()
    return sq * torch.exp(-2.0 * log_gamma) / 2.0 + d * log_gamma


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) ‖ N(0, I)) per sample."""
    return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


__all__ = [
    "SSIM_WINDOW",
    "uninspected_margin",
    "ssim_map",
    "dssim_map",
    "l2_loss",
    "dssim_loss",
    "gaussian_nll",
    "kl_divergence",
]
