"""Review mode without Qt: the folder's parts and ground truth, the statistics, the review file, and
the ReviewSession end to end on a tiny model (results, selection, verdicts saved and resumed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_model_file
from inspector_app.core.data import read_image, write_image
from inspector_app.core.modelio import load_model
from inspector_app.core.params import ProjectionParams
from inspector_app.core.verdict import image_score
from inspector_app.session import Session
from inspector_app.session.review import ReviewSession, prepare_folder
from inspector_app.session.review.file import (
    CSV_NAME, JSON_NAME, ReviewDoc, ReviewFileError, quarantine, read_review, write_review)
from inspector_app.session.review.folder import FolderError, file_sha256, scan_folder
from inspector_app.session.review.jobs import folder_job, rescore
from inspector_app.session.review.stats import (
    confusion, f1_threshold, frr_threshold, model_verdict, model_verdicts, roc)
from inspector_app.session.review.store import ImageFailure, ResultStore, StoredMaps

PARAMS = ProjectionParams(max_iter=3, stop="none")


def _defect(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bad = img.copy()
    mask = np.zeros(img.shape, bool)
    mask[10:17, 12:20] = True
    bad[mask] = 0.02
    return bad, mask


def make_mvtec(root, images, n_good=2, n_bad=3):
    """An MVTec-layout category: train/good, test/good, test/blob with ground_truth/blob masks."""
    for i, im in enumerate(images[:2]):
        write_image(root / "train" / "good" / f"{i:03d}.png", im)
    for i in range(n_good):
        write_image(root / "test" / "good" / f"{i:03d}.png", images[2 + i])
    for i in range(n_bad):
        bad, mask = _defect(images[4 + i % 4])
        write_image(root / "test" / "blob" / f"{i:03d}.png", bad)
        write_image(root / "ground_truth" / "blob" / f"{i:03d}_mask.png", mask.astype(np.float32))
    return root


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_model(make_model_file(tmp_path_factory.mktemp("m") / "m.safetensors"), "cpu")


@pytest.fixture
def folder(tmp_path, texture_images):
    return make_mvtec(tmp_path / "cat", texture_images)


def run_folder(review: ReviewSession, loaded, params=PARAMS, batch=2):
    todo, gen = review.begin_run(params)
    for out in folder_job(loaded, todo, params, review.store, generation=gen, compare=review.compare,
                          threshold=review.threshold, min_area=review.min_area, batch=batch):
        if out:
            review.add_results(out)
    review.end_run()


def open_review(session, folder, loaded=None) -> ReviewSession:
    op = prepare_folder(folder)
    r = ReviewSession(session)
    r.open(op.scan, op.hashes, op.doc, op.json_path, op.csv_path)
    if loaded is not None:
        r.adopt_model(loaded.path, file_sha256(loaded.path), loaded.kind)
    return r


# ------------------------------------------------------------------------------------------ folder

def test_mvtec_folder_lists_test_images_with_their_masks(folder):
    scan = scan_folder(folder)
    assert scan.mvtec
    assert [it.rel for it in scan.items] == ["test/blob/000.png", "test/blob/001.png", "test/blob/002.png",
                                             "test/good/000.png", "test/good/001.png"]
    assert scan.skipped["training images"] == 2
    blob = scan.items[0]
    assert blob.gt == "defective" and blob.mask_path == folder / "ground_truth" / "blob" / "000_mask.png"
    assert scan.items[3].gt == "good" and scan.items[3].mask_path is None
    assert "MVTec layout" in scan.describe() and "skipped 2 training images" in scan.describe()


def test_flat_folder_skips_masks_results_and_hidden_files(tmp_path, texture_images):
    d = tmp_path / "parts"
    write_image(d / "a.png", texture_images[0])
    bad, mask = _defect(texture_images[1])
    write_image(d / "b.png", bad)
    write_image(d / "b_mask.png", mask.astype(np.float32))
    write_image(d / "sub" / "c.png", texture_images[2])
    write_image(d / "sub" / "ground_truth" / "c.png", texture_images[2])  # a mask folder, whatever the names
    write_image(d / ".cache" / "x.png", texture_images[3])
    write_image(d / "out" / "a_projection.png", texture_images[0])  # an earlier `project` result …
    (d / "out" / "a.json").write_text("{}")  # … beside its JSON
    write_image(d / "out" / "lonely_projection.png", texture_images[0])  # no JSON: a part like any other
    scan = scan_folder(d)
    assert [it.rel for it in scan.items] == ["a.png", "b.png", "out/lonely_projection.png", "sub/c.png"]
    assert scan.items[1].gt == "defective" and scan.items[1].mask_path == d / "b_mask.png"
    assert scan.items[0].gt == "good"  # the folder has masks: an image without one is good
    assert scan.skipped == {"ground-truth masks": 2, "earlier results": 1}


def test_folder_without_masks_has_no_ground_truth(tmp_path, texture_images):
    write_image(tmp_path / "a.png", texture_images[0])
    scan = scan_folder(tmp_path)
    assert scan.items[0].gt is None and not scan.has_ground_truth


def test_bad_folders_are_refused_with_a_message(tmp_path, texture_images):
    with pytest.raises(FolderError, match="no such folder"):
        scan_folder(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(FolderError, match="not a folder"):
        scan_folder(tmp_path / "f.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FolderError, match="no images in this folder"):
        scan_folder(empty)
    write_image(tmp_path / "only" / "x_mask.png", texture_images[0])
    with pytest.raises(FolderError, match=r"no images in this folder \(1 ground-truth masks skipped\)"):
        scan_folder(tmp_path / "only")


# ------------------------------------------------------------------------------------------ statistics

def test_model_verdicts_use_greater_than_and_the_band():
    assert model_verdict(0.2, 0.2) == "good" and model_verdict(0.2001, 0.2) == "defective"
    assert model_verdict(0.25, 0.2, 0.3) == "marginal" and model_verdict(0.3, 0.2, 0.3) == "marginal"
    assert model_verdict(0.31, 0.2, 0.3) == "defective"
    assert model_verdicts([0.1, 0.25, 0.4], 0.2, 0.3).tolist() == [0, 1, 2]


def test_confusion_with_and_without_a_band():
    s = [0.1, 0.25, 0.4, 0.15, 0.35]
    y = [0, 0, 0, 1, 1]
    assert confusion(s, y, 0.2).tolist() == [[1, 0, 2], [1, 0, 1]]
    assert confusion(s, y, 0.2, 0.3).tolist() == [[1, 1, 1], [1, 0, 1]]


def test_f1_threshold_by_hand():
    # good 0.1 0.2 0.3, defective 0.25 0.4 0.5
    s = [0.1, 0.2, 0.3, 0.25, 0.4, 0.5]
    y = [0, 0, 0, 1, 1, 1]
    # T=0.2: TP 3 FP 1 → F1 6/7; T=0.3: TP 2 FP 0 FN 1 → 4/5; T=0.25: TP 2, FP 1 → 4/6
    t, f1 = f1_threshold(s, y)
    assert t == pytest.approx(0.2) and f1 == pytest.approx(6 / 7)
    assert f1_threshold(s, [0] * 6) is None


def test_false_reject_threshold_by_hand():
    s = [0.1, 0.2, 0.3, 0.4, 0.25, 0.5]
    y = [0, 0, 0, 0, 1, 1]
    t, frr, det = frr_threshold(s, y, 0.0)  # no good part may be rejected: above the highest good score
    assert (t, frr, det) == (pytest.approx(0.4), 0.0, 0.5)
    t, frr, det = frr_threshold(s, y, 0.25)  # one good part in four may be rejected
    assert (t, frr, det) == (pytest.approx(0.3), 0.25, 0.5)
    t, frr, det = frr_threshold(s, y, 0.5)
    assert (t, frr, det) == (pytest.approx(0.2), 0.5, 1.0)
    assert frr_threshold(s, [1] * 6, 0.1) is None


def test_suggestions_lie_in_the_gap_and_wait_for_enough_labels():
    from inspector_app.session.review.stats import MIN_PER_CLASS, suggest, suggestion_note

    # only defective parts scored (the case of the issue: "T1 = 0.000 (F1 1.00)"): nothing suggested
    assert suggest([0.2] * 8, [1] * 8, 0.02) == (None, None)
    assert "(0 and 8 so far)" in suggestion_note([1] * 8)
    good = [0.001, 0.002, 0.003, 0.004, 0.005827]
    bad = [0.02, 0.03, 0.04, 0.05, 0.06]
    assert suggest(good[:4] + bad, [0] * 4 + [1] * 5, 0.02) == (None, None)  # 4 good: not yet
    f1, frr = suggest(good + bad, [0] * 5 + [1] * 5, 0.0)
    assert MIN_PER_CLASS == 5 and suggestion_note([0] * 5 + [1] * 5) is None
    for s in (f1, frr):  # not on the good part's 0.005827: in the gap, its geometric middle
        assert (s.below, s.above) == (0.005827, 0.02)
        assert s.threshold == pytest.approx(np.sqrt(0.005827 * 0.02)) and s.detection == 1.0
        assert s.margin == pytest.approx(s.threshold - 0.005827) and s.margin > 0
    assert f1.value == 1.0 and frr.value == 0.0
    # a gap from 0: half the lowest score
    f1, _ = suggest([0.0] * 5 + [0.1] * 5, [0] * 5 + [1] * 5, 0.0)
    assert f1.threshold == pytest.approx(0.05) and f1.below == 0.0


def test_roc_auroc_matches_the_rank_statistic():
    r = roc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert r.auroc == pytest.approx(0.75)
    assert r.fpr[0] == 0 and r.tpr[-1] == 1
    assert roc([0.1, 0.2], [1, 1]) is None


# ------------------------------------------------------------------------------------------ review file

def test_review_file_round_trip_and_csv(tmp_path):
    doc = ReviewDoc({"model": {"path": "/m", "sha256": "ab"}, "threshold": 0.2},
                    [{"path": "a.png", "verdict": "ok", "score": 0.125, "params": {"alpha": 0.5}},
                     {"path": "b.png", "verdict": None, "score": float("nan")}],
                    [{"path": "old.png", "verdict": "defective"}])
    write_review(tmp_path / JSON_NAME, tmp_path / CSV_NAME, doc)
    back = read_review(tmp_path / JSON_NAME)
    assert back.model_sha256 == "ab" and back.header["threshold"] == 0.2
    assert [r["path"] for r in back.reviewed] == ["a.png"] and back.records[1]["score"] is None
    assert back.stale == [{"path": "old.png", "verdict": "defective"}]
    lines = (tmp_path / CSV_NAME).read_text().splitlines()
    assert lines[0].startswith("path,sha256,ground_truth") and len(lines) == 3
    assert lines[1].split(",")[:1] == ["a.png"] and ",0.5," in lines[1] and ",ok," in lines[1]


@pytest.mark.parametrize("text, message", [
    ("{not json", "broken JSON"),
    ('{"format": "something else"}', "not an inspector-app review file"),
    ('{"format": "inspector-app review", "version": 99, "images": []}', "version 99"),
    ('{"format": "inspector-app review", "version": 1, "images": [{"verdict": "ok"}]}', "without a path"),
    ('{"format": "inspector-app review", "version": 1, "images": [{"path": "a", "verdict": "meh"}]}', "unknown verdict"),
])
def test_unusable_review_files_are_refused(tmp_path, text, message):
    p = tmp_path / JSON_NAME
    p.write_text(text)
    with pytest.raises(ReviewFileError, match=message):
        read_review(p)


def test_quarantine_keeps_the_file(tmp_path):
    p = tmp_path / JSON_NAME
    p.write_text("{broken")
    (tmp_path / CSV_NAME).write_text("path\n")
    new = quarantine(p)
    assert not p.exists() and new.read_text() == "{broken" and new.with_suffix(".csv").exists()
    p.write_text("{again")
    assert quarantine(p) != new  # a second one in the same second gets its own name


# ------------------------------------------------------------------------------------------ store

def test_store_keeps_a_bounded_cache_and_forgets_old_generations(tmp_path):
    st = ResultStore(tmp_path / "maps", capacity=2)
    a = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    gt = a > 0.5
    for i in range(4):
        st.save(i, StoredMaps(a, a, a + i, a, gt if i == 0 else None))
    m = st.load(0)
    np.testing.assert_array_equal(m.gt, gt)
    np.testing.assert_array_equal(m.dssim_projection, a)  # DSSIM maps stay float32, exactly
    assert np.abs(m.x - a).max() < 1e-3  # images are float16 on disk
    for i in range(1, 4):
        st.load(i)
    assert st.cached == 2
    st.load(3, cache=False)
    old = st.generation
    st.new_generation()
    assert st.load(0) is None and not list((tmp_path / "maps").glob("*.npy"))
    st.save(0, StoredMaps(a, a, a, a, None), generation=old)  # a late write of the old run: ignored
    assert st.load(0) is None
    st.close()
    assert (tmp_path / "maps").exists()  # not its own folder: left in place


# ------------------------------------------------------------------------------------------ the session

def test_folder_run_scores_every_image_and_unreadable_ones_get_a_row(folder, loaded):
    (folder / "test" / "good" / "zz_broken.png").write_bytes(b"not a png")
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    seen = []
    r.progress.connect(lambda done, total: seen.append((done, total)))
    run_folder(r, loaded)
    assert seen[-1] == (6, 6) and seen[0] == (0, 6)
    broken = [it.rel for it in r.items].index("test/good/zz_broken.png")
    assert r.results[broken] is None and "not a readable image" in r.errors[broken]
    for i, res in enumerate(r.results):
        if i == broken:
            continue
        m = r.store.load(i)
        assert res.score("projection") == pytest.approx(image_score(m.dssim_projection, 1))
        assert res.score("reconstruction") == pytest.approx(image_score(m.dssim_reconstruction, 1))
        assert res.energy.shape == (PARAMS.max_iter + 1, 4) and res.thumbnail.dtype == np.uint8
        assert (m.gt is not None) and (m.gt.any() == (r.items[i].gt == "defective"))
    st = r.stats()
    assert st.scores.size == 5 and st.confusion.sum() == 5 and st.pixel_auroc is not None
    assert 0.0 <= st.pixel_auroc <= 1.0
    r.close()


def test_selecting_shows_the_stored_result_without_running(folder, loaded):
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    run_folder(r, loaded)
    assert r.select(1)
    assert s.image.path == str(r.items[1].path)
    assert s.result is not None and s.result.finished and s.result.steps == PARAMS.max_iter
    np.testing.assert_array_equal(s.result.dssim_projection, r.store.load(1).dssim_projection)
    assert len(s.energy) == PARAMS.max_iter + 1
    assert r.current_gt is not None and r.current_gt.shape == (32, 32) and r.current_gt.any()
    np.testing.assert_array_equal(s.gt_mask, r.current_gt)  # shown through the session
    r.set_show_ground_truth(False)
    assert s.gt_mask is None
    r.set_show_ground_truth(True)
    assert s.gt_mask is not None
    assert r.step(1) == 2 and r.step(-1) == 1 and r.step(-1) == 0 and r.step(-1) == 0  # stays at the ends
    s.set_image(np.zeros((32, 32), np.float32), "/elsewhere.png")  # another image: no longer a review item
    assert r.current == -1
    r.close()


def test_threshold_moves_verdicts_and_band_and_filters(folder, loaded):
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    run_folder(r, loaded)
    scores = sorted(r.score(i) for i in range(len(r)))
    s.display.threshold = scores[0] - 1e-6 if scores[0] > 0 else 0.0
    assert all(r.model_verdict(i) == "defective" for i in range(len(r)) if r.score(i) > s.display.threshold)
    s.display.threshold = scores[-1]
    assert all(r.model_verdict(i) == "good" for i in range(len(r)))
    s.display.threshold = scores[1]
    r.set_marginal_upper(scores[3])
    mv = [r.model_verdict(i) for i in range(len(r))]
    assert mv.count("good") == 2 and mv.count("marginal") == 2 and mv.count("defective") == 1
    r.set_filter("marginal")
    assert len(r.visible()) == 2
    s.display.threshold = scores[4]  # T1 above T2 pushes T2 up
    assert r.marginal_upper == scores[4]
    r.set_filter("unreviewed")
    r.set_verdict(0, "ok")
    assert 0 not in r.visible()
    r.set_filter("disagreements")
    s.display.threshold = 0.0
    assert r.visible() == []  # below T2 every image is marginal: no disagreement
    r.set_marginal_upper(None)
    assert r.visible() == [0]  # reviewer OK, model defective
    r.close()


def test_verdict_is_saved_at_once_and_resumed(folder, loaded, tmp_path):
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    run_folder(r, loaded)
    r.select(0)
    r.set_verdict(0, "defective", "a dark blob")
    r.set_verdict(3, "ok")
    doc = read_review(folder / JSON_NAME)  # on disk before anything else happens
    recs = {x["path"]: x for x in doc.records}
    a = recs["test/blob/000.png"]
    assert a["verdict"] == "defective" and a["comment"] == "a dark blob" and a["reviewed_at"]
    assert a["sha256"] == file_sha256(folder / "test/blob/000.png")
    assert a["score"] == pytest.approx(r.score(0)) and a["model_verdict"] == r.model_verdict(0)
    assert a["model_sha256"] == file_sha256(loaded.path) and a["params"]["max_iter"] == PARAMS.max_iter
    assert a["threshold"] == s.display.threshold and a["seen_score"] == pytest.approx(r.score(0))
    assert a["ground_truth_mask"] == "ground_truth/blob/000_mask.png"
    csv_rows = (folder / CSV_NAME).read_text().splitlines()
    assert len(csv_rows) == 1 + len(r) and "a dark blob" in csv_rows[1]
    r.close()
    # a restart: a new session resumes both verdicts
    s2 = Session()
    s2.set_model(loaded)
    r2 = open_review(s2, folder)
    assert r2.reviews[0].verdict == "defective" and r2.reviews[0].comment == "a dark blob"
    assert r2.reviews[3].verdict == "ok" and r2.n_reviewed == 2
    assert r2.model_conflict(file_sha256(loaded.path)) is None
    assert "another one" in r2.model_conflict("0" * 64)
    r2.close()


def test_changed_image_is_not_merged_but_kept(folder, loaded, texture_images):
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    r.set_verdict(0, "defective")
    r.set_verdict(1, "ok")
    r.close()
    write_image(folder / "test/blob/000.png", texture_images[7])  # the image changed since
    (folder / "test/blob/001.png").unlink()  # and this one is gone
    r2 = ReviewSession(s)
    op = prepare_folder(folder)
    notes = r2.open(op.scan, op.hashes, op.doc, op.json_path, op.csv_path)
    assert r2.n_reviewed == 0 and len(notes) == 2
    assert any("changed since it was reviewed" in n for n in notes) and any("image missing" in n for n in notes)
    r2.set_verdict(0, "ok")  # a new verdict on the new image …
    doc = read_review(folder / JSON_NAME)
    assert {x["path"] for x in doc.stale} == {"test/blob/000.png", "test/blob/001.png"}  # … the old ones stay
    assert {x["stale_reason"] for x in doc.stale} == {"image changed since it was reviewed", "image missing"}
    r2.close()


def test_new_review_puts_the_old_file_aside(folder, loaded):
    s = Session()
    r = open_review(s, folder, loaded)
    r.set_verdict(0, "ok")
    moved = r.start_new_review()
    assert moved is not None and moved.exists() and read_review(moved).reviewed
    assert r.n_reviewed == 0
    r.close()


def test_min_area_change_rescores_from_the_stored_maps(folder, loaded):
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    run_folder(r, loaded)
    assert r.stale_indices() == ([], False)
    s.display.min_area = 9
    stale, scores = r.stale_indices()
    assert scores and stale == list(range(len(r)))
    key = r.area_key()
    r.apply_rescore(rescore(r.store, stale, key[0], key[1], key[2]), key)
    assert r.stale_indices() == ([], False)
    for i in range(len(r)):
        assert r.results[i].scores["projection"] == pytest.approx(image_score(r.store.load(i).dssim_projection, 9))
    s.display.threshold = 0.0  # the area and IoU follow the threshold; the scores stay
    stale, scores = r.stale_indices()
    assert stale and not scores
    key = r.area_key()
    known = {i: r.results[i].score(key[0]) for i in stale}
    r.apply_rescore(rescore(r.store, stale, key[0], key[1], key[2], known), key)
    blob = r.results[0]
    assert blob.area > 0 and blob.iou is not None
    r.close()


def test_failures_and_results_arrive_as_records(folder, loaded):
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    r.begin_run(PARAMS)
    r.add_results([ImageFailure(2, "x.png: is not a readable image")])
    assert r.errors[2] and r.model_verdict(2) is None and r.n_done == 1
    r.end_run(cancelled=True)
    assert r.can_resume(PARAMS) is False  # nothing projected yet: a resume would be a run
    r.close()


def test_prepare_folder_reports_a_corrupt_review_file(folder):
    (folder / JSON_NAME).write_text("{broken")
    op = prepare_folder(folder)
    assert op.doc is None and "broken JSON" in op.doc_error


def test_read_only_folder_reviews_elsewhere(folder, tmp_path, monkeypatch):
    from inspector_app.session.review import file as review_file

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    def refuse(path):
        raise OSError("read-only")

    monkeypatch.setattr(review_file, "check_writable", refuse)
    j, c = review_file.review_paths(folder)
    assert str(j).startswith(str(tmp_path / "data")) and j.name == JSON_NAME


def test_results_survive_json(folder, loaded):
    """Every record of the review file is plain JSON (numpy values converted)."""
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    run_folder(r, loaded)
    r.save()
    d = json.loads((folder / JSON_NAME).read_text())
    assert len(d["images"]) == len(r) and d["score_definition"].startswith("the highest DSSIM threshold")
    r.close()
    # the folder stays as it was, but for the review files
    assert sorted(p.name for p in folder.iterdir()) == sorted(["ground_truth", "test", "train", JSON_NAME, CSV_NAME])
    assert read_image(folder / "test/good/000.png").shape == (32, 32)


def test_cache_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    import os
    import tempfile

    from inspector_app.session.review import store as review_store

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    dead = tmp_path / f"{review_store.PREFIX}999999999-abc"
    mine = tmp_path / f"{review_store.PREFIX}{os.getpid()}-def"
    other = tmp_path / "inspector-review-notapid"
    for d in (dead, mine, other):
        d.mkdir()
    st = ResultStore()
    assert not dead.exists() and mine.exists() and other.exists()
    assert st.folder.parent == tmp_path and st.folder.name.startswith(f"{review_store.PREFIX}{os.getpid()}-")
    st.close()
    assert not st.folder.exists()  # its own folder goes with it


def test_score_histogram_goes_logarithmic_when_scores_span_two_decades():
    from inspector_app.session.review.stats import LOG_FLOOR, histogram_edges, wants_log_scale

    good, bad = [1e-4, 2e-4, 1.5e-4], [0.05, 0.3]
    assert wants_log_scale(good + bad, 0.0027)  # a calibrated model: good parts at 1e-4, defects at 0.1
    assert not wants_log_scale([0.05, 0.1, 0.3], 0.2)  # the paper's threshold and scores: linear
    assert not wants_log_scale([0.0, 0.0, 0.2], 0.2) and not wants_log_scale([], 0.2)
    e = histogram_edges(good + bad, 0.0027, None, bins=40, log=True)
    assert len(e) == 41 and e[0] == pytest.approx(5e-5) and e[-1] == pytest.approx(0.3 * 1.05)
    assert np.allclose(np.diff(np.log10(e)), np.diff(np.log10(e))[0])  # log-spaced
    counts = np.histogram(good, e)[0]
    assert counts.sum() == 3 and (counts > 0).sum() >= 2  # the good parts are not one bar at 0
    assert histogram_edges([0.0], None, log=True)[0] == LOG_FLOOR
    lin = histogram_edges(good + bad, 0.0027)
    assert lin[0] == 0.0 and np.histogram(good, lin)[0][0] == 3  # linear: one bar
