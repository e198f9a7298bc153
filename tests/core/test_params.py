"""Projection parameters: ranges, the stop criterion's parsing and canonical text, validation."""

from __future__ import annotations

import math

import pytest

from inspector_app.core.params import RANGES, ProjectionParams, Stop, check_range, parse_stop


def test_defaults_are_the_papers():
    p = ProjectionParams()
    assert (p.alpha, p.lam, p.optimizer, p.grad_mask, p.max_iter, p.stop) == (0.5, 0.05, "sgd", "recon", 100, "train-min")
    assert (p.tol, p.patience, p.diverge_factor, p.diverge_patience) == (1e-5, 3, 1.0, 5)
    assert RANGES["threshold"].default == 0.2  # figure 3
    assert RANGES["alpha"].log and RANGES["tol"].log and not RANGES["lam"].log


def test_check_range_includes_both_bounds():
    assert check_range("alpha", 1e-4) == 1e-4 and check_range("alpha", 100.0) == 100.0
    assert check_range("lam", 0.0) == 0.0 and check_range("lam", 2.0) == 2.0
    for name, value in [("alpha", 100.01), ("alpha", 9e-5), ("lam", -0.001), ("max_iter", 0), ("max_iter", 10001),
                        ("patience", 101)]:
        with pytest.raises(ValueError, match=f"{name} = .* is out of range"):
            check_range(name, value)


@pytest.mark.parametrize("spec, text, kind, value", [
    ("none", "none", "none", None),
    ("  Converge ", "converge", "converge", None),
    ("TRAIN-MIN", "train-min", "train-min", None),
    ("train-q05", "train-q05", "train-q", 5),
    ("train-q5", "train-q5", "train-q", 5),
    ("train-q99", "train-q99", "train-q", 99),
    ("lr:0.5", "lr:0.5", "lr", 0.5),
    ("lr:1e3", "lr:1000", "lr", 1000.0),
    ("lr:-2", "lr:-2", "lr", -2.0),
    ("0.25", "lr:0.25", "lr", 0.25),
    ("3", "lr:3", "lr", 3.0),
])
def test_stop_parse(spec, text, kind, value):
    s = Stop.parse(spec)
    assert isinstance(s, Stop) and isinstance(s, str)
    assert str(s) == text and s.kind == kind and s.value == value
    assert Stop.parse(s) is s
    assert parse_stop(spec) == text
    assert repr(s) == f"Stop({text!r})"


@pytest.mark.parametrize("spec", ["sometimes", "train-q100", "train-q", "lr:", "lr:abc", "lr:inf", "lr:nan", "nan",
                                  "inf", "train-max", ""])
def test_stop_parse_refuses(spec):
    with pytest.raises(ValueError, match="stop criterion"):
        Stop.parse(spec)


def test_stop_of():
    assert Stop.of("train-q", 5) == "train-q05" and Stop.of("train-q", 50).value == 50
    assert Stop.of("lr", 0.5) == "lr:0.5" and Stop.of("lr", 2).kind == "lr"
    assert Stop.of("train-min") == "train-min" and Stop.of("none") == "none" and Stop.of("converge") == "converge"
    assert Stop.of("train-q") == "train-q00" and Stop.of("lr") == "lr:0"


def test_validated_parses_the_stop_and_refuses_bad_values():
    p = ProjectionParams(stop="train-q07").validated()
    assert isinstance(p.stop, Stop) and p.stop.kind == "train-q" and p.stop.value == 7
    assert ProjectionParams(max_iter=0).validated().max_iter == 0  # x0 only
    assert ProjectionParams(lam=0.0).validated().lam == 0.0
    for kw, match in [({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"), ({"alpha": math.nan}, "alpha"),
                      ({"lam": -0.1}, "lam"), ({"optimizer": "lbfgs"}, "optimizer"), ({"grad_mask": "omega"}, "grad_mask"),
                      ({"max_iter": -1}, "max_iter"), ({"tol": 0.0}, "tol"), ({"patience": 0}, "patience"),
                      ({"stop": "whenever"}, "stop criterion")]:
        with pytest.raises(ValueError, match=match):
            ProjectionParams(**kw).validated()


def test_replace_and_to_dict():
    p = ProjectionParams()
    q = p.replace(alpha=0.1)
    assert q.alpha == 0.1 and p.alpha == 0.5 and q.lam == p.lam
    d = q.to_dict()
    assert "extra" not in d
    assert d == {"alpha": 0.1, "lam": 0.05, "optimizer": "sgd", "grad_mask": "recon", "max_iter": 100,
                 "stop": "train-min", "tol": 1e-5, "patience": 3, "diverge_factor": 1.0, "diverge_patience": 5,
                 "margin": 0}
    assert ProjectionParams(**d) == q
