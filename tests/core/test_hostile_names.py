"""Issue 26: a folder run survives odd names — a link to a file outside the folder (or to a device),
a 240-character name, a name that is not UTF-8 — skipping and listing what it cannot use,
finishing the others and writing summary.csv."""

from __future__ import annotations

import csv
import os

import numpy as np

from inspector_app.cli import main
from inspector_app.core.data import write_image


def test_a_folder_with_odd_names_finishes_and_lists_what_it_skipped(tmp_path, tiny_model_file, capsys):
    rng = np.random.default_rng(0)
    d = tmp_path / "odd"
    write_image(d / "a.png", rng.random((32, 32)).astype(np.float32))
    write_image(tmp_path / "outside.png", rng.random((32, 32)).astype(np.float32))
    (d / "link.png").symlink_to(tmp_path / "outside.png")
    (d / "zero.png").symlink_to("/dev/zero")
    write_image(d / ("x" * 240 + ".png"), rng.random((32, 32)).astype(np.float32))
    latin1 = os.fsdecode(b"caf\xe9.png")  # a name written on another system: not UTF-8
    write_image(d / latin1, rng.random((32, 32)).astype(np.float32))
    out = tmp_path / "out"
    rc = main(["project", "--model", str(tiny_model_file), str(d), "--out", str(out), "--max-iter", "1", "--quiet"])
    cap = capsys.readouterr()
    assert rc == 2 and "Traceback" not in cap.err, cap.err
    skipped = [ln for ln in cap.err.splitlines() if ln.startswith("inspector-app: error: skipped")]
    assert len(skipped) == 3, cap.err
    assert any("link.png: a link to a file outside" in ln for ln in skipped)
    assert any("the name is too long" in ln for ln in skipped)
    assert "caf\\udce9.png" in cap.out  # printed escaped, not a UnicodeEncodeError
    raw = (out / "summary.csv").read_bytes()
    assert b"caf\xe9.png" in raw  # the name's own bytes
    rows = list(csv.DictReader(raw.decode("utf-8", "surrogateescape").splitlines()))
    assert sorted(r["output"] for r in rows) == sorted(["a", os.fsdecode(b"caf\xe9")])
    assert (out / (os.fsdecode(b"caf\xe9") + ".json")).exists()


def test_an_interrupted_run_writes_its_summary_and_resume_finishes_it(tmp_path, tiny_model_file, monkeypatch, capsys):
    from inspector_app.cli import project

    rng = np.random.default_rng(1)
    d = tmp_path / "parts"
    for i in range(3):
        write_image(d / f"{i}.png", rng.random((32, 32)).astype(np.float32))
    real, calls = project.project_batch, []

    def interrupted_on_the_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(project, "project_batch", interrupted_on_the_second)
    out = tmp_path / "out"
    args = ["project", "--model", str(tiny_model_file), str(d), "--out", str(out), "--max-iter", "1", "--quiet",
            "--batch", "1", "--stop", "none"]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 130 and err.count("\n") == 1 and "1 of 3 result(s) and summary.csv" in err and "--resume" in err, err
    assert [r["output"] for r in csv.DictReader((out / "summary.csv").read_text().splitlines())] == ["0"]
    monkeypatch.setattr(project, "project_batch", real)
    rc = main([*args, "--resume"])
    assert rc == 0, capsys.readouterr().err
    assert [r["output"] for r in csv.DictReader((out / "summary.csv").read_text().splitlines())] == ["0", "1", "2"]
