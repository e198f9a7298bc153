"""Time limits mean what they say: ``train`` prints up front how long the statistics and the
calibration after training will take, and ``--calibrate-minutes`` sizes the calibration to fit."""

from __future__ import annotations

import pytest
import torch

from inspector_app.cli import main
from inspector_app.core import calibration_budget as cb
from inspector_app.core.modelio import load_model
from inspector_app.core.models import ModelConfig, create_model

RATES = cb.Rates(iteration=0.004, dssim_map=0.001, score=0.007, forward=0.002)  # a 64×64 model's, measured


def _train(tmp_path, folder, *extra):
    return main(["train", "--arch", "l2ae", "--data", str(folder), "--out", str(tmp_path / "m.safetensors"),
                 "--image-size", "32", "--latent", "8", "--max-steps", "2", "--batch", "4", "--val-fraction", "0.5",
                 "--eval-every", "1", *extra])


def test_the_time_after_training_is_said_first_and_bounded(tmp_path, folder, capfd):
    assert _train(tmp_path, folder, "--calibrate-minutes", "0.0002") == 0  # 12 ms: the smallest calibration
    err = capfd.readouterr().err
    first = err.index("training for up to 2 steps, then about ")
    assert first < err.index("training ended after")  # said before training starts
    line = err[first:].splitlines()[0]
    assert "for the training-loss statistics and " in line and "for the calibration (2 validation images, 1 iteration" in line
    assert "to fit --calibrate-minutes 0.0002: 1 iteration instead of 100; 2 of the 4 validation images" in line
    assert "calibrated in " in err and "(estimated " in err
    cal = load_model(tmp_path / "m.safetensors").meta["calibration"]
    assert cal["figures"]["reduced_for_time"] == "1 iteration instead of 100; 2 of the 4 validation images"
    assert cal["max_iter"] == 1 and cal["figures"]["n_good"] + cal["figures"]["n_stop_fit"] == 2


def test_without_a_budget_the_calibration_is_whole(tmp_path, folder, capfd):
    assert _train(tmp_path, folder, "--max-minutes", "5") == 0
    line = next(ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("training for up to"))
    assert line.startswith("training for up to 2 steps or 5 min, then about ")
    assert line.endswith("(4 validation images, 100 iterations; --calibrate-minutes bounds it)")
    assert "reduced_for_time" not in load_model(tmp_path / "m.safetensors").meta["calibration"]["figures"]


def test_a_bad_budget_is_refused(tmp_path, folder, capsys):
    assert _train(tmp_path, folder, "--calibrate-minutes", "0") == 2
    assert "--calibrate-minutes must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_the_plan_fits_its_budget():
    full = cb.plan(RATES, 40, 100, None)
    assert (full.n_images, full.max_iter, full.reduced) == (40, 100, "")
    assert full.seconds == cb.estimate_seconds(RATES, 40, 100) > 60.0
    for minutes in (0.05, 0.2, 0.5, 1.0, 3.0):
        p = cb.plan(RATES, 40, 100, minutes)
        assert p.seconds <= cb.MARGIN * 60.0 * minutes, minutes
        assert p.reduced or (p.n_images, p.max_iter) == (40, 100)  # unreduced: its first step size fits whole
        # sized for its first step size: the others run only while time is left
        assert p.seconds == cb.estimate_seconds(RATES, p.n_images, p.max_iter, step_sizes=1)
        if p.n_images < 40:  # images go only once the iterations are down to 20
            assert p.max_iter <= cb.MIN_ITER_BEFORE_IMAGES
        elif p.max_iter < 100:  # one more iteration would not have fitted
            assert cb.estimate_seconds(RATES, 40, p.max_iter + 1, step_sizes=1) > cb.MARGIN * 60.0 * minutes
    # the first step size alone is a third of the work: a tight budget keeps three times the images
    assert cb.estimate_seconds(RATES, 40, 20, step_sizes=1) * 3 == pytest.approx(cb.estimate_seconds(RATES, 40, 20), rel=0.05)
    tight = cb.plan(RATES, 40, 100, 0.5)
    assert tight.n_images > max(m for m in range(2, 41) if cb.estimate_seconds(RATES, m, 20) <= cb.MARGIN * 30.0)
    assert cb.plan(RATES, 40, 100, 1e-6) == cb.Plan(2, 1, cb.estimate_seconds(RATES, 2, 1, step_sizes=1),
                                                    "1 iteration instead of 100; 2 of the 40 validation images")
    assert cb.estimate_seconds(RATES, 40, 50) < cb.estimate_seconds(RATES, 40, 100)
    assert cb.estimate_seconds(RATES, 20, 100) < cb.estimate_seconds(RATES, 40, 100)


def test_measured_rates_and_subsets():
    torch.manual_seed(0)
    r = cb.measure(create_model(ModelConfig("l2ae", 32, 1, 8)), (32, 32), torch.device("cpu"), batch=4)
    assert all(v > 0 for v in (r.iteration, r.dssim_map, r.score, r.forward))
    assert cb.statistics_seconds(r, 10) == pytest.approx(10 * r.forward)
    assert cb.subset(list(range(10)), 3) == [0, 4, 9] and cb.subset([1, 2], 5) == [1, 2]
