"""Brush mode: simulated mouse strokes on a real ViewBox/ImageItem paint exactly the capsules of
core.mask; undo, overlay, file loading."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from inspector_app.core.mask import MaskModel, capsule, save_mask_png
from inspector_app.gui.brush import MASK_OPACITY, BrushController
from inspector_app.gui.brush_panel import BrushPanel

H, W = 40, 50


@pytest.fixture
def view(qtbot):
    """A GraphicsLayoutWidget with a ViewBox showing a W×H image, one screen pixel ≈ 8 image pixels."""
    pg.setConfigOptions(imageAxisOrder="row-major")
    old_rate = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOptions(mouseRateLimit=-1)  # deliver every synthetic move
    w = pg.GraphicsLayoutWidget()
    w.resize(420, 340)
    vb = w.addViewBox(lockAspect=True, invertY=True)
    img = pg.ImageItem(np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W), axisOrder="row-major")
    vb.addItem(img)
    vb.setRange(xRange=(0, W), yRange=(0, H), padding=0)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    QApplication.processEvents()
    yield w, vb, img
    pg.setConfigOptions(mouseRateLimit=old_rate)


def _viewport_point(w, img, x, y) -> QPoint:
    """Viewport pixel nearest to mask coordinates (x, y) (pixel centres at integers)."""
    return w.mapFromScene(img.mapToScene(QPointF(x + 0.5, y + 0.5)))


def _mask_coords(w, img, pt: QPoint) -> tuple[float, float]:
    p = img.mapFromScene(w.mapToScene(pt))
    return p.x() - 0.5, p.y() - 0.5


def _send(w, kind, pt: QPoint, button, buttons, modifiers=Qt.KeyboardModifier.NoModifier):
    vp = w.viewport()
    ev = QMouseEvent(kind, QPointF(pt), QPointF(vp.mapToGlobal(pt)), button, buttons, modifiers)
    QApplication.sendEvent(vp, ev)


def _drag(w, points: list[QPoint], button=Qt.MouseButton.LeftButton):
    _send(w, QEvent.Type.MouseButtonPress, points[0], button, button)
    for p in points[1:]:
        _send(w, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, button)
    _send(w, QEvent.Type.MouseButtonRelease, points[-1], button, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def _expected(shape, pts, radius):
    exp = np.zeros(shape, bool)
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        hit = capsule(shape, x0, y0, x1, y1, radius)
        if hit is not None:
            region, patch = hit
            exp[region] |= patch
    return exp


def test_stroke_paints_exactly_the_capsules_and_undo_restores(view, qtbot):
    w, vb, img = view
    model = MaskModel((H, W))
    ctl = BrushController(vb, img, model)
    ctl.set_radius(2.5)
    ctl.set_active(True)
    pts = [_viewport_point(w, img, x, y) for x, y in [(10, 10), (18, 12), (30, 20), (31, 29)]]
    # moves are far apart (> pyqtgraph's drag distance), so every one becomes a drag event
    _drag(w, pts)
    got = ctl.mask
    exp = _expected((H, W), [_mask_coords(w, img, p) for p in pts], 2.5)
    assert got.any()
    np.testing.assert_array_equal(got, exp)
    # the overlay mirrors the mask at the image's resolution
    alpha = ctl.overlay_rgba[..., 3]
    assert alpha.shape == (H, W)
    np.testing.assert_array_equal(alpha > 0, exp)
    assert alpha.max() == round(255 * MASK_OPACITY)
    shown = ctl.overlay.image
    assert shown.shape == (H, W, 4)
    np.testing.assert_array_equal(shown[..., 3] > 0, exp)
    # the cursor circle has the brush's radius, in image pixels
    assert ctl.cursor_item.isVisible()
    assert ctl.cursor_item.rect().width() == pytest.approx(5.0)
    # one stroke is one undo step
    assert model.history_size == 1
    first = ctl.mask
    _drag(w, [_viewport_point(w, img, x, y) for x, y in [(40, 5), (44, 30)]])
    assert (ctl.mask != first).any()
    ctl.undo()
    np.testing.assert_array_equal(ctl.mask, first)
    np.testing.assert_array_equal(ctl.overlay_rgba[..., 3] > 0, first)
    ctl.redo()
    assert (ctl.mask != first).any()
    ctl.actions["undo"].trigger()  # the Ctrl+Z action
    np.testing.assert_array_equal(ctl.mask, first)


def test_inactive_brush_pans_and_right_drag_never_paints(view, qtbot):
    w, vb, img = view
    ctl = BrushController(vb, img, MaskModel((H, W)))
    before = vb.viewRange()
    pts = [_viewport_point(w, img, x, y) for x, y in [(10, 10), (25, 20)]]
    _drag(w, pts)  # brush off: the left drag pans
    assert not ctl.mask.any()
    assert vb.viewRange() != before
    ctl.set_active(True)
    _drag(w, [_viewport_point(w, img, x, y) for x, y in [(10, 10), (25, 20)]], Qt.MouseButton.RightButton)
    assert not ctl.mask.any()  # right drag zooms, never paints
    # a left click stamps one disc
    c = _viewport_point(w, img, 20, 20)
    _send(w, QEvent.Type.MouseButtonPress, c, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
    _send(w, QEvent.Type.MouseButtonRelease, c, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
    QApplication.processEvents()
    x, y = _mask_coords(w, img, c)
    np.testing.assert_array_equal(ctl.mask, _expected((H, W), [(x, y), (x, y)], ctl.radius))


def test_erase_clear_invert_radius_and_visibility(view, qtbot):
    w, vb, img = view
    model = MaskModel((H, W))
    ctl = BrushController(vb, img, model)
    panel = BrushPanel(ctl)
    qtbot.addWidget(panel)
    ctl.invert()
    assert ctl.mask.all() and (ctl.overlay_rgba[..., 3] > 0).all()
    panel.erase_button.click()
    assert model.mode == "erase"
    ctl.set_radius(3)
    ctl.set_active(True)
    _drag(w, [_viewport_point(w, img, x, y) for x, y in [(5, 5), (20, 5)]])
    assert not ctl.mask[5, 10] and ctl.mask[20, 10]
    np.testing.assert_array_equal(ctl.overlay_rgba[..., 3] > 0, ctl.mask)
    r = ctl.radius
    ctl.actions["grow"].trigger()
    assert ctl.radius > r and panel.radius_slider.value() == pytest.approx(ctl.radius)
    ctl.actions["shrink"].trigger()
    assert ctl.radius == pytest.approx(r)
    panel.radius_slider.setValue(6.0)
    assert ctl.radius == pytest.approx(6.0)
    panel.show_check.setChecked(False)
    assert not ctl.overlay.isVisible()
    ctl.actions["show"].trigger()
    assert ctl.overlay.isVisible() and panel.show_check.isChecked()
    panel.clear_button.click()
    assert not ctl.mask.any() and not (ctl.overlay_rgba[..., 3] > 0).any()
    panel.undo_button.click()
    assert ctl.mask.any()


def test_load_save_and_wrong_size_refused(view, qtbot, tmp_path, monkeypatch):
    w, vb, img = view
    ctl = BrushController(vb, img, MaskModel((H, W)))
    panel = BrushPanel(ctl)
    qtbot.addWidget(panel)
    messages = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: messages.append(text)))
    good = np.zeros((H, W), bool)
    good[5:15, 10:30] = True
    save_mask_png(tmp_path / "good.png", good)
    assert panel.load_mask(str(tmp_path / "good.png"))
    np.testing.assert_array_equal(ctl.mask, good)
    np.testing.assert_array_equal(ctl.overlay_rgba[..., 3] > 0, good)
    save_mask_png(tmp_path / "small.png", np.ones((H - 8, W), bool))
    assert not panel.load_mask(str(tmp_path / "small.png"))
    assert len(messages) == 1 and f"{W}×{H - 8}" in messages[0] and f"{W}×{H}" in messages[0]
    np.testing.assert_array_equal(ctl.mask, good)  # unchanged
    assert panel.save_mask(str(tmp_path / "out.png"))
    from inspector_app.core.mask import load_mask_png

    np.testing.assert_array_equal(load_mask_png(tmp_path / "out.png"), good)


def test_corrupt_request_and_new_mask(view, qtbot):
    w, vb, img = view
    ctl = BrushController(vb, img, MaskModel((H, W)))
    panel = BrushPanel(ctl)
    qtbot.addWidget(panel)
    assert not panel.corrupt_button.isEnabled()
    m = np.zeros((H, W), bool)
    m[10:20, 10:20] = True
    ctl.mask_model.set_mask(m)
    got = []
    panel.corrupt_requested.connect(got.append)
    panel.corrupt_button.click()
    assert len(got) == 1 and np.array_equal(got[0], m)
    clean = np.full((H, W), 0.5, np.float32)
    corrupted, gt = ctl.corrupt(clean, seed=0)
    assert np.array_equal(gt, clean)
    assert np.array_equal(corrupted[~m], clean[~m]) and not np.array_equal(corrupted[m], clean[m])
    new = ctl.new_mask((20, 30))
    assert ctl.mask_model is new and ctl.overlay_rgba.shape == (20, 30, 4)
    assert panel.info.text().startswith("Ω: 0 px")


def _wheel(w, pt: QPoint, delta: int, modifiers):
    vp = w.viewport()
    ev = QWheelEvent(QPointF(pt), QPointF(vp.mapToGlobal(pt)), QPoint(0, 0), QPoint(0, delta),
                     Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)
    QApplication.processEvents()


def test_ctrl_wheel_resizes_the_brush_plain_wheel_zooms(view, qtbot):
    w, vb, img = view
    ctl = BrushController(vb, img, MaskModel((H, W)))
    ctl.set_active(True)
    ctl.set_radius(4)
    pt = _viewport_point(w, img, 25, 20)
    before = vb.viewRange()
    _wheel(w, pt, 120, Qt.KeyboardModifier.ControlModifier)
    assert ctl.radius > 4
    assert vb.viewRange() == before
    _wheel(w, pt, -120, Qt.KeyboardModifier.ControlModifier)
    assert ctl.radius == pytest.approx(4)
    _wheel(w, pt, 120, Qt.KeyboardModifier.NoModifier)
    assert ctl.radius == pytest.approx(4) and vb.viewRange() != before


def test_the_panel_shows_the_radius_the_brush_paints_with_beyond_the_sliders_end(view, qtbot):
    """] and Ctrl+wheel grow the brush past the slider's 64 px (up to MAX_RADIUS, for camera-size
    images): the panel said 64.0 while the brush painted with 80."""
    from inspector_app.gui.brush import SLIDER_MAX_RADIUS

    w, vb, img = view
    ctl = BrushController(vb, img, MaskModel((H, W)))
    panel = BrushPanel(ctl)
    qtbot.addWidget(panel)
    ctl.set_radius(SLIDER_MAX_RADIUS)
    for _ in range(2):
        ctl.actions["grow"].trigger()
    assert ctl.radius > SLIDER_MAX_RADIUS
    assert panel.radius_slider.value() == pytest.approx(ctl.radius)
    panel.radius_slider.setValue(10.0)  # the slider still sets it, down to its start
    assert ctl.radius == pytest.approx(10.0)
    assert panel.radius_slider.maximum() == pytest.approx(SLIDER_MAX_RADIUS)  # its usual travel again
