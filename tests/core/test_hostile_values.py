"""Issue 26: nonsense values refused in one line — a minimum area larger than the image (it turned
a stained part "good"), ``--stop lr:--1``, ``--device meta``."""

from __future__ import annotations

import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.core.data import write_image


@pytest.fixture
def part(tmp_path):
    p = tmp_path / "a.png"
    write_image(p, np.random.default_rng(0).random((32, 32)).astype(np.float32))
    return p


@pytest.mark.parametrize("args, message", [
    (["--min-area", "1025"], "--min-area 1025 is larger than the"),  # before the model runs: 32×32
    (["--min-area", "1e30"], "argument --min-area: invalid int value: '1e30'"),
    (["--threshold", "nan"], "argument --threshold: must be a finite number"),
    (["--stop", "lr:--1"], "the Lr value must be a number"),
    (["--device", "meta"], "device 'meta' cannot run a projection"),
    (["--device", "nonsense"], "unknown device 'nonsense'"),
])
def test_nonsense_is_one_line_and_writes_nothing(tmp_path, tiny_model_file, part, capsys, args, message):
    out = tmp_path / "out"
    rc = main(["project", "--model", str(tiny_model_file), str(part), "--out", str(out), "--max-iter", "1",
               "--quiet", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert not (out / "summary.csv").exists()


def test_the_largest_minimum_area_still_runs(tmp_path, tiny_model_file, part, capsys):
    rc = main(["project", "--model", str(tiny_model_file), str(part), "--out", str(tmp_path / "o"), "--max-iter", "1",
               "--quiet", "--min-area", "1024"])
    assert rc == 0, capsys.readouterr().err


def test_a_minimum_area_over_one_image_at_the_working_scale_is_refused(tmp_path, part, capsys):
    """A model that works at the image's scale (tiles up to 64 px): the bound is each image's own area."""
    import json
    import struct

    from conftest import make_model_file

    src = make_model_file(tmp_path / "m.safetensors")
    data = src.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["inspector_app"])
    meta["working_scale"] = {"mode": "crops", "max_side": 64}
    header["__metadata__"]["inspector_app"] = json.dumps(meta)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    model = tmp_path / "crops.safetensors"
    model.write_bytes(struct.pack("<Q", len(h)) + h + data[8 + n:])
    rc = main(["project", "--model", str(model), str(part), "--out", str(tmp_path / "o"), "--max-iter", "1",
               "--quiet", "--min-area", "1025"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert "a.png: --min-area 1025 is larger than the image at the model's scale (32×32 = 1024 px)" in err
