"""A step size that makes the energy rise (``--alpha 100``): ``project`` refuses to give a verdict
(one line, exit 2), but ``evaluate`` printed its table from the diverged runs' maps (every part
"good", AUROC .500, exit 0; only the JSON's stop_reasons said "diverged": 10) and ``inpaint`` wrote
the input back as its blind and masked results with exit 0. Now every diverged run is said."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_model_file, one_line_refusal as _one_line
from inspector_app.cli import main
from inspector_app.core.data import write_image


def test_evaluate_where_every_run_diverged_gives_no_figures(tmp_path, tiny_category, capsys):
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    rc = main(["evaluate", "--model", str(model), "--data", str(tiny_category), "--no-curve", "--quiet", "--batch", "4",
               "--alpha", "100", "--grad-mask", "none", "--stop", "none", "--max-iter", "5", "--json", str(tmp_path / "r.json")])
    cap = _one_line(capsys, rc, "the projection diverged with α = 100 on every image (4 of 4)")
    assert "use a smaller --alpha" in cap.err and "|" not in cap.out  # no table
    assert not (tmp_path / "r.json").exists()


def test_evaluate_where_some_runs_diverged_says_how_many(tmp_path, tiny_category, capsys, monkeypatch):
    from inspector_app.core import evaluation

    real = evaluation.evaluate

    def some(*a, **k):  # the figures of a run where one image of four diverged
        res = real(*a, **k)
        res["grad"]["stop_reasons"] = {"max_iter": 3, "diverged": 1}
        return res

    monkeypatch.setattr(evaluation, "evaluate", some)
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    assert main(["evaluate", "--model", str(model), "--data", str(tiny_category), "--no-curve", "--quiet", "--batch", "4",
                 "--max-iter", "1"]) == 0
    cap = capsys.readouterr()
    assert "| brick |" in cap.out
    assert cap.err.splitlines() == ["inspector-app: warning: the projection diverged with α = 0.5 on 1 of 4 images: "
                                    "their maps are those of an early iterate; use a smaller --alpha (e.g. 0.05) or "
                                    "--optimizer adam"], cap.err


def test_inpaint_that_diverged_writes_nothing(tmp_path, capsys):
    rng = np.random.default_rng(0)
    img, mask = tmp_path / "a.png", tmp_path / "omega.png"
    write_image(img, rng.random((32, 32)).astype(np.float32))
    m = np.zeros((32, 32), np.float32)
    m[8:20, 8:20] = 1
    write_image(mask, m)
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    out = tmp_path / "o"
    rc = main(["inpaint", "--model", str(model), str(img), "--mask", str(mask), "--out", str(out),
               "--alpha", "100", "--max-iter", "5"])
    _one_line(capsys, rc, "a: the blind inpainting diverged with α = 100")
    assert not out.exists() or not any(out.iterdir())


def test_evaluate_with_the_curve_where_every_run_diverged_warns(tmp_path, tiny_category, capsys):
    """With the figure-5 curves (which show where each update diverges) the table is printed, and
    one line says that its figures are those of diverged runs."""
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    assert main(["evaluate", "--model", str(model), "--data", str(tiny_category), "--quiet", "--batch", "4",
                 "--alpha", "100", "--grad-mask", "none", "--stop", "none", "--max-iter", "3", "--iterations", "3"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == ["inspector-app: warning: the projection diverged with α = 100 on 4 of 4 images: their "
                                "maps are those of an early iterate; use a smaller --alpha (e.g. 10) or --optimizer "
                                "adam"], err
