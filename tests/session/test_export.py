"""The export from a numpy frame writes what core.pipeline.finish writes from the record."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_model_file
from inspector_app.core.modelio import load_model
from inspector_app.core.params import ProjectionParams
from inspector_app.core.pipeline import batch_tensors, finish, prepare
from inspector_app.core.projection import run_to_end
from inspector_app.session.export import finish_frame
from inspector_app.session.frames import frame_from_record


@pytest.mark.parametrize("size,masked", [((32, 32), False), ((40, 48), True)])
def test_finish_frame_matches_core_finish(tmp_path, texture_images, size, masked):
    loaded = load_model(make_model_file(tmp_path / "m.safetensors"), "cpu")
    img = np.tile(texture_images[0], (2, 2))[: size[0], : size[1]]
    mask = None
    if masked:
        mask = np.zeros(size, bool)
        mask[5:20, 10:30] = True
    prep = prepare("img", img, loaded, mask)
    x0, m = batch_tensors([prep])
    torch.manual_seed(0)
    _, last, curves = run_to_end(loaded.model, x0, ProjectionParams(stop="none", max_iter=6, alpha=2.0), mask=m)
    for compare in ("projection", "reconstruction"):
        ref = finish(prep, last, 0, compare=compare, threshold=0.05, energy_curve=curves[0])
        got = finish_frame(prep, frame_from_record(last), compare=compare, threshold=0.05, energy_curve=curves[0])
        for k in ("projection", "reconstruction", "dssim"):
            np.testing.assert_allclose(getattr(got, k), getattr(ref, k), atol=1e-6)
        np.testing.assert_array_equal(got.segmentation, ref.segmentation)
        assert got.info == ref.info and got.score == pytest.approx(ref.score)
        if masked:
            assert np.array_equal(got.projection[~mask], img[~mask])
