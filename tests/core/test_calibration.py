"""Calibration's choices, by hand: the robust threshold, the area, the stop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector_app.core.calibration import PAPER, Calibration, model_defaults
from inspector_app.core.calibration_rule import IMAGE_TOLERANCE, choose, choose_area_threshold, robust_threshold


def test_robust_threshold_sits_in_the_middle_of_the_gap():
    t, acc = robust_threshold([0.01, 0.02, 0.03], [0.1, 0.2, 0.3], drift=1.3)
    # the gap after drift: good up to 0.03·1.3, defects from 0.1/1.3; T is their geometric mean
    assert acc == 1.0
    assert t == pytest.approx(math.sqrt(0.03 * 1.3 * 0.1 / 1.3))


def test_robust_threshold_with_overlap_takes_the_widest_interval_of_the_best_accuracy():
    t, acc = robust_threshold([0.01, 0.02, 0.05], [0.04, 0.2, 0.3], drift=1.3)
    assert acc == pytest.approx(5 / 6)
    # ties: T in (0.031, 0.065) or (0.065, 0.154); the second is wider in log scale
    assert t == pytest.approx(math.sqrt(0.05 * 1.3 * 0.2 / 1.3))


def test_area_is_chosen_where_specks_and_defects_separate():
    good = np.zeros((4, 16, 16), np.float32)
    for i, g in enumerate(good):  # single bright specks on good images
        g[2 + i, 3] = 0.9
    bad = np.zeros((4, 16, 16), np.float32)
    for b in bad:  # 3×3 blobs of 0.5 on defects
        b[6:9, 6:9] = 0.5
    area, thr, table = choose_area_threshold(good, bad, areas=(1, 9, 16))
    assert area == 9
    assert table["9"]["robust_accuracy"] == 1.0 and table["9"]["defects_flagged"] == 1.0
    assert table["1"]["robust_accuracy"] < 1.0  # single pixels: the specks are as bright as the defects
    assert 0.0 < thr < 0.5 / 1.3


def test_stop_choice_prefers_accuracy_then_image_auroc_then_fewer_iterations():
    c = {
        "iter:5": {"robust_accuracy": 0.90, "image_auroc": 0.95, "mean_iterations": 5},
        "iter:50": {"robust_accuracy": 0.95, "image_auroc": 0.97, "mean_iterations": 50},
        "train-min": {"robust_accuracy": 0.948, "image_auroc": 0.99, "mean_iterations": 80},
        "val-q90": {"robust_accuracy": 0.948, "image_auroc": 0.99, "mean_iterations": 20},
    }
    assert choose(c) == "val-q90"
    c["val-q90"]["robust_accuracy"] = float("nan")
    assert choose(c) == "train-min"


def test_among_equally_separating_stops_the_better_segmentation_wins_then_fewer_iterations():
    # image-level ties (robust accuracy within the tolerance, the same image AUROC) are common:
    # validation image AUROC is often 1; the validation pixel AUROC then decides
    c = {
        "iter:1": {"robust_accuracy": 1.0, "image_auroc": 1.0, "pixel_auroc": 0.985, "mean_iterations": 1},
        "iter:20": {"robust_accuracy": 0.995, "image_auroc": 1.0, "pixel_auroc": 0.9905, "mean_iterations": 20},
        "iter:100": {"robust_accuracy": 1.0, "image_auroc": 1.0, "pixel_auroc": 0.991, "mean_iterations": 100},
        "iter:50": {"robust_accuracy": 0.98, "image_auroc": 1.0, "pixel_auroc": 0.999, "mean_iterations": 50},
    }
    # iter:50 separates the images less well (0.98 < 1.0 − 0.01); iter:20 and iter:100 are within
    # the pixel tolerance of each other, and iter:20 is shorter
    assert choose(c) == "iter:20"
    c["iter:20"]["pixel_auroc"] = 0.989
    assert choose(c) == "iter:100"
    c["iter:1"]["image_auroc"] = 1.0 + 2 * IMAGE_TOLERANCE  # a clearly better image AUROC still comes first
    assert choose(c) == "iter:1"


def test_an_image_auroc_edge_of_a_few_pairs_does_not_overrule_a_better_segmentation():
    # brick_gvae's validation table: 12 steps had image AUROC .9996, 50 steps .9988 (two of 2,500
    # pairs) but pixel AUROC .9531 against .9573; compared exactly, the 12 steps won
    c = {
        "iter:12": {"robust_accuracy": 0.99, "image_auroc": 0.9996, "pixel_auroc": 0.9531, "mean_iterations": 12},
        "iter:50": {"robust_accuracy": 0.99, "image_auroc": 0.9988, "pixel_auroc": 0.9573, "mean_iterations": 50},
    }
    assert choose(c) == "iter:50"
    c["iter:50"]["image_auroc"] = 0.9996 - IMAGE_TOLERANCE - 1e-6  # beyond the tolerance: the images decide
    assert choose(c) == "iter:12"


def test_model_defaults_and_the_paper():
    assert model_defaults(None) is PAPER and model_defaults({"calibration": "x"}) is PAPER
    cal = Calibration(threshold=0.1, min_area=9, stop="none", max_iter=12, method="m")
    assert model_defaults({"calibration": cal.to_dict()}) == cal
    assert model_defaults({"calibration": cal.to_dict()}, paper=True) is PAPER


def test_stop_levels_drift_both_ways_for_positive_and_negative_losses():
    from inspector_app.core.calibration import drifted_levels

    strict, lenient = drifted_levels(130.0, drift=1.3)
    assert strict == pytest.approx(100.0) and lenient == pytest.approx(169.0)
    strict, lenient = drifted_levels(-130.0, drift=1.3)  # the γ-VAE's Lr: the same distances, below and above
    assert strict == pytest.approx(-160.0) and lenient == pytest.approx(-91.0)
    assert drifted_levels(0.0) == (0.0, 0.0)


def test_good_images_are_scored_at_the_stricter_level_and_defects_at_the_more_lenient_one():
    from inspector_app.core.calibration import _drift_stops, _Trajectories

    n, n_good = 4, 2
    maps = {"iter:5": np.full((n, 2, 2), 5, np.float16),
            "train-min~good": np.full((n, 2, 2), 1, np.float16),
            "train-min~defect": np.full((n, 2, 2), 2, np.float16)}
    iters = {"iter:5": np.full(n, 5), "train-min~good": np.array([7, 8, 9, 10]),
             "train-min~defect": np.array([1, 2, 3, 4])}
    out = _drift_stops(_Trajectories(maps, iters, np.zeros((n, 2, 2)), np.zeros(n), np.zeros(n, bool)), {"train-min": 1.0},
                       n_good)
    assert sorted(out.maps) == ["iter:5", "train-min"]
    assert out.maps["train-min"][:, 0, 0].tolist() == [1, 1, 2, 2]
    assert out.iterations["train-min"].tolist() == [7, 8, 3, 4]
    assert out.maps["iter:5"][:, 0, 0].tolist() == [5, 5, 5, 5]


def test_ties_go_to_the_papers_step_size_and_a_better_smaller_step_wins():
    c = {
        "iter:5": {"robust_accuracy": 0.90, "image_auroc": 0.99, "mean_iterations": 5, "alpha_rank": 0},
        "iter:5@alpha=0.05": {"robust_accuracy": 0.90, "image_auroc": 0.99, "mean_iterations": 5, "alpha_rank": 2},
    }
    assert choose(c) == "iter:5"
    c["iter:5@alpha=0.05"]["robust_accuracy"] = 0.95
    assert choose(c) == "iter:5@alpha=0.05"


def test_calibration_tries_smaller_steps_and_stores_the_one_that_separates(monkeypatch):
    """With the paper's α the good images' maps reach the defects' level (a projection that moves
    good texture, as the DSAE's does); with a tenth of it they stay low. The calibration must
    choose the smaller step, store it, and say so; the Lr levels are run drifted both ways."""
    import torch

    from inspector_app.core import calibration as cal_mod
    from inspector_app.core.modelio import loss_statistics
    from inspector_app.core.models import ModelConfig, create_model

    seen = []

    def fake_run(model, images, params, lr_thresholds, device, batch, progress):
        seen.append((params.alpha, dict(lr_thresholds)))
        n = len(images)
        n_good = n // 5
        maps = {}
        for c in [f"iter:{t}" for t in cal_mod.ITERATIONS if t <= params.max_iter] + list(lr_thresholds):
            m = np.zeros((n, 32, 32), np.float16)
            m[n_good:, 4:12, 4:12] = 0.5  # the defects: a strong 8×8 region
            m[:n_good, 2:12, 2:12] = 0.6 if params.alpha > 0.1 else 0.01  # good images moved by a big step
            maps[c] = m
        iters = {c: np.full(n, 3) for c in maps}
        return cal_mod._Trajectories(maps, iters, np.zeros((n, 32, 32), np.float32), np.ones(n), np.zeros(n, bool))

    monkeypatch.setattr(cal_mod, "_run_candidates", fake_run)
    model = create_model(ModelConfig("l2ae", 32, 1, 8))
    rng = np.random.default_rng(0)
    val = [rng.random((32, 32)).astype(np.float32) for _ in range(8)]
    stats = loss_statistics(np.linspace(1.0, 2.0, 50))
    cal = cal_mod.calibrate(model, val, torch.device("cpu"), stats, max_iter=20, alpha_factors=(1.0, 0.3, 0.1),
                            lighting=())
    assert [a for a, _ in seen] == pytest.approx([0.5, 0.15, 0.05])
    assert cal.alpha == pytest.approx(0.05) and cal.figures["alpha"] == pytest.approx(0.05)
    assert "α = 0.05" in cal.method
    assert cal.figures["good_passed"] == 1.0 and cal.figures["defects_flagged"] == 1.0
    levels = seen[0][1]
    assert levels and all(k.endswith(("~good", "~defect")) for k in levels)
    for k, v in levels.items():
        if k.endswith("~good"):
            assert v < levels[k.replace("~good", "~defect")]


def test_lighting_variants_keep_the_mean_and_scale_the_contrast():
    from inspector_app.core.calibration import lighting_variants

    im = np.array([[0.2, 0.4], [0.6, 0.8]], np.float32)
    low, high = lighting_variants([im], (0.5, 2.0))
    assert low.mean() == pytest.approx(0.5) and low.std() == pytest.approx(im.std() * 0.5)
    np.testing.assert_allclose(high, [[0.0, 0.3], [0.7, 1.0]], atol=1e-6)  # ×2 about 0.5, clipped
    assert [v.shape for v in lighting_variants([im, im], (0.8, 1.25))] == [(2, 2)] * 4


def test_a_good_image_counts_with_its_worst_lighting_variant():
    good = np.zeros((3 * 4, 16, 16), np.float32)  # 4 images × (as they are, two variants)
    good[4 * 2 + 1, 2:8, 2:8] = 0.3  # the second image's high-contrast variant is projected far
    bad = np.zeros((4, 16, 16), np.float32)
    bad[:, 6:12, 6:12] = 0.8
    area, thr, table = choose_area_threshold(good, bad, areas=(1,), variants=3)
    assert len(table["1"]["good_scores"]) == 4 and max(table["1"]["good_scores"]) == pytest.approx(0.3)
    assert 0.3 * 1.3 < thr < 0.8 / 1.3
    _, _, plain = choose_area_threshold(good[:4], bad, areas=(1,))
    assert max(plain["1"]["good_scores"]) == 0.0  # without its variants the image looks perfect


def test_a_whole_photograph_counts_with_its_worst_tile():
    """Eight good tiles cut from two photographs: a photograph holds all its tiles' chances of a
    false region, so the threshold must pass its highest tile (which, as one of eight tiles, a
    tile-by-tile rule may leave above the threshold)."""
    from inspector_app.core.calibration_rule import whole_image_scores
    from inspector_app.core.training import TrainConfig, model_sized_groups
    from inspector_app.core.models import ModelConfig

    good = np.zeros((8, 16, 16), np.float32)
    for i in range(8):
        good[i, 2:8, 2:8] = 0.02 * (i + 1)  # tile scores .02 … .16
    bad = np.zeros((8, 16, 16), np.float32)
    bad[:, 6:12, 6:12] = 0.6
    groups = [0, 0, 0, 0, 1, 1, 1, 1]
    _, thr_tiles, t_tiles = choose_area_threshold(good, bad, areas=(1,))
    _, thr_photos, t_photos = choose_area_threshold(good, bad, areas=(1,), groups=groups)
    assert t_photos["1"]["good_scores"] == pytest.approx([0.08, 0.16])
    assert len(t_tiles["1"]["good_scores"]) == 8
    assert thr_photos >= 0.16 and t_photos["1"]["good_passed"] == 1.0
    np.testing.assert_allclose(whole_image_scores(np.array([3.0, 1.0, 2.0]), [5, 5, 2]), [3.0, 2.0])
    # the texture protocol's validation tiles name the photograph they were cut from; objects do not
    cfg = TrainConfig(ModelConfig("l2ae", 32, 1, 8), crop=True)
    tiles, g = model_sized_groups([np.zeros((64, 96), np.float32), np.zeros((32, 32), np.float32)], cfg)
    assert len(tiles) == 7 and g == [0] * 6 + [1]
    assert model_sized_groups([np.zeros((64, 96), np.float32)], TrainConfig(ModelConfig("l2ae", 32, 1, 8), crop=False))[1] is None


def test_a_fixed_count_candidate_records_its_own_number_of_iterations():
    # the fewest-iterations tie-break compares these: a fixed count of t used to be recorded as
    # the run's maximum, so every count looked as long as the longest
    import torch

    from inspector_app.core.calibration import _run_candidates
    from inspector_app.core.models import ModelConfig, create_model
    from inspector_app.core.params import ProjectionParams

    model = create_model(ModelConfig("l2ae", 32, 1, 8)).eval()
    rng = np.random.default_rng(0)
    images = [rng.random((32, 32)).astype(np.float32) for _ in range(3)]
    params = ProjectionParams().replace(stop="none", max_iter=8).validated()
    traj = _run_candidates(model, images, params, {"lr-any": 1e9}, torch.device("cpu"), 2, None)
    assert {c: v.tolist() for c, v in traj.iterations.items() if c.startswith("iter:")} == \
        {f"iter:{t}": [t] * 3 for t in (1, 2, 3, 5, 8)}
    assert traj.iterations["lr-any"].tolist() == [0, 0, 0]  # Lr under the level already at t = 0


def test_the_runs_record_which_images_diverged():
    # a γ-VAE whose γ is tiny: Lr's gradient ∝ 1/γ² sends the paper's α = 0.5 uphill at once
    import torch

    from inspector_app.core.calibration import _run_candidates
    from inspector_app.core.models import ModelConfig, create_model
    from inspector_app.core.params import ProjectionParams

    model = create_model(ModelConfig("gvae", 32, 1, 8)).eval()
    with torch.no_grad():
        model.log_gamma.fill_(float(np.log(0.03)))  # the γ of a brick γ-VAE trained for 8,000 steps
    rng = np.random.default_rng(0)
    images = [rng.random((32, 32)).astype(np.float32) for _ in range(3)]
    run = lambda a: _run_candidates(model, images, ProjectionParams().replace(alpha=a, stop="none", max_iter=5).validated(),
                                    {}, torch.device("cpu"), 2, None)
    assert run(0.5).diverged.tolist() == [True] * 3
    assert run(0.05).diverged.tolist() == [True] * 3
    assert run(0.005).diverged.tolist() == [False] * 3


def test_calibration_steps_down_while_every_step_size_diverges(monkeypatch):
    import torch

    from inspector_app.core import calibration as cal_mod
    from inspector_app.core.modelio import loss_statistics
    from inspector_app.core.models import ModelConfig, create_model

    seen = []

    def fake_run(model, images, params, lr_thresholds, device, batch, progress):
        seen.append(params.alpha)
        n = len(images)
        progress(n)
        n_good = n // 5
        ok = params.alpha < 0.01  # larger steps diverge at once: every map stays zero
        maps = {}
        for c in [f"iter:{t}" for t in cal_mod.ITERATIONS if t <= params.max_iter] + list(lr_thresholds):
            m = np.zeros((n, 32, 32), np.float16)
            if ok:
                m[n_good:, 4:12, 4:12] = 0.5
            maps[c] = m
        return cal_mod._Trajectories(maps, {c: np.full(n, 3) for c in maps}, np.zeros((n, 32, 32), np.float32),
                                     np.ones(n), np.full(n, not ok))

    monkeypatch.setattr(cal_mod, "_run_candidates", fake_run)
    model = create_model(ModelConfig("gvae", 32, 1, 8))
    rng = np.random.default_rng(0)
    val = [rng.random((32, 32)).astype(np.float32) for _ in range(8)]
    done, told = [], []
    cal = cal_mod.calibrate(model, val, torch.device("cpu"), loss_statistics(np.linspace(1.0, 2.0, 50)), max_iter=20,
                            lighting=(), progress=done.append, step_down=lambda a, n: told.append((a, n)))
    assert seen == pytest.approx([0.5, 0.15, 1.5, 0.015, 0.0015])  # ×0.1 below the smallest, until one holds
    # the caller hears of each added step size, with the images it will project (a progress bar's total)
    assert [a for a, _ in told] == pytest.approx([0.015, 0.0015]) and [n for _, n in told] == done[3:]
    assert cal.alpha == pytest.approx(0.0015) and cal.figures["defects_flagged"] == 1.0
    assert cal.figures["diverged_share"] == {"0.5": 1.0, "0.15": 1.0, "1.5": 1.0, "0.015": 1.0, "0.0015": 0.0}
    seen.clear()
    monkeypatch.setattr(cal_mod, "MAX_DIVERGED", 1.0)  # diverging everywhere is tolerated: no smaller steps
    cal_mod.calibrate(model, val, torch.device("cpu"), loss_statistics(np.linspace(1.0, 2.0, 50)), max_iter=20,
                      lighting=(), progress=lambda n: None, step_down=lambda a, n: told.append(a))
    assert seen == pytest.approx([0.5, 0.15, 1.5]) and len(told) == 2


def test_the_calibration_also_tries_a_larger_step_and_prefers_the_papers_on_ties(monkeypatch):
    """A VAE's Lr (unit decoder variance) has half the L2AE's gradient: a step three times the
    paper's can reach in a few iterations what 0.5 does not. It wins only on the validation figures;
    where they tie, the paper's step size does."""
    import torch

    from inspector_app.core import calibration as cal_mod
    from inspector_app.core.modelio import loss_statistics
    from inspector_app.core.models import ModelConfig, create_model

    def runner(separates):
        def fake_run(model, images, params, lr_thresholds, device, batch, progress):
            n = len(images)
            maps = {}
            for c in [f"iter:{t}" for t in cal_mod.ITERATIONS if t <= params.max_iter] + list(lr_thresholds):
                m = np.zeros((n, 32, 32), np.float16)
                if separates(params.alpha):
                    m[n // 5:, 4:12, 4:12] = 0.5
                maps[c] = m
            return cal_mod._Trajectories(maps, {c: np.full(n, 3) for c in maps}, np.zeros((n, 32, 32), np.float32),
                                         np.ones(n), np.zeros(n, bool))
        return fake_run

    model = create_model(ModelConfig("vae", 32, 1, 8))
    rng = np.random.default_rng(0)
    val = [rng.random((32, 32)).astype(np.float32) for _ in range(8)]
    stats = loss_statistics(np.linspace(1.0, 2.0, 50))
    assert cal_mod.ALPHA_FACTORS[0] == 1.0 and max(cal_mod.ALPHA_FACTORS) > 1.0
    monkeypatch.setattr(cal_mod, "_run_candidates", runner(lambda a: a > 1.0))  # only the larger step finds them
    cal = cal_mod.calibrate(model, val, torch.device("cpu"), stats, max_iter=20, lighting=())
    assert cal.alpha == pytest.approx(1.5) and cal.figures["defects_flagged"] == 1.0
    monkeypatch.setattr(cal_mod, "_run_candidates", runner(lambda a: a > 0.2))  # 0.5 and 1.5 tie
    assert cal_mod.calibrate(model, val, torch.device("cpu"), stats, max_iter=20, lighting=()).alpha == pytest.approx(0.5)


def test_candidates_are_described_in_words():
    from inspector_app.core.calibration_rule import describe_candidate

    assert describe_candidate("train-q01") == "Lr under the 1st percentile of the training losses"  # was "01th"
    assert describe_candidate("val-q90") == "Lr under the 90th percentile of validation Lr(x0)"
    assert describe_candidate("train-q05") == "Lr under the 5th percentile of the training losses"
    assert describe_candidate("iter:3@alpha=1.5") == "a fixed 3 iterations, with the step size α = 1.5"
    assert describe_candidate("train-min") == "Lr under the training minimum (the paper's)"
