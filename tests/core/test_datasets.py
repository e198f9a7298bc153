"""Tests of inspector_app.core.datasets: MVTec AD layout, exact defect masks, train/test disjointness."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inspector_app.core.datasets import DEFECTS, SOURCES, apply_defect, load_source, make_dataset, split_regions


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def brick(tmp_path_factory):
    out = tmp_path_factory.mktemp("brick")
    summary = make_dataset("brick", out, n_train=8, n_test=10, seed=3)
    return out, summary


def test_brick_layout(brick):
    out, summary = brick
    defects = DEFECTS["brick"]
    assert set(defects) == {"stain", "scratch", "hole", "patch"}
    assert summary["counts"] == {"train/good": 8, "test/good": 2, **{f"test/{d}": 2 for d in defects}}
    assert _names(out) == sorted(["train", "test", "ground_truth", "dataset.json", "README.txt"])
    assert _names(out / "train") == ["good"]
    assert _names(out / "train" / "good") == [f"{i:03d}.png" for i in range(8)]
    assert _names(out / "test") == sorted(["good", *defects])
    assert _names(out / "test" / "good") == ["000.png", "001.png"]
    assert _names(out / "ground_truth") == sorted(defects)
    for d in defects:
        assert _names(out / "test" / d) == ["000.png", "001.png"]
        assert _names(out / "ground_truth" / d) == ["000_mask.png", "001_mask.png"]


def test_brick_images_and_masks(brick):
    out, _ = brick
    for p in list((out / "train" / "good").iterdir()) + list((out / "test").rglob("*.png")):
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        assert img.dtype == np.uint8 and img.shape == (128, 128), p
    for d in DEFECTS["brick"]:
        for p in (out / "test" / d).iterdir():
            img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            mask = cv2.imread(str(out / "ground_truth" / d / f"{p.stem}_mask.png"), cv2.IMREAD_UNCHANGED)
            assert mask.dtype == np.uint8 and mask.shape == img.shape
            assert set(np.unique(mask)) <= {0, 255}
            area = (mask > 0).mean()
            assert 0.003 <= area <= 0.1, (d, area)


def test_train_test_crops_disjoint(brick):
    out, summary = brick
    meta = json.loads((out / "dataset.json").read_text())
    regions = split_regions(tuple(meta["source_shape"]), meta["image_size"])
    assert summary["regions"] == {k: list(v) for k, v in regions.items()}
    assert not _overlap(regions["train"], regions["test"])
    files = meta["files"]
    assert len(files) == 18
    train = [f["box"] for f in files if f["split"] == "train"]
    test = [f["box"] for f in files if f["split"] == "test"]
    assert len(train) == 8 and len(test) == 10
    for b in train + test:
        assert b[2] - b[0] == b[3] - b[1] == 128
    for a in train:
        assert all(not _overlap(a, b) for b in test)
        assert regions["train"][1] <= a[1] and a[3] <= regions["train"][3]
    for b in test:
        assert regions["test"][1] <= b[1] and b[3] <= regions["test"][3]
    # the train crop really is that box of the source, up to flip / rotation
    src = load_source("brick", meta["seed"])
    f = files[0]
    y0, x0, y1, x1 = f["box"]
    crop = np.rot90(src[y0:y1, x0:x1], f["rot90"])
    if f["flip_lr"]:
        crop = crop[:, ::-1]
    np.testing.assert_array_equal(cv2.imread(str(out / f["file"]), cv2.IMREAD_UNCHANGED), crop)


@pytest.mark.parametrize("shape,crop", [((512, 512), 128), ((512, 512), 64), ((512, 512), 200), ((300, 400), 100)])
def test_split_regions(shape, crop):
    r = split_regions(shape, crop)
    assert not _overlap(r["train"], r["test"])
    for box in r.values():
        assert box[2] - box[0] >= crop and box[3] - box[1] >= crop
        assert 0 <= box[0] and 0 <= box[1] and box[2] <= shape[0] and box[3] <= shape[1]


def test_split_regions_too_large():
    with pytest.raises(ValueError, match="image_size"):
        split_regions((512, 512), 300)


@pytest.mark.parametrize("kind", ["stain", "scratch", "hole", "patch", "noise"])
@pytest.mark.parametrize("source", ["brick", "grid"])
def test_apply_defect_changes_only_inside_mask(kind, source):
    src = load_source(source)
    donor = load_source("gravel")
    rng = np.random.default_rng(11)
    for i in range(3):
        y, x = rng.integers(0, 512 - 128, 2)
        img = src[y:y + 128, x:x + 128].copy()
        before = img.copy()
        out, mask = apply_defect(img, kind, rng, donor=donor if i == 1 else None)
        np.testing.assert_array_equal(img, before)  # the input is not modified
        assert out.dtype == np.uint8 and out.shape == img.shape
        assert mask.dtype == bool and mask.shape == img.shape and mask.any()
        np.testing.assert_array_equal(out[~mask], img[~mask])  # bit-identical outside the mask
        diff = np.abs(out.astype(int) - img.astype(int))[mask]
        assert diff.mean() >= 10, (kind, diff.mean())
        if kind != "noise":
            assert 0.003 <= mask.mean() <= 0.1


def test_apply_defect_unknown():
    with pytest.raises(ValueError, match="valid defects"):
        apply_defect(np.zeros((32, 32), np.uint8), "smudge", np.random.default_rng(0))


def test_faces(tmp_path):
    out = tmp_path / "faces"
    calls = []
    summary = make_dataset("faces", out, n_train=85, n_test=60, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert summary["counts"] == {"train/good": 85, "test/good": 20, "test/noise": 20}
    assert calls[-1] == (125, 125) and len(calls) == 125
    assert _names(out / "test") == ["good", "noise"]
    assert _names(out / "ground_truth") == ["noise"]
    assert len(_names(out / "train" / "good")) == 85
    # flip copies after the 80 faces
    f0 = cv2.imread(str(out / "train" / "good" / "000.png"), cv2.IMREAD_UNCHANGED)
    f80 = cv2.imread(str(out / "train" / "good" / "080.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(f80, f0[:, ::-1])
    for i in range(20):
        good = cv2.imread(str(out / "test" / "good" / f"{i:03d}.png"), cv2.IMREAD_UNCHANGED)
        bad = cv2.imread(str(out / "test" / "noise" / f"{i:03d}.png"), cv2.IMREAD_UNCHANGED)
        clean = cv2.imread(str(out / "clean" / "noise" / f"{i:03d}.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / "ground_truth" / "noise" / f"{i:03d}_mask.png"), cv2.IMREAD_UNCHANGED)
        assert good.shape == bad.shape == clean.shape == mask.shape == (32, 32)
        np.testing.assert_array_equal(clean, good)
        assert set(np.unique(mask)) == {0, 255}
        m = mask > 0
        assert 0.2 <= m.mean() <= 0.45
        ys, xs = np.nonzero(m)  # one rectangle
        assert m[ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()
        np.testing.assert_array_equal(bad[~m], clean[~m])
    assert "clean/noise" in (out / "README.txt").read_text()


def test_faces_small_size_and_caps(tmp_path):
    s = make_dataset("faces", tmp_path / "f", n_train=500, n_test=7, image_size=25)
    assert s["counts"] == {"train/good": 160, "test/good": 3, "test/noise": 4}
    img = cv2.imread(str(tmp_path / "f" / "test" / "noise" / "000.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (25, 25)


def test_reproducible_and_counts(tmp_path):
    a = make_dataset("grid", tmp_path / "a", n_train=3, n_test=60, seed=5, image_size=64)
    make_dataset("grid", tmp_path / "b", n_train=3, n_test=60, seed=5, image_size=64)
    assert a["counts"] == {"train/good": 3, "test/good": 12, **{f"test/{d}": 12 for d in DEFECTS["grid"]}}
    for p in (tmp_path / "a").rglob("*.png"):
        q = tmp_path / "b" / p.relative_to(tmp_path / "a")
        np.testing.assert_array_equal(cv2.imread(str(p), 0), cv2.imread(str(q), 0))
    assert json.loads((tmp_path / "a" / "dataset.json").read_text())["seed"] == 5


def test_existing_dataset_needs_overwrite(tmp_path):
    make_dataset("gravel", tmp_path, n_train=2, n_test=5)
    with pytest.raises(FileExistsError):
        make_dataset("gravel", tmp_path, n_train=2, n_test=5)
    s = make_dataset("grass", tmp_path, n_train=1, n_test=5, overwrite=True)
    assert s["counts"]["train/good"] == 1
    assert _names(tmp_path / "train" / "good") == ["000.png"]


def test_validation(tmp_path):
    assert SOURCES == ("brick", "grass", "gravel", "grid", "faces")
    with pytest.raises(ValueError, match="brick, grass, gravel, grid, faces"):
        make_dataset("marble", tmp_path)
    with pytest.raises(ValueError, match="at least 1"):
        make_dataset("brick", tmp_path, n_train=0)
    with pytest.raises(ValueError, match="at least 1"):
        make_dataset("brick", tmp_path, n_test=0)
    with pytest.raises(ValueError, match="image_size"):
        make_dataset("brick", tmp_path, image_size=400)
    assert not any(tmp_path.iterdir())  # nothing written on bad input


def test_overwrite_only_replaces_a_folder_make_dataset_wrote(tmp_path):
    from inspector_app.cli import main

    p = tmp_path / "p"
    (p / "test").mkdir(parents=True)
    (p / "test" / "t.py").write_text("x")  # someone's own work, in a folder named like ours
    rc = main(["make-dataset", "--source", "brick", "--out", str(p), "--overwrite", "--n-train", "2", "--n-test", "5"])
    assert rc == 2
    assert (p / "test" / "t.py").read_text() == "x"
    # a folder make-dataset wrote is replaced
    q = tmp_path / "q"
    assert main(["make-dataset", "--source", "grid", "--out", str(q), "--n-train", "2", "--n-test", "5"]) == 0
    (q / "train" / "good" / "extra.png").write_bytes(b"")
    assert main(["make-dataset", "--source", "grid", "--out", str(q), "--n-train", "3", "--n-test", "5",
                 "--overwrite"]) == 0
    assert sorted(f.name for f in (q / "train" / "good").iterdir()) == ["000.png", "001.png", "002.png"]


def test_an_interrupted_make_dataset_is_refused_by_train_and_evaluate(tmp_path, monkeypatch, capsys):
    import inspector_app.core.datasets as ds
    from inspector_app.cli import main

    calls = {"n": 0}
    real = ds._write

    def interrupted(path, img):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real(path, img)

    monkeypatch.setattr(ds, "_write", interrupted)
    out = tmp_path / "cut"
    assert main(["make-dataset", "--source", "brick", "--out", str(out), "--n-train", "6", "--n-test", "5"]) == 130
    monkeypatch.setattr(ds, "_write", real)
    assert json.loads((out / "dataset.json").read_text())["complete"] is False
    capsys.readouterr()
    rc = main(["train", "--arch", "l2ae", "--data", str(out), "--out", str(tmp_path / "m.safetensors"),
               "--image-size", "32", "--max-steps", "1"])
    assert rc == 2 and "was not finished" in capsys.readouterr().err
    rc = main(["evaluate", "--model", str(tmp_path / "m.safetensors"), "--data", str(out)])
    assert rc == 2 and "was not finished" in capsys.readouterr().err
    # and --overwrite finishes it
    assert main(["make-dataset", "--source", "brick", "--out", str(out), "--n-train", "6", "--n-test", "5",
                 "--overwrite"]) == 0
    assert json.loads((out / "dataset.json").read_text())["complete"] is True
