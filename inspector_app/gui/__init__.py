"""Qt views and controllers over the session (PySide6 + pyqtgraph). Never runs model code on the GUI
thread, and never imports torch (an import-linter contract): only numpy crosses from the workers.

* ``app`` — ``run_app(model=None, image=None)``: QApplication, dark theme, the inspection window;
* ``main_window`` — :class:`MainWindow`, a composition of the parts below over one session;
* ``run_controller``, ``file_actions``, ``view_controller``, ``status_bar``, ``history_bar`` — the parts;
* ``controls`` — the side panel, bound to the session's parameters and display settings;
* ``views`` — the image views, the fast segmentation contour and the energy plot;
* ``worker`` — superqt workers on the window's own thread pool; :class:`ProjectionRunner`;
* ``brush``, ``inpaint_tools``, ``inpainting_window`` — the Ω brush and the blind-vs-masked window;
* ``settings`` — QSettings (INI), the recent-files lists, the saved session values; ``style``.
* ``review/`` — review mode's part: :class:`~.review.ReviewMode`, the gallery and the score docks.
"""
