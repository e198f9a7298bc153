"""The brush/mask model (Ω of eq. 7): geometry, undo/redo, observers, PNG files."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector_app.core import mask as mask_mod
from inspector_app.core.mask import MaskFileError, MaskModel, load_mask_png, save_mask_png

H, W = 60, 80


# -- independent references ------------------------------------------------------------------------
def ref_disc(shape, x, y, radius):
    rr, cc = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return (cc - x) ** 2 + (rr - y) ** 2 <= radius**2


def ref_point_segment_dist(shape, a, b):
    """Distance from every pixel centre (x=c, y=r) to segment a–b, computed via the three cases."""
    rr, cc = np.meshgrid(np.arange(shape[0], dtype=float), np.arange(shape[1], dtype=float), indexing="ij")
    px, py = cc, rr
    ax, ay = a
    bx, by = b
    abx, aby = bx - ax, by - ay
    length = np.hypot(abx, aby)
    da = np.hypot(px - ax, py - ay)
    db = np.hypot(px - bx, py - by)
    if length == 0:
        return da
    ux, uy = abx / length, aby / length
    along = (px - ax) * ux + (py - ay) * uy
    perp = np.abs((px - ax) * uy - (py - ay) * ux)
    return np.where(along <= 0, da, np.where(along >= length, db, perp))


def ref_polyline(shape, points, radius):
    """Pixels within radius of the polyline, plus a boolean 'ambiguous' set (on the boundary)."""
    d = np.full(shape, np.inf)
    if len(points) == 1:
        points = [points[0], points[0]]
    for a, b in zip(points[:-1], points[1:]):
        d = np.minimum(d, ref_point_segment_dist(shape, a, b))
    return d <= radius, np.abs(d - radius) < 1e-9


def stroke(model, points):
    model.begin_stroke(*points[0])
    for p in points[1:]:
        model.stroke_to(*p)
    model.end_stroke()


# -- geometry --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("x", "y", "radius"),
    [(10, 20, 5), (10.3, 20.7, 4.5), (0, 0, 3), (W - 1, H - 1, 7.2), (40, 30, 0.5), (41.5, 30.5, 1.0), (-2, 5, 4)],
)
def test_click_stamps_exactly_the_disc(x, y, radius):
    m = MaskModel((H, W))
    m.radius = radius
    m.begin_stroke(x, y)
    m.end_stroke()
    np.testing.assert_array_equal(m.mask, ref_disc((H, W), x, y, radius))
    assert m.count == int(ref_disc((H, W), x, y, radius).sum())


def test_smallest_brush_is_one_pixel():
    m = MaskModel((H, W))
    m.radius = 0.1  # clamped to 0.5
    assert m.radius == 0.5
    m.begin_stroke(5, 7)
    m.end_stroke()
    assert m.count == 1 and m.mask[7, 5]


@pytest.mark.parametrize(
    "points",
    [
        [(5, 5), (70, 50)],
        [(10.2, 40.7), (30.9, 3.1), (75.5, 20.25), (76, 58)],
        [(20, 20), (20, 20), (21.5, 20.5)],
        [(-10, 30), (90, 31)],  # leaves and re-enters the image
    ],
)
@pytest.mark.parametrize("radius", [0.5, 2.5, 6.0])
def test_stroke_is_exactly_the_capsules(points, radius):
    m = MaskModel((H, W))
    m.radius = radius
    stroke(m, points)
    expected, ambiguous = ref_polyline((H, W), points, radius)
    ok = ~ambiguous
    np.testing.assert_array_equal(m.mask[ok], expected[ok])


def test_fast_long_stroke_has_no_gaps():
    m = MaskModel((100, 400))
    m.radius = 1.0
    # two mouse events across the whole image: every column of row 50 must be painted
    stroke(m, [(0, 50), (399, 50)])
    assert m.mask[50].all()
    # a diagonal: each row between the end points has a painted pixel, 4-connected overall
    m.clear()
    stroke(m, [(3, 2), (390, 97)])
    n, _ = cv2.connectedComponents(m.mask.astype(np.uint8), connectivity=4)
    assert n == 2  # background + one stroke
    assert all(m.mask[r].any() for r in range(2, 98))


def test_erase_mode_removes():
    m = MaskModel((H, W))
    m.fill()
    m.mode = "erase"
    m.radius = 4
    stroke(m, [(10, 10), (50, 30)])
    expected, amb = ref_polyline((H, W), [(10, 10), (50, 30)], 4)
    np.testing.assert_array_equal(m.mask[~amb], ~expected[~amb])
    with pytest.raises(ValueError):
        m.mode = "smudge"


def test_radius_is_clamped():
    m = MaskModel((H, W))
    m.radius = 1000
    assert m.radius == 256
    m.radius = 3.25
    assert m.radius == 3.25


def test_mask_is_read_only_view():
    m = MaskModel((H, W))
    with pytest.raises(ValueError):
        m.mask[0, 0] = True


def test_stroke_to_without_begin_starts_a_stroke():
    m = MaskModel((H, W))
    m.radius = 2
    m.stroke_to(10, 10)
    m.stroke_to(20, 10)
    m.end_stroke()
    assert m.mask[10, 10:21].all()
    assert m.undo() and m.count == 0


def test_non_finite_positions_refused():
    m = MaskModel((H, W))
    with pytest.raises(ValueError):
        m.begin_stroke(float("nan"), 3)


# -- undo / redo -----------------------------------------------------------------------------------
def test_undo_restores_exactly_and_redo_reapplies():
    rng = np.random.default_rng(0)
    start = rng.random((H, W)) > 0.7
    m = MaskModel((H, W), start)
    assert not m.can_undo and not m.can_redo
    m.radius = 5
    stroke(m, [(10, 10), (40, 50), (70, 12)])
    after = m.mask.copy()
    assert m.can_undo
    assert m.undo() is True
    np.testing.assert_array_equal(m.mask, start)
    assert m.can_redo and not m.can_undo
    assert m.redo() is True
    np.testing.assert_array_equal(m.mask, after)
    assert m.redo() is False
    assert m.undo() and m.undo() is False


def test_stroke_is_one_undo_step_and_stores_only_its_bbox():
    m = MaskModel((200, 300))
    m.radius = 3
    m.begin_stroke(50, 50)
    for x in range(51, 100):
        m.stroke_to(x, 50 + (x % 5))
    m.end_stroke()
    assert m.history_size == 1
    edit = m._undo[-1]
    assert edit.old.shape == edit.new.shape
    assert edit.old.size < 200 * 300 / 10  # a patch, not the whole mask
    assert m.undo() and m.count == 0 and not m.can_undo


def test_new_edit_clears_redo():
    m = MaskModel((H, W))
    stroke(m, [(10, 10)])
    m.undo()
    assert m.can_redo
    stroke(m, [(30, 30)])
    assert not m.can_redo
    assert m.redo() is False


def test_history_is_bounded():
    m = MaskModel((H, W), max_history=5)
    m.radius = 0.5
    for i in range(12):
        stroke(m, [(i, 0)])
    assert m.history_size == 5
    undone = 0
    while m.undo():
        undone += 1
    assert undone == 5
    assert m.count == 7  # the first 7 stamps can no longer be undone
    assert MaskModel((H, W)).__dict__["_undo"].maxlen == 100


def test_edit_changing_nothing_is_not_recorded():
    m = MaskModel((H, W))
    m.mode = "erase"
    stroke(m, [(10, 10), (20, 20)])
    assert not m.clear()
    assert not m.can_undo


@pytest.mark.parametrize("op", ["clear", "invert", "fill", "set_mask"])
def test_whole_mask_operations_are_undoable(op):
    rng = np.random.default_rng(1)
    start = rng.random((H, W)) > 0.5
    other = rng.random((H, W)) > 0.5
    m = MaskModel((H, W), start)
    if op == "set_mask":
        assert m.set_mask(other.astype(np.uint8) * 255)
        expected = other
    else:
        assert getattr(m, op)()
        expected = {"clear": np.zeros_like(start), "invert": ~start, "fill": np.ones_like(start)}[op]
    np.testing.assert_array_equal(m.mask, expected)
    assert m.undo()
    np.testing.assert_array_equal(m.mask, start)
    assert m.redo()
    np.testing.assert_array_equal(m.mask, expected)


def test_set_mask_wrong_shape_names_both_sizes():
    m = MaskModel((128, 128))
    with pytest.raises(ValueError, match="48") as info:
        m.set_mask(np.zeros((48, 64), bool))
    assert "64×48" in str(info.value) and "128×128" in str(info.value)
    with pytest.raises(ValueError, match="128×128"):
        MaskModel((128, 128), np.zeros((10, 10), bool))


def test_undo_during_stroke_ends_it():
    m = MaskModel((H, W))
    m.begin_stroke(10, 10)
    m.stroke_to(30, 10)
    assert m.can_undo
    assert m.undo()
    assert m.count == 0 and not m.stroking


# -- observers -------------------------------------------------------------------------------------
def _covers(region, changed):
    rs, cs = region
    outside = changed.copy()
    outside[rs, cs] = False
    return not outside.any()


def test_on_change_regions_cover_changed_pixels():
    m = MaskModel((H, W))
    calls = []
    m.on_change.append(calls.append)
    m.radius = 4
    before = m.mask.copy()
    m.begin_stroke(10, 10)
    m.stroke_to(40, 25)
    m.end_stroke()
    assert calls and all(c is not None for c in calls)
    covered = np.zeros((H, W), bool)
    for rs, cs in calls:
        covered[rs, cs] = True
    assert not (m.mask != before)[~covered].any()

    after = m.mask.copy()
    calls.clear()
    m.undo()
    assert len(calls) == 1 and calls[0] is not None
    assert _covers(calls[0], m.mask != after)
    # a tight box: undo's region is the bbox of the stroke's pixels
    rows = np.flatnonzero(after.any(axis=1))
    cols = np.flatnonzero(after.any(axis=0))
    assert calls[0] == (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))

    calls.clear()
    m.redo()
    assert calls == [calls[0]] and _covers(calls[0], after)

    calls.clear()
    m.invert()
    m.undo()
    assert calls == [None, None]


def test_no_notification_when_nothing_changes():
    m = MaskModel((H, W))
    calls = []
    m.on_change.append(calls.append)
    m.mode = "erase"
    stroke(m, [(5, 5), (50, 50)])
    m.clear()
    assert calls == []


# -- files -----------------------------------------------------------------------------------------
def test_png_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.random((H, W)) > 0.5
    p = tmp_path / "mask.png"
    save_mask_png(p, a)
    raw = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint8 and set(np.unique(raw)) <= {0, 255}
    np.testing.assert_array_equal(load_mask_png(p, (H, W)), a)
    assert [f.name for f in tmp_path.iterdir()] == ["mask.png"]


def test_png_colour_and_alpha(tmp_path):
    a = np.zeros((20, 30), bool)
    a[5:10, 3:8] = True
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[a, 2] = 10  # only red, faintly
    cv2.imwrite(str(tmp_path / "rgb.png"), rgb)
    np.testing.assert_array_equal(load_mask_png(tmp_path / "rgb.png", (20, 30)), a)
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., :3] = 255  # colour everywhere, but transparent outside the strokes
    rgba[a, 3] = 255
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    np.testing.assert_array_equal(load_mask_png(tmp_path / "rgba.png", (20, 30)), a)
    opaque = np.zeros((20, 30, 4), np.uint8)
    opaque[..., 3] = 255
    opaque[a, :3] = 255
    cv2.imwrite(str(tmp_path / "opaque.png"), opaque)
    np.testing.assert_array_equal(load_mask_png(tmp_path / "opaque.png", (20, 30)), a)


def test_wrong_size_png_refused(tmp_path):
    p = tmp_path / "small.png"
    save_mask_png(p, np.ones((48, 64), bool))
    with pytest.raises(MaskFileError) as info:
        load_mask_png(p, (128, 128))
    msg = str(info.value)
    assert "64×48" in msg and "128×128" in msg and "small.png" in msg
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("content", [b"garbage bytes, not a PNG" * 5, b""])
def test_corrupt_file_refused(tmp_path, content):
    p = tmp_path / "x.png"
    p.write_bytes(content)
    with pytest.raises(MaskFileError, match="x.png"):
        load_mask_png(p, (H, W))


def test_missing_file_refused(tmp_path):
    with pytest.raises(MaskFileError, match="nope.png"):
        load_mask_png(tmp_path / "nope.png")


def test_truncated_png_refused(tmp_path):
    p = tmp_path / "t.png"
    save_mask_png(p, np.ones((H, W), bool))
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(MaskFileError, match="t.png"):
        load_mask_png(p, (H, W))


def test_save_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "mask.png"
    save_mask_png(p, np.zeros((H, W), bool))
    original = p.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_mask_png(p, np.ones((H, W), bool))
    assert p.read_bytes() == original
    assert sorted(f.name for f in tmp_path.iterdir()) == ["mask.png"]


def test_save_keeps_unicode_path(tmp_path):
    p = tmp_path / "masque été.png"
    a = np.eye(10, dtype=bool)
    save_mask_png(p, a)
    np.testing.assert_array_equal(load_mask_png(p, (10, 10)), a)


def test_module_is_qt_free():
    src = Path(mask_mod.__file__).read_text(encoding="utf-8")
    assert "PySide6" not in src and "pyqtgraph" not in src
