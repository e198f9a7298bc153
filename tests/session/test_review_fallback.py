"""Issue 26: a read-only folder that already holds a review keeps its verdicts, saved in
``$XDG_DATA_HOME``; a FIFO named like the review file never blocks the opening."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from inspector_app.core.data import write_image
from inspector_app.core.modelio import load_model
from inspector_app.session import Session
from inspector_app.session.review import ReviewSession, prepare_folder
from inspector_app.session.review import file as review_file
from inspector_app.session.review.file import JSON_NAME, read_review

from conftest import make_model_file


@pytest.fixture
def folder(tmp_path, texture_images):
    d = tmp_path / "parts"
    for i in range(3):
        write_image(d / f"{i:03d}.png", texture_images[i])
    return d


def _open(folder, loaded) -> ReviewSession:
    from inspector_app.session.review.folder import file_sha256

    op = prepare_folder(folder)
    s = Session()
    s.set_model(loaded)
    r = ReviewSession(s)
    r.open(op.scan, op.hashes, op.doc, op.json_path, op.csv_path)
    r.adopt_model(str(loaded.path), file_sha256(loaded.path), loaded.kind)
    return r


def test_read_only_folder_with_a_review_saves_its_verdicts_in_the_data_home(folder, tmp_path, monkeypatch):
    loaded = load_model(make_model_file(tmp_path / "m.safetensors"), "cpu")
    r = _open(folder, loaded)
    assert r.set_verdict(0, "defective", "first") is not False
    r.close()
    own = folder / JSON_NAME
    before = own.read_bytes()
    # the folder turns read-only (as root, chmod would not stop the write: the check says so)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    def refuse(path):
        raise OSError(f"{path}: cannot write there (Permission denied)")

    monkeypatch.setattr(review_file, "check_writable", refuse)
    r = _open(folder, loaded)
    assert r.reviews[0].verdict == "defective"  # resumed from the folder's own file
    assert str(r.json_path).startswith(str(tmp_path / "data"))
    failed = []
    r.save_failed.connect(failed.append)
    r.set_verdict(2, "ok")
    assert not failed and r.json_path.exists()
    recs = {x["path"]: x.get("verdict") for x in read_review(r.json_path).records}
    assert recs["000.png"] == "defective" and recs["002.png"] == "ok"
    assert own.read_bytes() == before  # the read-only folder's file untouched
    r.close()
    r = _open(folder, loaded)  # the next opening resumes the fall-back, with both verdicts
    assert r.reviews[0].verdict == "defective" and r.reviews[2].verdict == "ok"
    r.close()


def test_a_fifo_named_like_the_review_file_never_blocks(folder, tmp_path):
    os.mkfifo(folder / JSON_NAME)
    op = prepare_folder(folder)  # would block for ever reading the pipe
    assert op.doc is None
    with pytest.raises(review_file.ReviewFileError, match="not a regular file"):
        read_review(folder / JSON_NAME)
    assert np.all([p.suffix == ".png" for p in (i.path for i in op.scan.items)])


def test_a_folder_that_turns_read_only_while_open_saves_in_the_data_home(folder, tmp_path, monkeypatch):
    loaded = load_model(make_model_file(tmp_path / "m.safetensors"), "cpu")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    r = _open(folder, loaded)
    assert r.json_path.parent == folder
    real = review_file.atomic_write_bytes

    def refuse_in_the_folder(path, data):
        if Path(path).parent == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, data)

    monkeypatch.setattr(review_file, "atomic_write_bytes", refuse_in_the_folder)
    failed = []
    r.save_failed.connect(failed.append)
    r.set_verdict(1, "defective", "saved elsewhere")
    assert not failed and str(r.json_path).startswith(str(tmp_path / "data"))
    assert {x["path"]: x.get("verdict") for x in read_review(r.json_path).records}["001.png"] == "defective"
    r.close()
