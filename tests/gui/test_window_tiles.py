"""The window on an image larger than the model: x_t, f(x_t) and the DSSIM map at the working scale."""

from __future__ import annotations

import numpy as np

from gui_helpers import open_model, set_params, wait_idle, write_png


def _model_with_scale(path):
    import torch

    from inspector_app.core.modelio import loss_statistics, save_model
    from inspector_app.core.models import ModelConfig, create_model

    torch.manual_seed(0)
    model = create_model(ModelConfig("l2ae", 32, 1, 16))
    with torch.no_grad():
        lr, _ = model.forward_loss(torch.rand(8, 1, 32, 32))
    meta = {"training": {"data": "test fixture"}, "training_stats": loss_statistics(lr.numpy()),
            "working_scale": {"mode": "crops", "max_side": 96},
            "calibration": {"threshold": 0.05, "min_area": 4, "stop": "none", "max_iter": 6, "lr_out_of_range": None,
                            "method": "test calibration", "figures": {}}}
    return save_model(model, path, meta)


def test_a_larger_image_is_projected_whole_at_the_working_scale(qtbot, tmp_path):
    from inspector_app.core.verdict import image_score
    from inspector_app.gui.main_window import MainWindow

    rng = np.random.default_rng(0)
    img = np.clip(0.5 + 0.1 * rng.standard_normal((120, 150)), 0, 1).astype(np.float32)  # over max_side 96
    img[30:40, 60:75] = 0.02
    image = write_png(tmp_path / "part.png", img)
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    try:
        assert open_model(qtbot, win, _model_with_scale(tmp_path / "scaled.safetensors"))
        assert win.open_image(image)
        wait_idle(qtbot, win)
        s = win.session
        assert s.prepared.working_shape == (77, 96)  # the longer side brought to 96, aspect kept
        assert "tiles at the image's scale" in win.controls.model_info.text()
        set_params(win, stop="none", max_iter=5)
        win.runs.run()
        wait_idle(qtbot, win)
        r = s.result
        assert r is not None and r.iteration == 5
        assert r.x.shape == (77, 96) and r.reconstruction.shape == (77, 96)
        assert r.dssim("projection").shape == (77, 96)
        assert win.grid.iterate_panel.image_item.image.shape == (77, 96)
        assert win.grid.dssim_panel.image_item.image.shape == (77, 96)
        # the verdict is that of the whole image's map
        v = s.verdict_of(r)
        assert v.score == image_score(r.dssim("projection"), s.display.min_area) and v.min_area == 4
        # the hover readout names the photograph's own pixel (150×120), and the working scale's (96×77)
        win.grid.hovered.emit((76, 95))
        assert "x  149  y  119 (working scale 95, 76)" in win.hover_label.text()
        win.grid.hovered.emit((38, 48))
        assert "x   75  y   60 (working scale 48, 38)" in win.hover_label.text()
    finally:
        win.close()
