"""Issue 26, memory per image: a large image's full-size buffers are made a band of rows at a time
(reading a colour file for a grey model, quantising, the overlay, the DSSIM picture) and the anomaly
map is not copied to compare it; the files written are the same bytes as the whole-image
computations give. (The peaks themselves: benchmarks/bench_read_memory.py; no memory assertion here.)"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inspector_app.cli import main
from inspector_app.core import data as data_module
from inspector_app.core.data import read_image, read_image_as
from inspector_app.core.imageops import BAND_ROWS, convert_channels
from inspector_app.core.modelio import load_model
from inspector_app.core.params import ProjectionParams
from inspector_app.core.pipeline import batch_tensors, dssim_visual, finish, overlay, prepare, to_uint8, write_outputs
from inspector_app.core.projection import run_to_end
from inspector_app.core.verdict import _as_map, dssim_scale_top, segment

TALL = BAND_ROWS * 2 + 37  # three bands, the last one short; the width is not a multiple of any SIMD width


def whole_to_uint8(img):
    """to_uint8 as one expression over the whole image (the code before the bands)."""
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def whole_overlay(image, seg, color=(1.0, 0.15, 0.1), opacity=0.45):
    """overlay as it was: a float copy of the whole image blended, then quantised."""
    rgb = convert_channels(image, 3).astype(np.float32).copy()
    c = np.asarray(color, np.float32)
    rgb[seg] = (1 - opacity) * rgb[seg] + opacity * c
    contours, _ = cv2.findContours(seg.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    u8 = whole_to_uint8(rgb)
    cv2.drawContours(u8, contours, -1, tuple(int(v * 255) for v in color), 1)
    return u8


def blobs(shape, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random(shape, np.float32), (0, 0), 4) > 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_uint8_in_bands_is_the_whole_image_expression(dtype):
    rng = np.random.default_rng(1)
    img = rng.uniform(-0.2, 1.2, (TALL, 45)).astype(dtype)
    img[0, :4] = [0.5 / 255, 1.5 / 255, 254.5 / 255, np.nextafter(dtype(1.0), dtype(0.0))]  # rounding edges
    np.testing.assert_array_equal(to_uint8(img), whole_to_uint8(img))
    rgb = rng.uniform(0, 1, (TALL, 45, 3)).astype(dtype)
    np.testing.assert_array_equal(to_uint8(rgb), whole_to_uint8(rgb))
    assert to_uint8(np.float32(0.5)) == whole_to_uint8(np.float32(0.5))


@pytest.mark.parametrize("channels", [1, 3])
def test_overlay_in_bands_is_the_whole_image_blend(channels):
    rng = np.random.default_rng(2)
    shape = (TALL, 45) if channels == 1 else (TALL, 45, 3)
    image = rng.random(shape, np.float32)
    seg = blobs((TALL, 45))
    assert 0 < seg.mean() < 1
    before = image.copy()
    np.testing.assert_array_equal(overlay(image, seg), whole_overlay(image, seg))
    np.testing.assert_array_equal(image, before)  # the input is not blended in place
    full = np.ones((TALL, 45), bool)
    np.testing.assert_array_equal(overlay(image, full), whole_overlay(image, full))


def test_dssim_picture_in_bands_is_the_whole_map_picture():
    d = np.random.default_rng(3).uniform(0, 0.7, (TALL, 45)).astype(np.float32)
    for threshold in (None, 0.02, 0.2):
        top = 0.5 if threshold is None else dssim_scale_top(threshold)
        u8 = whole_to_uint8(np.clip(d / top, 0.0, 1.0))
        want = cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(dssim_visual(d, threshold), want)


def test_a_finite_map_is_not_copied_to_be_compared():
    d = np.random.default_rng(4).random((50, 40), np.float32)
    assert np.shares_memory(_as_map(d), d)
    bad = d.copy()
    bad[3, 4], bad[5, 6] = np.nan, np.inf
    fixed = _as_map(bad)
    assert not np.shares_memory(fixed, bad) and np.isnan(bad[3, 4])  # the caller's map is left as it was
    assert fixed[3, 4] == 0.0 and fixed[5, 6] == 1.0
    np.testing.assert_array_equal(segment(bad, 0.5), segment(fixed, 0.5))


@pytest.mark.parametrize("depth", [np.uint8, np.uint16])
def test_a_colour_file_read_as_grey_is_the_grey_of_its_floats(tmp_path, depth, monkeypatch):
    rng = np.random.default_rng(5)
    top = np.iinfo(depth).max
    bgr = (rng.random((TALL, 45, 3)) * top).astype(depth)
    p = tmp_path / "colour.png"
    cv2.imwrite(str(p), bgr)
    grey, source = read_image_as(p, 1)
    assert source == 3 and grey.dtype == np.float32
    np.testing.assert_array_equal(grey, convert_channels(read_image(p), 1))  # the same bytes as before
    rgb, source = read_image_as(p, 3, data=p.read_bytes())
    assert source == 3
    np.testing.assert_array_equal(rgb, read_image(p))
    whole = convert_channels(read_image(p), 1)
    converted = []
    real = data_module._as_unit_float
    monkeypatch.setattr(data_module, "_as_unit_float", lambda p, a: converted.append(a.shape) or real(p, a))
    np.testing.assert_array_equal(read_image(p, 1), whole)  # read_image(…, 1) (evaluate, calibrate …) too
    assert converted and max(sh[0] for sh in converted) <= BAND_ROWS
    g = tmp_path / "grey.png"
    cv2.imwrite(str(g), bgr[:, :, 0])
    as_rgb, source = read_image_as(g, 3)
    assert source == 1
    np.testing.assert_array_equal(as_rgb, read_image(g, 3))


def test_project_never_holds_a_colour_photograph_as_floats_for_a_grey_model(tmp_path, tiny_model_file, monkeypatch):
    """The CLI's files for a colour image and a grey model are those of the whole float colour image
    converted (the code before), while the decoder converts at most a band of rows to floats at a time."""
    rng = np.random.default_rng(6)
    bgr = cv2.GaussianBlur((rng.random((TALL, 300, 3)) * 255).astype(np.uint8), (0, 0), 2)
    bgr[100:160, 80:150] = 255
    img = tmp_path / "part.png"
    cv2.imwrite(str(img), bgr)
    converted = []
    real = data_module._as_unit_float
    monkeypatch.setattr(data_module, "_as_unit_float", lambda p, a: converted.append(a.shape) or real(p, a))
    out = tmp_path / "out"
    flags = ["--stop", "none", "--max-iter", "2", "--threshold", "0.05", "--min-area", "3", "--quiet"]
    assert main(["project", "--model", str(tiny_model_file), str(img), "--out", str(out), *flags]) == 0
    assert converted and max(s[0] for s in converted) <= BAND_ROWS and all(s[1] == 300 for s in converted)

    loaded = load_model(tiny_model_file, "cpu")  # the same run on the whole colour image's floats
    prep = prepare("part", read_image(img), loaded)
    params = ProjectionParams(stop="none", max_iter=2)
    _, last, _ = run_to_end(loaded.model, batch_tensors([prep])[0], params)
    want = tmp_path / "want"
    write_outputs(finish(prep, last, 0, threshold=0.05, min_area=3, params=params), want, original=prep.original)
    for suffix in ("_projection.png", "_reconstruction.png", "_dssim.png", "_dssim.npy", "_segmentation.png",
                   "_overlay.png"):
        assert (out / f"part{suffix}").read_bytes() == (want / f"part{suffix}").read_bytes(), suffix
    got, ref = (json.loads((d / "part.json").read_text()) for d in (out, want))
    assert got["score"] == ref["score"] and got["verdict"] == ref["verdict"]
    assert "channels" in [w["code"] for w in got["warnings"]]  # the file's own channels (colour) were compared
    np.testing.assert_array_equal(np.load(out / "part_dssim.npy"), np.load(want / "part_dssim.npy"))


def test_a_batch_of_large_images_is_projected_as_they_come(tmp_path, tiny_model_file, monkeypatch):
    """The full-size images waiting for the projection hold at most the pixel cap together (with the
    next one read): three 40×40 images under a 3,000-pixel cap are projected one by one, in order."""
    from inspector_app.cli import project

    rng = np.random.default_rng(7)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), (rng.random((40, 40)) * 255).astype(np.uint8))
    groups = []
    real = project._project_group

    def recorded(ready, *a, **k):
        groups.append([job.name for job, _prep, _c in ready])
        return real(ready, *a, **k)

    monkeypatch.setattr(project, "_project_group", recorded)
    args = ["project", "--model", str(tiny_model_file), *(str(tmp_path / f"{i}.png") for i in range(3)),
            "--max-iter", "1", "--quiet", "--batch", "8"]
    assert main([*args, "--out", str(tmp_path / "all")]) == 0
    assert groups == [["0", "1", "2"]]
    groups.clear()
    monkeypatch.setenv("INSPECTOR_MAX_PIXELS", "3000")
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert groups == [["0"], ["1"], ["2"]]
    rows = (tmp_path / "one" / "summary.csv").read_text().splitlines()[1:]
    assert [r.split(",")[1] for r in rows] == ["0", "1", "2"]
