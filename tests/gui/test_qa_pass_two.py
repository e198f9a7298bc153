"""A second QA pass over the window, as a person who trains and reviews their own camera photographs:
each test is a glitch that pass saw in a screenshot."""

from __future__ import annotations

import torch

from gui_helpers import open_model, wait_idle


def _flat_model(path):
    from inspector_app.core.modelio import save_model
    from inspector_app.core.models import ModelConfig, create_model

    torch.manual_seed(0)
    save_model(create_model(ModelConfig("l2ae", 32, 1, 8)), path, {"training": {"data": "x", "best_val_fve": -0.004}})
    return path


def test_a_share_a_hair_under_zero_reads_0_percent_not_minus_0(qtbot):
    """A fresh model's f(x) explains -0.4 % of the variance: the training page and the card read
    '0%', where they read '-0%'; a clearly negative share keeps its sign."""
    from inspector_app.core.model_fit import card_lines, not_learned_warning
    from inspector_app.gui.training_view import figures_text

    meta = {"training": {"best_val_fve": -0.004}}
    line = figures_text({"step": 135, "max_steps": 20000, "train_loss": 443.4, "val_loss": 361.3,
                         "val_fve": -0.004}, "paused")
    for text in (line, card_lines(meta)[0], not_learned_warning(meta)):
        assert "explains 0%" in text and "-0%" not in text
    assert "explains -12%" in card_lines({"training": {"best_val_fve": -0.12}})[0]


def test_the_open_an_image_hint_stays_centred_in_its_view(qtbot, tmp_path):
    """A model opened with no image: 'Open an image (Ctrl+O)' sat in the input view's lower right,
    cut by its edge, when the view's range moved after the hint was placed (a model that has not
    learned: its banner narrows the views)."""
    from inspector_app.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1366, 740)
    w.show()
    assert open_model(qtbot, w, _flat_model(tmp_path / "flat.safetensors"))
    wait_idle(qtbot, w)
    qtbot.wait(50)
    panel = w.input_view
    assert panel.hint.isVisible() and panel.hint.toPlainText().startswith("Open an image")
    assert panel.hint.pos() == panel.view_box.viewRect().center()
    panel.view_box.setRange(xRange=(-40, 60), yRange=(-40, 60), padding=0)
    assert panel.hint.pos() == panel.view_box.viewRect().center()
    w.close()


def test_the_score_histogram_title_is_never_cut(qtbot, tmp_path, texture_images):
    """Review mode at 1366 px with a model that does not fit the folder: the histogram's title (the
    classes in their colours, then the folder's warning) read 'image scores · ■ good ■ defective ■',
    cut at the plot's edge. The longest title that fits is shown: the warning where there is room
    (it is also the plot's tooltip and the gallery's banner), the classes' names always."""
    from gui_helpers import make_model_file
    from test_review import make_folder, new_window, wait_review

    from inspector_app.gui.fitted_title import FittedTitlePlot

    cal = {"threshold": 0.2, "min_area": 1, "stop": "none", "max_iter": 2, "lr_out_of_range": 1e-12,
           "method": "fixture: nothing fits"}
    win = new_window(qtbot, make_model_file(tmp_path / "unfit.safetensors", calibration=cal))
    win.resize(1366, 740)
    assert win.open_folder(make_folder(tmp_path / "parts", texture_images))
    wait_review(qtbot, win)
    plot = win.review.scores.hist
    title = plot.getPlotItem().titleLabel
    assert "lie outside" in plot.full_title and "lie outside" in plot.toolTip()
    assert title.item.boundingRect().width() <= plot.title_room()
    assert "good" in title.text and "defective" in title.text
    win.close()
    wide = FittedTitlePlot()  # where there is room, the whole title with the warning
    qtbot.addWidget(wide)
    wide.resize(1500, 300)
    wide.show()
    wide.set_titles([plot.full_title, "scores"])
    qtbot.waitUntil(lambda: wide.getPlotItem().titleLabel.text == plot.full_title)


def test_closing_the_folder_at_the_other_models_question_keeps_the_reviews_threshold(qtbot, tmp_path,
                                                                                     texture_images):
    """A review made with model A; model B opens (its calibrated T1 and minimum area apply) and the
    reviewer answers the question 'Review made with another model' with Close the folder: the
    review file said model A with B's T1 and area, and reopening the folder with A 'resumed the
    review's threshold' B's (a gravel model's 0.019 and 144 px on the brick model's review)."""
    from gui_helpers import make_model_file, open_model
    from test_review import make_folder, new_window, wait_review

    from inspector_app.session.review.file import JSON_NAME, read_review

    a = make_model_file(tmp_path / "a.safetensors", calibration={"threshold": 0.3, "min_area": 3})
    b = make_model_file(tmp_path / "b.safetensors", seed=1, calibration={"threshold": 0.1, "min_area": 7})
    parts = make_folder(tmp_path / "parts", texture_images)
    win = new_window(qtbot, a)
    assert win.open_folder(parts)
    wait_review(qtbot, win)
    assert win.session.display.threshold == 0.3
    win.review.set_verdict("ok")  # a verdict: the review is A's, the question is asked
    asked = []
    win.review.ask_conflict = lambda text: asked.append(text) or "close"
    assert open_model(qtbot, win, b)
    qtbot.waitUntil(lambda: not win.review.review.is_open)
    assert asked and win.session.display.threshold == 0.1
    header = read_review(parts / JSON_NAME).header
    assert header["model"]["path"] == str(a.resolve()) and (header["threshold"], header["min_area"]) == (0.3, 3)
    assert open_model(qtbot, win, a) and win.open_folder(parts)
    wait_review(qtbot, win)
    assert (win.session.display.threshold, win.session.display.min_area) == (0.3, 3)
    win.close()


def test_the_model_column_shows_unreadable_whole(qtbot, tmp_path, texture_images):
    """A photograph cut short in a reviewed folder: its model column read 'unread…' (the column was
    sized for 'defective')."""
    from PySide6.QtCore import Qt

    from gui_helpers import make_model_file
    from test_review import make_folder, new_window, wait_review

    parts = make_folder(tmp_path / "parts", texture_images)
    (parts / "test" / "good" / "IMG_0001.JPG").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    win = new_window(qtbot, make_model_file(tmp_path / "m.safetensors"))
    assert win.open_folder(parts)
    wait_review(qtbot, win)
    table = win.review.gallery.table
    model = table.model()
    rows = [r for r in range(model.rowCount()) if model.index(r, 2).data(Qt.ItemDataRole.DisplayRole) == "unreadable"]
    assert len(rows) == 1
    needed = table.fontMetrics().horizontalAdvance("unreadable") + 2 * table.style().pixelMetric(
        table.style().PixelMetric.PM_FocusFrameHMargin) + 2
    assert table.horizontalHeader().sectionSize(2) >= needed
    win.close()


def test_the_welcome_sends_a_new_user_to_the_window_not_the_command_line(qtbot):
    """The welcome's text told a new user to build a model of their parts with
    'inspector-app train --arch l2ae --data FOLDER --out model.safetensors', above the button
    'Build a model of your own parts' that does it in the window."""
    from PySide6.QtWidgets import QLabel

    from inspector_app.gui.main_window import MainWindow
    from inspector_app.gui.welcome import install

    w = MainWindow()
    qtbot.addWidget(w)
    page = install(w)
    shown = " ".join(label.text() for label in page.findChildren(QLabel))
    assert "inspector-app train" not in shown and "New Model from Folder" in shown
    assert page.buttons["welcome_new_model"].text() == "Build a model of your own parts"
    w.close()


def test_the_mask_line_says_none_before_an_image_opens(qtbot, image_file):
    """With no image the inpainting panel read 'Ω: 0 px (0.0 % of 1×1)' (the mask's placeholder)."""
    from inspector_app.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    info = w.inpainting.panel.info
    assert info.text() == "Ω: none (open an image to paint it)"
    assert w.open_image(image_file)
    qtbot.waitUntil(lambda: "% of " in info.text())
    assert "1×1" not in info.text()
    w.close()


def test_the_new_model_page_says_the_calibration_time_after_the_training(qtbot, tmp_path, texture_images):
    """A person who sets 'Training time 1 min' waited 1 min more than the page said: the
    calibration's own budget (2 min by default) followed, named nowhere before the run."""
    import cv2
    import numpy as np

    from inspector_app.gui.main_window import MainWindow
    from inspector_app.gui.new_model_dialog import NewModelDialog

    folder = tmp_path / "good"
    folder.mkdir()
    for i, im in enumerate(texture_images):
        cv2.imwrite(str(folder / f"IMG_{i:04d}.JPG"), (im * 255).astype(np.uint8))
    win = MainWindow()
    qtbot.addWidget(win)
    dlg = NewModelDialog(win, folder, out_folder=tmp_path / "models")
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: not dlg.scanning, timeout=20000)
    assert dlg.settings is not None
    assert f"up to {dlg.settings.calibrate_minutes:g} min" in dlg.calibration_note.text()
    win.close()


def test_a_camera_folder_shows_its_names_not_empty_truth_columns(qtbot, tmp_path, texture_images):
    """A folder of camera photographs has no ground truth: its 'truth' and 'IoU' columns were '–'
    on every row while, at 1366 px, the names read 'IMG_200…' (every part alike). They are hidden
    for such a folder and shown again for one with ground truth."""
    from gui_helpers import make_model_file, write_png
    from test_review import make_folder, new_window, wait_review

    camera = tmp_path / "camera"
    for i, im in enumerate(texture_images[:3]):
        write_png(camera / f"IMG_{2000 + i}.JPG", im)
    win = new_window(qtbot, make_model_file(tmp_path / "m.safetensors"))
    win.resize(1366, 740)
    assert win.open_folder(camera)
    wait_review(qtbot, win)
    table = win.review.gallery.table
    assert table.isColumnHidden(4) and table.isColumnHidden(6) and not table.isColumnHidden(2)
    parts = make_folder(tmp_path / "parts", texture_images)
    assert win.open_folder(parts)
    qtbot.waitUntil(lambda: win.review.review.scan is not None and win.review.review.scan.root == parts)
    wait_review(qtbot, win)
    assert not table.isColumnHidden(4) and not table.isColumnHidden(6)
    win.close()
