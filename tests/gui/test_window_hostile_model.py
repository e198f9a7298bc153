"""Issue 26: the window with a TorchScript model whose forward stalls from its second call — the
main thread never waited on it (the window froze and did not close within 120 s): the call is given
up, reported, and the window closes at once."""

from __future__ import annotations

import threading
import time

from gui_helpers import wait_idle
from slow_models import SlowFromSecondCall


def test_a_stalling_model_is_given_up_and_the_window_closes(qtbot, tmp_path, image_file, boxes, monkeypatch):
    from inspector_app.core.modelio import save_torchscript
    from inspector_app.gui.main_window import MainWindow

    monkeypatch.setenv("INSPECTOR_MODEL_CALL_SECONDS", "1")
    f = save_torchscript(SlowFromSecondCall(60000), tmp_path / "stall.pt", {"image_size": 32, "channels": 1})
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.open_model(f, True)
    wait_idle(qtbot, win)
    win.open_image(image_file)
    wait_idle(qtbot, win, timeout=15000)
    win.act_run.trigger()
    wait_idle(qtbot, win, timeout=15000)
    said = " ".join(t for kind in ("critical", "warning") for _title, t in boxes[kind])
    assert "stall.pt: the model did not answer within 1 s" in said or "not used again" in said, said
    t0 = time.monotonic()
    win.close()
    assert time.monotonic() - t0 < 5
    for t in threading.enumerate():
        if t.name.startswith("model call"):
            t.join(60)
