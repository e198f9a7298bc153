"""Issue 26: a review file is checked field by field when read (the window and ``report`` tripped on
16 malformed fields with tracebacks), ``report`` keeps the command line's parameter ranges, and it
never reads a file outside the review's folder."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.core.data import write_image
from inspector_app.session.review.file import ReviewFileError, read_review

GOOD = {"format": "inspector-app review", "version": 1, "threshold": 0.2, "min_area": 1, "frr_target": 0.02,
        "model": {"path": "m.safetensors", "sha256": None, "kind": "l2ae"},
        "params": {"alpha": 0.5, "lam": 0.05, "max_iter": 100, "stop": "train-min"},
        "images": [{"path": "a.png", "score": 0.3, "verdict": "defective", "comment": "dark",
                    "ground_truth_mask": None, "params": {"max_iter": 100}}]}


def _set(path, value):
    def f(d):
        *head, last = path
        for k in head:
            d = d[k]
        d[last] = value
    return f


CASES = {
    "comment 123": (_set(["images", 0, "comment"], 123), "comment must be a string"),
    "comment dict": (_set(["images", 0, "comment"], {"a": 1}), "comment must be a string"),
    "ground_truth_mask 5": (_set(["images", 0, "ground_truth_mask"], 5), "ground_truth_mask must be a string"),
    "model 'x'": (_set(["model"], "x"), "model must be an object"),
    "model list": (_set(["model"], [1]), "model must be an object"),
    "model.path 5": (_set(["model", "path"], 5), "model.path must be a string"),
    "params list": (_set(["params"], [1]), "params must be an object"),
    "params string": (_set(["params"], "s"), "params must be an object"),
    "params alpha 'x'": (_set(["params", "alpha"], "x"), "params.alpha must be a number"),
    "params max_iter 1e9": (_set(["params", "max_iter"], 1_000_000_000), "out of range [1, 10000]"),
    "record params max_iter 1e9": (_set(["images", 0, "params", "max_iter"], 10 ** 9), "out of range"),
    "params stop garbage": (_set(["params", "stop"], "lr:--1"), "params.stop"),
    "threshold null": (_set(["threshold"], None), "threshold must be a number"),
    "threshold list": (_set(["threshold"], [1]), "threshold must be a number"),
    "threshold 1e308": (_set(["threshold"], 1e308), "out of range [0, 1]"),
    "threshold NaN": (_set(["threshold"], float("nan")), "threshold must be a number"),
    "frr_target null": (_set(["frr_target"], None), "frr_target must be a number"),
    "min_area []": (_set(["min_area"], []), "min_area must be a whole number"),
    "folder 5": (_set(["folder"], 5), "folder must be a string"),
    "score true": (_set(["images", 0, "score"], True), "score must be a number"),
}


def _write(tmp_path, d, name="inspector-review.json"):
    p = tmp_path / name
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_fields_are_refused_in_one_message(tmp_path, case):
    change, message = CASES[case]
    d = copy.deepcopy(GOOD)
    change(d)
    p = _write(tmp_path, d)
    with pytest.raises(ReviewFileError, match="malformed review file") as e:
        read_review(p)
    assert message in str(e.value)


def test_a_good_file_passes_and_report_says_one_line_for_a_bad_one(tmp_path, capsys):
    assert read_review(_write(tmp_path, GOOD)).records[0]["comment"] == "dark"
    d = copy.deepcopy(GOOD)
    d["model"] = "x"
    rc = main(["report", str(_write(tmp_path, d, "bad.json")), "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "model must be an object" in err, err


def test_report_reads_only_images_inside_the_reviews_folder(tmp_path, capsys):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "secret.png", rng.random((16, 16)).astype(np.float32))
    folder = tmp_path / "parts"
    write_image(folder / "a.png", rng.random((16, 16)).astype(np.float32))
    d = copy.deepcopy(GOOD)
    d["folder"] = str(folder)
    d["images"] = [{"path": "../secret.png", "score": 0.9, "verdict": "defective"},
                   {"path": str(tmp_path / "secret.png"), "score": 0.8, "verdict": "defective"},
                   {"path": "a.png", "score": 0.5, "verdict": "defective", "ground_truth_mask": "../secret.png"}]
    p = _write(folder, d)
    rc = main(["report", str(p), "--out", str(tmp_path / "r.html")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    page = (tmp_path / "r.html").read_text()
    assert page.count("<figure>") == 1 and "a.png" in page  # only the part inside the folder
    assert out.out.count("not inside the review's folder") == 2


def test_report_reads_links_out_of_the_folder_and_outside_images_only_when_allowed(tmp_path, capsys):
    rng = np.random.default_rng(1)
    outside = tmp_path / "elsewhere"
    write_image(outside / "secret.png", rng.random((16, 16)).astype(np.float32))
    write_image(outside / "mask.png", np.pad(np.ones((6, 6), np.float32), 5))
    folder = tmp_path / "parts"
    write_image(folder / "a.png", rng.random((16, 16)).astype(np.float32))
    (folder / "link.png").symlink_to(outside / "secret.png")  # a link in the folder to a file outside it
    (folder / "sub").symlink_to(outside, target_is_directory=True)  # a linked sub-folder
    d = copy.deepcopy(GOOD)
    d["folder"] = str(folder)
    d["images"] = [{"path": "link.png", "score": 0.9, "verdict": "defective"},
                   {"path": "sub/secret.png", "score": 0.8, "verdict": "defective"},
                   {"path": str(outside / "secret.png"), "score": 0.7, "verdict": "defective"},
                   {"path": "a.png", "score": 0.5, "verdict": "defective", "ground_truth_mask": "../elsewhere/mask.png"}]
    p = _write(folder, d)
    assert main(["report", str(p), "--out", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    page = (tmp_path / "r.html").read_text()
    assert page.count("<figure>") == 1 and out.count("not inside the review's folder") == 3, out
    assert "--allow-outside reads it" in out

    assert main(["report", str(p), "--out", str(tmp_path / "all.html"), "--allow-outside"]) == 0
    out = capsys.readouterr().out
    page = (tmp_path / "all.html").read_text()
    assert page.count("<figure>") == 4 and "not inside" not in out, out
    from inspector_app.session.review.report import build_report  # the ground truth outside is drawn too

    def thumb_of_a(html):
        import base64
        import re

        import cv2

        src = re.search(r"<img src='data:image/png;base64,([^']+)' alt='a.png'>", html).group(1)
        return cv2.imdecode(np.frombuffer(base64.b64decode(src), np.uint8), cv2.IMREAD_COLOR)

    drawn = thumb_of_a(build_report(p, allow_outside=True)[0])
    plain = thumb_of_a(build_report(p)[0])
    assert not np.array_equal(drawn, plain)


def test_a_received_review_naming_another_folder_reads_nothing_from_it(tmp_path, capsys, monkeypatch):
    """A review file in Downloads whose header names a folder of this machine: its records are plain
    names, but the folder is not the review's; only --allow-outside reads it."""
    from inspector_app.session.review.file import fallback_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    pictures = tmp_path / "Pictures"
    write_image(pictures / "a.png", np.random.default_rng(2).random((16, 16)).astype(np.float32))
    d = copy.deepcopy(GOOD)
    d["folder"] = str(pictures)
    (tmp_path / "Downloads").mkdir()
    p = _write(tmp_path / "Downloads", d)
    assert main(["report", str(p), "--out", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert "<figure>" not in (tmp_path / "r.html").read_text()
    assert f"the review names the folder {pictures}, which does not hold the review file" in out
    assert main(["report", str(p), "--out", str(tmp_path / "all.html"), "--allow-outside"]) == 0
    assert (tmp_path / "all.html").read_text().count("<figure>") == 1 and "does not hold" not in capsys.readouterr().out
    # the app's own fall-back for a read-only folder's review is that folder's review
    fb = fallback_dir(pictures)
    fb.mkdir(parents=True)
    q = _write(fb, d)
    assert main(["report", str(q), "--out", str(tmp_path / "fb.html")]) == 0
    assert (tmp_path / "fb.html").read_text().count("<figure>") == 1 and "does not hold" not in capsys.readouterr().out


def test_the_window_puts_aside_a_review_whose_model_is_a_string(tmp_path):
    """It was an AttributeError in start_run, and nothing was ever projected."""
    from inspector_app.session.review import prepare_folder

    write_image(tmp_path / "a.png", np.zeros((16, 16), np.float32))
    d = copy.deepcopy(GOOD)
    d["model"] = "x"
    _write(tmp_path, d)
    op = prepare_folder(tmp_path)
    assert op.doc is None and "model must be an object" in op.doc_error


def test_an_unreadable_folder_is_not_called_empty(tmp_path, monkeypatch, capsys):
    import os

    from inspector_app.session.review.folder import FolderError, scan_folder

    write_image(tmp_path / "a.png", np.zeros((16, 16), np.float32))
    real = os.scandir

    def refuse(path="."):
        if os.path.abspath(path) == str(tmp_path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", refuse)  # as root, chmod 000 would not stop the listing
    with pytest.raises(FolderError, match="cannot be read \\(Permission denied\\)"):
        scan_folder(tmp_path)
