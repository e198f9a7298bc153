"""Issue 11 in the window, driven as a user would (offscreen): the λ raise (item 9), a sample and
its model (10), the controls (11), masked runs (12), polish (13), the export and model refusals
(2, 5)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import QApplication, QComboBox, QMessageBox, QPushButton, QToolButton

from gui_helpers import make_model_file, open_model, set_params, wait_idle, write_png
from inspector_app.core.data import read_image


def _run(qtbot, win, n=12, **kw):
    set_params(win, stop="none", max_iter=n, **kw)
    win.runs.run()
    assert win.session.running
    wait_idle(qtbot, win)
    return win.session.result


# ------------------------------------------------------------------------------ item 9: λ raised mid-run

def test_raising_lambda_mid_run_does_not_end_it_as_diverged(qtbot, window):
    w, s = window, window.session
    set_params(w, stop="none", max_iter=10000, alpha=0.5, lam=0.05)
    w.runs.run()
    qtbot.waitUntil(lambda: len(s.energy) > 10, timeout=20000)
    w.controls.lam.spin.setValue(0.4)  # typed: 0.05 → 0.40, as in the report
    assert s.params.lam == pytest.approx(0.4)
    changed_at = len(s.energy)
    qtbot.waitUntil(lambda: len(s.energy) > changed_at + 40 or not w.runner.running, timeout=60000)
    assert w.runner.running, f"the run ended at t = {len(s.energy) - 1}: {s.result and s.result.stop_reason}"
    w.runs.stop()
    assert s.result.stop_reason is None and s.result.params.lam == pytest.approx(0.4)
    assert w.findChild(QMessageBox, "diverged_dialog") is None
    assert s.result.iteration >= changed_at + 40 - 1  # the last iterate, not an old one fallen back to


# ------------------------------------------------------------------------------ item 10: samples and their models

@pytest.fixture
def resources(tmp_path, monkeypatch, texture_images):
    """A resources folder with tiny brick and grid models and a sample of each (with ground truth)."""
    root = tmp_path / "res"
    (root / "models").mkdir(parents=True)
    make_model_file(root / "models" / "brick_l2ae.safetensors", seed=1)
    make_model_file(root / "models" / "brick_vae.safetensors", kind="vae", seed=2)
    make_model_file(root / "models" / "grid_l2ae.safetensors", seed=3)
    img = texture_images[2].copy()
    img[8:14, 9:15] = 0.95
    write_png(root / "samples" / "brick" / "stain_000.png", img)
    gt = np.zeros((32, 32), np.uint8)
    gt[8:14, 9:15] = 255
    write_png(root / "samples" / "brick" / "stain_000_mask.png", gt)
    write_png(root / "samples" / "grid" / "good_000.png", texture_images[3])
    monkeypatch.setenv("INSPECTOR_APP_RESOURCES", str(root))
    return root


def _sample_action(w, label):
    w.files.fill_samples_menu(w.samples_menu)
    acts = [a for a in w.samples_menu.actions() if a.text() == label]
    assert acts, [a.text() for a in w.samples_menu.actions()]
    return acts[0]


def test_a_sample_opens_with_its_own_model_and_its_ground_truth(qtbot, resources):
    from inspector_app.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    grid = resources / "models" / "grid_l2ae.safetensors"
    assert open_model(qtbot, w, grid)
    _sample_action(w, "brick/stain_000.png").trigger()
    wait_idle(qtbot, w)
    s = w.session
    assert Path(s.model_path).name == "brick_l2ae.safetensors"  # not the grid model kept from before
    assert s.image.path.endswith("stain_000.png") and s.prepared is not None
    # the ground truth is shown as an outline, never used as Ω
    assert s.gt_mask is not None and int(s.gt_mask.sum()) == 36 and s.omega is None
    assert w.views.gt_shown
    # a sample of the same category keeps the model that is open
    path_before = s.model_path
    _sample_action(w, "brick/stain_000.png").trigger()
    wait_idle(qtbot, w)
    assert s.model_path == path_before
    _sample_action(w, "grid/good_000.png").trigger()
    wait_idle(qtbot, w)
    assert Path(s.model_path).name == "grid_l2ae.safetensors" and s.gt_mask is None and not w.views.gt_shown
    w.close()


# ------------------------------------------------------------------------------ item 11: controls

def test_lambda_has_a_log_slider_and_a_typed_entry(qtbot, window):
    w, s = window, window.session
    lam = w.controls.lam
    lam.spin.lineEdit().selectAll()
    qtbot.keyClicks(lam.spin.lineEdit(), "0.4")
    qtbot.keyClick(lam.spin.lineEdit(), Qt.Key.Key_Return)
    assert s.params.lam == pytest.approx(0.4)
    # the paper's 0.05 lies well inside the slider's travel, not a few pixels from an end
    sl = lam.slider
    lam.spin.setValue(0.05)
    frac = (sl.value() - sl.minimum()) / (sl.maximum() - sl.minimum())
    assert 0.3 < frac < 0.8
    assert sl.width() >= 200
    # its left end is λ = 0 (no L1 term); the right end the range's maximum
    sl.setValue(sl.minimum())
    assert s.params.lam == 0.0 and lam.spin.value() == 0.0
    sl.setValue(sl.maximum())
    assert s.params.lam == pytest.approx(2.0)
    lam.spin.setValue(0.0)
    lam.spin.stepBy(1)  # from 0 the arrow goes to the slider's first value, not stuck at 0
    assert s.params.lam > 0


def test_alpha_has_more_travel_and_fine_steps(qtbot, window):
    w = window
    sl = w.controls.alpha.slider
    assert sl.width() >= 200
    decades = sl.maximum() - sl.minimum()
    px = sl.width() * (math.log10(7.8) - math.log10(0.5)) / decades
    assert px >= 40  # 0.5 → 7.8 was 20 px
    assert sl.singleStep() <= 0.01  # one key press: 2.3 %
    w.controls.alpha.spin.setValue(0.5)
    sl.setValue(sl.value() + sl.singleStep())  # one key press: 1/100 of a decade
    assert w.session.params.alpha == pytest.approx(0.512, abs=0.002)


def test_the_colour_bar_marks_and_spans_the_threshold(qtbot, window):
    w = window
    panel = w.grid.dssim_panel
    assert panel.colorbar.region is None  # no level handles that look like threshold markers
    w.controls.threshold.spin.setValue(0.3)
    assert panel.marker_value == pytest.approx(0.3) and panel.levels[1] == pytest.approx(0.5)
    w.controls.threshold.spin.setValue(0.8)
    assert panel.marker_value == pytest.approx(0.8)
    assert panel.levels[1] >= 0.8 and panel.colorbar.levels()[1] >= 0.8
    lo, hi = panel.levels
    assert panel.marker.value() == pytest.approx(256 * (0.8 - lo) / (hi - lo))
    w.controls.threshold.spin.setValue(0.0027)  # a calibrated threshold: the scale follows it
    assert panel.levels == (0.0, pytest.approx(0.015)) and panel.marker_value == pytest.approx(0.0027)
    assert panel.marker.toolTip() == "threshold 0.0027"  # a text label would be clipped by the 12-px bar
    assert panel.axis_scale == 1.0 and "×" not in panel.title.text  # 0.005, 0.010: they fit
    w.controls.threshold.spin.setValue(0.00027)  # 0.0005 would not fit beside the bar: shown × 10³
    assert panel.levels[1] == pytest.approx(0.0015) and panel.axis_scale == 1000.0
    assert panel.title.text.endswith("(×10⁻³)") and panel.colorbar.axis.scale == 1000.0
    w.controls.threshold.spin.setValue(0.3)
    assert panel.axis_scale == 1.0 and panel.title.text == "anomaly map DSSIM"


def test_restore_default_settings(qtbot, window, _isolated_settings):
    w, s = window, window.session
    w.controls.lam.spin.setValue(0.3)
    w.controls.alpha.spin.setValue(3.0)
    w.controls.threshold.spin.setValue(0.4)
    w.controls.compare.setCurrentIndex(w.controls.compare.findData("reconstruction"))
    w.save_settings()
    ini = next(Path(_isolated_settings).rglob("*.ini")).read_text()
    assert "lam=0.3" in ini
    assert w.restore_defaults(ask=False)
    assert (s.params.lam, s.params.alpha, s.display.threshold, s.display.compare) == (0.05, 0.5, 0.2, "projection")
    assert s.threshold_origin == "paper"
    ini = next(Path(_isolated_settings).rglob("*.ini")).read_text()
    assert "[params]" not in ini and "[display]" not in ini
    assert any("Restore Default Settings" in a.text() for a in w.menuBar().actions()[1].menu().actions())


# ------------------------------------------------------------------------------ item 12: masked runs

def test_omega_and_the_segmentation_have_distinct_colours(qtbot, window):
    from inspector_app.gui.brush import MASK_COLOR
    from inspector_app.gui.views import GT_COLOR, SEGMENTATION_RGBA

    w, s = window, window.session
    mask = np.zeros((32, 32), bool)
    mask[4:12, 4:12] = True
    s.set_omega(mask)
    _run(qtbot, w, 10, alpha=2.0)
    s.display.threshold = 0.0  # every pixel segmented
    brush = w.inpainting.brush
    omega_rgb = brush.overlay_rgba[mask][0, :3].astype(int)
    seg_rgb = w.input_view.overlay_data[mask][0, :3].astype(int)
    assert tuple(omega_rgb) == MASK_COLOR and tuple(seg_rgb) == SEGMENTATION_RGBA[:3]

    def hue(rgb):
        return QColor(*[int(v) for v in rgb]).hsvHue()

    for a, b in ((omega_rgb, seg_rgb), (omega_rgb, GT_COLOR), (seg_rgb, GT_COLOR)):
        d = abs(hue(a) - hue(b))
        assert min(d, 360 - d) >= 90, (a, b)


def test_the_gradient_mask_box_names_eq7_while_omega_is_painted(qtbot, window):
    w, s = window, window.session
    combo = w.controls.grad_mask
    assert "eq. 8" in combo.currentText() and "eq. 7" not in combo.currentText()
    mask = np.zeros((32, 32), bool)
    mask[4:12, 4:12] = True
    s.set_omega(mask)
    assert "eq. 7" in combo.currentText() and "Ω" in combo.currentText()
    assert all("eq. 7" in combo.itemText(i) for i in range(combo.count()))
    s.set_omega(None)
    assert "eq. 7" not in combo.currentText()


def test_the_brush_radius_scales_with_the_image(qtbot, window, tmp_path, texture_images):
    w, s = window, window.session
    assert s.mask.radius == 2.0  # 32 px: 1/16 of the side, not 8 px (a quarter of a 32 px face)
    big = np.tile(texture_images[0], (4, 4))
    assert w.open_image(write_png(tmp_path / "big.png", big))
    wait_idle(qtbot, w)
    assert s.mask.radius == 8.0 and w.inpainting.brush.radius == 8.0
    assert w.inpainting.panel.radius_slider.value() == pytest.approx(8.0)


def _move(widget, pt: QPoint):
    vp = widget.viewport()
    ev = QMouseEvent(QEvent.Type.MouseMove, QPointF(pt), QPointF(vp.mapToGlobal(pt)), Qt.MouseButton.NoButton,
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def test_the_brush_ring_goes_when_the_mouse_leaves_the_view(qtbot, window):
    import pyqtgraph as pg

    old = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOptions(mouseRateLimit=-1)
    try:
        w = window
        brush, panel = w.inpainting.brush, w.input_view
        brush.set_active(True)
        qtbot.waitExposed(panel)
        centre = panel.mapFromScene(brush.image_item.mapToScene(QPointF(16, 16)))
        _move(panel, centre)
        QApplication.processEvents()
        assert brush.cursor_item.isVisible()
        QApplication.sendEvent(panel, QEvent(QEvent.Type.Leave))  # the mouse leaves the view
        QApplication.processEvents()
        assert not brush.cursor_item.isVisible()
    finally:
        pg.setConfigOptions(mouseRateLimit=old)


def test_a_ground_truth_mask_loads_as_ground_truth_not_as_omega(qtbot, window, tmp_path, monkeypatch):
    w, s = window, window.session
    gt = np.zeros((32, 32), np.uint8)
    gt[10:16, 12:19] = 255
    path = write_png(tmp_path / "defect_mask.png", gt)

    def answer(box):  # "As Ground Truth", the default
        def exec_(self):
            self._clicked = [b for b in self.buttons() if b.text() == box][0]
            return 0
        return exec_

    monkeypatch.setattr(QMessageBox, "exec", answer("As Ground Truth"))
    monkeypatch.setattr(QMessageBox, "clickedButton", lambda self: self._clicked)
    assert not w.inpainting.panel.load_mask(str(path))
    assert s.omega is None and s.gt_mask is not None and int(s.gt_mask.sum()) == 42
    assert w.views.gt_shown
    # the user can still insist on Ω
    monkeypatch.setattr(QMessageBox, "exec", answer("As Ω"))
    assert w.inpainting.panel.load_mask(str(path))
    assert s.omega is not None and int(s.omega.sum()) == 42
    # Tools → Load Ground Truth… does the same without asking
    s.set_ground_truth(None)
    assert w.files.load_ground_truth(path) and w.views.gt_shown


def test_the_painted_omega_is_exported(qtbot, window, tmp_path):
    w, s = window, window.session
    mask = np.zeros((32, 32), bool)
    mask[3:9, 20:30] = True
    s.set_omega(mask)
    _run(qtbot, w, 5, alpha=0.5)
    files = w.export_results(tmp_path / "out")
    assert files["omega"].endswith("defect_omega.png")
    assert np.array_equal(read_image(files["omega"]) > 0.5, mask)
    info = json.loads(Path(files["json"]).read_text())
    assert info["omega_file"] == "defect_omega.png" and info["omega_pixels"] == 60 and info["masked"] is True


def test_the_comparison_outlines_omega_on_the_corrupted_panel(qtbot, window):
    from inspector_app.gui.brush import MASK_COLOR

    w, s = window, window.session
    mask = np.zeros((32, 32), bool)
    mask[8:20, 8:20] = True
    iw = w.inpainting.open_inpainting(mask)
    assert iw is not None
    try:
        outline = iw.omega_outline
        assert outline is not None and outline.scene() is iw.panels["corrupted"].view.scene()
        assert np.array_equal(outline.data > 0.5, mask)
        assert outline.pen.color().getRgb()[:3] == MASK_COLOR
        qtbot.waitUntil(lambda: not iw.running, timeout=60000)
    finally:
        iw.stop()
        iw.close()


# ------------------------------------------------------------------------------ item 13: polish

def test_pause_and_the_end_of_a_run_are_said_as_they_are(qtbot, window):
    w, s = window, window.session
    set_params(w, stop="none", max_iter=10000)
    w.runs.run()
    qtbot.waitUntil(lambda: len(s.energy) > 3, timeout=20000)
    assert w.status.labels["reason"].text() == "running…" and "(live)" in w.history_bar.label.text()
    w.act_pause.trigger()
    assert w.status.labels["reason"].text() == "paused"
    w.act_pause.trigger()
    assert w.status.labels["reason"].text() == "running…"
    w.act_stop.trigger()
    assert "stopped by the user" in w.status.labels["reason"].text()
    assert "(live)" not in w.history_bar.label.text() and "(end)" in w.history_bar.label.text()


def test_no_text_is_cut_off_in_the_side_panel(qtbot, window):
    """Measured in the style the application runs with (``run_app`` applies it): without it the
    result depended on whether an earlier test had left that style set."""
    from inspector_app.gui.style import apply_dark_style

    app = QApplication.instance()
    old = app.styleSheet()
    apply_dark_style(app)
    try:
        _no_text_is_cut_off(window)
    finally:
        app.setStyleSheet(old)


def _no_text_is_cut_off(w):
    w.resize(1560, 940)
    QApplication.processEvents()
    for combo in w.controls.findChildren(QComboBox):
        fm = combo.fontMetrics()
        for i in range(combo.count()):
            need = fm.horizontalAdvance(combo.itemText(i)) + 24  # the text and the arrow
            assert need <= combo.width(), (combo.itemText(i), combo.width())
    for b in w.controls.findChildren(QPushButton) + w.controls.findChildren(QToolButton):
        if b.isVisible():
            assert b.width() >= b.fontMetrics().horizontalAdvance(b.text()), b.text()
    # the side panel fits without scrolling at the default size
    c = w.controls
    assert not w.side_scroll.verticalScrollBar().isVisible(), (w.height(), w.side_scroll.viewport().height(), c.minimumSizeHint().height(), c.sizeHint().height())


def test_the_energy_plot_has_whole_iterations_and_no_legend_over_the_curves(qtbot, window):
    import pyqtgraph as pg

    plot = window.energy_plot
    axis = plot.getPlotItem().getAxis("bottom")
    for lo, hi in ((0, 3), (0, 7.5), (0, 40), (100, 103)):
        for _spacing, values in axis.tickValues(lo, hi, 300):
            assert all(float(v).is_integer() for v in values), (lo, hi, values)
    assert not [i for i in plot.getPlotItem().items + plot.getPlotItem().vb.allChildren()
                if isinstance(i, pg.LegendItem)]
    assert not isinstance(plot.getPlotItem().legend, pg.LegendItem)
    title = plot.getPlotItem().titleLabel.text
    for name in ("E", "Lr", "λ‖x − x₀‖₁"):
        assert name in title


def test_the_window_title_does_not_repeat_the_application_name(qtbot, window):
    app = QApplication.instance()
    old = app.applicationDisplayName()
    app.setApplicationDisplayName("Inspector")
    try:
        window._update_title()
        t = window.windowTitle()
        assert "tiny_l2ae" in t and "defect" in t and "Inspector" not in t  # Qt appends " — Inspector"
    finally:
        app.setApplicationDisplayName(old)


def test_one_clear_mask_entry_in_the_tools_menu(qtbot, window):
    texts = [a.text() for a in window.tools_menu.actions() if a.text()]
    assert sum("clear" in t.lower() for t in texts) == 1, texts
    mask = np.zeros((32, 32), bool)
    mask[1:3, 1:3] = True
    window.session.set_omega(mask)
    assert window.act_clear_mask.isEnabled()
    window.act_clear_mask.trigger()
    assert window.session.omega is None and not window.act_clear_mask.isEnabled()


def test_disabled_buttons_keep_a_visible_frame(qtbot):
    from PySide6.QtWidgets import QWidget, QHBoxLayout

    from inspector_app.gui.style import DISABLED_BUTTONS, apply_dark_style

    app = QApplication.instance()
    old = app.styleSheet()
    apply_dark_style(app)
    try:
        assert DISABLED_BUTTONS.strip() in app.styleSheet()
        host = QWidget()
        lay = QHBoxLayout(host)
        b = QPushButton("Undo")
        b.setEnabled(False)
        lay.addWidget(b)
        qtbot.addWidget(host)
        host.resize(200, 60)
        host.show()
        qtbot.waitExposed(host)
        img = b.grab().toImage()
        edge = QColor(img.pixel(img.width() // 2, 0))  # the top border
        face = QColor(img.pixel(img.width() // 2, img.height() // 2 + 6))  # inside, off the text
        assert abs(edge.lightness() - face.lightness()) >= 20
    finally:
        app.setStyleSheet(old)


def test_the_readme_explains_every_field_of_the_exported_json(qtbot, window, tmp_path):
    _run(qtbot, window, 3)
    files = window.export_results(tmp_path / "out")
    info = json.loads(Path(files["json"]).read_text())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Result files"):]
    section = section[: section.index("\n## ", 4)]
    missing = [k for k in info if f"`{k}`" not in section]
    assert not missing, missing


# ------------------------------------------------------------------------------ items 2 and 5: export, model files

def test_export_never_replaces_a_file_it_did_not_write(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    w = window
    _run(qtbot, w, 3)
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / "defect_projection.png"
    theirs.write_bytes(b"the user's own file")
    with pytest.raises(FileExistsError, match="defect_projection.png"):
        w.export_results(out)
    assert theirs.read_bytes() == b"the user's own file" and not (out / "defect.json").exists()
    # through the menu: the dialog offers a free name, and that is what is written
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    chosen = []

    def exec_(self):
        assert self.objectName() == "export_collision" and "defect_1" in self.text()
        self._clicked = [b for b in self.buttons() if b.text().startswith("Export as")][0]
        chosen.append(self._clicked.text())
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    monkeypatch.setattr(QMessageBox, "clickedButton", lambda self: self._clicked)
    w.act_export.trigger()
    assert chosen == ["Export as defect_1"]
    assert theirs.read_bytes() == b"the user's own file"
    assert (out / "defect_1_projection.png").is_file() and (out / "defect_1.json").is_file()
    # files this window wrote itself are replaced without asking
    files = w.export_results(out, "defect_1")
    assert Path(files["json"]).name == "defect_1.json"


def test_the_export_dialog_never_opens_in_nor_writes_to_the_bundled_resources(qtbot, tmp_path, monkeypatch, boxes,
                                                                              resources):
    from PySide6.QtWidgets import QFileDialog

    from inspector_app.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    _sample_action(w, "brick/stain_000.png").trigger()
    wait_idle(qtbot, w)
    _run(qtbot, w, 3)
    start = w.files.export_dir()
    assert not Path(start).resolve().is_relative_to(resources.resolve())
    seen = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda parent, title, d: seen.append(d) or str(resources / "samples" / "brick")))
    before = sorted(p.name for p in (resources / "samples" / "brick").iterdir())
    w.act_export.trigger()
    assert seen == [start]
    assert boxes["warning"] and "bundled resources" in boxes["warning"][0][1]
    assert sorted(p.name for p in (resources / "samples" / "brick").iterdir()) == before
    with pytest.raises(ValueError, match="bundled resources"):
        w.export_results(resources / "samples")
    w.close()


def test_hovering_the_image_never_widens_the_window(qtbot, window):
    """The hover readout is one line of about 780 px: as a label's minimum width it grew a window
    snapped to half a 1920-px screen from 960 to 1160 px the moment the mouse was over an image."""
    w = window
    w.resize(960, 700)
    qtbot.wait(50)
    before = w.width()
    w.grid.hovered.emit((10, 12))
    qtbot.wait(50)
    assert "DSSIM" in w.hover_label.text() or "x₀" in w.hover_label.text()
    assert w.width() == before and w.minimumSizeHint().width() <= before


def test_a_paused_run_is_not_said_to_be_live(qtbot, window):
    """The history bar said 't = 10 (live)' under a paused run (the status bar said 'paused')."""
    w, s = window, window.session
    set_params(w, stop="none", max_iter=10000)
    w.runs.run()
    qtbot.waitUntil(lambda: len(s.energy) > 3, timeout=20000)
    w.act_pause.trigger()
    qtbot.waitUntil(lambda: "(paused)" in w.history_bar.label.text(), timeout=5000)
    assert "(live)" not in w.history_bar.label.text()
    w.act_pause.trigger()
    qtbot.waitUntil(lambda: "(live)" in w.history_bar.label.text(), timeout=5000)
    w.act_stop.trigger()
