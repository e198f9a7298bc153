"""``project --resume`` (issue 28 item 3, shared by the plain and the Ray run): after an interrupted run only
the missing images are projected, the summary is the uninterrupted run's; a result made otherwise is
never mixed in; and ``--ray`` without Ray installed is one line naming the extra."""

from __future__ import annotations

import json
import sys

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.cli import project as project_cli
from inspector_app.core.pipeline import output_paths
from tests.conftest import make_model_file

N = 6
REAL_PROJECT_BATCH = project_cli.project_batch


@pytest.fixture
def folder(tmp_path):
    """Six small grey parts (two of them 48 px, so two working sizes), a calibrated tiny model."""
    rng = np.random.default_rng(3)
    d = tmp_path / "parts"
    (d / "sub").mkdir(parents=True)
    for i in range(N):
        side = 48 if i in (1, 4) else 32
        cv2.imwrite(str(d / ("sub" if i % 2 else "") / f"p{i}.png"), rng.integers(0, 255, (side, side)).astype(np.uint8))
    model = make_model_file(tmp_path / "m.safetensors", calibration={"threshold": 0.03, "min_area": 2,
                                                                     "stop": "none", "max_iter": 4})
    return d, model


def _counting(monkeypatch, interrupt_after: int | None = None) -> list[str]:
    """Record the images the plain run projects; raise KeyboardInterrupt after that many batches."""
    seen: list[str] = []
    real = REAL_PROJECT_BATCH

    def wrapped(jobs, *args, **kw):
        if interrupt_after is not None and len(seen) >= interrupt_after * 2:
            raise KeyboardInterrupt
        seen.extend(j.name for j in jobs)
        return real(jobs, *args, **kw)

    monkeypatch.setattr(project_cli, "project_batch", wrapped)
    return seen


def test_resume_after_an_interrupted_run_projects_only_the_missing_images(folder, tmp_path, monkeypatch, capsys):
    d, model = folder
    base = ["project", "--model", str(model), str(d), "--batch", "2", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "whole")]) == 0
    whole = (tmp_path / "whole" / "summary.csv").read_text()
    assert whole.count("\n") == N + 1

    out = tmp_path / "out"
    seen = _counting(monkeypatch, interrupt_after=2)
    assert main([*base, "--out", str(out)]) == 130  # Ctrl-C during the third batch
    assert len(seen) == 4 and (out / "summary.csv").read_text().count("\n") == 5  # the four finished
    done = {p.relative_to(out).with_suffix("").as_posix() for p in out.rglob("*.json")}
    assert done == set(seen)
    partial = out / "sub" / "p5_projection.png"  # an interrupted write of a later result: replaced
    partial.write_bytes(b"half")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()

    assert main([*base, "--out", str(out)]) == 2  # without --resume: refused, and it says how to continue
    assert "--resume" in capsys.readouterr().err

    seen = _counting(monkeypatch)
    assert main([*base, "--out", str(out), "--resume"]) == 0, capsys.readouterr().err
    assert sorted(seen) == sorted({"p0", "sub/p1", "p2", "sub/p3", "p4", "sub/p5"} - done)
    assert (out / "summary.csv").read_text() == whole  # row for row, figure for figure
    for name in done:  # the complete results were not written again
        for p in output_paths(out, name).values():
            assert p.stat().st_mtime_ns == before[p], p
    assert partial.read_bytes() != b"half"


def test_resume_never_mixes_results_made_otherwise(folder, tmp_path, capsys):
    d, model = folder
    out = tmp_path / "out"
    base = ["project", "--model", str(model), str(d), "--out", str(out), "--quiet"]
    assert main(base) == 0
    json_before = (out / "p0.json").read_bytes()
    (out / "summary.csv").unlink()
    capsys.readouterr()
    assert main([*base, "--resume", "--threshold", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another threshold (0.03 → 0.5)" in err and "--overwrite" in err
    other = make_model_file(tmp_path / "other.safetensors", seed=1, calibration={"threshold": 0.03, "min_area": 2,
                                                                                 "stop": "none", "max_iter": 4})
    assert main(["project", "--model", str(other), str(d), "--out", str(out), "--quiet", "--resume"]) == 2
    assert "another model" in capsys.readouterr().err
    assert (out / "p0.json").read_bytes() == json_before and not (out / "summary.csv").exists()
    # a JSON that is not a result (damaged): that image is projected again
    (out / "p0.json").write_text("{not json")
    assert main([*base, "--resume"]) == 0
    assert json.loads((out / "p0.json").read_text())["name"] == "p0"
    assert main([*base, "--resume", "--overwrite"]) == 2  # one or the other
    assert "not allowed with argument" in capsys.readouterr().err


def test_resume_names_the_parameters_that_differ_not_the_whole_dict(folder, tmp_path, capsys):
    """It printed both parameter dicts whole (eleven fields each) for one changed flag."""
    d, model = folder
    base = ["project", "--model", str(model), str(d), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--resume", "--max-iter", "6", "--alpha", "0.25"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "params.max_iter (4 → 6)" in err and "params.alpha (" in err and "→ 0.25)" in err
    assert "lam" not in err and "{" not in err and "threshold" not in err


def test_ray_without_the_extra_is_one_line_naming_it(folder, tmp_path, monkeypatch, capsys):
    d, model = folder
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where Ray is not installed
    rc = main(["project", "--model", str(model), str(d), "--out", str(tmp_path / "out"), "--ray", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "pip install 'inspector-app[cluster]'" in err
    assert not (tmp_path / "out").exists()
