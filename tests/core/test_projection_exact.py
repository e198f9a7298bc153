"""The projection engine against hand-derived values.

``Affine`` is an "autoencoder" f(x) = a·x + b with Lr(x) = Σ (x − f(x))², so every quantity of
an iteration is known in closed form: with r = x − f(x) = (1 − a)·x − b,

    ∇ₓLr = 2 (1 − a) r,     ∇ₓE = ∇ₓLr + λ·sign(x − x0)     (torch's d|u|/du is 0 at u = 0).

The tests below check eq. 4 (the energy terms), eq. 5 (the plain step), eq. 7 (Ω, also in colour),
eq. 8 (the (x − f)² weight), Adam with its bias correction, the clamp to [0, 1], live α/λ changes,
the convergence tolerance and patience, the threshold stop and the divergence rules and fallback.
"""

from __future__ import annotations

import pytest
import torch

from inspector_app.core.losses import l2_loss
from inspector_app.core.models import AutoEncoder, ModelConfig, create_model, freeze
from inspector_app.core.params import ProjectionParams
from inspector_app.core.projection import project, run_to_end, threshold_from_stats

SIZE = 8
N_PIX = SIZE * SIZE


class Affine(AutoEncoder):
    """f(x) = a·x + b, Lr = Σ (x − f(x))² per image. No parameters."""

    def __init__(self, a: float = 0.5, b: float = 0.1, channels: int = 1, offsets=None):
        super().__init__(ModelConfig("l2ae", SIZE, channels, 1))
        self.a, self.b = a, b
        self.offsets = list(offsets) if offsets is not None else None  # added to Lr, one per forward pass
        self.calls = 0

    def reconstruct(self, x):
        return self.a * x + self.b

    def recon_loss(self, x, recon):
        return l2_loss(x, recon)

    def forward_loss(self, x):
        lr, rec = super().forward_loss(x)
        if self.offsets is not None:
            off = self.offsets[min(self.calls, len(self.offsets) - 1)]
            lr = lr + torch.as_tensor(off, dtype=lr.dtype)  # a number, or one per image of this call's batch
        self.calls += 1
        return lr, rec


def grad_lr(m: Affine, x):
    """∇ₓLr by hand."""
    return 2 * (1 - m.a) * ((1 - m.a) * x - m.b)


def lr_of(m: Affine, x):
    return (((1 - m.a) * x - m.b) ** 2).flatten(1).sum(1)


def _x0(b=2, channels=1, seed=0, lo=0.2, hi=0.8):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(b, channels, SIZE, SIZE, generator=g)


def _params(**kw):
    base = dict(alpha=0.3, lam=0.0, optimizer="sgd", grad_mask="none", stop="none", max_iter=5)
    base.update(kw)
    return ProjectionParams(**base)


# ------------------------------------------------------------------------------ eq. 4 and eq. 5

def test_plain_steps_are_eq5_with_the_l1_term_of_eq4():
    m = Affine(0.5, 0.1)
    x0 = _x0()
    alpha, lam = 0.3, 0.05
    recs = list(project(m, x0, _params(alpha=alpha, lam=lam, max_iter=3)))
    assert [r.iteration for r in recs] == [0, 1, 2, 3]
    x = x0.clone()
    for t, rec in enumerate(recs):
        assert torch.allclose(rec.x, x, atol=1e-6), t
        # eq. 4, term by term
        assert torch.allclose(rec.recon_loss, lr_of(m, x), rtol=1e-5)
        assert torch.allclose(rec.reg, lam * (x - x0).abs().flatten(1).sum(1), rtol=1e-5, atol=1e-7)
        assert torch.allclose(rec.energy, rec.recon_loss + rec.reg, rtol=1e-6)
        assert torch.allclose(rec.reconstruction, m.a * x + m.b, atol=1e-6)
        assert rec.steps.tolist() == [t, t]
        # eq. 5: x ← x − α ∇E, λ·sign(x − x0) included (0 at the first step)
        x = x - alpha * (grad_lr(m, x) + lam * torch.sign(x - x0))
    assert recs[1].reg.min() > 0  # the L1 term is really exercised


def test_energy_of_the_start_is_lr_of_x0_and_no_reg():
    m = Affine(0.25, -0.05)
    x0 = _x0(b=1)
    rec = next(project(m, x0, _params(lam=0.7)))
    assert float(rec.reg) == 0.0
    assert float(rec.energy) == pytest.approx(float(lr_of(m, x0)), rel=1e-6)


def test_step_from_x_start_measures_l1_from_x0():
    m = Affine(0.5, 0.1)
    x0 = _x0(b=1)
    xs = (x0 + 0.05).clamp(0, 1)
    rec = next(project(m, x0, _params(lam=0.2), x_start=xs))
    assert torch.equal(rec.x, xs) and torch.equal(rec.x0, x0)
    assert float(rec.reg) == pytest.approx(0.2 * float((xs - x0).abs().sum()), rel=1e-5)


# ------------------------------------------------------------------------------ eq. 8

def test_eq8_weight_is_the_squared_reconstruction_error():
    m = Affine(0.5, 0.1)
    x0 = _x0()
    alpha = 0.4
    recs = list(project(m, x0, _params(alpha=alpha, grad_mask="recon", max_iter=2)))
    r0 = x0 - (m.a * x0 + m.b)
    want1 = x0 - alpha * grad_lr(m, x0) * r0 ** 2
    assert torch.allclose(recs[1].x, want1, atol=1e-7)
    r1 = want1 - (m.a * want1 + m.b)
    want2 = want1 - alpha * grad_lr(m, want1) * r1 ** 2
    assert torch.allclose(recs[2].x, want2, atol=1e-7)
    # (x − f) or |x − f| instead of its square would give another step
    wrong = x0 - alpha * grad_lr(m, x0) * r0.abs()
    assert (recs[1].x - wrong).abs().max() > 1e-3


# ------------------------------------------------------------------------------ eq. 7, grey and colour

@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("mask_shape", ["b1hw", "11hw", "bhw"])
def test_eq7_exact_step_inside_and_x0_outside(optimizer, mask_shape):
    m = Affine(0.5, 0.1, channels=3)
    x0 = _x0(b=2, channels=3)
    omega = torch.zeros(2, 1, SIZE, SIZE)
    omega[:, :, 2:6, 1:5] = 1
    omega[1, :, 0, 0] = 1  # the two images have different masks
    mask = {"b1hw": omega, "11hw": omega[:1], "bhw": omega[:, 0]}[mask_shape]
    om = (omega if mask_shape != "11hw" else omega[:1].expand(2, -1, -1, -1)).expand(2, 3, -1, -1) > 0
    alpha = 0.01 if optimizer == "adam" else 0.3
    recs = list(project(m, x0, _params(alpha=alpha, optimizer=optimizer, max_iter=3), mask=mask))
    for rec in recs:
        assert torch.equal(rec.x[~om], x0[~om])
    g = grad_lr(m, x0)
    step = alpha * g if optimizer == "sgd" else alpha * torch.sign(g)
    assert torch.allclose(recs[1].x[om], (x0 - step)[om], atol=1e-6)
    for c in range(3):  # every channel moved inside Ω
        assert bool((recs[3].x[:, c][om[:, c]] != x0[:, c][om[:, c]]).all())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_eq7_colour_model_keeps_every_channel_outside_omega_bit_identical(optimizer):
    torch.manual_seed(0)
    model = freeze(create_model(ModelConfig("l2ae", 32, 3, 16)))
    g = torch.Generator().manual_seed(4)
    x0 = torch.rand(2, 3, 32, 32, generator=g) * 0.8 + 0.1
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 4:20, 6:28] = 1
    outside = (mask == 0).expand(2, 3, -1, -1)
    params = ProjectionParams(alpha=0.5 if optimizer == "sgd" else 0.05, optimizer=optimizer, grad_mask="none",
                              stop="none", max_iter=6)
    last = None
    for rec in project(model, x0, params, mask=mask):
        for c in range(3):
            assert torch.equal(rec.x[:, c][outside[:, c]], x0[:, c][outside[:, c]]), c
        last = rec
    for c in range(3):
        inside = ~outside[:, c]
        assert bool((last.x[:, c][inside] != x0[:, c][inside]).any()), c


# ------------------------------------------------------------------------------ Adam

def test_first_adam_step_moves_every_pixel_by_alpha():
    m = Affine(0.5, 0.1)
    x0 = _x0()
    alpha = 0.01
    recs = list(project(m, x0, _params(alpha=alpha, optimizer="adam", max_iter=1)))
    g = grad_lr(m, x0)
    assert g.abs().min() > 1e-4  # no pixel with a zero gradient
    moved = recs[0].x - recs[1].x
    assert torch.allclose(moved.abs(), torch.full_like(moved, alpha), rtol=1e-4)
    assert torch.equal(torch.sign(moved), torch.sign(g))


@pytest.mark.parametrize("grad_mask", ["none", "recon"])
def test_adam_matches_kingma_and_ba_algorithm_1(grad_mask):
    m = Affine(0.5, 0.1)
    x0 = _x0()
    alpha, lam, n = 0.02, 0.05, 6
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    recs = list(project(m, x0, _params(alpha=alpha, lam=lam, optimizer="adam", grad_mask=grad_mask, max_iter=n)))
    x, mom, vel = x0.clone(), torch.zeros_like(x0), torch.zeros_like(x0)
    for t in range(1, n + 1):
        g = grad_lr(m, x) + lam * torch.sign(x - x0)
        if grad_mask == "recon":
            g = g * (x - (m.a * x + m.b)) ** 2
        mom = beta1 * mom + (1 - beta1) * g
        vel = beta2 * vel + (1 - beta2) * g * g
        x = x - alpha * (mom / (1 - beta1 ** t)) / ((vel / (1 - beta2 ** t)).sqrt() + eps)
        assert torch.allclose(recs[t].x, x, atol=2e-6), t
    assert float((recs[n].x - x0).abs().max()) > 2 * alpha  # several steps, each counted


def test_adam_state_is_per_image_in_a_batch():
    """An image that stops early does not advance the others' Adam clocks (bias correction per image)."""
    m = Affine(0.5, 0.1)
    x0 = _x0(b=2)
    x0[0] = 0.2 + 0.01 * x0[0]  # near the fixed point x = b / (1 − a) = 0.2: a tiny Lr
    lr0 = lr_of(m, x0)
    lo, hi = 0, 1
    thr = float(lr0[lo]) * 1.0001  # only image 0 starts under it; image 1 cannot get there in 4 steps
    _, last, _ = run_to_end(m, x0, _params(alpha=0.01, optimizer="adam", max_iter=4, stop=f"lr:{thr!r}"))
    alone = list(project(m, x0[hi:hi + 1], _params(alpha=0.01, optimizer="adam", max_iter=4)))
    assert last.stop_reasons[lo] == "threshold" and last.stop_reasons[hi] == "max_iter"
    assert torch.equal(last.x[lo], x0[lo])
    assert torch.allclose(last.x[hi], alone[-1].x[0], atol=1e-7)


# ------------------------------------------------------------------------------ the clamp to [0, 1]

@pytest.mark.parametrize("b, bound", [(1.5, 1.0), (-0.5, 0.0)])
def test_plain_step_that_overshoots_is_clamped_exactly(b, bound):
    m = Affine(0.0, b)  # f(x) = b, outside [0, 1]
    x0 = _x0()
    recs = list(project(m, x0, _params(alpha=0.5, max_iter=2)))
    # x − 0.5·2(x − b) = b, clamped
    assert torch.equal(recs[1].x, torch.full_like(x0, bound))
    assert torch.equal(recs[2].x, torch.full_like(x0, bound))
    assert recs[-1].stop_reasons == ["max_iter", "max_iter"]


@pytest.mark.parametrize("bias", [6.0, -6.0])
@pytest.mark.parametrize("optimizer, alpha", [("adam", 0.05), ("sgd", 0.5)])
def test_every_iterate_stays_in_range_on_a_run_that_does_not_diverge(bias, optimizer, alpha):
    """A model whose reconstruction is nearly white (black): Adam's momentum carries pixels past
    it, so the clamp is what keeps them in [0, 1]; the run converges normally."""
    torch.manual_seed(0)
    model = freeze(create_model(ModelConfig("l2ae", 32, 1, 16)))
    with torch.no_grad():
        model.decoder[-2].bias.fill_(bias)
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(2, 1, 32, 32, generator=g) * 0.8 + 0.1
    params = ProjectionParams(alpha=alpha, optimizer=optimizer, grad_mask="none", stop="none", max_iter=12)
    at_bound = 0
    energies = []
    for rec in project(model, x0, params):
        assert float(rec.x.min()) >= 0.0 and float(rec.x.max()) <= 1.0, rec.iteration
        at_bound += int(((rec.x == 0) | (rec.x == 1)).sum())
        energies.append(rec.energy.clone())
    assert rec.stop_reasons == ["max_iter", "max_iter"]
    assert torch.all(energies[-1] < energies[0] / 2)
    if optimizer == "adam":
        assert at_bound > 1000  # the clamp was needed


# ------------------------------------------------------------------------------ live α and λ

def test_live_alpha_and_lambda_are_used_by_the_next_step():
    m = Affine(0.5, 0.1)
    x0 = _x0()
    gen = project(m, x0, _params(alpha=0.5, lam=0.05, max_iter=10))
    rec0 = next(gen)
    rec1 = gen.send({"alpha": 0.1, "lam": 0.2})
    # step 0 → 1 with α = 0.1 (its gradient was taken at x0, where the L1 term has none)
    x1 = x0 - 0.1 * grad_lr(m, x0)
    assert torch.allclose(rec1.x, x1, atol=1e-7)
    assert rec1.params.alpha == 0.1 and rec1.params.lam == 0.2
    # E(x1) with the new λ
    assert torch.allclose(rec1.reg, 0.2 * (x1 - x0).abs().flatten(1).sum(1), rtol=1e-5)
    assert torch.allclose(rec1.energy, lr_of(m, x1) + 0.2 * (x1 - x0).abs().flatten(1).sum(1), rtol=1e-5)
    # and the gradient of step 1 → 2 has the new λ
    rec2 = gen.send(None)
    x2 = x1 - 0.1 * (grad_lr(m, x1) + 0.2 * torch.sign(x1 - x0))
    assert torch.allclose(rec2.x, x2, atol=1e-7)
    # a half-given update keeps the other value
    rec3 = gen.send({"lam": 0.0})
    assert rec3.params.alpha == 0.1 and rec3.params.lam == 0.0 and float(rec3.reg.abs().max()) == 0.0
    x3 = x2 - 0.1 * (grad_lr(m, x2) + 0.2 * torch.sign(x2 - x0))
    assert torch.allclose(rec3.x, x3, atol=1e-7)
    assert rec0.params.alpha == 0.5
    with pytest.raises(ValueError, match="alpha"):
        gen.send({"alpha": 0.0})


# ------------------------------------------------------------------------------ stop criteria

class Scheduled(Affine):
    """Lr follows a given list of values, one per forward pass; the gradient is zero (x stays x0)."""

    def __init__(self, values):
        super().__init__(1.0, 0.0)  # f(x) = x: Lr = 0, ∇Lr = 0
        self.offsets = list(values)


def _run(values, b=1, **kw):
    m = Scheduled(values)
    return run_to_end(m, _x0(b=b), _params(**kw))


@pytest.mark.parametrize("per_pixel, converges", [(0.5e-3, True), (1.5e-3, False)])
def test_convergence_tolerance_is_per_pixel_change_below_tol(per_pixel, converges):
    values = [100.0 - k * per_pixel * N_PIX for k in range(60)]
    # a batch of two: "per pixel" is per pixel of one image, not of the batch
    _, last, curves = _run(values, b=2, stop="converge", tol=1e-3, patience=3, max_iter=50)
    if converges:
        # |ΔE|/pixel < tol at t = 1, 2, 3: the third in a row stops at t = 3
        assert last.stop_reasons == ["converged"] * 2 and last.steps.tolist() == [3, 3]
        assert len(curves[0]) == 4
    else:
        assert last.stop_reasons == ["max_iter"] * 2 and last.steps.tolist() == [50, 50]


@pytest.mark.parametrize("patience", [1, 2, 5])
def test_convergence_patience_counts_calm_iterations_in_a_row(patience):
    _, last, _ = _run([10.0] * 30, stop="converge", tol=1e-6, patience=patience, max_iter=20)
    assert last.stop_reasons == ["converged"] and last.steps.tolist() == [patience]


def test_convergence_count_restarts_after_a_jump():
    # calm, calm, jump, calm, calm, calm: with patience 3 it stops only after the jump's three calm ones
    values = [10.0, 10.0, 10.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0]
    _, last, _ = _run(values, stop="converge", tol=1e-4, patience=3, max_iter=20)
    assert last.stop_reasons == ["converged"] and last.steps.tolist() == [6]


def test_no_convergence_stop_unless_asked():
    _, last, _ = _run([10.0] * 30, stop="none", tol=1e-6, patience=1, max_iter=7)
    assert last.stop_reasons == ["max_iter"] and last.steps.tolist() == [7]


def test_threshold_stop_is_strictly_below():
    m = Affine(0.5, 0.1)
    x0 = _x0(b=1)
    lr0 = float(next(project(Affine(0.5, 0.1), x0, _params())).recon_loss)
    # the training minimum exactly at Lr(x0): not below, so one step is taken (and Lr(x1) < Lr(x0) stops there)
    p = _params(stop="train-min", alpha=1e-4, max_iter=3)
    _, last, _ = run_to_end(m, x0, p, stats={"min": lr0})
    assert last.stop_reasons == ["threshold"] and last.steps.tolist() == [1]
    assert last.lr_threshold == lr0
    _, last, _ = run_to_end(m, x0, p, stats={"min": lr0 * 1.001})
    assert last.stop_reasons == ["threshold"] and last.steps.tolist() == [0]
    _, last, _ = run_to_end(m, x0, p, stats={"min": 0.0})
    assert last.stop_reasons == ["max_iter"] and last.steps.tolist() == [3]


def test_threshold_reached_after_some_steps():
    m = Affine(0.5, 0.1)
    x0 = _x0(b=1)
    alpha = 0.3
    xs = [x0]
    for _ in range(10):
        xs.append(xs[-1] - alpha * grad_lr(m, xs[-1]))
    lrs = [float(lr_of(m, x)) for x in xs]
    thr = (lrs[3] + lrs[4]) / 2  # Lr falls under it at the fourth step
    _, last, curves = run_to_end(m, x0, _params(alpha=alpha, stop=f"lr:{thr!r}", max_iter=10))
    assert last.stop_reasons == ["threshold"] and last.steps.tolist() == [4]
    assert torch.allclose(last.x, xs[4], atol=1e-6)
    assert len(curves[0]) == 5


def test_train_quantile_stop_reads_the_nn_th_quantile():
    stats = {"min": 0.0, "quantiles": list(range(101))}
    assert threshold_from_stats("train-q05", stats) == 5.0
    assert threshold_from_stats("train-q50", stats) == 50.0
    assert threshold_from_stats("train-q99", stats) == 99.0
    assert threshold_from_stats("train-q00", stats) == 0.0
    assert threshold_from_stats("train-min", {"min": 3.5, "quantiles": list(range(101))}) == 3.5
    assert threshold_from_stats("lr:2.5", None) == 2.5
    assert threshold_from_stats("converge", None) is None and threshold_from_stats("none", None) is None


# ------------------------------------------------------------------------------ divergence

def test_divergence_bound_is_e0_plus_factor_times_max_abs_e0_and_1():
    # E(x0) = 10: the bound is 10 + 1·10 = 20; reaching it is allowed, passing it is divergence
    _, last, _ = _run([10.0, 9.0, 20.0, 8.0], max_iter=3)
    assert last.stop_reasons == ["max_iter"] and last.steps.tolist() == [3]
    _, last, _ = _run([10.0, 9.0, 20.5, 8.0], max_iter=3)
    assert last.stop_reasons == ["diverged"] and last.steps.tolist() == [2]
    assert float(last.energy) == 9.0  # the best iterate's energy
    # small |E(x0)|: the margin is at least 1
    _, last, _ = _run([0.25, 0.1, 1.2, 0.0], max_iter=3)
    assert last.stop_reasons == ["max_iter"]
    _, last, _ = _run([0.25, 0.1, 1.3, 0.0], max_iter=3)
    assert last.stop_reasons == ["diverged"]
    # diverge_factor scales the margin
    _, last, _ = _run([10.0, 9.0, 20.5, 8.0], max_iter=3, diverge_factor=1.2)
    assert last.stop_reasons == ["max_iter"]


def test_walking_uphill_for_diverge_patience_iterations_is_divergence():
    # E stays above E(x0) = 10 from t = 1 on: at the fifth such iterate it diverges
    _, last, _ = _run([10.0] + [11.0] * 20, max_iter=20)
    assert last.stop_reasons == ["diverged"] and last.steps.tolist() == [5]
    assert float(last.energy) == 10.0
    _, last, _ = _run([10.0] + [11.0] * 20, max_iter=20, diverge_patience=3)
    assert last.steps.tolist() == [3]
    # four uphill, one back at E(x0) (not above), four uphill: the count restarts, no divergence
    _, last, _ = _run([10.0] + [11.0] * 4 + [10.0] + [11.0] * 4, max_iter=9)
    assert last.stop_reasons == ["max_iter"] and last.steps.tolist() == [9]


def test_divergence_falls_back_to_the_lowest_energy_iterate_with_its_own_terms():
    m = Affine(0.5, 0.1, offsets=[0.0, 0.0, 0.0, 0.0, 1e6])
    x0 = _x0(b=1)
    alpha, lam = 0.3, 0.05
    recs = list(project(m, x0, _params(alpha=alpha, lam=lam, max_iter=10)))
    last = recs[-1]
    assert last.stop_reasons == ["diverged"] and last.iteration == 4
    x3 = recs[3].x  # the lowest energy: E decreases over the four good iterates
    assert float(recs[3].energy) < float(recs[2].energy) < float(recs[0].energy)
    assert torch.equal(last.x, x3)
    assert torch.equal(last.reconstruction, m.a * x3 + m.b)
    # the reported terms are those of the returned x
    assert float(last.recon_loss) == pytest.approx(float(lr_of(m, x3)), rel=1e-6)
    assert float(last.reg) == pytest.approx(lam * float((x3 - x0).abs().sum()), rel=1e-6)
    assert float(last.energy) == pytest.approx(float(last.recon_loss + last.reg), rel=1e-6)


def test_divergent_real_model_reports_the_energy_of_the_x_it_returns():
    torch.manual_seed(0)
    model = freeze(create_model(ModelConfig("l2ae", 32, 1, 16)))
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(2, 1, 32, 32, generator=g) * 0.8 + 0.1
    lam = 0.05
    first, last, curves = run_to_end(model, x0, ProjectionParams(alpha=100.0, lam=lam, grad_mask="none", stop="none",
                                                                 max_iter=50))
    assert last.stop_reasons == ["diverged", "diverged"]
    with torch.no_grad():
        lr, rec = model.forward_loss(last.x)
    reg = lam * (last.x - x0).abs().flatten(1).sum(1)
    assert torch.allclose(last.recon_loss, lr, rtol=1e-5)
    assert torch.allclose(last.reg, reg, rtol=1e-5, atol=1e-6)
    assert torch.allclose(last.energy, lr + reg, rtol=1e-5)
    assert torch.allclose(last.reconstruction, rec, atol=1e-6)
    for i, c in enumerate(curves):
        assert float(last.energy[i]) == pytest.approx(min(c), rel=1e-6)


def test_record_to_cpu_copies_every_field_and_the_computed_maps():
    m = Affine(0.5, 0.1)
    x0 = _x0(b=2)
    gen = project(m, x0, _params(lam=0.05, max_iter=3, stop="lr:0.001"))
    rec = next(gen)
    rec = gen.send(None)
    _ = rec.dssim_projection  # computed before the copy: kept
    cpu = rec.to_cpu()
    assert cpu is not rec and cpu.iteration == rec.iteration == 1
    for name in ("x0", "x", "reconstruction", "energy", "recon_loss", "reg", "active", "steps"):
        a, b = getattr(cpu, name), getattr(rec, name)
        assert a.device.type == "cpu" and torch.equal(a, b), name
    assert cpu.stop_reasons == rec.stop_reasons and cpu.stop_reasons is not rec.stop_reasons
    assert cpu.params == rec.params and cpu.lr_threshold == rec.lr_threshold == 0.001
    assert set(cpu._cache) == {"p"} and torch.equal(cpu._cache["p"], rec.dssim_projection)
    assert torch.equal(cpu.dssim_reconstruction, rec.dssim_reconstruction)
    assert torch.equal(cpu.dssim("projection"), rec.dssim_projection)
    assert torch.equal(rec.dssim(), rec.dssim_projection)  # the paper's comparison by default
    assert not torch.equal(rec.dssim_projection, rec.dssim_reconstruction)
    assert torch.equal(cpu.dssim("reconstruction"), rec.dssim_reconstruction)
    assert not cpu.finished


# ------------------------------------------------------------------------------ inputs, Ω values, odd gradients

def test_x0_outside_the_unit_range_is_clamped_first():
    m = Affine(0.5, 0.1)
    x0 = _x0(b=1)
    x0[0, 0, 0, :3] = torch.tensor([-0.5, 1.5, 1.0])
    rec = next(project(m, x0, _params()))
    assert rec.x0[0, 0, 0, :3].tolist() == [0.0, 1.0, 1.0] and torch.equal(rec.x, rec.x0)
    assert float(rec.recon_loss) == pytest.approx(float(lr_of(m, x0.clamp(0, 1))), rel=1e-6)


def test_omega_is_mask_above_one_half():
    """Ω values above 0.5 may change; 0.5 and below stay (a soft or resized mask thresholded once)."""
    m = Affine(0.5, 0.1)
    x0 = _x0(b=1)
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[0, 0, 0, :4] = torch.tensor([0.5, 0.51, 1.0, 0.49])
    recs = list(project(m, x0, _params(max_iter=1), mask=mask))
    moved = (recs[1].x != x0)[0, 0, 0, :4].tolist()
    assert moved == [False, True, True, False]
    assert bool((recs[1].x[0, 0, 1:] == x0[0, 0, 1:]).all())


def test_a_non_finite_gradient_leaves_that_pixel_where_it_is():
    class Sqrt(Affine):  # Lr = Σ √|x − f|: finite, but its gradient is not where x = f
        def recon_loss(self, x, recon):
            return (x - recon).abs().sqrt().flatten(1).sum(1)

    m = Sqrt(0.0, 0.5)  # f(x) = 0.5
    x0 = _x0(b=1)
    x0[0, 0, 3, 3] = 0.5
    recs = list(project(m, x0, _params(alpha=1e-3, max_iter=2)))
    assert torch.isfinite(recs[0].energy).all()
    assert float(recs[2].x[0, 0, 3, 3]) == 0.5
    others = torch.ones_like(x0, dtype=torch.bool)
    others[0, 0, 3, 3] = False
    assert bool((recs[1].x[others] != x0[others]).all())
    assert torch.isfinite(recs[2].x).all()


def test_a_loss_that_is_not_finite_at_x0_is_an_error():
    from inspector_app.core.projection import ProjectionError

    m = Affine(0.5, 0.1, offsets=[float("inf")])
    with pytest.raises(ProjectionError, match="the model's loss is not finite on this input"):
        next(project(m, _x0(b=1), _params()))


def test_live_update_refuses_a_negative_lambda():
    gen = project(Affine(0.5, 0.1), _x0(b=1), _params(max_iter=5))
    next(gen)
    with pytest.raises(ValueError, match=r"bad live update alpha=0.3, lam=-0.1"):
        gen.send({"lam": -0.1})


def test_threshold_from_stats_refuses_missing_or_malformed_statistics():
    from inspector_app.core.projection import ProjectionError

    q = [float(k) for k in range(101)]
    for stats in (None, {}, {"min": float("nan"), "quantiles": q}, {"min": True, "quantiles": q}, {"min": "1"}):
        with pytest.raises(ProjectionError, match="'train-min' needs the model's training-loss statistics"):
            threshold_from_stats("train-min", stats)
    for quantiles in (None, q[:100], tuple(q[:100]), "0" * 101, q[:5] + [float("inf")] + q[6:]):
        with pytest.raises(ProjectionError, match="'train-q05': the model file has no training-loss quantiles"):
            threshold_from_stats("train-q05", {"min": 0.0, "quantiles": quantiles})
    assert threshold_from_stats("train-q05", {"min": 0.0, "quantiles": tuple(q)}) == 5.0
    assert threshold_from_stats("train-q06", {"min": 0.0, "quantiles": q[:5] + [float("inf")] + q[6:]}) == 6.0


def test_run_to_end_shows_every_record_and_keeps_per_image_curves():
    m = Affine(0.5, 0.1)
    x0 = _x0(b=2)
    x0[0] = 0.2 + 0.01 * x0[0]
    seen = []
    first, last, curves = run_to_end(m, x0, _params(max_iter=4, stop=f"lr:{float(lr_of(m, x0[:1])) * 1.5!r}"),
                                     on_record=lambda r: seen.append((r.iteration, r.active.tolist())))
    assert seen == [(0, [False, True]), (1, [False, True]), (2, [False, True]), (3, [False, True]), (4, [False, False])]
    assert first.iteration == 0 and last.iteration == 4
    assert len(curves[0]) == 1 and len(curves[1]) == 5
    assert curves[1][0] == pytest.approx(float(first.energy[1]))


def test_to_numpy_image():
    from inspector_app.core.projection import to_numpy_image

    grey = torch.arange(6.0).view(1, 2, 3)
    assert to_numpy_image(grey).tolist() == [[0, 1, 2], [3, 4, 5]]
    colour = torch.stack([torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 3), 2.0)])
    out = to_numpy_image(colour)
    assert out.shape == (2, 3, 3) and out[1, 2].tolist() == [0.0, 1.0, 2.0] and str(out.dtype) == "float32"


def test_run_to_end_passes_omega_on():
    m = Affine(0.5, 0.1)
    x0 = _x0(b=1)
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[0, 0, :4] = 1
    _, last, _ = run_to_end(m, x0, _params(max_iter=2), mask=mask)
    assert torch.equal(last.x[0, 0, 4:], x0[0, 0, 4:])
    assert bool((last.x[0, 0, :4] != x0[0, 0, :4]).all())


# ------------------------------------------------------------------------------ batches where images part ways

def test_one_image_diverges_the_other_goes_on_as_if_alone():
    x0 = _x0(b=2)
    # forward passes: both images twice, then image 0 jumps; from then on only image 1 is evaluated
    m = Affine(0.5, 0.1, offsets=[[0.0, 0.0], [0.0, 0.0], [1e6, 0.0], 0.0])
    recs = list(project(m, x0, _params(alpha=0.3, lam=0.05, max_iter=4)))
    last = recs[-1]
    assert last.stop_reasons == ["diverged", "max_iter"] and last.steps.tolist() == [2, 4]
    assert torch.equal(last.x[0], recs[1].x[0])  # image 0: its best iterate, x1
    assert float(last.energy[0]) == pytest.approx(float(recs[1].energy[0]))
    assert torch.equal(last.reconstruction[0], m.a * recs[1].x[0] + m.b)
    alone = list(project(Affine(0.5, 0.1), x0[1:], _params(alpha=0.3, lam=0.05, max_iter=4)))
    assert torch.allclose(last.x[1], alone[-1].x[0], atol=1e-7)
    assert float(last.energy[1]) == pytest.approx(float(alone[-1].energy[0]), rel=1e-6)
    assert [r.active.tolist() for r in recs] == [[True, True], [True, True], [False, True], [False, True],
                                                 [False, False]]


def test_one_image_converges_the_other_goes_on():
    # image 0 calm from t = 1, image 1 changing by 10 per iteration
    offs = [[10.0, 100.0], [10.0, 90.0], [10.0, 80.0], [70.0], [60.0], [50.0], [40.0]]
    m = Scheduled([0.0])
    m.offsets = offs
    _, last, curves = run_to_end(m, _x0(b=2), _params(stop="converge", tol=1e-3, patience=2, max_iter=6))
    assert last.stop_reasons == ["converged", "max_iter"] and last.steps.tolist() == [2, 6]
    assert curves[0] == [10.0, 10.0, 10.0] and curves[1] == [100.0, 90.0, 80.0, 70.0, 60.0, 50.0, 40.0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_eq7_and_eq8_on_the_images_still_running(optimizer):
    """Image 0 stops at once (threshold); image 1, masked and eq. 8-weighted, moves as if alone."""
    m = Affine(0.5, 0.1)
    x0 = _x0(b=2)
    x0[0] = 0.2 + 0.01 * x0[0]
    thr = float(lr_of(m, x0[:1])) * 1.0001
    mask = torch.zeros(2, 1, SIZE, SIZE)
    mask[:, :, 2:6] = 1
    p = _params(alpha=0.05, optimizer=optimizer, grad_mask="recon", max_iter=3, stop=f"lr:{thr!r}")
    _, last, _ = run_to_end(m, x0, p, mask=mask)
    alone = list(project(m, x0[1:], p.replace(stop="none"), mask=mask[1:]))
    assert last.stop_reasons == ["threshold", "max_iter"]
    assert torch.equal(last.x[0], x0[0])
    assert torch.allclose(last.x[1], alone[-1].x[0], atol=1e-7)
    assert torch.equal(last.x[1, 0, :2], x0[1, 0, :2]) and torch.equal(last.x[1, 0, 6:], x0[1, 0, 6:])
    assert int((last.x[1, 0, 2:6] != x0[1, 0, 2:6]).sum()) > 24  # of 32 (eq. 8 barely moves the well-fitted ones)


def test_x_start_outside_omega_is_reset_to_x0():
    m = Affine(0.5, 0.1)
    x0 = _x0(b=1)
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[0, 0, :4] = 1
    rec = next(project(m, x0, _params(), mask=mask, x_start=torch.full_like(x0, 0.5)))
    assert torch.equal(rec.x[0, 0, 4:], x0[0, 0, 4:]) and bool((rec.x[0, 0, :4] == 0.5).all())


def test_inputs_become_float32_and_models_go_to_eval_mode():
    torch.manual_seed(0)
    model = create_model(ModelConfig("l2ae", 32, 1, 8, "batch"))
    model.train()
    x0 = torch.rand(2, 1, 32, 32, dtype=torch.float64)
    rec = next(project(model, x0, ProjectionParams(stop="none", max_iter=1)))
    assert not model.training and rec.x.dtype == torch.float32 and rec.x0.dtype == torch.float32
    assert all(not p.requires_grad for p in model.parameters())
    with torch.no_grad():
        assert torch.allclose(rec.reconstruction, model.reconstruct(x0.float()), atol=1e-6)  # eval-mode BatchNorm
