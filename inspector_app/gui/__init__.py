"""Qt views and controllers over the core (PySide6 + pyqtgraph). Never runs model code on the GUI thread.

* ``app`` — ``run_app(model=None, image=None)``: QApplication, dark theme, the inspection window;
* ``main_window`` — :class:`MainWindow`, the inspection window (a thin controller);
* ``worker`` — :class:`ProjectionRunner`, the projection generator in a worker thread;
* ``views`` — the image views, the fast segmentation contour and the energy plot;
* ``controls`` — the side panel (parameters, ranges from ``core.params.RANGES``);
* ``history`` — the bounded frame history behind the iteration slider (no Qt);
* ``settings`` — QSettings (INI) and the recent-files lists;
* ``brush``, ``compare`` — the mask brush and the comparison window (built on the above).
"""
