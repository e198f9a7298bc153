"""Issue 24 item 0: opening a model that has not learned its images warns in the window."""

from __future__ import annotations

import torch

from gui_helpers import open_model, wait_idle


def _model(path, fve):
    from inspector_app.core.modelio import save_model
    from inspector_app.core.models import ModelConfig, create_model

    torch.manual_seed(0)
    save_model(create_model(ModelConfig("l2ae", 32, 1, 8)), path, {"training": {"data": "x", "best_val_fve": fve}})
    return path


def test_a_model_that_learned_nothing_shows_a_severe_banner_and_a_learned_one_does_not(qtbot, tmp_path, image_file):
    from inspector_app.gui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert open_model(qtbot, w, _model(tmp_path / "flat.safetensors", -0.01)) and w.open_image(image_file)
    wait_idle(qtbot, w)
    assert "not_learned" in w.banner.codes and w.banner.isVisible()
    assert "has not learned its images" in w.banner.text and w.banner.text.startswith("⚠")
    assert open_model(qtbot, w, _model(tmp_path / "good.safetensors", 0.8))
    wait_idle(qtbot, w)
    assert "not_learned" not in w.banner.codes
    w.close()
