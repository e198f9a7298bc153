"""The first run opens on a welcome with three actions; a later run opens the demo as before."""

from __future__ import annotations

from pathlib import Path

from gui_helpers import wait_idle

from inspector_app.gui import settings as st
from inspector_app.gui.app import first_run, open_start
from inspector_app.resources import DEMO_MODEL, resource


def _window(qtbot):
    from inspector_app.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    return win


def test_first_run_welcome_then_a_sample(qtbot):
    assert first_run()
    win = _window(qtbot)
    open_start(win, None, None)
    page = win.welcome
    assert page is not None and page.isVisible() and not win.grid.isVisible()
    assert [b.text() for b in page.buttons.values()] == [
        "Inspect a sample part", "Review a folder of sample parts", "Face inpainting demo",
        "Build a model of your own parts"]
    assert win.session.loaded is None and win.session.image is None  # nothing opened behind it
    page.buttons["welcome_sample"].click()  # the bundled brick model and stained sample
    wait_idle(qtbot, win)
    qtbot.waitUntil(lambda: win.session.loaded is not None)
    assert win.welcome is None and win.grid.isVisible()
    assert Path(win.session.model_path) == resource(DEMO_MODEL) and win.session.image is not None
    assert not first_run()  # remembered: the next start opens the demo itself
    win.close()


def test_welcome_reviews_a_copy_of_the_samples(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    win = _window(qtbot)
    open_start(win, None, None)
    win.welcome.buttons["welcome_review"].click()
    qtbot.waitUntil(lambda: win.review.review.is_open, timeout=20000)
    folder = tmp_path / "data" / "inspector-app" / "sample-parts" / "brick"
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(
        p.name for p in (resource(DEMO_MODEL).parents[1] / "samples" / "brick").glob("*.png"))
    assert win.welcome is None and win.grid.isVisible()
    qtbot.waitUntil(lambda: win.session.loaded is not None, timeout=20000)
    assert Path(win.session.model_path) == resource(DEMO_MODEL)
    win.review.cancel_run(wait=True)
    wait_idle(qtbot, win)
    win.close()


def test_a_later_run_opens_the_demo(qtbot, image_file):
    st.add_recent_file("images", str(image_file))
    assert not first_run()
    win = _window(qtbot)
    open_start(win, None, None)
    assert getattr(win, "welcome", None) is None
    wait_idle(qtbot, win)
    qtbot.waitUntil(lambda: win.session.loaded is not None)
    assert Path(win.session.model_path) == resource(DEMO_MODEL)
    win.close()


def test_the_status_bar_names_the_device_before_a_model_opens(qtbot):
    """The welcome (no model yet): the status bar said 'device: –' while the Device box said CPU;
    it names the device the next model opens on, and follows the box."""
    win = _window(qtbot)
    open_start(win, None, None)
    assert win.session.loaded is None
    assert win.status.labels["device"].text() == f"device: {win.session.device}" != "device: –"
    win.session.device = "cuda:1"  # the box's choice (no such device is needed to say it)
    assert win.status.labels["device"].text() == "device: cuda:1"
    win.session.device = "cpu"
    assert win.status.labels["device"].text() == "device: cpu"
    win.close()
