"""The application's look holds no module state that a test must reset."""

from __future__ import annotations

import pyqtgraph as pg

from inspector_app.gui import style


def test_configure_pyqtgraph_sets_its_options_each_time():
    style.configure_pyqtgraph()
    try:
        pg.setConfigOptions(imageAxisOrder="col-major", antialias=False)  # someone else changed them
        style.configure_pyqtgraph()
        for name, value in style.PYQTGRAPH_OPTIONS.items():
            assert pg.getConfigOption(name) == value, name
    finally:
        style.configure_pyqtgraph()
    assert not [k for k, v in vars(style).items() if k.startswith("_") and isinstance(v, bool)]
