"""``make-dataset --full-size``: whole sources with defects anywhere (tile borders, corners), masks
that hold every changed pixel, deterministic per seed (inspector_app.core.datasets_full)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.core.datasets import DEFECTS, load_source, make_dataset
from inspector_app.core.datasets_full import PLACEMENTS, paint_full, vary
from inspector_app.core.evaluation import load_category
from inspector_app.core.tiling import tile_starts


def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "brick"
    summary = make_dataset("brick", out, n_train=2, n_test=5, seed=4, full_size=1, full_good=3)
    return out, summary


def test_full_size_layout_and_note(full):
    out, summary = full
    defects = DEFECTS["brick"]
    assert {k: v for k, v in summary["counts"].items() if k.startswith("full/")} == {
        "full/test/good": 3, **{f"full/test/{d}": 1 for d in defects},
        "full/validation/good": 8, "full/heldout/good": 8}
    cat = load_category(out / "full")  # an MVTec layout evaluate reads
    assert cat.name == "brick/full"
    assert sorted(cat.defects) == sorted(defects) and len(cat.images) == 3 + len(defects)
    meta = json.loads((out / "dataset.json").read_text())
    readme = (out / "README.txt").read_text()
    for text in (meta["full_size"], readme):  # says honestly that a whole source holds the train region
        assert "NOT disjoint from the training crops" in text and "columns 0..383" in text
    for t in cat.images:
        assert _read(t.path).shape == (512, 512)


def test_full_size_masks_hold_every_changed_pixel(full):
    """Each defective image is its varied source (the flip/rotation and brightness dataset.json
    records) changed inside its mask only, and visibly there; good images are all different."""
    out, _ = full
    meta = json.loads((out / "dataset.json").read_text())
    src = load_source("brick", 4)
    rows = [f for f in meta["files"] if f["split"] == "full"]
    assert len(rows) == 3 + len(DEFECTS["brick"])
    goods = [_read(out / f["file"]) for f in rows if "defect" not in f]
    assert all(not np.array_equal(a, b) for i, a in enumerate(goods) for b in goods[i + 1:])
    for f in rows:
        clean = np.rot90(src, f["rot90"])
        clean = clean[:, ::-1] if f["flip_lr"] else clean
        clean = np.clip(np.round(clean.astype(np.float64) + f["brightness"] * 255.0), 0, 255).astype(np.uint8)
        img = _read(out / f["file"])
        if "defect" not in f:
            assert np.array_equal(img, clean)
            continue
        mask = _read(out / f["mask"]) > 0
        changed = img != clean
        assert mask.sum() >= 40 and not (changed & ~mask).any()
        assert np.abs(img.astype(int) - clean.astype(int))[mask].mean() > 5


def test_validation_and_held_out_photographs_come_from_disjoint_regions(full):
    """Validation photographs: the train region (columns 0..383, whole height) only; held-out
    ones: the test strip only; each is its region under the flip/rotation and brightness that
    dataset.json records, all eight flips/rotations once."""
    out, _ = full
    meta = json.loads((out / "dataset.json").read_text())
    src = load_source("brick", 4)
    regions = meta["regions"]
    for split, region in (("full-validation", "train"), ("full-heldout", "test")):
        rows = [f for f in meta["files"] if f["split"] == split]
        assert len(rows) == 8 and {(f["rot90"], f["flip_lr"]) for f in rows} == {(k, b) for k in range(4) for b in (0, 1)}
        y0, x0, y1, x1 = regions[region]
        for f in rows:
            assert f["region"] == [y0, x0, y1, x1]
            clean = np.rot90(src[y0:y1, x0:x1], f["rot90"])
            clean = clean[:, ::-1] if f["flip_lr"] else clean
            clean = np.clip(np.round(clean.astype(np.float64) + f["brightness"] * 255.0), 0, 255).astype(np.uint8)
            assert np.array_equal(_read(out / f["file"]), clean)
    assert regions["train"][3] <= regions["test"][1]  # no column in common
    assert "full/validation/good" in meta["full_size"] and "disjoint" in meta["full_size"]


def test_full_size_is_deterministic_and_leaves_the_crops_alone(tmp_path, full):
    out, _ = full
    again = tmp_path / "again"
    make_dataset("brick", again, n_train=2, n_test=5, seed=4, full_size=1, full_good=3)
    other = tmp_path / "other"
    make_dataset("brick", other, n_train=2, n_test=5, seed=5, full_size=1, full_good=3)
    plain = tmp_path / "plain"
    make_dataset("brick", plain, n_train=2, n_test=5, seed=4)
    files = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.png"))
    assert all(np.array_equal(_read(out / f), _read(again / f)) for f in files)
    full_files = [f for f in files if f.parts[0] == "full"]
    assert not all(np.array_equal(_read(out / f), _read(other / f)) for f in full_files)
    crops = [f for f in files if f.parts[0] != "full"]
    assert crops == sorted(p.relative_to(plain) for p in plain.rglob("*.png"))
    assert all(np.array_equal(_read(out / f), _read(plain / f)) for f in crops)


@pytest.mark.parametrize("kind", DEFECTS["brick"])
def test_defects_cross_tile_borders_and_reach_corners(kind):
    src = load_source("brick")
    rng = np.random.default_rng(1)
    inner = {s for s in tile_starts(512, 128, 32) if s > 0} | {s + 128 for s in tile_starts(512, 128, 32)} - {512}
    for _ in range(3):
        img, _ = vary(src, 0, rng)
        bad, mask, where = paint_full(img, kind, "border", 128, rng)
        assert where["accepted"] and not ((bad != img) & ~mask).any()
        for axis, e in where["tile_border"].items():
            assert e in inner
            m = mask if axis == "y" else mask.T
            assert m[:e].any() and m[e:].any(), (axis, e)
        bad, mask, where = paint_full(img, kind, "corner", 128, rng)
        cy, cx = where["corner"]
        ys, xs = np.nonzero(mask)
        dy = ys.min() if cy == 0 else 511 - ys.max()
        dx = xs.min() if cx == 0 else 511 - xs.max()
        assert where["accepted"] and max(dy, dx) < 80 and not ((bad != img) & ~mask).any()
    with pytest.raises(ValueError, match="unknown placement"):
        paint_full(img, kind, "middle", 128, rng)
    assert set(PLACEMENTS) == {"border", "corner", "anywhere"}


def test_full_size_flags_on_the_command_line(tmp_path, capsys):
    for argv, text in ((["--source", "faces", "--full-size", "2"], "--full-size is for textures"),
                       (["--source", "brick", "--full-size", "-1"], "--full-size must be 0 or more"),
                       (["--source", "brick", "--full-good", "3"], "--full-good needs --full-size")):
        rc = main(["make-dataset", "--out", str(tmp_path / "x"), *argv])
        err = capsys.readouterr().err
        assert rc == 2 and text in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="a face is already whole"):
        make_dataset("faces", tmp_path / "f", full_size=1)


def test_full_size_with_geometric_defects(tmp_path):
    """With ``geometric`` the full-size images get the geometric kinds too; their masks hold every
    changed pixel; the intensity kinds' images are those of a run without it."""
    from inspector_app.core.geodefects import GEOMETRIC_DEFECTS

    geo, plain = tmp_path / "geo", tmp_path / "plain"
    make_dataset("grid", geo, n_train=1, n_test=5, seed=2, full_size=1, full_good=1, geometric=True)
    make_dataset("grid", plain, n_train=1, n_test=5, seed=2, full_size=1, full_good=1)
    meta = json.loads((geo / "dataset.json").read_text())
    rows = {f["defect"]: f for f in meta["files"] if f["split"] == "full" and "defect" in f}
    assert set(rows) == set(DEFECTS["grid"]) | set(GEOMETRIC_DEFECTS)
    src = load_source("grid", 2)
    for kind in GEOMETRIC_DEFECTS:
        f = rows[kind]
        clean = np.rot90(src, f["rot90"])
        clean = clean[:, ::-1] if f["flip_lr"] else clean
        clean = np.clip(np.round(clean.astype(np.float64) + f["brightness"] * 255.0), 0, 255).astype(np.uint8)
        img, mask = _read(geo / f["file"]), _read(geo / f["mask"]) > 0
        assert mask.any() and not ((img != clean) & ~mask).any() and (img != clean).any()
    for kind in DEFECTS["grid"]:
        f = f"full/test/{kind}/000.png"
        assert np.array_equal(_read(geo / f), _read(plain / f))
