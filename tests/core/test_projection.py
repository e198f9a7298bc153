"""The projection engine: energy descent, eq. 7 and eq. 8, stop criteria, divergence, batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspector_app.core.models import ModelConfig, create_model, freeze
from inspector_app.core.params import ProjectionParams
from inspector_app.core.projection import ProjectionError, project, run_to_end, threshold_from_stats


def _model(kind="l2ae", size=32, seed=0):
    torch.manual_seed(seed)
    return freeze(create_model(ModelConfig(kind, size, 1, 16)))


def _x(b=2, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, size, size, generator=g) * 0.8 + 0.1


@pytest.mark.parametrize("kind", ["l2ae", "dsae", "vae", "gvae"])
def test_energy_decreases_over_small_plain_steps(kind):
    model = _model(kind)
    x0 = _x()
    params = ProjectionParams(alpha=1e-3, lam=0.05, grad_mask="none", stop="none", max_iter=15)
    energies = [rec.energy.clone() for rec in project(model, x0, params)]
    e = torch.stack(energies)  # T×B
    assert len(energies) == 16
    assert torch.all(e[1:] <= e[:-1] + 1e-4 * e[:-1].abs()), e[:, 0]
    assert torch.all(e[-1] < e[0])


def test_no_parameter_gradients_and_weights_unchanged():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in project(model, _x(), ProjectionParams(stop="none", max_iter=3)):
        pass
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_one_forward_and_one_backward_per_iteration():
    model = _model()
    calls = {"forward": 0}
    orig = model.forward_loss

    def counting(x):
        calls["forward"] += 1
        return orig(x)

    model.forward_loss = counting
    n = 0
    grads = {"n": 0}
    real_grad = torch.autograd.grad

    def counting_grad(*a, **k):
        grads["n"] += 1
        return real_grad(*a, **k)

    torch.autograd.grad, saved = counting_grad, torch.autograd.grad
    try:
        for _ in project(model, _x(), ProjectionParams(stop="none", max_iter=5)):
            n += 1
    finally:
        torch.autograd.grad = saved
    assert n == 6  # x0 .. x5
    assert calls["forward"] == 6
    assert grads["n"] == 5  # no backward after the last iterate


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_eq7_pixels_outside_mask_bit_identical(optimizer):
    model = _model()
    x0 = _x()
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:20, 10:25] = 1
    params = ProjectionParams(alpha=0.5, optimizer=optimizer, grad_mask="none", stop="none", max_iter=10)
    moved_inside = False
    for rec in project(model, x0, params, mask=mask):
        outside = mask.expand_as(x0) == 0
        assert torch.equal(rec.x[outside], x0[outside])
        moved_inside |= bool((rec.x[~outside] != x0[~outside]).any())
    assert moved_inside


def test_eq8_pixel_with_zero_reconstruction_error_does_not_move():
    model = _model()
    x0 = _x(b=1)
    with torch.no_grad():
        f0 = model.reconstruct(x0)
    x0 = x0.clone()
    x0[0, 0, 5, 7] = f0[0, 0, 5, 7]  # this pixel is reconstructed exactly
    gen = project(model, x0, ProjectionParams(alpha=0.5, grad_mask="recon", stop="none", max_iter=1))
    rec0 = next(gen)
    assert float((rec0.x - rec0.reconstruction)[0, 0, 5, 7]) == 0.0
    rec1 = next(gen)
    assert float(rec1.x[0, 0, 5, 7]) == float(x0[0, 0, 5, 7])
    assert bool((rec1.x != x0).any())  # other pixels do move


def test_stop_max_iter():
    _, last, curves = run_to_end(_model(), _x(), ProjectionParams(stop="none", max_iter=7))
    assert last.stop_reasons == ["max_iter", "max_iter"]
    assert last.steps.tolist() == [7, 7]
    assert [len(c) for c in curves] == [8, 8]


def test_stop_converged():
    params = ProjectionParams(alpha=1e-6, lam=0.0, stop="converge", tol=1e-3, patience=2, max_iter=200)
    _, last, _ = run_to_end(_model(), _x(), params)
    assert last.stop_reasons == ["converged", "converged"]
    assert int(last.steps.max()) < 10


def test_stop_threshold_from_training_min_and_quantile():
    model = _model()
    x0 = _x()
    with torch.no_grad():
        lr0, _ = model.forward_loss(x0)
    stats = {"min": float(lr0.max()) * 1.01, "quantiles": [float(lr0.max()) * 1.01] * 101}
    model.training_stats = stats
    first, last, _ = run_to_end(model, x0, ProjectionParams(stop="train-min", max_iter=50))
    assert last.stop_reasons == ["threshold", "threshold"]
    assert last.steps.tolist() == [0, 0]
    assert threshold_from_stats("train-q05", stats) == pytest.approx(stats["quantiles"][5])
    _, last, _ = run_to_end(model, x0, ProjectionParams(stop="lr:-1", max_iter=3))
    assert last.stop_reasons == ["max_iter", "max_iter"]


def test_train_stop_without_statistics_is_an_error():
    model = _model()
    model.training_stats = None
    with pytest.raises(ProjectionError, match="training-loss statistics"):
        next(project(model, _x(), ProjectionParams(stop="train-min")))


def test_each_image_of_a_batch_stops_on_its_own():
    model = _model()
    x0 = _x(b=2)
    with torch.no_grad():
        lr0, _ = model.forward_loss(x0)
    thr = float((lr0[0] + lr0[1]) / 2)  # between the two images' losses
    lo = int(torch.argmin(lr0))
    _, last, curves = run_to_end(model, x0, ProjectionParams(stop=f"lr:{thr}", alpha=1e-4, max_iter=5))
    assert last.stop_reasons[lo] == "threshold" and last.steps[lo] == 0
    assert last.stop_reasons[1 - lo] == "max_iter" and last.steps[1 - lo] == 5
    assert len(curves[lo]) == 1 and len(curves[1 - lo]) == 6


def test_batch_is_independent_problems():
    model = _model()
    x0 = _x(b=3)
    params = ProjectionParams(stop="none", max_iter=5)
    _, last_b, _ = run_to_end(model, x0, params)
    _, last_1, _ = run_to_end(model, x0[1:2], params)
    assert torch.allclose(last_b.x[1:2], last_1.x, atol=1e-5)


def test_divergent_alpha_ends_in_diverged_without_nan():
    model = _model()
    x0 = _x()
    first, last, curves = run_to_end(model, x0, ProjectionParams(alpha=100.0, lam=0.05, grad_mask="none", stop="none",
                                                                 max_iter=50))
    assert set(last.stop_reasons) == {"diverged"}
    assert int(last.steps.max()) < 50
    assert torch.isfinite(last.x).all() and torch.isfinite(last.energy).all()
    # x falls back to the lowest-energy iterate, never above the start
    assert torch.all(last.energy <= first.energy + 1e-3)
    assert all(min(c) == pytest.approx(float(last.energy[i]), rel=1e-5) for i, c in enumerate(curves))


def test_nan_loss_is_caught_as_divergence():
    model = _model()
    orig = model.forward_loss
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        lr, rec = orig(x)
        if calls["n"] >= 3:
            lr = lr * float("nan")
        return lr, rec

    model.forward_loss = flaky
    _, last, _ = run_to_end(model, _x(), ProjectionParams(stop="none", max_iter=10))
    assert last.stop_reasons == ["diverged", "diverged"]
    assert last.steps.tolist() == [2, 2]
    assert torch.isfinite(last.x).all()


def test_live_update_of_alpha_and_lambda():
    model = _model()
    gen = project(model, _x(), ProjectionParams(alpha=0.5, lam=0.05, stop="none", max_iter=5))
    rec = next(gen)
    assert rec.params.alpha == 0.5
    rec = gen.send({"alpha": 0.1, "lam": 0.2})
    assert rec.params.alpha == 0.1 and rec.params.lam == 0.2
    gen.close()


def test_continue_from_current_iterate():
    model = _model()
    x0 = _x(b=1)
    _, last, _ = run_to_end(model, x0, ProjectionParams(stop="none", max_iter=3))
    first = next(project(model, x0, ProjectionParams(stop="none", max_iter=3), x_start=last.x))
    assert torch.equal(first.x, last.x)
    assert torch.equal(first.x0, x0)


def test_pixels_stay_in_range_and_maps_have_batch_shape():
    _, last, _ = run_to_end(_model(), _x(), ProjectionParams(alpha=50.0, optimizer="adam", stop="none", max_iter=4))
    assert float(last.x.min()) >= 0.0 and float(last.x.max()) <= 1.0
    assert last.dssim_projection.shape == (2, 32, 32)
    assert last.dssim_reconstruction.shape == (2, 32, 32)


def test_bad_inputs_are_refused():
    model = _model()
    with pytest.raises(ProjectionError, match="at least 32×32"):
        next(project(model, torch.rand(1, 1, 16, 16)))
    with pytest.raises(ProjectionError, match="mask"):
        next(project(model, _x(), mask=torch.ones(1, 1, 16, 16)))
    # each part of Ω's shape checked on its own: batch, channels, rank
    for shape in [(3, 1, 32, 32), (2, 2, 32, 32), (1, 2, 1, 32, 32)]:
        with pytest.raises(ProjectionError, match=rf"^the mask has shape \({', '.join(map(str, shape))}\), which does not "
                                                  r"fit images of shape \(2, 1, 32, 32\)$"):
            next(project(model, _x(), mask=torch.ones(*shape)))
    with pytest.raises(ValueError, match="stop criterion"):
        next(project(model, _x(), ProjectionParams(stop="sometimes")))
    bad = _x()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ProjectionError, match="^the input contains NaN or infinite values$"):
        next(project(model, bad))
    with pytest.raises(ProjectionError, match=r"^expected a B×C×H×W batch, got shape \(1, 32, 32\)$"):
        next(project(model, torch.rand(1, 32, 32)))
    # one dimension wrong is enough: width, height, channels
    # (larger images are tiled, see test_tiling.py)
    for shape in [(1, 1, 32, 16), (1, 1, 16, 32), (1, 3, 32, 32)]:
        with pytest.raises(ProjectionError, match=rf"^the model takes 1-channel images of at least 32×32 \(larger ones "
                                                  rf"are covered by tiles\), got {shape[1]}×{shape[2]}×{shape[3]}$"):
            next(project(model, torch.rand(*shape)))


def test_gradient_maps_appendix_a():
    """Hand-derivable models: f(x) = a·x + b; the VAE's q(z|x) has μ = c·x, log σ² = 0.

    Lr = ½ Σ (x − f)² (unit-variance VAE) → ∇Lr = (1 − a)·r with r = (1 − a)·x − b;
    L_KL = ½ Σ μ² → ∇L_KL = c²·x. Maps are channel means of |∇| and of |∇|·r²."""
    from inspector_app.core.anomaly import gradient_maps
    from inspector_app.core.losses import gaussian_nll, l2_loss
    from inspector_app.core.models import AutoEncoder, VariationalAE

    a, b, c = 0.5, 0.1, 0.7

    class HandVAE(VariationalAE):
        def __init__(self):
            super().__init__(ModelConfig("vae", 32, 3, 4), learned_gamma=False)

        def encode(self, x):
            mu = c * x.flatten(1)
            return mu, torch.zeros_like(mu)

        def reconstruct(self, x):
            return a * x + b

    class HandAE(AutoEncoder):
        def __init__(self):
            super().__init__(ModelConfig("l2ae", 32, 3, 4))

        def reconstruct(self, x):
            return a * x + b

        def recon_loss(self, x, recon):
            return l2_loss(x, recon)

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    r = (1 - a) * x - b
    maps = gradient_maps(HandVAE(), x)
    assert set(maps) == {"grad", "grad_x_error", "grad_kl", "grad_kl_x_error"}
    assert torch.allclose(maps["grad"], ((1 - a) * r).abs().mean(1), atol=1e-7)
    assert torch.allclose(maps["grad_x_error"], (((1 - a) * r).abs() * r ** 2).mean(1), atol=1e-7)
    assert torch.allclose(maps["grad_kl"], (c * c * x).abs().mean(1), atol=1e-7)
    assert torch.allclose(maps["grad_kl_x_error"], ((c * c * x).abs() * r ** 2).mean(1), atol=1e-7)
    assert torch.allclose(gaussian_nll(x, a * x + b), 0.5 * (r ** 2).flatten(1).sum(1))
    maps = gradient_maps(HandAE(), x)  # L2: ∇Lr = 2(1 − a)·r; no KL maps for a deterministic model
    assert set(maps) == {"grad", "grad_x_error"}
    assert torch.allclose(maps["grad"], (2 * (1 - a) * r).abs().mean(1), atol=1e-7)
    assert torch.allclose(maps["grad_x_error"], ((2 * (1 - a) * r).abs() * r ** 2).mean(1), atol=1e-7)
    # weights stay frozen
    real = _model("vae")
    gradient_maps(real, _x())
    assert all(not p.requires_grad and p.grad is None for p in real.parameters())
