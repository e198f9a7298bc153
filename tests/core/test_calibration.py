"""Calibration's choices, by hand: the robust threshold, the area, the stop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector_app.core.calibration import PAPER, Calibration, choose, choose_area_threshold, model_defaults, robust_threshold


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


def test_model_defaults_and_the_paper():
    assert model_defaults(None) is PAPER and model_defaults({"calibration": "x"}) is PAPER
    cal = Calibration(threshold=0.1, min_area=9, stop="none", max_iter=12, method="m")
    assert model_defaults({"calibration": cal.to_dict()}) == cal
    assert model_defaults({"calibration": cal.to_dict()}, paper=True) is PAPER
