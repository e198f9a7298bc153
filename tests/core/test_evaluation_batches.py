"""``evaluate``'s passes one batch at a time (``core.evaluation_batches``, what ``evaluate --ray`` runs on
its workers), without Ray: the batches planned from the files' headers are the plain run's, and batches
scored apart from their bytes and merged in any order give the plain run's result, figure for figure."""

from __future__ import annotations

import json

import pytest

from inspector_app.core import evaluation
from inspector_app.core.evaluation import _load_one, cut_batches, evaluate, load_category
from inspector_app.core.evaluation_batches import Merger, plan_batches, score_batch
from inspector_app.core.modelio import json_safe, load_model
from inspector_app.core.params import ProjectionParams

from conftest import make_mixed_category


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root, model = make_mixed_category(tmp_path_factory.mktemp("batches") / "mixed")
    return load_category(root), load_model(model, "cpu")


def _text(result: dict) -> str:
    """The JSON a run writes, but for the seconds it took."""
    return json.dumps(json_safe({k: v for k, v in result.items() if k != "seconds"}), indent=1, allow_nan=False)


def test_the_planned_batches_are_the_plain_runs_cut_from_the_headers(mixed, monkeypatch):
    cat, loaded = mixed
    monkeypatch.setattr(evaluation, "BATCH_PIXELS", 2 * 48 * 48)  # two 48-px images, or 3 with a 40×32 one
    plan = list(plan_batches(cat, loaded, 4))
    plain = cut_batches((_load_one(t, loaded) for t in cat.images), lambda it: int(it[1].size), 4)
    assert [(b.start, len(b.images)) for b in plan] == [(start, len(items)) for start, items in plain]
    assert [(b.start, len(b.images)) for b in plan] == [(0, 2), (2, 3), (5, 2)]  # the pixels cut them short
    assert [t for b in plan for t in b.images] == cat.images
    for b in plan:  # every image's and mask's bytes travel with its batch
        assert set(b.blobs) == {str(p) for t in b.images for p in (t.path, t.mask_path) if p is not None}
        assert all(b.blobs[str(t.path)].tobytes() == t.path.read_bytes() for t in b.images)


@pytest.mark.parametrize("curve", [True, False])
def test_batches_scored_apart_and_merged_in_any_order_give_the_plain_result(mixed, monkeypatch, curve):
    cat, loaded = mixed
    monkeypatch.setattr(evaluation, "BATCH_PIXELS", 2 * 48 * 48)  # batches of 2, 3 (one 40×32 px) and 2
    params = ProjectionParams(max_iter=3, stop="none")
    done: list[int] = []

    def apart(loaded, category, params, iterations, batch, curve, progress):
        parts = [(b.start, score_batch(loaded, b, params, iterations, curve)) for b in plan_batches(category, loaded, batch)]
        merger = Merger(len(category.images), iterations, curve)
        for start, part in reversed(parts):  # the last batch first: as a cluster may finish them
            merger.add(start, part)
        done.append(len(parts))
        return merger.result()

    kw = {"iterations": 3, "batch": 4, "curve": curve, "threshold": 0.01}
    plain, merged = evaluate(loaded, cat, params, **kw), evaluate(loaded, cat, params, passes=apart, **kw)
    assert done == [3]
    assert _text(merged) == _text(plain)
    assert plain["working_sizes"] == {"48x48": 5, "32x40": 2}  # two sizes, mixed in the batches


def test_a_bad_mask_read_from_its_bytes_is_the_plain_runs_one_line(mixed, tmp_path):
    import shutil

    import cv2
    import numpy as np

    cat, loaded = mixed
    root = tmp_path / "bad"
    shutil.copytree(cat.root, root)
    cv2.imwrite(str(root / "ground_truth" / "stain" / "000_mask.png"), np.zeros((10, 10), np.uint8))
    bad = load_category(root)
    (b,) = plan_batches(bad, loaded, 16)
    with pytest.raises(evaluation.DataError) as got:
        score_batch(loaded, b, ProjectionParams(max_iter=1, stop="none"), 1, False)
    with pytest.raises(evaluation.DataError) as want:
        evaluate(loaded, bad, ProjectionParams(max_iter=1, stop="none"), iterations=1, curve=False)
    assert str(got.value) == str(want.value) and "000_mask.png" in str(got.value)
