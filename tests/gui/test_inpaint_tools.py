"""The inpainting tools inside the main window: brush → Ω of the run, corrupt, compare, face demo."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_model_file


@pytest.fixture
def window(qtbot, tmp_path):
    import cv2

    from inspector_app.gui.main_window import MainWindow

    model = make_model_file(tmp_path / "m.safetensors", kind="vae", size=32)
    img = (np.random.default_rng(0).random((40, 36)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "img.png"), img)
    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    assert win.open_model(model, show_errors=False)
    assert win.open_image(tmp_path / "img.png", show_errors=False)
    yield win
    win.inpainting.close_all()
    win.runner.stop()


def test_painted_mask_becomes_the_runs_omega(window):
    tools = window.inpainting
    assert tools.brush.mask_model.shape == (40, 36)
    tools.brush.set_radius(3)
    tools.brush.mask_model.begin_stroke(10, 12)
    tools.brush.mask_model.stroke_to(20, 12)
    tools.brush.mask_model.end_stroke()
    assert window.mask is not None and np.array_equal(window.mask, tools.brush.mask)
    assert window.prepared.mask is not None
    tools.brush.undo()
    assert window.mask is None  # an empty Ω means no mask: anomaly mode


def test_clear_mask_action_clears_the_brush(window):
    tools = window.inpainting
    m = np.zeros((40, 36), bool)
    m[5:15, 5:15] = True
    window.set_mask(m)
    assert tools.brush.mask_model.count == 100
    window.act_clear_mask.trigger()
    assert tools.brush.mask_model.count == 0 and window.mask is None


def test_corrupt_keeps_clean_ground_truth_and_mask(window):
    tools = window.inpainting
    clean = window.image.copy()
    m = np.zeros((40, 36), bool)
    m[10:20, 8:30] = True
    tools.brush.mask_model.set_mask(m)
    tools.corrupt(m)
    assert np.array_equal(tools.ground_truth, clean)
    assert np.array_equal(window.image[~m], clean[~m])
    assert not np.array_equal(window.image[m], clean[m])
    assert np.array_equal(window.mask, m)


def test_compare_opens_with_ground_truth(window, qtbot):
    tools = window.inpainting
    m = np.zeros((40, 36), bool)
    m[10:20, 8:30] = True
    tools.brush.mask_model.set_mask(m)
    tools.corrupt(m)
    cw = tools.compare(window.mask)
    assert cw is not None
    qtbot.waitUntil(lambda: cw.job is not None and "ground_truth" in cw.panels, timeout=5000)
    cw.close()


def test_face_demo_menu_entry(window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    titles = [a.text() for a in window.demo_menu.actions()]
    assert "&Face Inpainting Demo" in titles
    cw = window.inpainting.open_face_demo()
    if cw is not None:  # the bundled demo is installed in a checkout
        assert "ground_truth" in cw.panels and "masked" in cw.panels
        cw.close()
