"""DSSIM map against scikit-image, and the per-sample losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from inspector_app.core import dssim_map
from inspector_app.core.losses import dssim_loss, gaussian_nll, l2_loss


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dssim_map_matches_scikit_image_away_from_borders(seed):
    rng = np.random.default_rng(seed)
    a = rng.random((2, 1, 48, 40)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.15, a.shape), 0, 1).astype(np.float32)
    ours = dssim_map(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert ours.shape == (2, 48, 40)
    for i in range(2):
        _, s = structural_similarity(a[i, 0], b[i, 0], win_size=11, data_range=1, full=True)
        ref = (1 - s) / 2
        assert np.abs(ours[i] - ref)[5:-5, 5:-5].max() < 1e-4


def test_dssim_map_colour_averages_channels():
    rng = np.random.default_rng(3)
    a = rng.random((1, 3, 32, 32)).astype(np.float32)
    b = rng.random((1, 3, 32, 32)).astype(np.float32)
    ours = dssim_map(torch.from_numpy(a), torch.from_numpy(b))[0].numpy()
    ref = np.mean([(1 - structural_similarity(a[0, c], b[0, c], win_size=11, data_range=1, full=True)[1]) / 2
                   for c in range(3)], axis=0)
    assert np.abs(ours - ref)[5:-5, 5:-5].max() < 1e-4


def test_losses_are_per_sample():
    x = torch.rand(3, 1, 32, 32)
    r = torch.rand(3, 1, 32, 32)
    for loss in (l2_loss(x, r), dssim_loss(x, r), gaussian_nll(x, r), gaussian_nll(x, r, torch.tensor(-1.0))):
        assert loss.shape == (3,)
    single = l2_loss(x[1:2], r[1:2])
    assert torch.allclose(l2_loss(x, r)[1:2], single)
    assert torch.allclose(gaussian_nll(x, r), 0.5 * l2_loss(x, r))
    assert float(dssim_map(x, x).abs().max()) < 1e-6


def _ssim_reference(a: np.ndarray, b: np.ndarray, win: int = 11) -> np.ndarray:
    """SSIM map of two H×W images, written out: mirror padding (no edge repeat), uniform window,
    sample covariance, C1 = 0.01², C2 = 0.03²."""
    from numpy.lib.stride_tricks import sliding_window_view

    p = win // 2

    def mean(v):
        return sliding_window_view(np.pad(v, p, mode="reflect"), (win, win)).mean(axis=(-1, -2))

    n = win * win
    ux, uy = mean(a), mean(b)
    vx = (mean(a * a) - ux * ux) * n / (n - 1)
    vy = (mean(b * b) - uy * uy) * n / (n - 1)
    vxy = (mean(a * b) - ux * uy) * n / (n - 1)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


@pytest.mark.parametrize("win", [11, 7, 3])
def test_ssim_map_everywhere_including_borders(win):
    from inspector_app.core.losses import ssim_map

    rng = np.random.default_rng(win)
    a = rng.random((2, 2, 24, 20))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    ours = ssim_map(torch.from_numpy(a), torch.from_numpy(b), win).numpy()
    assert ours.shape == a.shape
    for i in range(2):
        for c in range(2):
            np.testing.assert_allclose(ours[i, c], _ssim_reference(a[i, c], b[i, c], win), atol=1e-10)
    d = dssim_map(torch.from_numpy(a), torch.from_numpy(b), win).numpy()
    np.testing.assert_allclose(d, ((1 - ours) / 2).mean(1), atol=1e-12)


def test_dssim_of_constant_images_is_the_luminance_term():
    a = torch.full((1, 1, 16, 16), 0.2, dtype=torch.float64)
    b = torch.full((1, 1, 16, 16), 0.4, dtype=torch.float64)
    c1 = 0.01 ** 2
    want = (1 - (2 * 0.2 * 0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1)) / 2
    assert torch.allclose(dssim_map(a, b), torch.full((1, 16, 16), want, dtype=torch.float64), atol=1e-12)
    # one image black, one white: luminance term C1 / (1 + C1); structure term 1 (no variance)
    z, o = torch.zeros(1, 1, 16, 16, dtype=torch.float64), torch.ones(1, 1, 16, 16, dtype=torch.float64)
    assert float(dssim_map(z, o).max()) == pytest.approx((1 - c1 / (1 + c1)) / 2, abs=1e-12)


def test_losses_exact_values():
    from inspector_app.core.losses import kl_divergence

    x = torch.zeros(2, 1, 4, 4)
    r = torch.full((2, 1, 4, 4), 0.5)
    r[1] = 0.25
    assert l2_loss(x, r).tolist() == [16 * 0.25, 16 * 0.0625]
    assert gaussian_nll(x, r).tolist() == [2.0, 0.5]
    # learned γ: Σ(x − f)² / (2γ²) + D·log γ, D = 16
    lg = torch.tensor(np.log(2.0), dtype=torch.float32)
    assert torch.allclose(gaussian_nll(x, r, lg), torch.tensor([4.0 / 8 + 16 * np.log(2.0), 1.0 / 8 + 16 * np.log(2.0)], dtype=torch.float32))
    assert torch.allclose(gaussian_nll(x[:1], r[:1], lg), gaussian_nll(x, r, lg)[:1])  # a batch of one
    # KL(N(μ, σ²) ‖ N(0, 1)) = ½ (μ² + σ² − 1 − log σ²) summed
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, np.log(2.0)], [0.0, 0.0]], dtype=torch.float32)
    assert torch.allclose(kl_divergence(mu, logvar), torch.tensor([0.5 + 0.5 * (1 - np.log(2.0)), 0.0], dtype=torch.float32))
    xb, rb = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    assert torch.allclose(dssim_loss(xb, rb), dssim_map(xb, rb).flatten(1).sum(1))
    with pytest.raises(ValueError, match="shapes differ"):
        dssim_map(xb, torch.zeros(2, 1, 16, 15))
    with pytest.raises(ValueError, match="B×C×H×W"):
        dssim_map(xb[0], rb[0])


def test_a_large_map_in_strips_is_the_same_map(monkeypatch):
    """Above STRIP_PIXELS the DSSIM map is computed in strips of rows with the rows their windows
    reach: bit for bit the whole image's map (the last strip shorter than the window included)."""
    import torch

    from inspector_app.core import losses

    torch.manual_seed(0)
    for shape in [(1, 1, 300, 257), (2, 3, 130, 90), (1, 1, 40, 33)]:
        a = torch.rand(*shape)
        b = (a + 0.1 * torch.randn_like(a)).clamp(0, 1)
        whole = losses.dssim_map(a, b)
        monkeypatch.setattr(losses, "STRIP_PIXELS", 500)
        strips = losses.dssim_map(a, b)
        monkeypatch.setattr(losses, "STRIP_PIXELS", 1 << 22)
        assert torch.equal(whole, strips), shape
