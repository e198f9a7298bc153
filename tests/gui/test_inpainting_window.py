"""The blind-vs-masked inpainting window: every panel and metric (made in workers), Ω bit-exact, Stop
joins the threads."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc

import numpy as np
import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QMessageBox

from conftest import make_model_file
from inspector_app.core.inpainting import PANELS, corrupt_with_noise, inpaint_params
from inspector_app.core.modelio import load_model
from inspector_app.gui.inpainting_window import InpaintingWindow, open_face_demo
from inspector_app.gui.worker import running_workers, thread_pool


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_model(make_model_file(tmp_path_factory.mktemp("m") / "vae.safetensors", kind="vae", size=32), "cpu")


def face_case(h=32, w=32):
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float32)
    clean = np.clip(0.3 + 0.3 * rr / h + 0.2 * cc / w, 0, 1).astype(np.float32)
    mask = np.zeros((h, w), bool)
    mask[h // 4: h // 2, w // 4: 3 * w // 4] = True
    return corrupt_with_noise(clean, mask, seed=3), mask, clean


def running_qthreads() -> list[QThread]:
    """QThreads and workers of the window's pool still running."""
    out = []
    for o in gc.get_objects():
        if issubclass(type(o), QThread):  # type(): no attribute access on lazy proxies
            try:
                if o.isRunning():
                    out.append(o)
            except RuntimeError:  # the C++ thread object is gone: it has finished
                pass
    thread_pool().waitForDone(1000)  # a joined worker leaves the pool a moment after
    return out + [None] * max(thread_pool().activeThreadCount(), running_workers())


def test_all_panels_metrics_and_omega_bit_exact(qtbot, loaded):
    corrupted, mask, clean = face_case()
    params = {m: inpaint_params(m, max_iter=8) for m in ("blind", "masked")}
    win = InpaintingWindow(loaded, corrupted, mask, clean, params=params, autostart=False)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.all_finished, timeout=30000):
        win.run()
    qtbot.waitUntil(lambda: not win.running, timeout=5000)
    assert set(win.panels) == set(PANELS)
    assert set(win.results) == set(PANELS)
    for name in PANELS:
        assert win.results[name].shape == (32, 32)
        assert win.panels[name].image.image is not None
    assert set(win.metrics) == {"corrupted", "reconstruction", "blind", "masked", "telea"}
    for name, m in win.metrics.items():
        assert np.isfinite(m["psnr"]) and -1 <= m["ssim"] <= 1
        assert "PSNR" in win.panels[name].metrics.text
    assert set(win.final_frames) == {"blind", "masked"}
    assert win.final_frames["masked"].steps <= 8
    masked = win.results["masked"]
    assert np.array_equal(masked[~mask].view(np.uint32), corrupted[~mask].view(np.uint32))
    assert not np.array_equal(masked[mask], corrupted[mask])
    assert "iterations" in win.panels["masked"].status.text
    win.close()
    assert not running_qthreads()


def test_stop_joins_every_thread_and_run_again(qtbot, loaded):
    corrupted, mask, clean = face_case(25, 25)  # resized to the model's 32×32 and back
    params = {m: inpaint_params(m, max_iter=10000, stop="none") for m in ("blind", "masked")}
    win = InpaintingWindow(loaded, corrupted, mask, clean, params=params)
    qtbot.addWidget(win)
    win.show()
    assert win.running
    qtbot.waitUntil(lambda: all("iteration" in win._status[m] and not win._status[m].endswith(" 0…")
                                for m in ("blind", "masked")), timeout=20000)
    win.stop_button.click()
    assert not win.running
    assert not any(r.running for r in win.runners.values())
    assert not running_qthreads()
    assert set(win.final_frames) == {"blind", "masked"}
    assert all(f.stop_reason is None for f in win.final_frames.values())  # stopped early
    masked = win.results["masked"]
    assert masked.shape == (25, 25)
    assert np.array_equal(masked[~mask].view(np.uint32), corrupted[~mask].view(np.uint32))
    # run again with new settings, then close the window while running: the threads stop
    for spin in win.iter_spin.values():
        spin.setValue(5000)
    win.alpha_spin["masked"].setValue(0.02)
    win.run_button.click()
    assert win.running
    assert win.current_params("masked").alpha == pytest.approx(0.02)
    win.close()
    assert not win.running and not running_qthreads()


def test_without_ground_truth_or_mask(qtbot, loaded):
    corrupted, mask, _ = face_case()
    win = InpaintingWindow(loaded, corrupted, None, None, params={"blind": inpaint_params("blind", max_iter=3)})
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: not win.running and "reconstruction" in win.results, timeout=20000)
    assert set(win.panels) == {"corrupted", "reconstruction", "blind"}
    assert win.metrics == {} and "no ground truth" in win.info.text()
    a, b = win.panels["corrupted"].view, win.panels["blind"].view
    a.setRange(xRange=(4, 12), yRange=(6, 14), padding=0)
    a.sigRangeChangedManually.emit([True, True])  # as a wheel or a drag does: every panel follows
    assert np.allclose(b.viewRange(), a.viewRange(), atol=0.5)
    win.close()


def test_face_demo_missing_resources(qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("INSPECTOR_APP_RESOURCES", str(tmp_path))
    (tmp_path / "models").mkdir()
    import inspector_app.resources as res

    monkeypatch.setattr(res, "resource", lambda rel: None)
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: shown.append(text)))
    assert open_face_demo() is None
    assert len(shown) == 1 and "faces_vae.safetensors" in shown[0]


def test_face_demo_opens_running(qtbot, monkeypatch, tmp_path, loaded):
    from inspector_app.core.data import write_image
    from inspector_app.core.mask import save_mask_png
    from inspector_app.resources import FACE_CLEAN, FACE_IMAGE, FACE_MASK, FACE_MODEL

    corrupted, mask, clean = face_case()
    root = tmp_path / "res"
    make_model_file(root / FACE_MODEL, kind="vae", size=32)
    write_image(root / FACE_IMAGE, corrupted)
    write_image(root / FACE_CLEAN, clean)
    save_mask_png(root / FACE_MASK, mask)
    monkeypatch.setenv("INSPECTOR_APP_RESOURCES", str(root))
    opened = []
    worker = open_face_demo(on_open=opened.append)
    assert worker is not None
    qtbot.waitUntil(lambda: bool(opened), timeout=20000)  # the files are read in a worker
    win = opened[0]
    qtbot.addWidget(win)
    assert win.running and win.isVisible()
    win.close()
    assert not running_qthreads()


def test_face_demo_unusable_file_gets_a_message(qtbot, monkeypatch, tmp_path):
    from inspector_app.resources import FACE_CLEAN, FACE_IMAGE, FACE_MASK, FACE_MODEL

    root = tmp_path / "res"
    for rel in (FACE_MODEL, FACE_IMAGE, FACE_MASK, FACE_CLEAN):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"not what it should be")
    monkeypatch.setenv("INSPECTOR_APP_RESOURCES", str(root))
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: shown.append(text)))
    worker = open_face_demo()
    qtbot.waitUntil(lambda: bool(shown), timeout=20000)
    worker.wait()
    assert "cannot be opened" in shown[0] and "faces_vae.safetensors" in shown[0] and "\n" not in shown[0]


def test_a_tuned_model_starts_masked_inpainting_from_telea(qtbot, loaded, tmp_path):
    """A model whose file carries a tuned schedule (calibrate --inpainting): the window's masked run
    starts from the Telea fill, with the tuned α and iteration count, and its title says so."""
    from inspector_app.core.inpainting import telea_inpaint
    from inspector_app.core.modelio import save_model

    meta = dict(loaded.meta)
    meta["inpainting"] = {"init": "telea", "masked": {"alpha": 0.2, "max_iter": 2, "stop": "none"}}
    meta = {k: v for k, v in meta.items() if k in ("training", "training_stats", "inpainting")}
    tuned = load_model(save_model(loaded.model, tmp_path / "tuned.safetensors", meta), "cpu")
    corrupted, mask, clean = face_case()
    win = InpaintingWindow(tuned, corrupted, mask, clean, autostart=False)
    qtbot.addWidget(win)
    assert "from Telea" in win.panels["masked"].title.text
    assert win.current_params("masked").alpha == 0.2 and win.current_params("masked").max_iter == 2
    seen = []
    orig = win.runners["masked"].start
    win.runners["masked"].start = lambda model, x0, *a, **k: (seen.append(x0), orig(model, x0, *a, **k))[1]
    with qtbot.waitSignal(win.all_finished, timeout=30000):
        win.run()
    np.testing.assert_allclose(seen[0], telea_inpaint(win.job.prep.model_input, mask))
    assert win.final_frames["masked"].steps == 2


def test_the_window_says_when_telea_does_as_well_on_a_thin_mask(qtbot, loaded):
    """Issue 25, item 9: where masked inpainting loses to Telea (thin or small masks, model card's
    'Other masks'), the comparison says so."""
    from inspector_app.core.inpaint_masks import family_mask, thin_mask

    corrupted, mask, clean = face_case()
    stroke = family_mask("strokes", mask.shape, np.random.default_rng(1))
    assert thin_mask(stroke) and not thin_mask(mask)
    texts = []
    for m in (stroke, mask):
        win = InpaintingWindow(loaded, corrupted, m, clean, params={"masked": inpaint_params("masked", max_iter=1)},
                               autostart=False)
        qtbot.addWidget(win)
        qtbot.waitUntil(lambda: "telea" in win.results, timeout=20000)
        texts.append(win.info.text())
        win.close()
    assert "thin or small Ω: Telea does about as well here" in texts[0] and "thin" not in texts[1]


@pytest.mark.parametrize("side", [32, 600])
def test_the_window_fits_its_screen_whatever_the_image_size(qtbot, loaded, side):
    """A camera-size image (here 600 px; a 1200-px face opened a 6080×1430 window) or five 215-px
    panels (1155 px) on a small screen: the window opens inside the screen's free area, the panels
    scaled down to fit, and its minimum size (the long info line wraps) lets it stay there."""
    corrupted, mask, clean = face_case(side, side)
    win = InpaintingWindow(loaded, corrupted, mask, clean, params={m: inpaint_params(m, max_iter=1)
                                                                   for m in ("blind", "masked")}, autostart=False)
    qtbot.addWidget(win)
    win.show()
    avail = win.screen().availableGeometry()
    assert win.width() <= avail.width() and win.height() <= avail.height()
    hint = win.minimumSizeHint()
    assert hint.width() <= avail.width() and hint.height() <= avail.height()
    qtbot.waitUntil(lambda: "telea" in win.results, timeout=20000)
    assert win.info.text() and win.info.wordWrap()
    view = win.panels["corrupted"].view.viewRect()  # the image is shown whole
    assert view.width() >= side and view.height() >= side
    win.close()


def test_the_panel_titles_never_run_into_each_other(qtbot, loaded):
    """Six panels on a 1280-px screen: 'Blind inpainting (eq. 8)' ran into 'Masked inpainting
    (eq. 7)'. The titles take a smaller size when the columns are narrow, and the usual one again."""
    corrupted, mask, clean = face_case()
    win = InpaintingWindow(loaded, corrupted, mask, clean, params={m: inpaint_params(m, max_iter=1)
                                                                   for m in ("blind", "masked")}, autostart=False)
    qtbot.addWidget(win)
    win.show()
    sizes = {}
    for width in (1150, 1700):
        win.resize(width, 430)
        qtbot.wait(50)
        rects = [p.title.item.sceneBoundingRect() for p in win.panels.values()]
        assert len(rects) == 6
        for a, b in zip(rects, rects[1:]):
            assert a.right() <= b.left(), width
        sizes[width] = {p.title.opts.get("size") for p in win.panels.values()}
    assert sizes[1700] == {"11pt"} and sizes[1150] != {"11pt"}
    win.close()
