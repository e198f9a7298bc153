"""Frames (numpy, made in the worker), the bounded history behind the slider, the energy trace."""

from __future__ import annotations

import numpy as np
import torch

from inspector_app.core.params import ProjectionParams
from inspector_app.session.frames import EnergyTrace, Frame, FrameHistory, frame_from_record


def _frame(i: int, size: int = 8) -> Frame:
    a = np.full((size, size), i / 1000.0, np.float32)
    return Frame(i, a, a, a, a, float(i), float(i), 0.0, ProjectionParams())


def test_keeps_every_frame_up_to_capacity():
    h = FrameHistory(capacity=10)
    for i in range(10):
        h.append(_frame(i))
    assert h.iterations() == list(range(10))
    assert h[0].x.dtype == np.float16


def test_thins_evenly_and_keeps_the_newest():
    h = FrameHistory(capacity=10)
    for i in range(1000):
        h.append(_frame(i))
        assert len(h) <= 11
        assert h[-1].iteration == i  # the right end is always the newest frame
    its = h.iterations()
    assert its[0] == 0
    steps = np.diff(its[:-1])
    assert len(set(steps.tolist())) == 1  # evenly spread
    assert h.stride > 1
    assert h.iterations()[h.nearest(501)] in (448, 512)


def test_memory_budget_lowers_capacity():
    h = FrameHistory(capacity=200, max_bytes=10 * 4 * 64 * 64 * 2)
    for i in range(50):
        h.append(_frame(i, size=64))
    assert len(h) <= 11


def test_expanded_is_float32():
    h = FrameHistory()
    h.append(_frame(3))
    f = h[0].expanded()
    assert f.x.dtype == np.float32 and f.iteration == 3


def test_frame_from_record_is_numpy_with_both_maps(tmp_path):
    from conftest import make_model_file
    from inspector_app.core.modelio import load_model
    from inspector_app.core.projection import project

    loaded = load_model(make_model_file(tmp_path / "m.safetensors"), "cpu")
    torch.manual_seed(0)
    x0 = torch.rand(1, 1, 32, 32)
    gen = project(loaded.model, x0, ProjectionParams(stop="none", max_iter=3))
    recs = list(gen)
    f = frame_from_record(recs[-1])
    assert f.iteration == 3 and f.steps == 3 and f.stop_reason == "max_iter" and f.finished
    for a in (f.x, f.reconstruction, f.dssim_projection, f.dssim_reconstruction):
        assert isinstance(a, np.ndarray) and a.shape == (32, 32) and a.dtype == np.float32
    assert np.allclose(f.dssim_projection, recs[-1].dssim_projection[0].numpy())
    assert f.energy == float(recs[-1].energy[0]) and f.params.max_iter == 3
    assert f.dssim("reconstruction") is f.dssim_reconstruction


def test_energy_trace_grows_and_exports():
    t = EnergyTrace()
    for i in range(1000):
        t.extend([(i, 3.0 * i, 2.0 * i, float(i))])
    assert len(t) == 1000
    assert t.column("iteration")[-1] == 999 and t.column("E").flags["C_CONTIGUOUS"]
    s = t.series()
    assert s["iteration"][:3] == [0, 1, 2] and s["Lr"][10] == 20.0
    t.clear()
    assert len(t) == 0 and t.series()["E"] == []
