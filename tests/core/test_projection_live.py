"""Live α/λ changes and the divergence test (issue 11, item 9).

The divergence test compares E(x_t) with a reference energy. A live change of λ changes E itself
(by (λ' − λ)‖x_t − x0‖₁) without any step going uphill, so the reference is re-based on the first
iterate after a change; a genuinely divergent step size after the change is still caught.
f(x) = a·x + b (no parameters) keeps every quantity known.
"""

from __future__ import annotations

import torch

from inspector_app.core.losses import l2_loss
from inspector_app.core.models import AutoEncoder, ModelConfig
from inspector_app.core.params import ProjectionParams
from inspector_app.core.projection import project

SIZE = 8


class Affine(AutoEncoder):
    def __init__(self, a: float = 0.5, b: float = 0.1):
        super().__init__(ModelConfig("l2ae", SIZE, 1, 1))
        self.a, self.b = a, b

    def reconstruct(self, x):
        return self.a * x + self.b

    def recon_loss(self, x, recon):
        return l2_loss(x, recon)


def _x0(b=1):
    g = torch.Generator().manual_seed(0)
    return 0.6 + 0.4 * torch.rand(b, 1, SIZE, SIZE, generator=g)


def _drive(gen, n, update_at=None, update=None):
    recs = [next(gen)]
    for t in range(1, n + 1):
        if recs[-1].finished:
            break
        recs.append(gen.send(update if t == update_at else None))
    return recs


class Offsets(Affine):
    """f(x) = x (Lr = 0, no gradient: x stays x0) plus a scheduled energy, one value per forward pass."""

    def __init__(self, values):
        super().__init__(1.0, 0.0)
        self.values, self.calls = list(values), 0

    def forward_loss(self, x):
        lr, rec = super().forward_loss(x)
        v = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return lr + v, rec


def _params(**kw):
    base = dict(alpha=0.1, lam=0.0, grad_mask="none", stop="none", max_iter=9)
    base.update(kw)
    return ProjectionParams(**base)


def test_raising_lambda_mid_run_does_not_end_it_as_diverged():
    # the window's default (eq. 8, plain step): λ raised from 0 to 0.5 at t = 30
    m, x0 = Affine(), _x0()
    params = ProjectionParams(alpha=0.5, lam=0.0, grad_mask="recon", stop="none", max_iter=80)
    recs = _drive(project(m, x0, params), 80, update_at=30, update={"lam": 0.5})
    # the raise itself lifts E above E(x0) for more than diverge_patience iterates: measured
    # against E(x0), that is "walking uphill"
    e0 = float(recs[0].energy)
    assert all(float(r.energy) > e0 for r in recs[30:36])
    last = recs[-1]
    assert last.stop_reasons == ["max_iter"] and last.iteration == 80
    # the run continued from x_t under the new λ, downhill from the re-based energy
    assert float(last.energy) < float(recs[30].energy)
    assert last.params.lam == 0.5


def test_after_a_lambda_change_divergence_is_still_caught_and_falls_back_under_the_new_lambda():
    # E(x0) = 10 falls to 7; λ changes at t = 4 and E is then 20, 21, 22 … (uphill for good).
    # Re-based on 20, the fifth uphill iterate is divergence, and the iterate kept is the
    # lowest-energy one *under the new λ* (E = 20), not the one at E = 7 of the old energy.
    values = [10.0, 9.0, 8.0, 7.0] + [20.0 + k for k in range(20)]
    recs = _drive(project(Offsets(values), _x0(), _params(max_iter=30)), 30, update_at=4, update={"lam": 0.3})
    last = recs[-1]
    assert last.stop_reasons == ["diverged"] and last.iteration == 9
    assert float(last.energy) == 20.0
    # a jump past the re-based bound 20 + 20 is divergence at once
    values = [10.0, 9.0, 8.0, 7.0, 20.0, 40.5]
    recs = _drive(project(Offsets(values), _x0(), _params(max_iter=30)), 30, update_at=4, update={"lam": 0.3})
    assert recs[-1].stop_reasons == ["diverged"] and recs[-1].iteration == 5 and float(recs[-1].energy) == 20.0


def test_changing_alpha_restarts_the_uphill_count():
    # 4 uphill iterates (E above the reference), then an α change: the count starts again from
    # the new reference instead of reaching diverge_patience = 5 on the next iterate
    values = [10.0] + [11.0] * 4 + [11.5] * 5
    recs = _drive(project(Offsets(values), _x0(), _params()), 9, update_at=5, update={"alpha": 0.05})
    assert recs[-1].stop_reasons == ["max_iter"] and recs[-1].iteration == 9
    # without a change the same energies diverge at the fifth uphill iterate
    recs = _drive(project(Offsets(values), _x0(), _params()), 9)
    assert recs[-1].stop_reasons == ["diverged"] and recs[-1].iteration == 5


def test_an_unchanged_live_update_does_not_rebase():
    # sending the same α and λ again is not a change: the uphill count keeps counting
    values = [10.0] + [11.0] * 9
    recs = _drive(project(Offsets(values), _x0(), _params()), 9, update_at=3, update={"alpha": 0.1, "lam": 0.0})
    assert recs[-1].stop_reasons == ["diverged"] and recs[-1].iteration == 5
