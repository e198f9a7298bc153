"""GUI test fixtures: offscreen Qt, settings kept off the user's file, no QThread left running."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings, QThread, QThreadPool  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from gui_helpers import make_model_file, open_model, wait_idle, write_png  # noqa: E402, F401

TEST_ORGANIZATION = "inspector-app-tests"


@pytest.fixture(scope="session", autouse=True)
def _pyqtgraph_options():
    """pyqtgraph's options, as ``run_app`` sets them before the first window."""
    from inspector_app.gui.style import configure_pyqtgraph

    configure_pyqtgraph()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """QSettings go to a fresh temporary folder under a test organisation, never the user's file."""
    folder = tmp_path_factory.mktemp("settings")
    QCoreApplication.setOrganizationName(TEST_ORGANIZATION)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
        QSettings.setPath(fmt, QSettings.Scope.SystemScope, str(folder / "system"))
    yield folder


@pytest.fixture(autouse=True)
def _fail_on_dangling_qthreads(monkeypatch):
    """Fail a test that leaves a QThread (or a thread-pool worker) running."""
    started: list[QThread] = []
    original = QThread.start

    def start(self, *args, **kwargs):
        started.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield
    monkeypatch.setattr(QThread, "start", original)
    running = []
    for t in started:
        try:
            if t.isRunning():
                running.append(t)
        except RuntimeError:  # the C++ object is gone: not running
            pass
    for t in running:  # do not hang the session; but fail
        t.wait(5000)
    assert not running, f"{len(running)} QThread(s) left running"
    assert QThreadPool.globalInstance().activeThreadCount() == 0, "thread-pool workers left running"
    from inspector_app.gui.worker import running_workers, thread_pool

    pool = thread_pool()  # a worker joined by stop() may take a moment to leave the pool; a running one fails
    pool.waitForDone(2000)
    assert pool.activeThreadCount() == 0, "the window's workers left running"
    assert running_workers() == 0, "a runner's worker left running"


@pytest.fixture(autouse=True)
def _one_torch_thread(_few_threads):
    """Tiny 32×32 models gain nothing from two threads, and a busy 2-core machine makes OpenMP's
    barriers slow; one thread keeps these tests fast and steady."""
    import torch

    torch.set_num_threads(1)
    yield
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def _session_model_file(tmp_path_factory):
    return make_model_file(tmp_path_factory.mktemp("models") / "tiny_l2ae.safetensors")


@pytest.fixture
def model_file(_session_model_file):
    """The tiny 32×32 l2ae (made once per session; tests never modify it)."""
    return _session_model_file


@pytest.fixture
def image_file(tmp_path, texture_images):
    """A 32×32 brick crop with a dark blob (a 'defect')."""
    img = texture_images[0].copy()
    img[10:16, 12:19] = 0.05
    return write_png(tmp_path / "defect.png", img)


@pytest.fixture
def window(qtbot, model_file, image_file):
    """The inspection window holding the tiny model and the 32×32 image, x0 evaluated."""
    from inspector_app.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    assert open_model(qtbot, win, model_file)
    assert win.open_image(image_file)
    wait_idle(qtbot, win)
    yield win
    win.close()


@pytest.fixture
def boxes(monkeypatch):
    """Record message boxes instead of blocking on them; ``answer`` is what question() returns."""
    rec = {"critical": [], "warning": [], "information": [], "question": [], "answer": QMessageBox.StandardButton.Yes}

    def make(kind):
        def f(parent, title, text, *a, **k):
            rec[kind].append((title, text))
            return rec["answer"] if kind == "question" else QMessageBox.StandardButton.Ok
        return f

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(make(kind)))
    return rec
