"""The ``warp`` training augmentation (issue 29): a local, smooth bend of the texture, deterministic
per seed, brightness kept, and what the training loop feeds f with it (the target stays clean)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspector_app.core.datasets import load_source
from inspector_app.core.elastic import corrupt_batch, local_warp, warp_field
from inspector_app.core.models import ModelConfig
from inspector_app.core.training import AUGMENTATIONS, TrainConfig


@pytest.fixture(scope="module")
def crop():
    return load_source("brick")[200:328, 0:128].astype(np.float32) / 255.0


def test_warp_field_is_local_smooth_and_seeded():
    for seed in range(20):
        dy, dx = warp_field((128, 128), np.random.default_rng(seed))
        again = warp_field((128, 128), np.random.default_rng(seed))
        assert np.array_equal(dy, again[0]) and np.array_equal(dx, again[1])
        mag = np.hypot(dy, dx)
        assert mag.max() >= 1.5 - 1e-4  # a bend of at least a pixel and a half
        assert mag.max() <= 0.6 * 0.16 * 128 + 1e-3
        assert np.mean(mag > 0.5) < 0.6  # local: most of the image stays put
        assert np.abs(np.diff(dy, axis=0)).max() < 1.0 and np.abs(np.diff(dx, axis=1)).max() < 1.0  # no tearing


def test_local_warp_moves_the_texture_not_its_brightness(crop):
    out = local_warp(crop, np.random.default_rng(3))
    assert out.shape == crop.shape and out.dtype == np.float32
    assert np.array_equal(out, local_warp(crop, np.random.default_rng(3)))
    assert not np.array_equal(out, local_warp(crop, np.random.default_rng(4)))
    changed = np.abs(out - crop) > 2 / 255
    assert 0.003 < changed.mean() < 0.6
    assert abs(float(out.mean()) - float(crop.mean())) < 2 / 255
    # colour: each channel moved by the same field
    rgb = np.stack([crop, crop * 0.5, 1 - crop], axis=-1)
    out3 = local_warp(rgb, np.random.default_rng(3))
    assert out3.shape == rgb.shape and np.allclose(out3[..., 0], out, atol=1e-6)


def test_corrupt_batch_bends_about_half_and_keeps_the_rest(crop):
    x = torch.from_numpy(np.stack([crop] * 32))[:, None]
    out = corrupt_batch(x, np.random.default_rng(0), {"warp"})
    bent = [(out[i] - x[i]).abs().max() > 2 / 255 for i in range(32)]
    assert 8 <= sum(bent) <= 24
    untouched = [i for i in range(32) if not bent[i]]
    assert all(torch.equal(out[i], x[i]) for i in untouched)
    assert torch.equal(x[0], torch.from_numpy(crop)[None])  # the input batch is not modified
    # warp with noise: both corruptions appear
    mixed = corrupt_batch(x, np.random.default_rng(0), {"warp", "noise"})
    noisy = [bool(((mixed[i] - x[i]).abs() > 0.2).float().mean() > 0.2) for i in range(32)]
    assert 0 < sum(noisy) < 32


def test_training_with_warp_feeds_bent_inputs_against_clean_targets(crop, monkeypatch):
    from inspector_app.core import training

    assert "warp" in AUGMENTATIONS
    cfg = TrainConfig(model=ModelConfig("l2ae", 32, 1, 8, "batch"), augment=("warp",), batch=4, max_steps=3,
                      warmup=1, eval_every=2, crop=True)
    images = [(crop * 255).astype(np.uint8)] * 4
    calls = []
    seen = []
    real_loss = training.AutoEncoder.training_loss

    def spy_corrupt(x, rng, augment):
        out = corrupt_batch(x, rng, augment)
        calls.append((x.clone(), out.clone()))
        return out

    def spy_loss(self, x, kl_weight=1.0, target=None):
        seen.append((x.detach().clone(), None if target is None else target.detach().clone()))
        return real_loss(self, x, kl_weight=kl_weight, target=target)

    monkeypatch.setattr(training, "corrupt_batch", spy_corrupt)
    monkeypatch.setattr(training.AutoEncoder, "training_loss", spy_loss)
    res = training.train(images, [f"{i}.png" for i in range(4)], cfg, torch.device("cpu"))
    assert res.state.step == 3 and len(calls) == 3
    for (clean, bent), (x_in, target) in zip(calls, seen):
        assert torch.equal(x_in, bent) and torch.equal(target, clean)  # bent in, straight texture out
    assert any(not torch.equal(c, b) for c, b in calls)
    with pytest.raises(ValueError, match="unknown augmentation"):
        TrainConfig(model=ModelConfig("l2ae", 32, 1, 8, "batch"), augment=("bend",)).validate()
