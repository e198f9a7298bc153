"""Issue 26, "data destroyed": no command writes over its inputs, a device or pipe, someone's own
files or the bundled resources, and two runs cannot share an output folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import make_model_file
from inspector_app.cli import main
from inspector_app.core.data import atomic_write_bytes, write_image
from inspector_app.core.outputs import FolderBusy, OutputGuard, WriteRefused, folder_lock

EMPTY_REVIEW = '{"format": "inspector-app review", "version": 1, "images": []}'


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _one_line(capsys, rc, match):
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.fixture(scope="module")
def tiny_category(tmp_path_factory):
    from inspector_app.core.datasets import make_dataset

    root = tmp_path_factory.mktemp("cat") / "brick"
    make_dataset("brick", root, n_train=2, n_test=4, seed=0, image_size=32)
    return root


@pytest.fixture
def fifo(tmp_path):
    p = tmp_path / "a.fifo"
    os.mkfifo(p)
    return p


def test_evaluate_json_never_replaces_someones_png(tmp_path, tiny_category, capsys):
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    precious = tmp_path / "precious.png"
    write_image(precious, np.full((8, 8), 0.5, np.float32))
    before = _digest(precious)
    args = ["evaluate", "--model", str(model), "--data", str(tiny_category), "--no-curve", "--max-iter", "1",
            "--quiet", "--batch", "4"]
    rc = main([*args, "--json", str(precious)])
    _one_line(capsys, rc, "--overwrite")
    assert _digest(precious) == before
    # an image of the data set is an input: refused even with --overwrite
    part = next((tiny_category / "test").rglob("*.png"))
    digest = _digest(part)
    rc = main([*args, "--json", str(part), "--overwrite"])
    _one_line(capsys, rc, "inputs")
    assert _digest(part) == digest
    # --plot the same (it replaced the PNG with the figure)
    rc = main([*(a for a in args if a != "--no-curve"), "--plot", str(precious)])
    _one_line(capsys, rc, "--overwrite")
    assert _digest(precious) == before


def test_report_never_writes_over_the_review_file_or_a_pipe(tmp_path, fifo, capsys):
    review = tmp_path / "inspector-review.json"
    review.write_text(EMPTY_REVIEW)
    rc = main(["report", str(review), "--out", str(review), "--overwrite"])
    _one_line(capsys, rc, "inputs")
    assert review.read_text() == EMPTY_REVIEW
    rc = main(["report", str(review), "--out", str(fifo), "--overwrite"])
    _one_line(capsys, rc, "not a regular file")
    assert fifo.is_fifo()


def test_a_link_to_a_device_is_never_replaced(tmp_path):
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    with pytest.raises(WriteRefused, match="a device"):
        atomic_write_bytes(link, b"{}")
    assert link.is_symlink()
    with pytest.raises(WriteRefused, match="a device"):
        OutputGuard(overwrite=True).check(link)


def test_project_never_replaces_an_input_part_even_with_overwrite(tmp_path, tiny_model_file, capsys):
    d = tmp_path / "ovr"
    rng = np.random.default_rng(0)
    write_image(d / "x.png", rng.random((32, 32)).astype(np.float32))
    write_image(d / "x_projection.png", rng.random((32, 32)).astype(np.float32))  # a part named like an output
    before = _digest(d / "x_projection.png")
    rc = main(["project", "--model", str(tiny_model_file), str(d), "--out", str(d), "--overwrite",
               "--max-iter", "1", "--quiet"])
    _one_line(capsys, rc, "inputs")
    assert _digest(d / "x_projection.png") == before
    assert sorted(p.name for p in d.iterdir()) == ["x.png", "x_projection.png"]


def test_project_into_a_folder_another_run_holds_is_refused(tmp_path, tiny_model_file, capsys):
    img = tmp_path / "a.png"
    write_image(img, np.random.default_rng(0).random((32, 32)).astype(np.float32))
    out = tmp_path / "out"
    with folder_lock(out):
        rc = main(["project", "--model", str(tiny_model_file), str(img), "--out", str(out), "--max-iter", "1",
                   "--quiet"])
        _one_line(capsys, rc, "another inspector-app run")
        with pytest.raises(FolderBusy):
            with folder_lock(out):
                pass
    assert not out.exists()  # created by the lock, left empty: removed
    rc = main(["project", "--model", str(tiny_model_file), str(img), "--out", str(out), "--max-iter", "1", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert (out / "summary.csv").exists() and not (out / ".inspector-app.lock").exists()


def _face_case(d: Path):
    rng = np.random.default_rng(0)
    write_image(d / "a.png", rng.random((32, 32)).astype(np.float32))
    m = np.zeros((32, 32), np.float32)
    m[8:16, 8:16] = 1
    write_image(d / "m.png", m)


def test_inpaint_keeps_the_users_own_files_and_the_bundled_resources(tmp_path, capsys):
    from inspector_app.resources import resources_dir

    model = make_model_file(tmp_path / "vae.safetensors", kind="vae", size=32)
    d = tmp_path / "d"
    _face_case(d)
    for name in ("a_masked.png", "a_telea.png"):
        (d / name).write_bytes(b"the user's own file")
    args = ["inpaint", "--model", str(model), str(d / "a.png"), "--mask", str(d / "m.png"), "--max-iter", "2", "--quiet"]
    rc = main([*args, "--out", str(d)])
    _one_line(capsys, rc, "--overwrite")
    assert (d / "a_masked.png").read_bytes() == b"the user's own file"
    assert (d / "a_telea.png").read_bytes() == b"the user's own file"
    assert not (d / "a_inpaint.json").exists()
    root = resources_dir()
    if root is not None:
        before = sorted(p.name for p in (root / "samples").rglob("*"))
        rc = main([*args, "--out", str(root / "samples" / "faces"), "--overwrite"])
        _one_line(capsys, rc, "bundled resources")
        assert sorted(p.name for p in (root / "samples").rglob("*")) == before
    # with --overwrite the user's files are replaced: the user asked for it
    rc = main([*args, "--out", str(d), "--overwrite"])
    assert rc == 0, capsys.readouterr().err
    assert (d / "a_masked.png").read_bytes() != b"the user's own file"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_node_is_never_replaced_even_with_overwrite(tmp_path, capsys):
    import stat

    node = tmp_path / "null.html"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a copy of /dev/null
    review = tmp_path / "inspector-review.json"
    review.write_text(EMPTY_REVIEW)
    rc = main(["report", str(review), "--out", str(node), "--overwrite"])
    _one_line(capsys, rc, "is a device")
    assert stat.S_ISCHR(os.lstat(node).st_mode)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="making a device node needs root")
def test_evaluate_never_replaces_a_device_node(tmp_path, tiny_category, capsys):
    """``evaluate --json`` as root made a copy of /dev/null a regular file."""
    import stat

    node = tmp_path / "null.json"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    model = make_model_file(tmp_path / "m.safetensors", size=32)
    rc = main(["evaluate", "--model", str(model), "--data", str(tiny_category), "--no-curve", "--max-iter", "1",
               "--quiet", "--batch", "4", "--json", str(node), "--overwrite"])
    _one_line(capsys, rc, "is a device")
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_train_never_replaces_the_model_it_starts_from(tmp_path, texture_images, capsys):
    for i, im in enumerate(texture_images[:2]):
        write_image(tmp_path / "d" / f"{i}.png", im)
    init = make_model_file(tmp_path / "init.safetensors")
    before = _digest(init)
    rc = main(["train", "--arch", "l2ae", "--data", str(tmp_path / "d"), "--init", str(init), "--out", str(init),
               "--overwrite", "--image-size", "32", "--max-steps", "1", "--quiet"])
    _one_line(capsys, rc, "inputs")
    assert _digest(init) == before


def test_make_dataset_into_a_folder_another_run_holds_is_refused(tmp_path, capsys):
    out = tmp_path / "ds"
    with folder_lock(out):
        rc = main(["make-dataset", "--source", "brick", "--out", str(out), "--n-train", "1", "--n-test", "2"])
        _one_line(capsys, rc, "another inspector-app run")
        assert sorted(p.name for p in out.iterdir()) == [".inspector-app.lock"]
