"""Two outputs of one command that the user named alike: the second clobbered the first. ``evaluate
--json r.out --plot r.out`` wrote the JSON, then the PNG over it ("wrote r.out" twice); ``train
--progress-jsonl m.checkpoint --out m.safetensors`` had its log replaced by the checkpoint, which
the end of the run then removed: the log the user asked for was gone. Both are refused, in one
line, before any computation."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_model_file, one_line_refusal as _one_line
from inspector_app.cli import main
from inspector_app.core.data import write_image


def test_evaluate_json_and_plot_of_one_name_are_refused(tmp_path, tiny_category, capsys):
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    same = tmp_path / "r.out"
    rc = main(["evaluate", "--model", str(model), "--data", str(tiny_category), "--max-iter", "1", "--iterations", "1",
               "--quiet", "--batch", "4", "--json", str(same), "--plot", str(tmp_path / "." / "r.out")])
    _one_line(capsys, rc, f"--json and --plot name the same file ({same})")
    assert not same.exists()


def test_train_progress_log_named_as_the_checkpoint_is_refused(tmp_path, texture_images, capsys):
    for i, im in enumerate(texture_images[:4]):
        write_image(tmp_path / "d" / f"{i}.png", im)
    out = tmp_path / "m.safetensors"
    rc = main(["train", "--arch", "l2ae", "--data", str(tmp_path / "d"), "--out", str(out), "--image-size", "32",
               "--max-steps", "1", "--no-calibrate", "--quiet", "--progress-jsonl", str(tmp_path / "m.checkpoint")])
    _one_line(capsys, rc, "is where the training keeps its checkpoint")
    assert not out.exists() and not (tmp_path / "m.checkpoint").exists()


def test_evaluate_table_names_both_image_aurocs(tmp_path, capsys):
    """The table's "image AUROC" was the map's maximum (a 3-minute gravel model: 1.000) while the
    verdicts, ``report`` and the window rank by the image score (0.5625 on the same images): the
    column says which it is, and the score's AUROC is printed beside it."""
    import json

    from inspector_app.core.datasets import make_dataset

    category = tmp_path / "brick"
    make_dataset("brick", category, n_train=2, n_test=10, seed=0, image_size=32)  # 2 good parts, 8 defective
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    assert main(["evaluate", "--model", str(model), "--data", str(category), "--no-curve", "--max-iter", "1",
                 "--quiet", "--batch", "4", "--min-area", "4", "--json", str(tmp_path / "r.json")]) == 0
    head, _, row = capsys.readouterr().out.splitlines()[:3]
    cells = dict(zip([c.strip() for c in head.split("|")], [c.strip() for c in row.split("|")]))
    g = json.loads((tmp_path / "r.json").read_text())["grad"]
    b = json.loads((tmp_path / "r.json").read_text())["baseline"]
    fmt = lambda v: "—" if v is None else f"{v:.3f}".lstrip("0") if v < 1 else f"{v:.3f}"  # noqa: E731
    assert g["image_auroc_score"] is not None  # both classes: a figure, not a dash
    assert cells["image AUROC, max DSSIM: base / grad"] == f"{fmt(b['image_auroc'])} / {fmt(g['image_auroc'])}"
    assert cells["image AUROC, score"] == fmt(g["image_auroc_score"])


def test_evaluate_table_without_good_parts_has_no_nan(tmp_path, capsys):
    """A category whose test/ holds no good part: "good passed" read "nan%"."""
    from inspector_app.core.datasets import make_dataset

    category = tmp_path / "brick"
    make_dataset("brick", category, n_train=2, n_test=4, seed=0, image_size=32)  # 4 defects, no good part
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    assert main(["evaluate", "--model", str(model), "--data", str(category), "--no-curve", "--max-iter", "1",
                 "--quiet", "--batch", "4"]) == 0
    head, _, row = capsys.readouterr().out.splitlines()[:3]
    cells = dict(zip([c.strip() for c in head.split("|")], [c.strip() for c in row.split("|")]))
    assert cells["good passed"] == "—" and cells["defective flagged"].endswith("%")
    assert "nan" not in row


def test_train_never_removes_a_checkpoint_file_it_did_not_write(tmp_path, texture_images, capsys):
    """``OUT.checkpoint`` already there (the user's own file, or an earlier run's checkpoint that
    ``--resume`` would continue): train wrote its checkpoints over it and removed it at the end."""
    for i, im in enumerate(texture_images[:4]):
        write_image(tmp_path / "d" / f"{i}.png", im)
    out, ck = tmp_path / "m.safetensors", tmp_path / "m.checkpoint"
    ck.write_bytes(b"precious")
    args = ["train", "--arch", "l2ae", "--data", str(tmp_path / "d"), "--out", str(out), "--image-size", "32",
            "--max-steps", "1", "--no-calibrate", "--quiet"]
    _one_line(capsys, main(args), f"{ck} exists")
    assert ck.read_bytes() == b"precious" and not out.exists()
    _one_line(capsys, main([*args, "--overwrite"]), f"{ck} exists")  # --overwrite is about --out
    assert ck.read_bytes() == b"precious"


def test_names_that_differ_only_in_case_do_not_share_result_files():
    """``Part.png`` and ``part.jpg`` in one folder: on a file system that ignores case (macOS,
    Windows) ``Part.json`` and ``part.json`` are one file, and the second result replaced the first."""
    from inspector_app.cli.project import unique_names

    assert unique_names(["Part", "part"]) == ["Part", "part_1"]
    assert unique_names(["d/A", "D/a", "d/a_1"]) == ["d/A", "D/a_2", "d/a_1"]
    assert unique_names(["a", "b", "a"]) == ["a", "b", "a_1"]  # as before


def test_inpaint_results_in_a_folder_of_parts_are_not_parts(tmp_path, capsys):
    """``inpaint --out`` into a folder of parts: ``project FOLDER`` (and review mode, the same
    listing) took its five panels for five more parts (the results ``project`` writes were skipped)."""
    import csv

    rng = np.random.default_rng(0)
    parts = tmp_path / "parts"
    write_image(parts / "a.png", rng.random((32, 32)).astype(np.float32))
    mask = np.zeros((32, 32), np.float32)
    mask[8:20, 8:20] = 1
    write_image(tmp_path / "omega.png", mask)
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    assert main(["inpaint", "--model", str(model), str(parts / "a.png"), "--mask", str(tmp_path / "omega.png"),
                 "--out", str(parts), "--max-iter", "2", "--quiet"]) == 0
    assert (parts / "a_inpaint.json").exists() and (parts / "a_blind.png").exists()
    assert main(["project", "--model", str(model), str(parts), "--out", str(tmp_path / "o"), "--max-iter", "1",
                 "--quiet"]) == 0, capsys.readouterr().err
    rows = list(csv.DictReader((tmp_path / "o" / "summary.csv").read_text().splitlines()))
    assert [r["output"] for r in rows] == ["a"]


def test_one_iteration_is_said_in_the_singular(tmp_path, capsys):
    """"1 iterations (max_iter)" on every line of a --max-iter 1 run."""
    rng = np.random.default_rng(0)
    write_image(tmp_path / "a.png", rng.random((32, 32)).astype(np.float32))
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    assert main(["project", "--model", str(model), str(tmp_path / "a.png"), "--out", str(tmp_path / "o"),
                 "--max-iter", "1", "--stop", "none", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert ", 1 iteration (max_iter)" in out and "1 iterations" not in out, out
