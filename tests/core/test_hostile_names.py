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
