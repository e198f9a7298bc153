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
