"""Review results kept across reviews (issue 25, item 1): reopening a folder projects only what
changed; the cache is keyed by the image's bytes, the model's hash and the parameters, bounded,
evictable, and a damaged file is a miss."""

from __future__ import annotations

import numpy as np
import pytest

from inspector_app.core.data import write_image
from inspector_app.session import Session
from inspector_app.session.review import jobs
from inspector_app.session.review.cache import ResultCache, cache_dir, result_key
from test_review_session import PARAMS, loaded, make_mvtec, open_review  # noqa: F401 (fixtures)


@pytest.fixture
def folder(tmp_path, texture_images):
    return make_mvtec(tmp_path / "cat", texture_images)


def run(review, loaded, params=PARAMS):
    for out in review.run_job(loaded, params, batch=2)():
        if out:
            review.add_results(out)
    review.end_run()


def figures(r):
    return [(r.score(i), r.results[i].iterations, r.results[i].iou, r.results[i].stop_reason) for i in range(len(r))]


@pytest.fixture
def projections(monkeypatch):
    calls = []
    real = jobs.project
    monkeypatch.setattr(jobs, "project", lambda model, x0, *a, **k: calls.append(int(x0.shape[0])) or real(model, x0, *a, **k))
    return calls


def test_reopening_projects_only_what_changed(folder, loaded, projections, texture_images):
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    run(r, loaded)
    assert sum(projections) == 5
    first, maps, auroc = figures(r), r.store.load(1), r.pixel_auroc()
    thumbs = [r.results[i].thumbnail for i in range(len(r))]
    r.close()
    assert len(list(cache_dir().glob("*.npz"))) == 5  # kept after the review closed

    r2 = open_review(s, folder, loaded)
    run(r2, loaded)
    assert sum(projections) == 5  # nothing projected again
    assert figures(r2) == first and r2.pixel_auroc() == auroc
    back = r2.store.load(1)
    np.testing.assert_array_equal(back.dssim_projection, maps.dssim_projection)
    np.testing.assert_array_equal(back.gt, maps.gt)
    np.testing.assert_allclose(back.x, maps.x, atol=1e-3)  # float16 on disk, as in the review's store
    for i, th in enumerate(thumbs):
        np.testing.assert_array_equal(r2.results[i].thumbnail, th)
    r2.close()

    write_image(folder / "test" / "good" / "001.png", texture_images[7])  # one image changed
    r3 = open_review(s, folder, loaded)
    run(r3, loaded)
    assert projections[-1:] == [1] and sum(projections) == 6
    r3.close()
    r4 = open_review(s, folder, loaded)
    run(r4, loaded, PARAMS.replace(max_iter=4))  # other parameters: another key
    assert sum(projections) == 11
    r4.close()


def test_keys_name_the_image_the_model_and_the_parameters():
    k = result_key("a" * 64, "b" * 64, PARAMS)
    assert k == result_key("a" * 64, "b" * 64, PARAMS) and len(k) == 64
    assert len({k, result_key("c" * 64, "b" * 64, PARAMS), result_key("a" * 64, "c" * 64, PARAMS),
                result_key("a" * 64, "b" * 64, PARAMS.replace(lam=0.1))}) == 4
    assert result_key(None, "b" * 64, PARAMS) is None and result_key("a" * 64, "", PARAMS) is None


def _put(cache, key, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.random((16, 16)).astype(np.float32)
    fields = {"iterations": 3, "stop_reason": "max_iter", "recon_loss_x0": 1.0, "energy_final": 1.0,
              "recon_loss": 1.0, "reg": 0.0, "lr_threshold": None, "shape": [16, 16], "seconds": 0.1,
              "warnings": [], "params": PARAMS.to_dict()}
    cache.put(key, fields, m, m, {"projection": m, "reconstruction": m}, np.zeros((4, 4)), np.zeros((8, 8, 3), np.uint8))


def test_the_cache_is_bounded_least_recently_used_first(tmp_path):
    import os
    import time

    c = ResultCache(tmp_path / "c")
    _put(c, "k0")
    one = c.size
    c.max_bytes = 3 * one
    for i, k in enumerate(("k1", "k2")):
        _put(c, k, i + 1)
        t = time.time() - 100 + 10 * i
        os.utime(c._path(k), (t, t))
    os.utime(c._path("k0"), (time.time() - 200,) * 2)
    assert c.get("k0") is not None  # used: the most recent now
    _put(c, "k3", 3)
    assert c.get("k1") is None and all(c.get(k) is not None for k in ("k0", "k2", "k3"))
    assert c.size <= c.max_bytes
    assert c.clear() == 3 and c.size == 0 and not list((tmp_path / "c").glob("*.npz"))


def test_a_colour_result_comes_back(tmp_path):
    c = ResultCache(tmp_path / "c")
    rgb = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    m = rgb[..., 0]
    fields = {"iterations": 3, "stop_reason": "max_iter", "recon_loss_x0": 1.0, "energy_final": 1.0,
              "recon_loss": 1.0, "reg": 0.0, "lr_threshold": None, "shape": [16, 16], "seconds": 0.1,
              "warnings": [], "params": PARAMS.to_dict()}
    c.put("rgb", fields, rgb, rgb, {"projection": m, "reconstruction": m}, np.zeros((4, 4)), np.zeros((8, 8, 3), np.uint8))
    back = c.get("rgb")
    assert back is not None and back.x.shape == (16, 16, 3)
    np.testing.assert_allclose(back.x, rgb, atol=1e-3)


def test_a_damaged_cache_file_is_a_miss_and_goes(tmp_path):
    c = ResultCache(tmp_path / "c")
    _put(c, "k")
    assert c.get("k").fields["iterations"] == 3
    c._path("k").write_bytes(b"PK\x03\x04 not a zip")
    assert c.get("k") is None and not c._path("k").exists()
    c.folder.mkdir(exist_ok=True)
    np.savez(c._path("p"), images=np.array([object()], dtype=object))  # would need pickle to load
    assert c.get("p") is None and not c._path("p").exists()
