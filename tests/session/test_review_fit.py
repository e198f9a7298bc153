"""A folder the model does not fit (issue 25, item 5): when a share of its images lies outside what
the model was trained on, the folder says so once — in the review (its file and report) and on the
command line (one line, and a summary.csv column)."""

from __future__ import annotations

import csv

import pytest

from conftest import make_model_file
from inspector_app.cli import main
from inspector_app.core.checks import FOLDER_OUT_OF_RANGE_SHARE, folder_fit_warning
from inspector_app.core.modelio import load_model
from inspector_app.session import Session
from inspector_app.session.review.file import JSON_NAME
from test_review_session import make_mvtec, open_review

#: Lr(x0) of every image is far above this bound: all "outside what the model was trained on".
CAL = {"threshold": 0.2, "min_area": 1, "stop": "none", "max_iter": 2, "lr_out_of_range": 1e-12,
       "method": "fixture: nothing fits"}


def test_the_share_that_makes_a_folder_warning():
    assert FOLDER_OUT_OF_RANGE_SHARE == 0.2
    assert folder_fit_warning([]) is None
    assert folder_fit_warning([["out_of_range"]] + [[]] * 9) is None  # one image: its own banner is enough
    assert folder_fit_warning([["out_of_range"]] * 2 + [["resized"]] * 8) == (
        "2 of 10 images (20 %) lie outside what this model was trained on — wrong model? Their scores and "
        "verdicts say more about the model than about the parts")
    assert folder_fit_warning([["out_of_range"]] * 2 + [[]] * 9) is None  # 18 %


@pytest.fixture
def unfit(tmp_path):
    return make_model_file(tmp_path / "unfit.safetensors", calibration=CAL)


def test_review_and_report_say_the_folder_does_not_fit(unfit, tmp_path, texture_images):
    folder = make_mvtec(tmp_path / "cat", texture_images)
    loaded = load_model(unfit, "cpu")
    s = Session()
    s.set_model(loaded)
    r = open_review(s, folder, loaded)
    assert r.fit_warning() is None  # nothing projected yet
    for out in r.run_job(loaded, s.params.to_params())():
        if out:
            r.add_results(out)
    r.end_run()
    assert r.fit_warning().startswith("5 of 5 images (100 %) lie outside what this model was trained on")
    r.save()
    r.close()
    html = tmp_path / "r.html"
    assert main(["report", str(folder / JSON_NAME), "--out", str(html), "--model", str(unfit)]) == 0
    assert "<p class='warning'>⚠ 5 of 5 images (100 %) lie outside" in html.read_text()


def test_project_warns_once_for_the_folder(unfit, tmp_path, texture_images, capsys):
    folder = make_mvtec(tmp_path / "cat", texture_images)
    assert main(["project", "--model", str(unfit), str(folder), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert sum("5 of 5 images (100 %) lie outside what this model was trained on" in e for e in err) == 1
    rows = list(csv.DictReader((tmp_path / "o" / "summary.csv").read_text().splitlines()))
    assert len(rows) == 5 and all(r["folder_warning"].startswith("5 of 5 images") for r in rows)
