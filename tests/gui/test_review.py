"""Review mode in the window (pytest-qt, offscreen): a folder opened, projected in the worker and
walked through; verdicts saved and resumed after a restart; the histogram's thresholds; the
suggested thresholds; the marginal band; the ground-truth outline and IoU; bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from gui_helpers import open_model, wait_idle, write_png
from inspector_app.core.verdict import fmt_level, segment
from inspector_app.session.review.file import JSON_NAME, read_review

ITERS = 3


def make_folder(root, images, n_good=2, n_bad=3):
    """An MVTec-layout category of 32×32 crops: train/good (not reviewed), test/good, test/blob
    with ground_truth/blob/NAME_mask.png."""
    for i in range(2):
        write_png(root / "train" / "good" / f"{i:03d}.png", images[i])
    for i in range(n_good):
        write_png(root / "test" / "good" / f"{i:03d}.png", images[2 + i])
    for i in range(n_bad):
        bad = images[4 + i % 4].copy()
        mask = np.zeros(bad.shape, np.float32)
        mask[9 + i:17 + i, 11:20] = 1.0
        bad[mask > 0] = 0.02
        write_png(root / "test" / "blob" / f"{i:03d}.png", bad)
        write_png(root / "ground_truth" / "blob" / f"{i:03d}_mask.png", mask)
    return root


@pytest.fixture
def folder(tmp_path, texture_images):
    return make_folder(tmp_path / "parts", texture_images)


def new_window(qtbot, model_file):
    from inspector_app.gui.main_window import MainWindow

    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.show()
    assert open_model(qtbot, win, model_file)
    win.session.params.max_iter = ITERS
    win.session.params.stop_kind = "none"
    return win


def wait_review(qtbot, win, timeout=30000):
    """Until the folder is open, projected and the window idle."""
    rv = win.review.review
    qtbot.waitUntil(lambda: rv.is_open and not win.review.running and rv.n_done == len(rv), timeout=timeout)
    wait_idle(qtbot, win)
    win.review.scores.redraw_now()


@pytest.fixture
def review_window(qtbot, model_file, folder):
    win = new_window(qtbot, model_file)
    assert win.open_folder(folder)
    wait_review(qtbot, win)
    yield win
    win.close()


def gallery_column(win, col):
    m = win.review.gallery.model
    return [m.index(r, col).data() for r in range(m.rowCount())]


# ------------------------------------------------------------------------------------------ opening

def test_open_folder_lists_parts_skips_masks_and_streams_results(review_window, folder):
    win = review_window
    rv, gal = win.review.review, win.review.gallery
    names = gallery_column(win, 0)
    assert [it.rel for it in rv.items] == ["test/blob/000.png", "test/blob/001.png", "test/blob/002.png",
                                           "test/good/000.png", "test/good/001.png"]  # no mask, no training image
    # the file's name first (a narrow column cuts the folder, not the number), without the category's test/
    assert names == ["000.png · blob", "001.png · blob", "002.png · blob", "000.png · good", "001.png · good"]
    assert all(".png" in n and "_mask" not in n for n in names)
    scores = gallery_column(win, 1)
    assert all(s not in ("…", "–") for s in scores)
    assert [float(s) for s in scores] == pytest.approx([rv.score(i) for i in range(5)], abs=5e-4)
    assert scores == [fmt_level(rv.score(i)) for i in range(5)]  # 0.00011, not 0.000, for a calibrated model
    assert gal.progress.value() == 5 and gal.progress.maximum() == 5
    assert win.review.gallery_dock.isVisible() and win.review.scores_dock.isVisible()
    assert rv.current == 0 and win.session.image.path == str(folder / "test/blob/000.png")
    assert win.session.result is not None and win.session.result.steps == ITERS  # shown, nothing re-run
    assert win.energy_plot.point_count == ITERS + 1
    assert gal.model.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None  # a thumbnail


def test_gui_command_opens_a_folder(qtbot, model_file, folder, monkeypatch):
    """``inspector-app gui --model M FOLDER`` opens review mode (run_app's loader)."""
    from PySide6.QtWidgets import QApplication

    from inspector_app.gui import app as app_mod

    made = []
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    real = app_mod.MainWindow

    def make(*a, **k):
        w = real(*a, restore=False)
        qtbot.addWidget(w)
        made.append(w)
        return w

    monkeypatch.setattr(app_mod, "MainWindow", make)
    assert app_mod.run_app(model=str(model_file), image=str(folder)) == 0
    win = made[0]
    qtbot.waitUntil(lambda: win.review.review.is_open, timeout=20000)
    wait_review(qtbot, win)
    assert len(win.review.review) == 5
    win.close()


def test_dropping_a_folder_opens_it(qtbot, model_file, folder):
    win = new_window(qtbot, model_file)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                    Qt.KeyboardModifier.NoModifier)
    win.dropEvent(ev)
    wait_review(qtbot, win)
    assert len(win.review.review) == 5
    win.close()


# ------------------------------------------------------------------------------------------ navigation

def test_page_down_and_up_walk_the_gallery(qtbot, review_window):
    win = review_window
    rv = win.review.review
    win.activateWindow()
    for expected in (1, 2, 3):
        qtbot.keyClick(win, Qt.Key.Key_PageDown)
        assert rv.current == expected
        assert win.session.image.path.endswith(rv.items[expected].rel)
    qtbot.keyClick(win.review.gallery.table, Qt.Key.Key_PageUp)  # also with the gallery focused
    assert rv.current == 2
    # sorted by score, descending: PageDown follows the gallery's order
    win.review.gallery.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    order = win.review.gallery.order()
    assert [rv.score(i) for i in order] == sorted((rv.score(i) for i in order), reverse=True)
    rv.select(order[0])
    qtbot.keyClick(win, Qt.Key.Key_PageDown)
    assert rv.current == order[1]


def test_filters(qtbot, review_window):
    win = review_window
    rv, gal = win.review.review, win.review.gallery
    gal.filter_combo.setCurrentIndex(gal.filter_combo.findData("unreviewed"))
    assert rv.filter == "unreviewed" and gal.proxy.rowCount() == 5
    rv.select(0)
    qtbot.keyClick(win, Qt.Key.Key_O)
    qtbot.wait(150)
    assert gal.proxy.rowCount() == 4 and 0 not in gal.order()


# ------------------------------------------------------------------------------------------ verdicts

def test_verdict_saved_then_resumed_after_a_restart(qtbot, model_file, folder):
    win = new_window(qtbot, model_file)
    win.open_folder(folder)
    wait_review(qtbot, win)
    rv = win.review.review
    rv.select(1)
    qtbot.keyClick(win, Qt.Key.Key_D)
    assert rv.reviews[1].verdict == "defective"
    assert rv.current == 2  # moved on to the next image
    doc = read_review(folder / JSON_NAME)  # written at once, before anything else
    rec = {r["path"]: r for r in doc.records}["test/blob/001.png"]
    assert rec["verdict"] == "defective" and rec["model_sha256"] and rec["params"]["max_iter"] == ITERS
    qtbot.keyClick(win, Qt.Key.Key_U)
    assert rv.current == 2  # unsure stays, for a comment
    qtbot.keyClick(win, Qt.Key.Key_C)
    assert win.review.gallery.comment.hasFocus()
    qtbot.keyClicks(win.review.gallery.comment, "look again")  # letters typed here are no verdicts
    qtbot.keyClick(win.review.gallery.comment, Qt.Key.Key_Return)
    assert rv.reviews[2].verdict == "unsure" and rv.reviews[2].comment == "look again"
    qtbot.keyClick(win, Qt.Key.Key_PageDown)
    qtbot.keyClick(win, Qt.Key.Key_O)  # on image 3
    assert gallery_column(win, 3)[1:4] == ["defective", "unsure", "OK"]
    win.close()  # quitting mid-review

    win2 = new_window(qtbot, model_file)
    win2.open_folder(folder)
    wait_review(qtbot, win2)
    rv2 = win2.review.review
    assert [r.verdict if r else None for r in rv2.reviews] == [None, "defective", "unsure", "ok", None]
    assert rv2.reviews[2].comment == "look again"
    assert gallery_column(win2, 3)[1:4] == ["defective", "unsure", "OK"]
    rv2.select(1)
    qtbot.keyClick(win2, Qt.Key.Key_Delete)
    assert rv2.reviews[1] is None and read_review(folder / JSON_NAME).records[1]["verdict"] is None
    win2.close()


def test_reopening_after_quit_projects_nothing_and_the_folder_is_in_open_recent(qtbot, model_file, folder,
                                                                                 monkeypatch):
    """Issue 25, item 1: the results outlive the window (a cache keyed by image bytes, model and
    parameters); File → Open Recent lists the folder."""
    from inspector_app.session.review import jobs

    calls = []
    real = jobs.project
    monkeypatch.setattr(jobs, "project", lambda *a, **k: calls.append(1) or real(*a, **k))
    win = new_window(qtbot, model_file)
    win.open_folder(folder)
    wait_review(qtbot, win)
    scores = gallery_column(win, 1)
    assert calls
    win.close()  # File → Quit
    calls.clear()
    win2 = new_window(qtbot, model_file)
    win2.recent_menu.aboutToShow.emit()
    folders = [a for a in win2.recent_menu.actions() if a.toolTip() == str(folder.resolve())]
    assert len(folders) == 1 and any(a.text() == "Folders" for a in win2.recent_menu.actions())
    folders[0].trigger()
    wait_review(qtbot, win2)
    assert calls == [] and gallery_column(win2, 1) == scores and win2.review.review.n_done == 5
    win2.review.clear_cache()
    win2.review.reproject()
    wait_review(qtbot, win2)
    assert calls  # projected again once the cache is cleared
    win2.close()


def test_a_folder_the_model_does_not_fit_says_so_on_the_gallery_and_histogram(qtbot, folder, tmp_path):
    """Issue 25, item 5: one folder-level warning beside the per-image banners."""
    from gui_helpers import make_model_file

    cal = {"threshold": 0.2, "min_area": 1, "stop": "none", "max_iter": 2, "lr_out_of_range": 1e-12,
           "method": "fixture: nothing fits"}
    win = new_window(qtbot, make_model_file(tmp_path / "unfit.safetensors", calibration=cal))
    win.open_folder(folder)
    wait_review(qtbot, win)
    gal, panel = win.review.gallery, win.review.scores
    assert gal.fit_banner.isVisible() and "5 of 5 images (100 %) lie outside" in gal.fit_banner.text()
    assert "5 of 5 images (100 %) lie outside" in panel.hist.full_title  # shown where it fits (test_qa_pass_two)
    assert panel.fit_warning == win.review.review.fit_warning()
    win.close()


def test_export_report_from_the_window_is_the_commands_page(qtbot, review_window, folder, tmp_path, monkeypatch):
    """Issue 25, item 8: Review → Export Report… writes the page ``inspector-app report`` writes."""
    from inspector_app.cli import main
    from inspector_app.gui.review import dialogs

    win = review_window
    rv = win.review.review
    rv.set_verdict(0, "defective", "a blob")
    out = tmp_path / "from the window.html"
    monkeypatch.setattr(dialogs.QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "HTML report (*.html)"))
    assert win.review.act_report.isEnabled()
    win.review.act_report.trigger()
    qtbot.waitUntil(out.exists, timeout=30000)
    qtbot.waitUntil(lambda: not win.review._tasks, timeout=30000)
    cli = tmp_path / "cli.html"
    assert main(["report", str(folder / JSON_NAME), "--out", str(cli)]) == 0
    assert out.read_text() == cli.read_text()
    assert "a blob" in out.read_text() and "Flagged parts" in out.read_text()
    with pytest.raises(Exception, match="input"):  # never over the review file itself
        rv.report_job(folder / JSON_NAME)()


def test_review_of_another_model_is_not_merged_silently(qtbot, model_file, folder, tmp_path, monkeypatch):
    from gui_helpers import make_model_file

    win = new_window(qtbot, model_file)
    win.open_folder(folder)
    wait_review(qtbot, win)
    win.review.review.set_verdict(0, "ok")
    win.close()
    other = make_model_file(tmp_path / "other.safetensors", seed=3)
    asked = []
    from inspector_app.gui.review import ReviewMode

    monkeypatch.setattr(ReviewMode, "ask_conflict", lambda self, text: asked.append(text) or "new")
    win2 = new_window(qtbot, other)
    win2.open_folder(folder)
    wait_review(qtbot, win2)
    assert asked and "another one" in asked[0]
    assert win2.review.review.n_reviewed == 0  # a new review …
    kept = [p for p in folder.iterdir() if p.name.startswith("inspector-review.") and p.name != JSON_NAME
            and p.suffix == ".json"]
    assert len(kept) == 1 and read_review(kept[0]).reviewed[0]["verdict"] == "ok"  # … the old one kept aside
    win2.close()


def test_switching_model_projects_once_after_the_choice_and_agrees_with_a_fresh_review(
        qtbot, model_file, folder, tmp_path, monkeypatch):
    """Issue 25, item 3: with a review open, another model shows nothing of the old model's results,
    projects nothing until the question is answered (a second trigger meanwhile is refused), then
    projects once; its counts are those of a fresh review with that model."""
    import shutil

    from gui_helpers import make_model_file
    from inspector_app.gui.review import ReviewMode
    from inspector_app.session.review import ReviewSession

    fresh = shutil.copytree(folder, tmp_path / "fresh")
    other = make_model_file(tmp_path / "other.safetensors", seed=3)
    runs = []
    real_job = ReviewSession.run_job
    monkeypatch.setattr(ReviewSession, "run_job", lambda self, *a, **k: runs.append(1) or real_job(self, *a, **k))
    win = new_window(qtbot, model_file)
    win.open_folder(folder)
    wait_review(qtbot, win)
    rv = win.review.review
    rv.set_verdict(0, "ok")
    assert len(runs) == 1
    asked = []

    def ask(self, text):
        asked.append((self.running, [rv.score(i) for i in range(len(rv))], len(runs)))
        if len(asked) == 1:
            asked.append(("again", self.start_run()))  # a second trigger while the question is open
        return "continue"

    monkeypatch.setattr(ReviewMode, "ask_conflict", ask)
    assert open_model(qtbot, win, other)
    wait_review(qtbot, win)
    assert asked[0] == (False, [None] * 5, 1)  # nothing shown of the old model, nothing projected
    assert asked[1] == ("again", False) and len(asked) == 2
    assert len(runs) == 2 and rv.run_model["path"] == str(other.resolve())
    win2 = new_window(qtbot, other)
    win2.review.review.cache = None  # fresh: projected, not taken from the results kept by the first window
    win2.session.params.set_params(win.session.params.to_params())
    win2.session.display.threshold = win.session.display.threshold
    win2.open_folder(fresh)
    wait_review(qtbot, win2)
    rv2 = win2.review.review
    assert [rv.score(i) for i in range(5)] == pytest.approx([rv2.score(i) for i in range(5)], abs=1e-6)
    assert gallery_column(win, 2) == gallery_column(win2, 2)
    np.testing.assert_array_equal(rv.stats().confusion, rv2.stats().confusion)
    win.close()
    win2.close()


# ------------------------------------------------------------------------------------------ thresholds

def test_dragging_the_threshold_moves_the_verdicts(qtbot, review_window):
    win = review_window
    rv, panel = win.review.review, win.review.scores
    scores = sorted(rv.score(i) for i in range(len(rv)))
    line = panel.t1_line
    line.setPos(panel.to_x(scores[-1] + 0.001))  # what a drag does: sigPositionChanged on every move
    assert win.session.display.threshold == pytest.approx(scores[-1] + 0.001)
    assert set(gallery_column(win, 2)) == {"good"}
    line.setPos(panel.to_x((scores[1] + scores[2]) / 2))
    assert gallery_column(win, 2).count("defective") == 3 and gallery_column(win, 2).count("good") == 2
    panel.redraw_now()
    assert int(panel.matrix.item(0, 0).text()) + int(panel.matrix.item(1, 0).text()) == 2
    # the segmentation on screen follows the same number
    t1 = win.session.display.threshold
    assert t1 == pytest.approx((scores[1] + scores[2]) / 2)
    assert win.views.input_view.title.text.endswith(f"with DSSIM > {t1:.3f}")
    # a real mouse drag on the histogram moves T1 too
    view = panel.hist.getPlotItem().getViewBox()
    start = panel.hist.mapFromScene(view.mapViewToScene(QPointF(line.value(), 1.0)))
    end = panel.hist.mapFromScene(view.mapViewToScene(QPointF(panel.to_x(scores[-1] + 0.002), 1.0)))
    before = win.session.display.threshold
    _drag(qtbot, panel.hist.viewport(), start, end)
    assert win.session.display.threshold != before
    assert win.session.display.threshold == pytest.approx(panel.line_value(line))


def test_a_calibrated_threshold_gets_a_logarithmic_histogram(qtbot, review_window):
    """A threshold 100 times under the lowest score (as calibrated models have) makes the histogram's
    x axis log10(score): T1 stands at log10(T1), shows T1's value, and moving it sets the threshold."""
    import math

    win = review_window
    rv, panel = win.review.review, win.review.scores
    scores = sorted(rv.score(i) for i in range(len(rv)))
    assert not panel.log_x
    t = scores[0] / 1000
    win.session.display.threshold = t
    panel.redraw_now()
    assert panel.log_x and "log" in panel.hist.getPlotItem().getAxis("bottom").labelText
    assert panel.t1_line.value() == pytest.approx(math.log10(t))
    assert panel.t1_line.label.format == f"T1 {fmt_level(t)}"
    xs = panel.bars["defective"].xData if rv.scan.has_ground_truth else panel.bars["unlabelled"].xData
    assert xs[0] < math.log10(t) < math.log10(scores[0]) <= xs[-1]
    panel.t1_line.setPos(math.log10((scores[1] + scores[2]) / 2))  # a drag on the log axis
    assert win.session.display.threshold == pytest.approx((scores[1] + scores[2]) / 2)
    win.session.display.threshold = 0.5 * (scores[0] + scores[-1])  # scores and T1 within a decade or two
    panel.redraw_now()
    if not panel.log_x:
        assert panel.t1_line.value() == pytest.approx(win.session.display.threshold)


def _drag(qtbot, widget, start, end, steps=8):
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    def send(kind, pos, buttons):
        p = QPointF(pos)
        ev = QMouseEvent(kind, p, widget.mapToGlobal(p), Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove
                         else Qt.MouseButton.NoButton, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, ev)

    send(QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    for k in range(1, steps + 1):
        t = k / steps
        send(QEvent.Type.MouseMove, QPoint(round(start.x() + t * (end.x() - start.x())),
                                           round(start.y() + t * (end.y() - start.y()))), Qt.MouseButton.LeftButton)
        qtbot.wait(5)
    send(QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def test_no_suggestion_until_both_classes_have_enough_images(qtbot, review_window):
    """Issue 25, item 2: 2 good and 3 defective parts suggest nothing, and the panel says why."""
    panel = review_window.review.scores
    panel.redraw_now()
    assert panel.stats.f1 is None and panel.stats.frr is None
    assert not panel.f1_apply.isEnabled() and not panel.frr_apply.isEnabled()
    assert "5 good and 5 defective" in panel.f1_label.text() and "(2 and 3 so far)" in panel.f1_label.text()


def test_suggested_thresholds_lie_in_the_gap_and_apply(qtbot, model_file, tmp_path, texture_images):
    win = new_window(qtbot, model_file)
    win.open_folder(make_folder(tmp_path / "many", texture_images, n_good=5, n_bad=5))
    wait_review(qtbot, win)
    rv, panel = win.review.review, win.review.scores
    s = panel.stats
    assert s.f1 is not None and panel.f1_apply.isEnabled()
    scores = [rv.score(i) for i in range(len(rv))]
    for sug in (s.f1, s.frr):  # between two neighbouring scores, on none of them, the gap shown
        assert sug.threshold not in scores and sug.margin > 0
        assert sug.below < sug.threshold < sug.above
        assert not [v for v in scores if sug.below < v < sug.above]
    assert f"gap {fmt_level(s.f1.below)} – {fmt_level(s.f1.above)}" in panel.f1_label.text()
    qtbot.mouseClick(panel.f1_apply, Qt.MouseButton.LeftButton)
    assert win.session.display.threshold == pytest.approx(s.f1.threshold)
    panel.frr_spin.setValue(0.0)  # no good part may be rejected
    panel.redraw_now()
    frr = panel.stats.frr
    qtbot.mouseClick(panel.frr_apply, Qt.MouseButton.LeftButton)
    goods = [rv.score(i) for i in range(len(rv)) if rv.items[i].gt == "good"]
    assert win.session.display.threshold == pytest.approx(frr.threshold) and frr.value == 0.0
    assert frr.below == pytest.approx(max(goods)) and frr.below < frr.threshold
    assert all(rv.model_verdict(i) == "good" for i in range(len(rv)) if rv.items[i].gt == "good")
    qtbot.wait(50)  # the layout follows the new texts
    for label in (panel.f1_label, panel.frr_label):  # the lines are never cut
        assert label.wordWrap() and label.height() >= label.heightForWidth(label.width())
    win.close()


def test_marginal_band_t1_t2(qtbot, review_window):
    win = review_window
    rv, panel = win.review.review, win.review.scores
    scores = sorted(rv.score(i) for i in range(len(rv)))
    win.session.display.threshold = (scores[0] + scores[1]) / 2
    panel.band_check.setChecked(True)
    assert rv.marginal_upper is not None and panel.t2_line.isVisible() and panel.band.isVisible()
    panel.t2_line.setPos(panel.to_x((scores[2] + scores[3]) / 2))
    assert rv.marginal_upper == pytest.approx((scores[2] + scores[3]) / 2)
    col = gallery_column(win, 2)
    assert col.count("good") == 1 and col.count("marginal") == 2 and col.count("defective") == 2
    panel.redraw_now()
    assert not panel.matrix.isColumnHidden(1)
    assert int(panel.matrix.item(0, 1).text()) + int(panel.matrix.item(1, 1).text()) == 2
    gal = win.review.gallery
    gal.filter_combo.setCurrentIndex(gal.filter_combo.findData("marginal"))
    assert gal.proxy.rowCount() == 2
    panel.t2_line.setPos(panel.to_x(0.0))  # T2 cannot go below T1
    assert rv.marginal_upper == pytest.approx(win.session.display.threshold)
    panel.band_check.setChecked(False)
    assert rv.marginal_upper is None and "marginal" not in gallery_column(win, 2)


# ------------------------------------------------------------------------------------------ ground truth

def test_ground_truth_outline_and_iou(qtbot, review_window, folder):
    from inspector_app.gui.views import CONTOUR_COLOR, GT_COLOR

    win = review_window
    rv = win.review.review
    rv.select(1)
    assert win.views.gt_shown  # the session's ground truth, outlined by the views
    assert win.views.gt_contour.pen.color().getRgb()[:3] == GT_COLOR != CONTOUR_COLOR
    gt = rv.current_gt
    assert gt.shape == (32, 32) and gt[9 + 1:17 + 1, 11:20].all() and gt.sum() == 8 * 9
    np.testing.assert_array_equal(win.session.gt_mask, gt)
    # IoU at the threshold in use, from the stored map
    win.session.display.threshold = 0.05
    qtbot.waitUntil(lambda: not rv.stale_indices()[0], timeout=10000)
    m = rv.store.load(1)
    seg = segment(m.dssim_projection, 0.05) if rv.score(1) > 0.05 else np.zeros((32, 32), bool)
    iou = (seg & m.gt).sum() / max((seg | m.gt).sum(), 1)
    assert rv.results[1].iou == pytest.approx(iou)
    assert gallery_column(win, 6)[1] == f"{iou:.2f}"
    qtbot.keyClick(win, Qt.Key.Key_G)
    assert not win.views.gt_shown
    qtbot.keyClick(win, Qt.Key.Key_G)
    assert win.views.gt_shown
    rv.select(3)  # a good part: no outline
    assert not win.views.gt_shown
    win.review.scores.redraw_now()
    assert "pixel AUROC" in win.review.scores.figures.text()


# ------------------------------------------------------------------------------------------ bad input, cancel

def test_unreadable_image_gets_a_row_and_empty_folder_a_dialog(qtbot, model_file, folder, tmp_path, monkeypatch):
    (folder / "test" / "good" / "broken.png").write_bytes(b"\x89PNG not really")
    win = new_window(qtbot, model_file)
    win.open_folder(folder)
    wait_review(qtbot, win)
    rv = win.review.review
    i = [it.rel for it in rv.items].index("test/good/broken.png")
    assert gallery_column(win, 2)[i] == "unreadable"
    assert "not a readable image" in win.review.gallery.model.index(i, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert rv.select(i) is False  # a notice, no traceback
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    empty = tmp_path / "empty"
    empty.mkdir()
    win.open_folder(empty)
    qtbot.waitUntil(lambda: bool(shown), timeout=10000)
    assert "no images in this folder" in shown[0]
    assert rv.is_open and len(rv) == 6  # the folder under review stays
    win.open_folder(tmp_path / "missing")
    assert "no such folder" in shown[-1]
    win.close()


def test_corrupt_review_file_is_kept_and_a_new_one_starts(qtbot, model_file, folder, monkeypatch):
    (folder / JSON_NAME).write_text("{not json")
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    win = new_window(qtbot, model_file)
    win.open_folder(folder)
    wait_review(qtbot, win)
    assert shown and "broken JSON" in shown[0] and "kept as" in shown[0]
    kept = [p for p in folder.iterdir() if p.name.startswith("inspector-review.") and p.name != JSON_NAME
            and p.suffix == ".json"]
    assert kept and kept[0].read_text() == "{not json"
    win.review.review.set_verdict(0, "ok")
    assert read_review(folder / JSON_NAME).reviewed
    win.close()


def test_cancel_keeps_results_and_project_folder_resumes(qtbot, model_file, folder):
    win = new_window(qtbot, model_file)
    win.session.params.max_iter = 150
    win.review.batch = 1
    win.open_folder(folder)
    rv = win.review.review
    qtbot.waitUntil(lambda: rv.is_open and win.review.running and rv.n_done >= 1, timeout=30000)
    qtbot.mouseClick(win.review.gallery.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.review.running, timeout=10000)
    done = rv.n_done
    assert 1 <= done < 5 and win.review.gallery.reproject_button.isVisible()
    kept = {i: rv.results[i].scores for i in range(5) if rv.results[i] is not None}
    qtbot.mouseClick(win.review.gallery.reproject_button, Qt.MouseButton.LeftButton)
    assert win.review.running and rv.folder_results.total == 5 - done  # only the rest
    qtbot.waitUntil(lambda: not win.review.running, timeout=60000)
    assert rv.n_done == 5 and all(rv.results[i].scores == kept[i] for i in kept)
    wait_idle(qtbot, win)
    win.close()


# ------------------------------------------------------------------------------------------ layout (issue 25, item 7)

def test_the_views_keep_the_image_fitted_when_the_docks_close_and_open(qtbot, review_window):
    win = review_window
    vb = win.grid.input_panel.view_box

    def fitted() -> bool:
        (x0, x1), (y0, y1) = vb.viewRange()
        return min(x1 - x0, y1 - y0) < 1.2 * 32  # the 32-px frame fills the view one way (it was ×8)

    qtbot.waitUntil(fitted, timeout=5000)
    for show in (False, True, False):
        win.review.gallery_dock.setVisible(show)
        win.review.scores_dock.setVisible(show)
        qtbot.wait(50)
        qtbot.waitUntil(fitted, timeout=5000)


def test_the_log_axis_labels_decades_only(qtbot, review_window):
    import math

    win = review_window
    rv, panel = win.review.review, win.review.scores
    win.session.display.threshold = min(rv.score(i) for i in range(len(rv))) / 1000
    panel.redraw_now()
    assert panel.log_x
    major, minor = panel.hist.getPlotItem().getAxis("bottom")._tickLevels
    assert major and all(float(v).is_integer() and lab for v, lab in major)  # one label per decade at most
    assert len(major) <= max(1, panel.hist.width() // 48) and all(lab == "" for _v, lab in minor)
    assert {lab for _v, lab in major} <= {"1e-7", "1e-6", "1e-5", "1e-4", "0.001", "0.01", "0.1", "1"}
    win.session.display.threshold = 0.5 * (rv.score(0) + rv.score(3))
    panel.redraw_now()
    if not panel.log_x:  # linear again: the axis's own ticks
        assert panel.hist.getPlotItem().getAxis("bottom")._tickLevels is None
    assert not math.isnan(win.session.display.threshold)


def test_the_badge_says_marginal_where_the_gallery_does(qtbot, review_window):
    win = review_window
    rv = win.review.review
    scores = sorted(rv.score(i) for i in range(len(rv)))
    win.session.display.threshold = (scores[0] + scores[1]) / 2
    rv.set_marginal_upper(scores[-1] + 0.01)
    i = max(range(len(rv)), key=rv.score)
    rv.select(i)
    assert rv.model_verdict(i) == "marginal" and gallery_column(win, 2)[i] == "marginal"
    assert win.verdict_badge.verdict_text.startswith("MARGINAL")
    rv.set_marginal_upper(None)
    assert win.verdict_badge.verdict_text.startswith("DEFECTIVE")


def test_another_folder_starts_with_every_row_and_the_filter_says_so(qtbot, review_window, tmp_path, texture_images):
    win = review_window
    rv, gal = win.review.review, win.review.gallery
    gal.filter_combo.setCurrentIndex(gal.filter_combo.findData("disagreements"))
    assert rv.filter == "disagreements"
    other = make_folder(tmp_path / "other", texture_images)
    win.open_folder(other)
    qtbot.waitUntil(lambda: rv.is_open and rv.scan.root == other, timeout=20000)
    wait_review(qtbot, win)
    assert rv.filter == "all" and gal.filter_combo.currentData() == "all" and gal.proxy.rowCount() == len(rv)


def test_no_legend_over_the_histogram_the_classes_are_in_its_title(qtbot, review_window):
    panel = review_window.review.scores
    panel.redraw_now()
    pi = panel.hist.getPlotItem()
    assert pi.legend is None  # it covered T1's label on light textures
    assert "good" in pi.titleLabel.text and "defective" in pi.titleLabel.text
    assert panel.classes_shown == ("good", "defective")


def test_the_threshold_column_is_never_cut_on_a_laptop_screen(qtbot, review_window):
    """At 1366×768 the score dock's right column (T1, the confusion matrix, the Apply buttons) was
    wider than its scroll area, whose horizontal scroll bar is off: its right edge was cut. Measured
    in the style the application runs with (``run_app`` applies it)."""
    from PySide6.QtWidgets import QApplication

    from inspector_app.gui.style import apply_dark_style

    app = QApplication.instance()
    old = app.styleSheet()
    apply_dark_style(app)
    try:
        win = review_window
        win.resize(1366, 740)
        panel = win.review.scores
        for band in (False, True):  # the marginal band adds a column to the matrix
            panel.band_check.setChecked(band)
            qtbot.wait(50)
            assert panel.side.widget().width() <= panel.side.viewport().width()
            for button in (panel.f1_apply, panel.frr_apply):
                right = button.mapTo(panel.side.viewport(), button.rect().topRight()).x()
                assert right < panel.side.viewport().width()
    finally:
        app.setStyleSheet(old)


def test_the_gallerys_column_headers_are_never_cut(qtbot, model_file, folder):
    """The fixed columns were sized to their values in the table's font: in the application's style
    the headers (bold, padded) were wider, and 'reviewer' and 'area %' were cut on both sides."""
    from PySide6.QtWidgets import QApplication

    from inspector_app.gui.style import apply_dark_style

    app = QApplication.instance()
    old = app.styleSheet()
    apply_dark_style(app)  # before the window, as run_app does
    try:
        win = new_window(qtbot, model_file)
        assert win.open_folder(folder)
        wait_review(qtbot, win)
        hh = win.review.gallery.table.horizontalHeader()
        hh.setSortIndicatorShown(False)  # the text's own need (a sorted column's arrow may cut it)
        for c in range(1, hh.count()):
            name = hh.model().headerData(c, Qt.Orientation.Horizontal)
            assert hh.sectionSizeFromContents(c).width() <= hh.sectionSize(c), name
        win.close()
    finally:
        app.setStyleSheet(old)


def test_the_thumbnail_is_drawn_whole_at_the_gallerys_icon_size(qtbot, review_window):
    """A QPixmap in the decoration role is drawn at its own size (64 px): its top and bottom were cut
    by the 36-px rows and it took 64 px of the name's column; drawn at the table's icon size (28 px)
    it is whole and leaves the name its room."""
    from PySide6.QtWidgets import QStyleOptionViewItem

    table = review_window.review.gallery.table
    index = table.model().index(0, 0)
    option = QStyleOptionViewItem()
    table.initViewItemOption(option)  # as the view paints it
    table.itemDelegate().initStyleOption(option, index)
    size = option.decorationSize
    assert 0 < size.width() <= table.iconSize().width() and 0 < size.height() <= table.iconSize().height()
    assert table.iconSize().height() <= table.verticalHeader().defaultSectionSize()
