"""Inpainting demo helpers (section 4.2): noise corruption, box masks, Telea, composite, metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector_app.core.inpainting import (
    comparison_metrics,
    composite,
    corrupt_with_noise,
    random_box_mask,
    resize_image,
    resize_mask,
    telea_inpaint,
)


def gradient(h, w, channels=None):
    rr, cc = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    g = (0.2 + 0.5 * rr + 0.3 * cc) / 1.0
    g = np.clip(g, 0, 1).astype(np.float32)
    if channels is None:
        return g
    return np.stack([g, 1 - g, 0.5 * g + 0.25][:channels], axis=2).astype(np.float32)


def bits(a):
    return np.ascontiguousarray(a).view(np.uint8)


@pytest.mark.parametrize("shape", [(32, 32), (25, 30, 3), (16, 16, 1)])
def test_corrupt_with_noise(shape):
    rng = np.random.default_rng(0)
    img = rng.random(shape, dtype=np.float32)
    mask = random_box_mask(shape[:2], rng=1)
    out = corrupt_with_noise(img, mask, seed=3)
    assert out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_array_equal(bits(out[~mask]), bits(img[~mask]))
    inside = out[mask]
    assert inside.min() >= 0 and inside.max() < 1
    assert not np.array_equal(inside, img[mask])
    np.testing.assert_array_equal(out, corrupt_with_noise(img, mask, seed=3))  # reproducible
    assert img is not out


def test_corrupt_noise_is_uniform():
    img = np.zeros((200, 200), np.float32)
    out = corrupt_with_noise(img, np.ones((200, 200), bool), seed=0)
    assert abs(out.mean() - 0.5) < 0.01 and abs(out.var() - 1 / 12) < 0.005


def test_corrupt_refuses_bad_input():
    with pytest.raises(ValueError, match="float"):
        corrupt_with_noise(np.zeros((8, 8), np.uint8), np.ones((8, 8), bool))
    with pytest.raises(ValueError, match="8×8"):
        corrupt_with_noise(np.zeros((8, 8), np.float32), np.ones((4, 8), bool))


def test_random_box_mask():
    rng = np.random.default_rng(5)
    for _ in range(50):
        m = random_box_mask((64, 48), (0.2, 0.35), rng)
        assert m.shape == (64, 48) and m.dtype == bool
        rows = np.flatnonzero(m.any(axis=1))
        cols = np.flatnonzero(m.any(axis=0))
        # one filled rectangle
        assert m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()
        assert m.sum() == len(rows) * len(cols)
        assert 0.17 <= m.mean() <= 0.38
    np.testing.assert_array_equal(random_box_mask((32, 32), rng=7), random_box_mask((32, 32), rng=7))
    with pytest.raises(ValueError):
        random_box_mask((32, 32), (0.5, 0.2))


@pytest.mark.parametrize("channels", [None, 3, 1])
def test_telea_changes_only_inside_and_fills_gradient(channels):
    img = gradient(64, 64, channels)
    mask = np.zeros((64, 64), bool)
    mask[24:40, 20:36] = True
    corrupted = corrupt_with_noise(img, mask, seed=0)
    out = telea_inpaint(corrupted, mask, radius=3)
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_array_equal(bits(out[~mask]), bits(corrupted[~mask]))
    err = np.abs(out[mask] - img[mask])
    assert err.mean() < 0.03 and err.max() < 0.1
    assert np.abs(corrupted[mask] - img[mask]).mean() > 0.1  # the hole really was a hole


def test_telea_four_channels_and_empty_mask():
    img = gradient(20, 20, 3)
    img4 = np.concatenate([img, img[:, :, :1]], axis=2)
    mask = np.zeros((20, 20), bool)
    np.testing.assert_array_equal(telea_inpaint(img4, mask), img4)
    mask[8:12, 8:12] = True
    out = telea_inpaint(corrupt_with_noise(img4, mask, seed=1), mask)
    assert out.shape == img4.shape
    assert np.abs(out[mask] - img4[mask]).max() < 0.1


@pytest.mark.parametrize(
    ("orig_shape", "small_shape"),
    [((25, 25), (32, 32)), ((150, 200, 3), (32, 32, 3)), ((25, 25), (32, 32, 1)), ((20, 20, 3), (32, 32, 3))],
)
def test_composite_outside_bit_identical(orig_shape, small_shape):
    rng = np.random.default_rng(0)
    original = rng.random(orig_shape, dtype=np.float32)
    small = rng.random(small_shape, dtype=np.float32)
    mask = random_box_mask(orig_shape[:2], rng=2)
    out = composite(original, small, mask)
    assert out.shape == original.shape and out.dtype == np.float32
    np.testing.assert_array_equal(bits(out[~mask]), bits(original[~mask]))
    big = resize_image(small, orig_shape[:2]).reshape(orig_shape)
    np.testing.assert_array_equal(out[mask], big[mask])
    assert 0 <= out.min() and out.max() <= 1


def test_composite_channel_mismatch():
    with pytest.raises(ValueError, match="channel"):
        composite(np.zeros((20, 20, 3), np.float32), np.zeros((32, 32), np.float32), np.ones((20, 20), bool))


def test_resize_image():
    img = gradient(200, 150, 3)
    small = resize_image(img, (32, 32))
    assert small.shape == (32, 32, 3) and small.dtype == np.float32
    assert resize_image(img[:, :, :1], 32).shape == (32, 32, 1)
    assert resize_image(gradient(25, 25), (32, 32)).shape == (32, 32)
    # area averaging when shrinking: a constant image stays constant
    const = np.full((200, 150), 0.3, np.float32)
    np.testing.assert_allclose(resize_image(const, (32, 32)), 0.3, atol=1e-6)


def _covering_reference(mask, size):
    """Independent: small pixel (i, j) covers [i*H/h, (i+1)*H/h) × [j*W/w, (j+1)*W/w) of the original."""
    H, W = mask.shape
    h, w = size
    out = np.zeros(size, bool)
    for i in range(h):
        r0, r1 = i * H / h, (i + 1) * H / h
        rs = slice(math.floor(r0), math.ceil(r1))
        for j in range(w):
            c0, c1 = j * W / w, (j + 1) * W / w
            out[i, j] = mask[rs, math.floor(c0) : math.ceil(c1)].any()
    return out


@pytest.mark.parametrize(("big", "small"), [((200, 150), (32, 32)), ((64, 64), (32, 32)), ((100, 70), (25, 25))])
def test_resize_mask_covers(big, small):
    rng = np.random.default_rng(3)
    mask = np.zeros(big, bool)
    mask[rng.integers(0, big[0], 15), rng.integers(0, big[1], 15)] = True  # isolated pixels
    mask |= random_box_mask(big, (0.05, 0.1), rng)
    m_small = resize_mask(mask, small)
    assert m_small.dtype == bool and m_small.shape == small
    np.testing.assert_array_equal(m_small, _covering_reference(mask, small))
    # back at full size, Ω at model size covers Ω
    assert not (mask & ~resize_mask(m_small, big)).any()


def test_metrics():
    rng = np.random.default_rng(0)
    for shape in [(25, 25), (32, 32, 3), (32, 32, 1), (5, 9), (64, 48, 3)]:
        img = rng.random(shape).astype(np.float32)
        m = comparison_metrics(img, img.copy())
        assert m["psnr"] == math.inf or m["psnr"] > 100
        assert m["ssim"] == pytest.approx(1.0)
        noisy = np.clip(img + rng.normal(0, 0.1, shape), 0, 1).astype(np.float32)
        m2 = comparison_metrics(noisy, img)
        assert 15 < m2["psnr"] < 30 and m2["ssim"] < 0.99
    expected = 10 * math.log10(1 / np.mean((noisy.astype(np.float64) - img) ** 2))
    assert m2["psnr"] == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError):
        comparison_metrics(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="small"):
        comparison_metrics(np.zeros((2, 8)), np.zeros((2, 8)))
