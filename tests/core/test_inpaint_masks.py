"""The inpainting mask families (issue 25, item 9): each draws a mask of its kind and size, the same
for the same seed, and the evaluation compares masked inpainting with Telea inside each mask."""

from __future__ import annotations

import numpy as np
import pytest

from inspector_app.core.inpaint_masks import FAMILIES, evaluate_families, family_mask

#: (smallest, largest) share of a 32×32 image each family covers.
SIZES = {"disc_small": (0.005, 0.035), "disc_large": (0.05, 0.2), "strokes": (0.01, 0.35), "brush": (0.02, 0.35),
         "rect_small": (0.03, 0.09), "rect_large": (0.24, 0.41), "eyes": (0.08, 0.2), "mouth": (0.04, 0.12)}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_draws_its_kind_of_mask(family):
    for seed in range(5):
        m = family_mask(family, (32, 32), np.random.default_rng(seed))
        assert m.dtype == bool and m.shape == (32, 32)
        lo, hi = SIZES[family]
        assert lo <= m.mean() <= hi, (seed, m.mean())
        np.testing.assert_array_equal(m, family_mask(family, (32, 32), np.random.default_rng(seed)))
    if family in ("eyes", "mouth"):  # a band across the face, at the eyes' or the mouth's height
        rows = np.nonzero(m.any(axis=1))[0]
        assert (rows.mean() < 16) == (family == "eyes")


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="mask family"):
        family_mask("circles", (32, 32), np.random.default_rng(0))


def test_evaluation_compares_with_telea_inside_the_mask(tiny_model_file, texture_images):
    from inspector_app.core.modelio import load_model
    from inspector_app.core.params import ProjectionParams

    loaded = load_model(tiny_model_file, "cpu")
    p = ProjectionParams(alpha=0.2, lam=0.0, grad_mask="none", stop="none", max_iter=0)
    res = evaluate_families(loaded, texture_images[:2], p, p, families=("rect_large", "strokes"))
    assert set(res) == {"rect_large", "strokes"}
    for r in res.values():  # 0 iterations from Telea's fill: Telea itself
        assert r["cases"] == 2 and r["from_telea"] == pytest.approx(r["telea"]) and r["gain_from_telea"] == 0
        assert r["wins_from_telea"] == 0 and np.isfinite(r["from_input"])
    # a schedule of its own for thin or small Ω: the strokes run it (from the corrupted pixels
    # here, so no longer Telea's figure), the large rectangles keep the other
    res = evaluate_families(loaded, texture_images[:2], p, p, families=("rect_large", "strokes"),
                            masked_thin=p.replace(max_iter=2), thin_init="input")
    assert res["strokes"]["thin_cases"] == 2 and res["rect_large"]["thin_cases"] == 0
    assert res["rect_large"]["from_telea"] == pytest.approx(res["rect_large"]["telea"])
    assert res["strokes"]["from_telea"] != pytest.approx(res["strokes"]["telea"])
