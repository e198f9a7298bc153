"""Issue 26, memory per image, in review mode: a colour photograph reviewed with a grey model is read
in the model's channels (converted a band of rows at a time, never held as colour floats); its
result still says that the file was colour, and the shape it records is the file's own."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from conftest import make_model_file
from inspector_app.core import data as data_module
from inspector_app.core.imageops import BAND_ROWS
from inspector_app.core.modelio import load_model
from inspector_app.session import Session
from inspector_app.session.review.store import ImageResult
from test_review_session import open_review


def test_a_colour_part_is_read_in_the_grey_models_channels(tmp_path, monkeypatch):
    folder = tmp_path / "parts"
    folder.mkdir()
    rng = np.random.default_rng(0)
    tall = BAND_ROWS * 2 + 11
    cv2.imwrite(str(folder / "colour.png"), (rng.random((tall, 60, 3)) * 255).astype(np.uint8))
    cv2.imwrite(str(folder / "grey.png"), (rng.random((40, 50)) * 255).astype(np.uint8))
    loaded = load_model(make_model_file(tmp_path / "m.safetensors"), "cpu")
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    converted = []
    real = data_module._as_unit_float
    monkeypatch.setattr(data_module, "_as_unit_float", lambda p, a: converted.append(a.shape) or real(p, a))
    results = []
    for out in r.run_job(loaded, dataclasses.replace(s.params.to_params(), max_iter=1))():
        if out:
            results += out
            r.add_results(out)
    r.end_run()
    r.close()
    by_shape = {tuple(x.shape): x for x in results if isinstance(x, ImageResult)}
    assert set(by_shape) == {(tall, 60), (40, 50)}, results
    assert "channels" in [w["code"] for w in by_shape[(tall, 60)].warnings]  # the file's own channels
    assert "channels" not in [w["code"] for w in by_shape[(40, 50)].warnings]
    assert converted and max(sh[0] for sh in converted) <= BAND_ROWS  # never the whole colour image as floats
    assert any(len(sh) == 3 for sh in converted)
