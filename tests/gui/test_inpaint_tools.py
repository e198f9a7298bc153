"""The inpainting tools inside the main window: brush → Ω of the run (one owner), corrupt, the
inpainting window, the face demo."""

from __future__ import annotations

import numpy as np
import pytest

from gui_helpers import make_model_file, open_model, wait_idle


@pytest.fixture
def window(qtbot, tmp_path):
    import cv2

    from inspector_app.gui.main_window import MainWindow

    model = make_model_file(tmp_path / "m.safetensors", kind="vae", size=32)
    img = (np.random.default_rng(0).random((40, 36)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "img.png"), img)
    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    assert open_model(qtbot, win, model, show_errors=False)
    assert win.open_image(tmp_path / "img.png", show_errors=False)
    wait_idle(qtbot, win)
    yield win
    win.close()


def test_painted_mask_is_the_runs_omega(window):
    tools, s = window.inpainting, window.session
    assert tools.brush.mask_model is s.mask and s.mask.shape == (40, 36)
    tools.brush.set_radius(3)
    s.mask.begin_stroke(10, 12)
    s.mask.stroke_to(20, 12)
    s.mask.end_stroke()
    assert np.array_equal(s.omega, tools.brush.mask) and s.prepared.mask is not None
    assert (tools.brush.overlay_rgba[..., 3] > 0).sum() == s.mask.count
    tools.brush.undo()
    assert s.omega is None and s.prepared.mask is None  # an empty Ω means no mask: anomaly mode


def test_clear_mask_action_clears_the_brush(window):
    tools, s = window.inpainting, window.session
    m = np.zeros((40, 36), bool)
    m[5:15, 5:15] = True
    s.set_omega(m)
    assert tools.brush.mask_model.count == 100 and (tools.brush.overlay_rgba[..., 3] > 0).sum() == 100
    window.act_clear_mask.trigger()
    assert tools.brush.mask_model.count == 0 and s.omega is None


def test_a_new_image_gives_the_brush_its_new_omega(window, qtbot, tmp_path):
    from gui_helpers import write_png

    tools, s = window.inpainting, window.session
    s.set_omega(np.ones((40, 36), bool))
    assert window.open_image(write_png(tmp_path / "small.png", np.full((20, 24), 0.5, np.float32)))
    wait_idle(qtbot, window)
    assert tools.brush.mask_model is s.mask and s.mask.shape == (20, 24) and s.omega is None
    assert tools.brush.overlay_rgba.shape == (20, 24, 4)


def test_corrupt_keeps_clean_ground_truth_and_mask(window, qtbot):
    tools, s = window.inpainting, window.session
    clean = s.image.pixels.copy()
    m = np.zeros((40, 36), bool)
    m[10:20, 8:30] = True
    s.set_omega(m)
    tools.corrupt(m)
    wait_idle(qtbot, window)
    assert np.array_equal(s.image.ground_truth, clean) and s.image.path is None
    assert s.image.stem == "img_corrupted"
    assert np.array_equal(s.image.pixels[~m], clean[~m])
    assert not np.array_equal(s.image.pixels[m], clean[m])
    assert np.array_equal(s.omega, m) and tools.brush.mask_model is s.mask


def test_inpainting_window_opens_with_ground_truth(window, qtbot):
    tools, s = window.inpainting, window.session
    m = np.zeros((40, 36), bool)
    m[10:20, 8:30] = True
    s.set_omega(m)
    tools.corrupt(m)
    iw = tools.open_inpainting(s.omega)
    assert iw is not None and "ground_truth" in iw.panels and "masked" in iw.panels
    qtbot.waitUntil(lambda: "telea" in iw.results, timeout=20000)  # made in a worker
    iw.close()


def test_face_demo_menu_entry(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    titles = [a.text() for a in window.demo_menu.actions()]
    assert "&Face Inpainting Demo" in titles
    worker = window.inpainting.open_face_demo()
    if worker is not None:  # the bundled demo is installed in a checkout
        qtbot.waitUntil(lambda: bool(window.inpainting.windows), timeout=30000)
        iw = window.inpainting.windows[0]
        assert "ground_truth" in iw.panels and "masked" in iw.panels
        iw.close()
