"""``project --resume`` into a folder that holds the user's own files named as a result would be
(``0.json`` of their own, a ``1_overlay.png`` of their own, no earlier run there): they were replaced
without ``--overwrite``, as results of an interrupted run. A JSON that is not a result, or files in
a folder where no earlier run finished anything, are now left alone (one line, exit 2); the files of
a run that was interrupted are still replaced (test_project_resume)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from tests.conftest import make_model_file


@pytest.fixture
def parts(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "parts"
    d.mkdir()
    for i in range(2):
        cv2.imwrite(str(d / f"{i}.png"), rng.integers(0, 255, (32, 32)).astype(np.uint8))
    model = make_model_file(tmp_path / "m.safetensors", calibration={"threshold": 0.03, "min_area": 2,
                                                                     "stop": "none", "max_iter": 2})
    return d, model


def _run(parts, out, *extra):
    d, model = parts
    return main(["project", "--model", str(model), str(d / "0.png"), str(d / "1.png"), "--out", str(out), "--quiet",
                 "--resume", *extra])


def _one_line(capsys, rc, match):
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and match in err, err


def test_the_users_own_json_is_never_replaced(parts, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "0.json"
    mine.write_text('{"label": "mine"}')
    _one_line(capsys, _run(parts, out), f"--resume: {mine} is not a result of inspector-app project")
    assert mine.read_text() == '{"label": "mine"}' and not (out / "1.json").exists()


def test_files_where_no_run_finished_are_never_replaced(parts, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "1_overlay.png"
    mine.write_bytes(b"my notes")
    _one_line(capsys, _run(parts, out), "holds no finished result of an earlier run")
    assert mine.read_bytes() == b"my notes" and not (out / "0.json").exists()


def test_an_interrupted_runs_files_are_replaced(parts, tmp_path, capsys):
    out = tmp_path / "out"
    d, model = parts
    assert main(["project", "--model", str(model), str(d / "0.png"), str(d / "1.png"), "--out", str(out),
                 "--quiet"]) == 0
    (out / "1.json").unlink()  # the run was stopped before it wrote 1's JSON (written last)
    (out / "summary.csv").unlink()
    assert _run(parts, out) == 0, capsys.readouterr().err
    assert json.loads((out / "1.json").read_text())["name"] == "1"
