"""Headless: ``project FOLDER`` and review mode agree on a small folder (the same parts, the same
scores), and ``report`` turns a review file into one self-contained HTML page."""

from __future__ import annotations

import csv
import re
import shutil

import numpy as np
import pytest

from conftest import make_model_file
from inspector_app.cli import main
from inspector_app.core.data import write_image
from inspector_app.core.modelio import load_model
from inspector_app.core.params import ProjectionParams
from inspector_app.session import Session
from inspector_app.session.review import ReviewSession, prepare_folder
from inspector_app.session.review.file import JSON_NAME
from inspector_app.session.review.folder import file_sha256
from inspector_app.session.review.jobs import folder_job
from inspector_app.session.review.report import report_summary

PARAMS = ProjectionParams(max_iter=3, stop="none")


@pytest.fixture
def category(tmp_path, texture_images):
    root = tmp_path / "cat"
    write_image(root / "train" / "good" / "000.png", texture_images[0])
    for i in range(2):
        write_image(root / "test" / "good" / f"{i:03d}.png", texture_images[1 + i])
    for i in range(3):
        bad = texture_images[3 + i].copy()
        mask = np.zeros(bad.shape, np.float32)
        mask[8:18, 10:20] = 1.0
        bad[mask > 0] = 0.02
        write_image(root / "test" / "blob" / f"{i:03d}.png", bad)
        write_image(root / "ground_truth" / "blob" / f"{i:03d}_mask.png", mask)
    return root


@pytest.fixture
def model(tmp_path):
    return make_model_file(tmp_path / "m.safetensors")


def reviewed(category, model) -> ReviewSession:
    """A review as the window makes it: the folder projected, two verdicts."""
    loaded = load_model(model, "cpu")
    s = Session()
    s.set_model(loaded)
    s.params.set_params(PARAMS)
    s.display.threshold = 0.2
    s.display.min_area = 1
    op = prepare_folder(category)
    r = ReviewSession(s)
    r.open(op.scan, op.hashes, op.doc, op.json_path, op.csv_path)
    r.adopt_model(str(model), file_sha256(model), loaded.kind)
    todo, gen = r.begin_run(PARAMS)
    for out in folder_job(loaded, todo, PARAMS, r.store, generation=gen, batch=8):
        if out:
            r.add_results(out)
    r.end_run()
    return r


def test_project_folder_writes_summary_and_agrees_with_review_mode(category, model, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["project", "--model", str(model), str(category / "test"), "--out", str(out), "--max-iter", "3",
               "--stop", "none", "--threshold", "0.2", "--min-area", "1", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    rows = list(csv.DictReader((out / "summary.csv").read_text().splitlines()))
    assert [r["output"] for r in rows] == ["blob/000", "blob/001", "blob/002", "good/000", "good/001"]  # no masks
    for r in rows:
        assert r["verdict"] == ("defective" if float(r["score"]) > 0.2 else "good")
        assert 0.0 <= float(r["anomalous_fraction"]) <= 1.0 and r["iterations"] == "3"
    assert [r["ground_truth"] for r in rows] == ["defective"] * 3 + ["good"] * 2  # test/ alone: the category's
    assert [r["defect"] for r in rows] == ["blob"] * 3 + ["good"] * 2
    rv = reviewed(category, model)
    assert [it.rel for it in rv.items] == [f"test/{r['output']}.png" for r in rows]
    for i, r in enumerate(rows):  # the window's folder run scores as the command does
        assert rv.score(i) == pytest.approx(float(r["score"]), abs=2e-6)
        assert rv.model_verdict(i) == r["verdict"]
        assert rv.items[i].gt == r["ground_truth"]
    rv.close()


def test_project_on_a_category_takes_the_parts_the_window_takes(category, model, tmp_path, capsys):
    """Issue 25, item 4: an MVTec category's test/ only (train/ when asked), with its ground truth."""
    from inspector_app.session.review.folder import scan_folder

    flags = ["--max-iter", "1", "--stop", "none", "--quiet"]
    rc = main(["project", "--model", str(model), str(category), "--out", str(tmp_path / "a"), *flags])
    assert rc == 0, capsys.readouterr().err
    rows = list(csv.DictReader((tmp_path / "a" / "summary.csv").read_text().splitlines()))
    window = scan_folder(category).items
    assert [r["source"] for r in rows] == [str(it.path) for it in window]
    assert [r["output"] for r in rows] == [it.rel[:-4] for it in window] and not any("train" in r["output"] for r in rows)
    assert [r["ground_truth"] for r in rows] == [it.gt for it in window] == ["defective"] * 3 + ["good"] * 2
    rc = main(["project", "--model", str(model), str(category), "--out", str(tmp_path / "b"), "--train", *flags])
    assert rc == 0, capsys.readouterr().err
    rows = list(csv.DictReader((tmp_path / "b" / "summary.csv").read_text().splitlines()))
    assert [(r["output"], r["ground_truth"]) for r in rows if "train" in r["output"]] == [("train/good/000", "good")]
    assert len(rows) == 6
    plain = tmp_path / "plain"  # no ground truth anywhere: no such columns
    plain.mkdir()
    shutil.copy(category / "test" / "good" / "000.png", plain / "a.png")
    assert main(["project", "--model", str(model), str(plain), "--out", str(tmp_path / "c"), *flags]) == 0
    assert "ground_truth" not in (tmp_path / "c" / "summary.csv").read_text().splitlines()[0]


def test_report_is_one_self_contained_page(category, model, tmp_path, capsys):
    rv = reviewed(category, model)
    rv.set_verdict(0, "defective", "blob <here> & there")
    rv.set_verdict(3, "ok")
    rv.set_marginal_upper(0.3)
    rv.set_label_source("ground_truth")
    rv.save()
    rv.close()
    html_path = tmp_path / "report.html"
    rc = main(["report", str(category / JSON_NAME), "--out", str(html_path)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    page = html_path.read_text()
    info = report_summary(page)
    assert info["external"] == []  # nothing loaded from anywhere
    assert not re.search(r"<(script|link)\b", page) and "http" not in page.replace("http-equiv", "")
    # histogram, ROC, and one overlay per flagged part (the reviewer's defective one at least)
    n_flagged = len(re.findall(r"<figure>", page))
    assert n_flagged >= 1 and info["images"] == 2 + n_flagged
    assert "blob &lt;here&gt; &amp; there" in page  # the comment, escaped
    assert "test/blob/000.png" in page and "image AUROC" in page
    for text in ("Counts", "ground truth: defective", "reviewer: defective", "T2 (top of the marginal band)",
                 file_sha256(model), "Confusion at T1/T2", "max_iter",
                 "suggestions need 5 good and 5 defective images labelled (2 and 3 so far)"):  # as in the window
        assert text in page, text
    assert "without overlays" not in page
    assert f"wrote {html_path}" in cap.out


def test_report_without_the_model_still_writes_the_page(category, model, tmp_path, capsys):
    rv = reviewed(category, model)
    rv.set_verdict(1, "defective")
    rv.close()
    model.rename(tmp_path / "moved.safetensors")
    out = tmp_path / "r.html"
    rc = main(["report", str(category), "--out", str(out)])  # the folder: its review file
    cap = capsys.readouterr()
    assert rc == 0 and "is not there" in cap.out
    assert "shown without overlays" in out.read_text()
    rc = main(["report", str(category), "--out", str(tmp_path / "r2.html"), "--model",
               str(tmp_path / "moved.safetensors")])
    assert rc == 0 and "without overlays" not in (tmp_path / "r2.html").read_text()
    other = make_model_file(tmp_path / "other.safetensors", seed=5)
    rc = main(["report", str(category), "--out", str(tmp_path / "r3.html"), "--model", str(other)])
    assert rc == 0 and "not the model the review was made with" in capsys.readouterr().out


def test_report_bad_input_is_one_line(category, tmp_path, capsys):
    def one_line(args, match):
        rc = main(args)
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and match in err and "Traceback" not in err, err

    one_line(["report", str(tmp_path / "none.json"), "--out", str(tmp_path / "r.html")], "no such review file")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    one_line(["report", str(bad), "--out", str(tmp_path / "r.html")], "broken JSON")
    ok = tmp_path / JSON_NAME
    ok.write_text('{"format": "inspector-app review", "version": 1, "images": []}')
    (tmp_path / "exists.html").write_text("x")
    one_line(["report", str(ok), "--out", str(tmp_path / "exists.html")], "--overwrite")
    one_line(["report", str(ok), "--out", str(tmp_path)], "is a folder")


def test_the_reports_histogram_is_logarithmic_for_calibrated_scores(monkeypatch):
    """As in the window: scores and T1 spanning two decades get a log score axis, else linear."""
    from matplotlib.figure import Figure

    from inspector_app.session.review import report as rr

    axes = []

    def draw_only(draw, size=(5.2, 3.2)):
        ax = Figure().add_subplot(111)
        draw(ax)
        axes.append(ax)
        return "png"

    monkeypatch.setattr(rr, "_figure_png", draw_only)

    def scored(t1, scores, y):
        return rr._Scored(doc=None, t1=t1, t2=None, scored=[], scores=np.array(scores), verdicts=[],
                          known=np.ones(len(y), bool), y=np.array(y, bool), what="ground truth")

    assert rr._histogram(scored(0.0027, [1e-4, 2e-4, 0.05, 0.3], [0, 0, 1, 1])) == "png"
    assert axes[-1].get_xscale() == "log" and "log" in axes[-1].get_xlabel()
    assert any("T1 0.0027" in t.get_text() for t in axes[-1].get_legend().get_texts())
    rr._histogram(scored(0.2, [0.05, 0.1, 0.3, 0.4], [0, 0, 1, 1]))
    assert axes[-1].get_xscale() == "linear"
