"""The one table of bounded numbers (core/ranges.py) and the vocabularies (core/vocabulary.py)."""

import json
import math

import pytest

from inspector_app.core import params, ranges, vocabulary
from inspector_app.core.ranges import RANGES, check_range, clamp
from inspector_app.core.vocabulary import ModelVerdict, ReviewVerdict, StopKind, StopReason


def test_every_range_is_well_formed():
    for name, r in RANGES.items():
        assert r.minimum <= r.default <= r.maximum, name
        assert r.help, name
        if r.integer:
            assert float(r.minimum).is_integer() and float(r.maximum).is_integer() and float(r.default).is_integer()
        if r.log:
            assert r.minimum > 0, name


def test_the_paper_values_are_the_defaults():
    assert RANGES["threshold"].default == ranges.PAPER_THRESHOLD == 0.2
    assert RANGES["alpha"].default == ranges.PAPER_ALPHA == 0.5
    assert RANGES["lam"].default == ranges.PAPER_LAM == 0.05
    assert RANGES["min_area"].default == ranges.PAPER_MIN_AREA == 1
    assert params.ProjectionParams().stop == ranges.PAPER_STOP
    assert params.RANGES is RANGES  # re-exported, not copied


@pytest.mark.parametrize("name", sorted(RANGES))
def test_check_range_refuses_what_lies_outside(name):
    r = RANGES[name]
    assert check_range(name, r.minimum) == r.minimum and check_range(name, r.maximum) == r.maximum
    for bad in (r.minimum - 1, r.maximum * 2 + 1, math.nan, math.inf):
        with pytest.raises(ValueError, match=name):
            check_range(name, bad)
    if r.integer and r.maximum > r.minimum:
        with pytest.raises(ValueError, match="whole"):
            check_range(name, r.minimum + 0.5)


def test_clamp_brings_stored_values_into_range():
    assert clamp("min_area", 5e9) == RANGES["min_area"].maximum and isinstance(clamp("min_area", "7"), int)
    assert clamp("threshold", -3) == 0.0 and clamp("threshold", "nan") == 0.2
    assert clamp("percentile", 250) == 99
    with pytest.raises(ValueError):
        clamp("lam", "abc")


def test_vocabularies_keep_their_strings():
    assert [k.value for k in StopKind] == list(params.STOP_KINDS) == ["none", "converge", "train-min", "train-q", "lr"]
    assert json.dumps([StopReason.DIVERGED, ModelVerdict.GOOD]) == '["diverged", "good"]'
    assert f"{ReviewVerdict.OK}" == "ok" and StopReason.MAX_ITER == "max_iter"
    assert params.Stop.parse("train-q05").kind is StopKind.TRAIN_Q
    assert params.Stop.parse("lr:0.3").kind is StopKind.LR and params.Stop.parse("none").kind is StopKind.NONE


def test_one_mapping_between_the_reviewer_and_the_model():
    assert vocabulary.REVIEW_TO_MODEL == {ReviewVerdict.OK: ModelVerdict.GOOD,
                                          ReviewVerdict.DEFECTIVE: ModelVerdict.DEFECTIVE}
    assert vocabulary.MODEL_TO_REVIEW[ModelVerdict.GOOD] is ReviewVerdict.OK
    assert [vocabulary.review_label(v) for v in ("ok", "defective", "unsure", None, "x")] == [0, 1, None, None, None]
    assert vocabulary.review_agrees("ok", "good") and vocabulary.review_agrees("defective", "defective")
    assert vocabulary.review_agrees("ok", "defective") is False
    assert vocabulary.review_agrees("unsure", "good") is None and vocabulary.review_agrees("ok", "marginal") is None
