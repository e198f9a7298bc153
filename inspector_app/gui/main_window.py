"""The inspection window: a composition of parts over one :class:`~inspector_app.session.Session`.

Parts (each talks to the session, never to another part):

* :class:`~.run_controller.RunController` — Run/Step/Pause/Stop/Reset, the x0 preview, live α/λ;
  the only user of the :class:`~.worker.ProjectionRunner` (``self.runner``);
* :class:`~.file_actions.FileActions` — open model (in a worker) / image / demo, export, recent
  files, drag and drop;
* :class:`~.controls.ControlPanel` — the side panel, bound to the parameters and display settings;
* :class:`~.view_controller.ViewController` — the image views, the energy plot, the hover readout;
* :class:`~.history_bar.HistoryBar`, :class:`~.status_bar.StatusBar`;
* :class:`~.inpaint_tools.InpaintingTools` — the Ω brush, corrupt, the inpainting window.

Call :func:`~.style.configure_pyqtgraph` once before making a window (``app.run_app`` does).
Extension points: ``self.input_view`` (``.view_box``, ``.image_item``: x0 at the image's own
resolution stretched over the model's pixel frame), ``self.tools_menu``, ``self.demo_menu``,
:meth:`add_side_widget`, and the session's signals.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core.ranges import PAPER_THRESHOLD
from ..session import Session
from ..session.jobs import available_devices
from ..session.pacing import DEFAULT_MAX_FPS
from . import settings as st
from .banners import VerdictBadge, WarningBanner
from .controls import ControlPanel
from .file_actions import FileActions
from .history_bar import HistoryBar
from .inpaint_tools import InpaintingTools
from .review import ReviewMode
from .run_controller import RunController
from .status_bar import StatusBar
from .view_controller import ViewController
from .views import EnergyPlot, ImageGrid

ABOUT = (
    f"<b>inspector-app {__version__}</b><br><br>Anomaly localization by iterative energy-based "
    "projection on a normal data manifold (Dehaene, Frigo, Combrexelle, Eline, ICLR 2020).<br><br>"
    "An autoencoder trained on normal images; the input x is walked downhill on "
    "E(x) = Lr(x) + λ‖x − x₀‖₁ (eq. 4) with x ← x − α∇ₓE (eq. 5), the gradient weighted by "
    "(x − f(x))² (eq. 8). The pixels that had to move are the defect: DSSIM(x₀, x_T).")


class MainWindow(QMainWindow):
    """The inspection window (see the module docstring)."""

    def __init__(self, parent=None, max_fps: float = DEFAULT_MAX_FPS, restore: bool = True,
                 session: Session | None = None):
        super().__init__(parent)
        self.setWindowTitle("")  # Qt adds the application's display name ("Inspector") itself
        self.setAcceptDrops(True)
        devices = available_devices()
        self.session = s = session or Session(device=devices[0][1])
        self._build_actions()
        self._build_ui(devices)
        self._build_menus()
        self.runs = RunController(s, self.run_actions, self, max_fps=max_fps)
        self.runner = self.runs.runner
        self.files = FileActions(s, self)
        self.status = StatusBar(s, self.statusBar())
        self.views = ViewController(s, self.grid, self.energy_plot, self.hover_label)
        self.inpainting = InpaintingTools(s, self, self.tools_menu, self.demo_menu)
        self.add_side_widget(self.inpainting.box)
        self._fit_side_panel()
        self._connect_files()
        s.model_changed.connect(self._update_title)
        s.image_changed.connect(self._update_title)
        s.result_changed.connect(lambda r: self.act_export.setEnabled(r is not None))
        s.omega_changed.connect(lambda: self.act_clear_mask.setEnabled(s.omega is not None))
        s.mask_replaced.connect(lambda _m: self.act_clear_mask.setEnabled(s.omega is not None))
        s.defaults_changed.connect(lambda _d: self.act_paper_defaults.setChecked(s.paper_defaults))
        if restore:
            self._restore_settings(devices)
        self.review = ReviewMode(s, self)  # after the restore: its docks appear with a folder only
        self.act_export.setEnabled(False)
        self.act_clear_mask.setEnabled(False)

    # ================================================================== construction
    def _action(self, text, shortcuts=(), tip="", slot=None) -> QAction:
        a = QAction(text, self)
        if shortcuts:
            a.setShortcuts([QKeySequence(k) for k in shortcuts])
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            a.setToolTip(tip + (f"  ({', '.join(shortcuts)})" if shortcuts else ""))
            a.setStatusTip(tip)
        if slot is not None:
            a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        act = self._action
        self.act_run = act("Run", ("F5", "Ctrl+R"), "Project x₀ onto the normal manifold from the start: "
                                                    "iterate eq. 5 on E (eq. 4)")
        self.act_pause = act("Pause", ("F6", "Ctrl+P"), "Pause or resume the projection")
        self.act_stop = act("Stop", ("Esc", "Shift+F5"), "Stop the projection; keep its last iterate")
        self.act_step = act("Step", ("F10", "Ctrl+T"), "Run exactly one iteration, then pause")
        self.act_reset = act("Reset to x₀", ("Ctrl+Backspace",), "Stop and go back to the input x₀")
        self.run_actions = {"run": self.act_run, "pause": self.act_pause, "stop": self.act_stop,
                            "step": self.act_step, "reset": self.act_reset}
        self.act_open_model = act("Open &Model…", ("Ctrl+M",), "Open an autoencoder (.safetensors from "
                                                               "inspector-app, or TorchScript .pt)")
        self.act_open_image = act("&Open Image…", ("Ctrl+O",), "Open an image to inspect")
        self.act_new_model = act("&New Model from Folder…", ("Ctrl+Shift+N",),
                                 "Train a model on a folder of good images, watch it learn, then open it",
                                 lambda: self.new_model_from_folder())
        self.act_export = act("&Export…", ("Ctrl+E",), "Write the projection, reconstruction, DSSIM map, "
                                                       "mask, overlay (PNG) and a JSON")
        self.act_demo = act("Brick Demo (bundled model and sample)", (), "Open the bundled brick model and a "
                                                                         "stained sample")
        self.act_quit = act("&Quit", ("Ctrl+Q",), "Quit", self.close)
        self.act_model_info = act("Model &Info…", ("Ctrl+I",), "The model's kind, size and training statistics",
                                  self.show_model_info)
        self.act_about = act("&About", slot=lambda: QMessageBox.about(self, "About Inspector", ABOUT))
        self.act_reset_zoom = act("Reset &Zoom", ("Ctrl+0",), "Show whole images", lambda: self.grid.reset_zoom())
        self.act_clear_mask = act("Clear Mask Ω", (), "Remove the inpainting mask (eq. 7): every pixel may change",
                                  lambda: self.session.set_omega(None))
        self.act_defaults = act("Reset Parameters to Defaults", (), "Every parameter, the threshold and the minimum "
                                                                    "area as the model's calibration (or the paper) "
                                                                    "has them", lambda: self.session.apply_defaults())
        self.act_paper_defaults = act("Use the Paper's Defaults", (), f"Threshold {PAPER_THRESHOLD:g} on single pixels "
                                                                      "and the stop at the training minimum, instead of "
                                                                      "the model's calibration")
        self.act_paper_defaults.setCheckable(True)
        self.act_paper_defaults.toggled.connect(
            lambda on: self.session.use_paper_defaults(on) if on != self.session.paper_defaults else None)
        self.act_restore_settings = act("Restore Default Settings…", (), "Forget every saved setting (parameters, "
                                                                         "display, device, layout) and use the "
                                                                         "defaults", lambda: self.restore_defaults())
        self.act_load_gt = act("Load Ground Truth…", (), "Outline a ground-truth defect mask (*_mask.png) on x₀ to "
                                                         "compare with the segmentation; it is never used as Ω")

    def _build_ui(self, devices) -> None:
        self.controls = ControlPanel(self.session, self.run_actions, devices)
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.grid = ImageGrid()
        self.energy_plot = EnergyPlot()
        self.grid.grid_layout.addWidget(self.energy_plot, 1, 2)
        self.input_view = self.grid.input_panel  # .view_box, .image_item: the brush's hook
        self.hover_label = QLabel(" ")
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        self.hover_label.setStyleSheet("font-family: monospace; font-size: 9pt; padding: 2px 4px;")
        # its one line (about 780 px) must not be a minimum width: it grew a narrow window on hover
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.history_bar = HistoryBar(self.session)
        self.verdict_badge = VerdictBadge(self.session)
        self.banner = WarningBanner(self.session)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 4, 0)
        rl.setSpacing(4)
        rl.addWidget(self.verdict_badge)
        rl.addWidget(self.banner)
        rl.addWidget(self.grid, 1)
        rl.addWidget(self.history_bar)
        rl.addWidget(self.hover_label)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.side_scroll = scroll
        self.setCentralWidget(self.splitter)
        avail = self.screen().availableGeometry() if self.screen() else None
        w, h = 1560, 940
        if avail is not None and avail.width() > 0:
            w, h = min(w, int(avail.width() * 0.96)), min(h, int(avail.height() * 0.94))
        self.resize(w, h)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        fm = mb.addMenu("&File")
        fm.addActions([self.act_open_model, self.act_open_image, self.act_new_model])
        self.recent_menu = fm.addMenu("Open &Recent")
        fm.addSeparator()
        fm.addAction(self.act_export)
        fm.addSeparator()
        fm.addAction(self.act_quit)
        pm = mb.addMenu("&Projection")
        pm.addActions(list(self.run_actions.values()))
        pm.addSeparator()
        pm.addActions([self.act_defaults, self.act_paper_defaults, self.act_restore_settings])
        mb.addMenu("&View").addAction(self.act_reset_zoom)
        self.tools_menu = mb.addMenu("&Tools")
        self.tools_menu.addActions([self.act_clear_mask, self.act_load_gt])
        self.demo_menu = mb.addMenu("&Demo")
        self.demo_menu.addAction(self.act_demo)
        self.samples_menu = self.demo_menu.addMenu("Sample Images")
        hm = mb.addMenu("&Help")
        hm.addActions([self.act_model_info, self.act_about])

    def _connect_files(self) -> None:
        f = self.files
        self.act_open_model.triggered.connect(f.choose_model)
        self.act_open_image.triggered.connect(f.choose_image)
        self.act_export.triggered.connect(f.choose_export)
        self.act_demo.triggered.connect(f.open_demo)
        self.act_load_gt.triggered.connect(lambda: f.choose_ground_truth())
        self.recent_menu.aboutToShow.connect(lambda: f.fill_recent_menu(self.recent_menu))
        self.samples_menu.aboutToShow.connect(lambda: f.fill_samples_menu(self.samples_menu))

    def add_side_widget(self, widget: QWidget) -> None:
        """Add a widget (e.g. a group box) to the side panel, below the model information."""
        self.controls.extra_layout.addWidget(widget)
        self._fit_side_panel()

    def _fit_side_panel(self) -> None:
        """The side panel as wide as its widest part (no text cut off), without a horizontal scroll bar."""
        scroll = self.side_scroll
        side = self.controls.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 6
        scroll.setMinimumWidth(side)
        self.splitter.setSizes([side, max(1200, self.width() - side)])

    def _update_title(self, *_a) -> None:
        s = self.session
        names = [Path(s.model_path).name] if s.model_path else []
        names += [s.image.label] if s.image is not None else []
        # the window system shows "TITLE — Inspector": Qt appends the application's display name
        self.setWindowTitle(" — ".join(names))

    def restore_defaults(self, ask: bool = True) -> bool:
        """Forget the saved settings (parameters, display, device, window layout) and use the
        defaults: the model's (or the paper's) parameters, threshold and minimum area."""
        if ask and QMessageBox.question(
                self, "Restore default settings",
                "Forget every saved setting (parameters, display, device, window layout) and use the defaults?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No) != QMessageBox.StandardButton.Yes:
            return False
        st.clear_saved_settings()
        st.restore_session_defaults(self.session)
        self._fit_side_panel()
        self.session.notice.emit("default settings restored", 6000)
        return True

    def new_model_from_folder(self, folder=None):
        """File → New Model from Folder… (the dialog is in :mod:`.new_model_dialog`)."""
        from .new_model_dialog import open_new_model_dialog

        return open_new_model_dialog(self, folder)

    def show_model_info(self) -> None:
        s = self.session
        text = s.loaded.describe() if s.loaded else "No model is open (File → Open Model…, Ctrl+M)."
        QMessageBox.information(self, "Model info", text)

    # ================================================================== for scripts and tests
    def open_model(self, path, show_errors: bool = True):
        """Open a model file in a worker (returned; the session takes the model when it is good)."""
        return self.files.open_model(path, show_errors)

    def open_image(self, path, show_errors: bool = True) -> bool:
        return self.files.open_image(path, show_errors)

    def open_demo(self) -> bool:
        return self.files.open_demo()

    def export_results(self, folder, name: str | None = None, overwrite: bool = False) -> dict[str, str]:
        return self.files.export_results(folder, name, overwrite)

    def open_folder(self, path, show_errors: bool = True) -> bool:
        """Review mode on a folder of parts (listed and hashed in a worker)."""
        return self.review.open_folder(path, show_errors)

    # ================================================================== drag and drop, settings
    def dragEnterEvent(self, e) -> None:  # noqa: N802 - Qt
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:  # noqa: N802 - Qt
        e.acceptProposedAction()
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        self.files.open_paths([p for p in paths if not Path(p).is_dir()])  # models first, then images
        folders = [p for p in paths if Path(p).is_dir()]
        if folders:  # a dropped folder opens review mode
            self.review.open_folder(folders[0])

    def _restore_settings(self, devices) -> None:
        s = st.app_settings()
        for key, restore in (("window/geometry", self.restoreGeometry), ("window/state", self.restoreState),
                             ("window/splitter", self.splitter.restoreState)):
            v = s.value(key)
            if isinstance(v, QByteArray) and not v.isEmpty():
                restore(v)
        st.restore_session(self.session, [d for _l, d in devices])

    def save_settings(self) -> None:
        s = st.app_settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        st.save_session(self.session)
        s.sync()

    def closeEvent(self, e) -> None:  # noqa: N802 - Qt
        self.review.shutdown()  # stops the folder run, saves the review file
        self.inpainting.close_all()  # the inpainting windows stop their threads
        if getattr(self, "new_model_dialog", None) is not None:
            self.new_model_dialog.shutdown()  # a training process of its own ends, leaving nothing
        self.session.request_stop()
        self.files.wait()
        self.save_settings()
        super().closeEvent(e)
