"""The calibration's one-sentence account says what it counted: a texture model calibrated on whole
photographs counts their tiles, and one photograph is singular (a 1-minute gravel model's card read
'calibrated on 12 validation images (1 whole photographs, …)' of its one validation photograph)."""

from __future__ import annotations

from inspector_app.core.calibration import _account


def test_whole_photographs_count_tiles_and_one_is_singular():
    figures: dict = {}
    assert _account(figures, "", [0] * 6, 6, 6) == ("12 tiles of the validation images (1 whole photograph, "
                                                    "scored by their highest tile)")
    assert figures["n_good_photographs"] == 1
    assert "(2 whole photographs," in _account({}, "", [0, 0, 1, 1], 4, 2)
    assert _account({}, "", None, 5, 3) == "8 validation images"
