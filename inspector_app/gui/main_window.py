"""The inspection window: views, energy plot, side panel; a thin controller over the core.

The window only drives :func:`inspector_app.core.projection.project` through a
:class:`~inspector_app.gui.worker.ProjectionRunner` (never on the GUI thread), loads files with
``core.modelio.load_model`` / ``core.data.read_image``, resizes with ``core.pipeline.prepare`` and
exports with ``core.pipeline.finish`` / ``write_outputs``.

Extension points (for the mask brush and the comparison windows):

* ``self.input_view`` — the x0 view: ``.view_box`` (a pyqtgraph ViewBox) and ``.image_item``, which
  shows x0 at the image's *own* resolution stretched over the model's pixel frame, so that
  ``image_item.mapFromScene`` gives the image's own pixel coordinates (those of :meth:`set_mask`);
* ``self.tools_menu`` and ``self.demo_menu`` — menus to add actions to;
* ``self.controls.extra_layout`` / :meth:`add_side_widget` — room in the side panel;
* :meth:`set_mask` — Ω of eq. 7 at the image's own resolution, used by the next run;
* signals ``model_changed(LoadedModel)``, ``image_changed(PreparedImage | None)``,
  ``mask_changed(object)``, ``run_finished(IterationRecord)``;
* ``self.runner`` — the :class:`ProjectionRunner` of this window.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core.anomaly import segmentation
from ..core.data import IMAGE_EXTENSIONS, ImageError, read_image
from ..core.modelio import LoadedModel, ModelFileError, load_model
from ..core.pipeline import PreparedImage, batch_tensors, finish, prepare, write_outputs
from ..core.projection import ProjectionError, threshold_from_stats
from ..resources import DEMO_IMAGE, DEMO_MODEL, resource, sample_images
from . import settings as st
from .controls import ControlPanel
from .history import Frame, FrameHistory
from .views import EnergyPlot, ImageGrid
from .worker import DEFAULT_MAX_FPS, ProjectionRunner

#: Frame pacing: the GUI thread's CPU time during a run (handling frames and energy values, painting)
#: may be this fraction of the wall-clock time, so that the GUI leaves the CPU (and Python's GIL) to
#: the projection; the frame rate follows the measured CPU time per frame interval, between MIN_FPS
#: and the ceiling ``max_fps``.
DRAW_BUDGET = 0.05
MIN_FPS = 1.5

MODEL_EXTENSIONS = (".safetensors", ".pt", ".pth", ".ts", ".torchscript")
STOP_REASON_TEXT = {
    "max_iter": "max iterations",
    "converged": "energy converged",
    "threshold": "Lr below the stop threshold",
    "diverged": "diverged (α too large?): kept the lowest-energy iterate",
}


def _fmt(v) -> str:
    if v is None:
        return "–"
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return f"{float(a):.3f}"
    return "(" + ", ".join(f"{x:.2f}" for x in a.ravel()) + ")"


def available_devices() -> list[tuple[str, str]]:
    devs = []
    if torch.cuda.is_available():
        try:
            name = torch.cuda.get_device_name(0)
        except Exception:  # noqa: BLE001
            name = "GPU"
        devs.append((f"CUDA ({name})", "cuda"))
    devs.append(("CPU", "cpu"))
    return devs


class MainWindow(QMainWindow):
    """The inspection window (see the module docstring)."""

    model_changed = Signal(object)
    image_changed = Signal(object)
    mask_changed = Signal(object)
    run_finished = Signal(object)

    def __init__(self, parent=None, max_fps: float = DEFAULT_MAX_FPS, restore: bool = True,
                 adaptive_fps: bool = True):
        from .app import configure_pyqtgraph

        configure_pyqtgraph()
        super().__init__(parent)
        self.setWindowTitle("Inspector")
        self.setAcceptDrops(True)
        self.loaded: LoadedModel | None = None
        self.model_path: str | None = None
        self.image_path: str | None = None
        self.image: np.ndarray | None = None  # as read, the image's own size and channels
        self.mask: np.ndarray | None = None  # Ω of eq. 7 at the image's size (True = may change)
        self.prepared: PreparedImage | None = None
        self.runner = ProjectionRunner(self, max_fps=max_fps)
        self.max_fps = float(max_fps)  # ceiling; with adaptive_fps the runner's rate follows the drawing cost
        self.adaptive_fps = adaptive_fps
        self._draw_cost = 0.0  # moving average of the GUI thread's CPU seconds per frame interval
        self._cpu_mark = time.thread_time()
        self.history = FrameHistory()
        self._mode = "idle"  # idle | preview | run
        self._current: Frame | None = None  # the frame on screen (float32)
        self._latest: Frame | None = None  # the newest frame of the run
        self._last_record = None  # the newest full record of the run (for export)
        self._run_params = None
        self._follow = True  # the history slider is at its right end
        self._restart_declined = False
        self._rate = collections.deque(maxlen=64)
        self._hover: tuple[int, int] | None = None
        self._image_name: str | None = None  # names an image made in the window (no file)

        self._build_actions()
        self._build_ui()
        self._build_menus()
        self._build_status()
        self._connect()
        from .inpaint_tools import InpaintingTools

        self.inpainting = InpaintingTools(self)  # brush Ω (eq. 7), corrupt, comparison, face demo
        if restore:
            self._restore_settings()
        self._update_actions()
        self._show_hint()

    # ================================================================== construction
    def _build_actions(self) -> None:
        def act(text, slot, shortcuts=(), tip=""):
            a = QAction(text, self)
            if shortcuts:
                a.setShortcuts([QKeySequence(s) for s in shortcuts])
                a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            if tip:
                a.setToolTip(tip + (f"  ({', '.join(shortcuts)})" if shortcuts else ""))
                a.setStatusTip(tip)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.act_run = act("Run", self.run, ("F5", "Ctrl+R"),
                           "Project x₀ onto the normal manifold from the start: iterate eq. 5 on E (eq. 4)")
        self.act_pause = act("Pause", self.toggle_pause, ("F6", "Ctrl+P"), "Pause or resume the projection")
        self.act_stop = act("Stop", self.stop, ("Esc", "Shift+F5"), "Stop the projection; keep its last iterate")
        self.act_step = act("Step", self.step, ("F10", "Ctrl+T"), "Run exactly one iteration, then pause")
        self.act_reset = act("Reset to x₀", self.reset, ("Ctrl+Backspace",), "Stop and go back to the input x₀")
        self.act_open_model = act("Open &Model…", self.choose_model, ("Ctrl+M",),
                                  "Open an autoencoder (.safetensors from inspector-app, or TorchScript .pt)")
        self.act_open_image = act("&Open Image…", self.choose_image, ("Ctrl+O",), "Open an image to inspect")
        self.act_export = act("&Export…", self.choose_export, ("Ctrl+E",),
                              "Write the projection, reconstruction, DSSIM map, mask, overlay (PNG) and a JSON")
        self.act_quit = act("&Quit", self.close, ("Ctrl+Q",), "Quit")
        self.act_model_info = act("Model &Info…", self.show_model_info, ("Ctrl+I",), "The model's kind, size and "
                                  "training statistics")
        self.act_about = act("&About", self.show_about)
        self.act_reset_zoom = act("Reset &Zoom", lambda: self.grid.reset_zoom(), ("Ctrl+0",), "Show whole images")
        self.act_clear_mask = act("Clear Mask Ω", lambda: self.set_mask(None), (),
                                  "Remove the inpainting mask (eq. 7): every pixel may change")
        self.act_demo = act("Brick Demo (bundled model and sample)", self.open_demo, (),
                            "Open the bundled brick model and a stained sample")
        self.run_actions = {"run": self.act_run, "pause": self.act_pause, "stop": self.act_stop,
                            "step": self.act_step, "reset": self.act_reset}

    def _build_ui(self) -> None:
        self.controls = ControlPanel(self.run_actions, available_devices())
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.side_scroll = scroll

        self.grid = ImageGrid()
        self.energy_plot = EnergyPlot()
        self.grid.grid_layout.addWidget(self.energy_plot, 1, 2)
        self.input_view = self.grid.input_panel  # .view_box, .image_item: the brush's hook

        self.hover_label = QLabel(" ")
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        self.hover_label.setStyleSheet("font-family: monospace; font-size: 9pt; padding: 2px 4px;")
        self.history_slider = QSlider(Qt.Orientation.Horizontal)
        self.history_slider.setRange(0, 0)
        self.history_slider.setEnabled(False)
        self.history_slider.setToolTip(
            "Scrub back through the run. The history keeps every drawn frame up to 200, then evenly thinned "
            "(see gui/history.py); the right end follows the live iterate.")
        self.history_label = QLabel("t = –")
        self.history_label.setMinimumWidth(120)
        hist_row = QHBoxLayout()
        hist_row.setContentsMargins(4, 0, 4, 0)
        hist_row.addWidget(QLabel("History"))
        hist_row.addWidget(self.history_slider, 1)
        hist_row.addWidget(self.history_label)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 4, 0)
        rl.setSpacing(4)
        rl.addWidget(self.grid, 1)
        rl.addLayout(hist_row)
        rl.addWidget(self.hover_label)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        side = self.controls.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 6
        scroll.setMinimumWidth(side)
        self.splitter.setSizes([side, 1200])
        self.setCentralWidget(self.splitter)
        avail = self.screen().availableGeometry() if self.screen() else None
        w, h = 1560, 940
        if avail is not None and avail.width() > 0:
            w, h = min(w, int(avail.width() * 0.96)), min(h, int(avail.height() * 0.94))
        self.resize(w, h)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        fm = mb.addMenu("&File")
        fm.addAction(self.act_open_model)
        fm.addAction(self.act_open_image)
        self.recent_menu = fm.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        fm.addSeparator()
        fm.addAction(self.act_export)
        fm.addSeparator()
        fm.addAction(self.act_quit)
        pm = mb.addMenu("&Projection")
        for a in self.run_actions.values():
            pm.addAction(a)
        vm = mb.addMenu("&View")
        vm.addAction(self.act_reset_zoom)
        self.tools_menu = mb.addMenu("&Tools")
        self.tools_menu.addAction(self.act_clear_mask)
        self.demo_menu = mb.addMenu("&Demo")
        self.demo_menu.addAction(self.act_demo)
        self.samples_menu = self.demo_menu.addMenu("Sample Images")
        self.samples_menu.aboutToShow.connect(self._fill_samples_menu)
        hm = mb.addMenu("&Help")
        hm.addAction(self.act_model_info)
        hm.addAction(self.act_about)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.status_labels: dict[str, QLabel] = {}
        for key, tip in (("device", "Where the model runs"), ("iteration", "Iteration t of the shown iterate"),
                         ("rate", "Iterations per second"), ("energy", "E(x_t) = Lr + λ‖x_t − x₀‖₁ (eq. 4)"),
                         ("lr", "Reconstruction loss Lr(x_t)"), ("reason", "Why the projection stopped")):
            lab = QLabel("")
            lab.setToolTip(tip)
            lab.setStyleSheet("padding: 0 6px;")
            sb.addPermanentWidget(lab)
            self.status_labels[key] = lab
        self._set_status(device="device: –", iteration="t = –", rate="– it/s", energy="E –", lr="Lr –", reason="")

    def _connect(self) -> None:
        r = self.runner
        r.frame.connect(self._on_frame)
        r.energy.connect(self._on_energy)
        r.finished.connect(self._on_finished)
        r.errored.connect(self._on_error)
        r.state_changed.connect(lambda _s: self._update_actions())
        c = self.controls
        c.live_changed.connect(self._on_live_changed)
        c.restart_needed.connect(self._on_restart_needed)
        c.threshold_changed.connect(lambda _v: self._update_segmentation())
        c.display_changed.connect(self._redraw)
        c.device_changed.connect(self._on_device_changed)
        self.grid.hovered.connect(self._on_hover)
        self.history_slider.valueChanged.connect(self._on_history_slider)

    def add_side_widget(self, widget: QWidget) -> None:
        """Add a widget (e.g. a group box) to the side panel, below the model information."""
        self.controls.extra_layout.addWidget(widget)

    # ================================================================== files
    def _message(self, title: str, text: str) -> None:
        QMessageBox.critical(self, title, text)

    def open_model(self, path: str | Path, show_errors: bool = True) -> bool:
        """Load a model file; on failure show the one-line reason and keep the previous model."""
        path = str(path)
        try:
            loaded = load_model(path, self.controls.device_name())
        except ModelFileError as e:
            if show_errors:
                self._message("Cannot open the model", str(e))
            self.statusBar().showMessage(str(e), 10000)
            return False
        except (RuntimeError, OSError, ValueError) as e:
            msg = f"{path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
            if show_errors:
                self._message("Cannot open the model", msg)
            return False
        self.runner.stop()
        self.loaded, self.model_path = loaded, path
        self.controls.set_training_stats(loaded.training_stats)
        self.controls.model_info.setText(loaded.describe())
        st.add_recent_file("models", str(Path(path).resolve()))
        st.set_last_dir("model", str(Path(path).resolve().parent))
        self._prepare()
        self._after_input_change()
        self.model_changed.emit(loaded)
        self.statusBar().showMessage(f"model: {Path(path).name} ({loaded.kind})", 6000)
        return True

    def open_image(self, path: str | Path, show_errors: bool = True) -> bool:
        """Load an image; on failure show the one-line reason and keep the previous image."""
        path = str(path)
        try:
            img = read_image(path)
        except ImageError as e:
            if show_errors:
                self._message("Cannot open the image", str(e))
            self.statusBar().showMessage(str(e), 10000)
            return False
        except (OSError, ValueError) as e:
            if show_errors:
                self._message("Cannot open the image", f"{path}: {e}")
            return False
        self.set_image(img, path)
        st.add_recent_file("images", str(Path(path).resolve()))
        st.set_last_dir("image", str(Path(path).resolve().parent))
        return True

    def set_image(self, img: np.ndarray, path: str | None = None, name: str | None = None) -> None:
        """Show ``img`` (float32 in [0, 1], as :func:`read_image` returns) as the new input x0.

        ``path`` is the file it came from (None for an image made in the window, e.g. a corrupted
        copy, then ``name`` names it for exports). The mask Ω is cleared.
        """
        self.runner.stop()
        self.image, self.image_path = img, path
        self._image_name = name
        if self.mask is not None:
            self.mask = None
            self.mask_changed.emit(None)
        self._prepare()
        self._after_input_change()
        self.image_changed.emit(self.prepared)
        label = Path(path).name if path else (name or "image")
        msg = f"image: {label} ({img.shape[1]}×{img.shape[0]})"
        if self.prepared is not None and self.prepared.resized:
            s = self.prepared.model_input.shape
            msg += f", resized to the model's {s[1]}×{s[0]}"
        self.statusBar().showMessage(msg, 8000)

    def open_demo(self) -> bool:
        """The bundled brick model and stained sample; a status message when they are not installed."""
        m, i = resource(DEMO_MODEL), resource(DEMO_IMAGE)
        ok = True
        if m is not None:
            ok = self.open_model(m) and ok
        if i is not None:
            ok = self.open_image(i) and ok
        if m is None or i is None:
            missing = " and ".join(n for n, p in ((DEMO_MODEL, m), (DEMO_IMAGE, i)) if p is None)
            todo = " and ".join(t for t, p in (("a model (Ctrl+M)", self.loaded), ("an image (Ctrl+O)", self.image))
                                if p is None)
            self.statusBar().showMessage(f"The bundled demo ({missing}) is not installed: open {todo}.")
            self._show_hint(keep_status=True)
            return False
        return ok

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Set Ω (eq. 7) at the image's own size (True = may change), or None; used by the next run."""
        if mask is not None:
            if self.image is None:
                raise ValueError("open an image before setting a mask")
            mask = np.asarray(mask).astype(bool)
            if mask.shape != self.image.shape[:2]:
                raise ValueError(f"the mask is {mask.shape[1]}×{mask.shape[0]} but the image is "
                                 f"{self.image.shape[1]}×{self.image.shape[0]}")
        self.mask = mask
        self._prepare()
        self.mask_changed.emit(mask)
        self._update_actions()

    def _prepare(self) -> None:
        if self.image is None or self.loaded is None:
            self.prepared = None
            return
        name = Path(self.image_path).stem if self.image_path else (getattr(self, "_image_name", None) or "image")
        self.prepared = prepare(name, self.image, self.loaded, self.mask)

    def _after_input_change(self) -> None:
        """A new model or image: clear the run, show x0, evaluate x0 in the worker (f(x0), E(x0))."""
        self._clear_run()
        self._current = None
        x0 = self._x0()
        if self.prepared is not None:  # x0 at its own resolution, in the model's pixel frame
            self.input_view.set_image(self.prepared.original, frame_shape=self.prepared.model_input.shape[:2])
        else:
            self.input_view.set_image(self.image)
        self.grid.show_frame(x0, None, self.controls.compare_mode)
        self.input_view.set_segmentation(None, None, self.controls.threshold_value)
        if x0 is not None:
            self.grid.reset_zoom()
        title = " — ".join(Path(p).name for p in (self.model_path, self.image_path) if p)
        self.setWindowTitle(f"Inspector — {title}" if title else "Inspector")
        dev = str(self.loaded.device) if self.loaded is not None else "–"
        self._set_status(device=f"device: {dev}", iteration="t = –", rate="– it/s", energy="E –", lr="Lr –",
                         reason="")
        self._show_hint()
        self._update_actions()
        self._preview()

    def _x0(self) -> np.ndarray | None:
        if self.prepared is not None:
            return self.prepared.model_input
        return self.image

    def _show_hint(self, keep_status: bool = False) -> None:
        if self.loaded is None and self.image is None:
            hint = "Open a model (Ctrl+M)\nand an image (Ctrl+O),\nor drop them here"
        elif self.loaded is None:
            hint = ""
            if not keep_status:
                self.statusBar().showMessage("Now open a model (Ctrl+M) to inspect this image.")
        elif self.image is None:
            hint = "Open an image (Ctrl+O)\nor drop one here"
        else:
            hint = ""
        if hint:
            self.input_view.view_box.setRange(xRange=(0, 100), yRange=(0, 100), padding=0)
        self.input_view.set_hint(hint)

    # ------------------------------------------------------------------ dialogs
    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open model", st.last_dir("model"),
            "Models (*.safetensors *.pt *.pth *.ts *.torchscript);;All files (*)")
        if path:
            self.open_model(path)

    def choose_image(self) -> None:
        pats = " ".join(f"*{e}" for e in IMAGE_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Open image", st.last_dir("image"),
                                              f"Images ({pats});;All files (*)")
        if path:
            self.open_image(path)

    def choose_export(self) -> None:
        if self._last_record is None:
            QMessageBox.information(self, "Export", "Nothing to export yet: run the projection first (F5).")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", st.last_dir("export"))
        if not folder:
            return
        try:
            files = self.export_results(folder)
        except (OSError, ValueError, RuntimeError) as e:
            self._message("Export failed", str(e))
            return
        st.set_last_dir("export", folder)
        self.statusBar().showMessage(f"exported {len(files)} files to {folder}", 10000)

    def export_results(self, folder: str | Path) -> dict[str, str]:
        """Write the newest iterate's outputs (``core.pipeline.finish`` + ``write_outputs``, atomic)."""
        rec = self._last_record
        if rec is None or self.prepared is None:
            raise RuntimeError("nothing to export: run the projection first")
        curves = self.energy_plot.series()
        extra = {
            "model": self.model_path,
            "model_kind": self.loaded.kind if self.loaded else None,
            "image": self.image_path,
            "device": str(self.loaded.device) if self.loaded else None,
            "run_finished": bool(rec.finished),
            "stopped_by_user": not rec.finished and not self.runner.running,
            "energy_terms": curves,
        }
        out = finish(self.prepared, rec, 0, compare=self.controls.compare_mode,
                     threshold=self.controls.threshold_value, energy_curve=curves["E"], params=rec.params,
                     extra=extra)
        return write_outputs(out, folder, original=self.prepared.original)

    def show_model_info(self) -> None:
        text = self.loaded.describe() if self.loaded else "No model is open (File → Open Model…, Ctrl+M)."
        QMessageBox.information(self, "Model info", text)

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About Inspector",
            f"<b>inspector-app {__version__}</b><br><br>Anomaly localization by iterative energy-based "
            "projection on a normal data manifold (Dehaene, Frigo, Combrexelle, Eline, ICLR 2020).<br><br>"
            "An autoencoder trained on normal images; the input x is walked downhill on "
            "E(x) = Lr(x) + λ‖x − x₀‖₁ (eq. 4) with x ← x − α∇ₓE (eq. 5), the gradient weighted by "
            "(x − f(x))² (eq. 8). The pixels that had to move are the defect: DSSIM(x₀, x_T).")

    def _fill_recent_menu(self) -> None:
        m = self.recent_menu
        m.clear()
        for kind, opener in (("models", self.open_model), ("images", self.open_image)):
            items = st.recent_files(kind)
            if items:
                m.addSection(kind.capitalize())
            for p in items:
                a = m.addAction(Path(p).name)
                a.setToolTip(p)
                a.setStatusTip(p)
                a.triggered.connect(lambda _c=False, p=p, f=opener: f(p))
        if m.isEmpty():
            a = m.addAction("(none)")
            a.setEnabled(False)
        else:
            m.addSeparator()
            m.addAction("Clear Recent Files", st.clear_recent_files)

    def _fill_samples_menu(self) -> None:
        m = self.samples_menu
        m.clear()
        for p in sample_images():
            a = m.addAction(f"{p.parent.name}/{p.name}")
            a.triggered.connect(lambda _c=False, p=p: self.open_image(p))
        if m.isEmpty():
            a = m.addAction("(no samples installed)")
            a.setEnabled(False)

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, e) -> None:  # noqa: N802 - Qt
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:  # noqa: N802 - Qt
        files = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        e.acceptProposedAction()
        # models first, so an image dropped with its model is prepared for it
        files.sort(key=lambda f: not f.lower().endswith(MODEL_EXTENSIONS))
        for f in files:
            self.open_path(f)

    def open_path(self, path: str | Path) -> bool:
        """Open a model or an image, by its extension (unknown extensions are tried as a model)."""
        p = str(path)
        if p.lower().endswith(IMAGE_EXTENSIONS):
            return self.open_image(p)
        return self.open_model(p)

    # ================================================================== running
    def _ready(self) -> bool:
        if self.loaded is None or self.prepared is None:
            self.statusBar().showMessage("Open a model (Ctrl+M) and an image (Ctrl+O) first.", 6000)
            return False
        return True

    def _params(self):
        try:
            return self.controls.params()
        except ValueError as e:
            self._message("Bad parameters", str(e))
            return None

    def run(self) -> None:
        """Start the projection from x0 (a run in progress is stopped first)."""
        if not self._ready():
            return
        p = self._params()
        if p is not None:
            self._start(p)

    def step(self) -> None:
        """One iteration, then pause (starts a paused run from x0 when none is in progress)."""
        if self._mode == "run" and self.runner.running:
            self.runner.step()
            return
        if not self._ready():
            return
        p = self._params()
        if p is not None:
            self._start(p, paused=True)
            self.runner.step()

    def toggle_pause(self) -> None:
        if self._mode != "run" or not self.runner.running:
            return
        if self.runner.paused:
            self.runner.resume()
        else:
            self.runner.pause()

    def stop(self) -> None:
        if self._mode == "run" and self.runner.running:
            self.runner.stop()

    def reset(self) -> None:
        """Stop, forget the run, show x0 again."""
        self.runner.stop()
        self._after_input_change()

    def _clear_run(self) -> None:
        self.runner.stop()
        self._mode = "idle"
        self.history.clear()
        self.energy_plot.clear_curves()
        self.energy_plot.set_threshold(None)
        self._last_record = None
        self._latest = None
        self._follow = True
        self._rate.clear()
        self._cpu_mark = time.thread_time()
        self._update_history_slider()

    def _start(self, params, paused: bool = False) -> None:
        self._clear_run()
        assert self.loaded is not None and self.prepared is not None
        try:
            thr = threshold_from_stats(params.stop, self.loaded.training_stats)
        except ProjectionError as e:
            self._message("Cannot run", str(e))
            return
        self.energy_plot.set_threshold(thr)
        self.energy_plot.clear_curves(params.max_iter)
        self._mode = "run"
        self._run_params = params
        self._restart_declined = False
        self._set_status(reason="running…")
        x0, mask = batch_tensors([self.prepared])
        self.runner.start(self.loaded.model, x0, params, mask=mask, stats=self.loaded.training_stats,
                          paused=paused)
        self._update_actions()

    def _preview(self) -> None:
        """Evaluate x0 only (iteration 0) in the worker: f(x0) and DSSIM(x0, f(x0)) at rest."""
        if self.loaded is None or self.prepared is None:
            return
        try:
            p = self.controls.params().replace(max_iter=0, stop="none")
        except ValueError:
            return
        self.runner.stop()
        self._mode = "preview"
        x0, mask = batch_tensors([self.prepared])
        self.runner.start(self.loaded.model, x0, p, mask=mask, stats=self.loaded.training_stats)

    # ------------------------------------------------------------------ runner signals
    def _on_frame(self, rec) -> None:
        frame = Frame.from_record(rec)
        if self._mode != "run":
            self._show(frame)
            return
        self._accept(rec, frame)
        self._pace()

    def _accept(self, rec, frame: Frame) -> None:
        """A frame of the run: keep it (export, history) and show it when following the live end."""
        self._last_record = rec
        self._latest = frame
        self.history.append(frame)
        self._update_history_slider()
        if self._follow:
            self._show(frame)

    def _pace(self) -> None:
        """Keep the GUI thread's CPU time under DRAW_BUDGET: the runner's frame rate follows the CPU
        time per frame interval (this frame's handling, the painting and the energy updates since
        the previous frame; one clock reading per frame)."""
        now = time.thread_time()
        cost, self._cpu_mark = now - self._cpu_mark, now
        if not self.adaptive_fps or cost <= 0.0:
            return
        self._draw_cost = cost if self._draw_cost == 0.0 else 0.7 * self._draw_cost + 0.3 * cost
        fps = DRAW_BUDGET / max(self._draw_cost, 1e-4)
        self.runner.max_fps = min(self.max_fps, max(MIN_FPS, fps))

    def _on_energy(self, terms) -> None:
        if self._mode != "run":
            return
        self.energy_plot.append(terms)
        now = time.perf_counter()
        self._rate.append((now, terms[-1][0]))
        while len(self._rate) > 2 and now - self._rate[0][0] > 3.0:
            self._rate.popleft()
        if len(self._rate) >= 2 and self._rate[-1][0] > self._rate[0][0]:
            r = (self._rate[-1][1] - self._rate[0][1]) / (self._rate[-1][0] - self._rate[0][0])
            self._set_status(rate=f"{r:.1f} it/s")
        it, e, lr, _reg = terms[-1]
        if self._follow:
            self._set_status(iteration=f"t = {it}", energy=f"E {e:.4g}", lr=f"Lr {lr:.4g}")

    def _on_finished(self, rec) -> None:
        mode, self._mode = self._mode, "idle"
        self._update_actions()
        if rec is None:
            return
        frame = Frame.from_record(rec)
        if mode == "preview":
            self._show(frame)
            self._set_status(iteration="t = 0", energy=f"E {frame.energy:.4g}", lr=f"Lr {frame.recon_loss:.4g}",
                             reason="ready: Run (F5)")
            return
        self._accept(rec, frame)
        self.energy_plot.fit()
        reason = rec.stop_reasons[0]
        text = STOP_REASON_TEXT.get(reason, reason) if reason else "stopped by the user"
        self._set_status(iteration=f"t = {frame.iteration}", energy=f"E {frame.energy:.4g}",
                         lr=f"Lr {frame.recon_loss:.4g}", reason=f"stop: {text}")
        self._update_actions()
        if reason == "diverged":
            self._warn_diverged(rec)
        self.run_finished.emit(rec)

    def _warn_diverged(self, rec) -> None:
        """A divergent step size: say so in a (non-blocking) dialog; the best iterate is kept."""
        p = rec.params
        box = QMessageBox(QMessageBox.Icon.Warning, "The projection diverged",
                          f"With α = {p.alpha:g} ({'Adam' if p.optimizer == 'adam' else 'plain step'}) the energy "
                          f"went up instead of down, or stopped being finite, after {int(rec.steps[0])} "
                          "iterations. The lowest-energy iterate is shown.\n\nLower α and run again "
                          "(Adam moves every pixel by about α per step: try α ≈ 0.01).",
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.setObjectName("diverged_dialog")
        box.open()
        self._diverged_box = box

    def _on_error(self, msg: str) -> None:
        self._set_status(reason="error")
        self.statusBar().showMessage(f"projection failed: {msg}", 15000)
        QMessageBox.warning(self, "Projection failed", msg)

    # ------------------------------------------------------------------ live settings
    def _on_live_changed(self, values: dict) -> None:
        if self._mode == "run" and self.runner.running:
            self.runner.set_live(**values)
            name, v = next(iter(values.items()))
            sym = "α" if name == "alpha" else "λ"
            self.statusBar().showMessage(f"{sym} = {v:.4g} from the next iteration on", 4000)

    def _ask_restart(self, what: str) -> bool:
        ans = QMessageBox.question(
            self, "Restart the projection?",
            f"The {what} cannot change during a run.\nRestart the projection from x₀ with the new settings?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        return ans == QMessageBox.StandardButton.Yes

    def _on_restart_needed(self, what: str) -> None:
        if self._mode == "run" and self.runner.running:
            if self._restart_declined:
                return
            if self._ask_restart(what):
                self.run()
            else:
                self._restart_declined = True
                self.statusBar().showMessage(f"the new {what} applies to the next run", 6000)
        elif self._mode == "idle" and self._last_record is None:
            pass  # nothing ran: the next Run uses it

    def _on_device_changed(self, device: str) -> None:
        if self.model_path is None:
            return
        running = self._mode == "run" and self.runner.running
        if running and not self._ask_restart("device"):
            self.statusBar().showMessage("the device applies when the model is next opened", 6000)
            return
        self.runner.stop()
        if self.open_model(self.model_path) and running:
            self.run()

    # ================================================================== display
    def _show(self, frame: Frame) -> None:
        self._current = frame
        self.input_view.set_hint("")
        at_rest = self._mode != "run" and self._last_record is None
        self.grid.set_rest_hints(at_rest and frame.iteration == 0)
        self.energy_plot.set_hint(at_rest)
        self.grid.show_frame(self._x0(), frame, self.controls.compare_mode)
        self._update_segmentation()
        self._update_hover_text()

    def _redraw(self) -> None:
        if self._current is not None:
            self.grid.show_frame(self._x0(), self._current, self.controls.compare_mode)
        self._update_segmentation()
        self._update_hover_text()

    def _update_segmentation(self) -> None:
        """The overlay on x0 from the shown frame's DSSIM map: no new run."""
        thr = self.controls.threshold_value
        f = self._current
        if f is None:
            self.input_view.set_segmentation(None, None, thr)
            return
        d = f.dssim(self.controls.compare_mode)
        seg = segmentation(torch.from_numpy(d), thr).numpy()
        self.input_view.set_segmentation(seg, d, thr, fill=self.controls.show_fill.isChecked(),
                                         contour=self.controls.show_contour.isChecked())
        frac = float(seg.mean()) * 100.0
        self._set_input_title(f"input x₀ · DSSIM > {thr:.2f}: {frac:.1f} % of pixels")

    def _set_input_title(self, text: str) -> None:
        if text != self.input_view.title.text:  # a new label text re-lays the panel out: only on change
            self.input_view.title.setText(text)

    def _update_history_slider(self) -> None:
        n = len(self.history)
        s = self.history_slider
        s.blockSignals(True)
        s.setRange(0, max(0, n - 1))
        if self._follow:
            s.setValue(max(0, n - 1))
        elif self._current is not None and n:  # the history may have been thinned: keep the shown frame
            its = np.asarray(self.history.iterations())
            s.setValue(int(np.abs(its - self._current.iteration).argmin()))
        s.blockSignals(False)
        s.setEnabled(n > 1)
        if self._follow:
            it = self._latest.iteration if self._latest else None
            self.history_label.setText("t = –" if it is None else f"t = {it} (live)")
            self.energy_plot.set_cursor(None)

    def _on_history_slider(self, i: int) -> None:
        n = len(self.history)
        if n == 0:
            return
        self._follow = i >= n - 1
        if self._follow:
            frame = self._latest if self._latest is not None else self.history[-1].expanded()
            self.energy_plot.set_cursor(None)
            self.history_label.setText(f"t = {frame.iteration} (live)")
        else:
            frame = self.history[i].expanded()
            self.energy_plot.set_cursor(frame.iteration)
            self.history_label.setText(f"t = {frame.iteration} / {self.history[-1].iteration}")
        self._show(frame)
        self._set_status(iteration=f"t = {frame.iteration}", energy=f"E {frame.energy:.4g}",
                         lr=f"Lr {frame.recon_loss:.4g}")

    # ------------------------------------------------------------------ hover
    def _on_hover(self, pos) -> None:
        self._hover = pos
        self._update_hover_text()

    def _update_hover_text(self) -> None:
        pos = self._hover
        x0 = self._x0()
        if pos is None or x0 is None:
            self.hover_label.setText(" ")
            return
        r, c = pos
        if r >= x0.shape[0] or c >= x0.shape[1]:
            self.hover_label.setText(" ")
            return
        parts = [f"x {c:4d}  y {r:4d}", f"x₀ {_fmt(x0[r, c])}"]
        f = self._current
        if f is not None and f.x.shape[:2] == x0.shape[:2]:
            parts += [
                f"x_t {_fmt(f.x[r, c])}",
                f"f(x_t) {_fmt(f.reconstruction[r, c])}",
                f"DSSIM {_fmt(f.dssim(self.controls.compare_mode)[r, c])}",
                f"|x_t − x₀| {_fmt(np.abs(np.asarray(f.x[r, c], np.float64) - x0[r, c]))}",
            ]
        self.hover_label.setText("   │   ".join(parts))

    # ------------------------------------------------------------------ status and actions
    def _set_status(self, **texts: str) -> None:
        for k, v in texts.items():
            self.status_labels[k].setText(v)

    def _update_actions(self) -> None:
        ready = self.loaded is not None and self.prepared is not None
        running = self._mode == "run" and self.runner.running
        self.act_run.setEnabled(ready)
        self.act_step.setEnabled(ready)
        self.act_reset.setEnabled(ready)
        self.act_pause.setEnabled(running)
        self.act_pause.setText("Resume" if running and self.runner.paused else "Pause")
        self.act_stop.setEnabled(running)
        self.act_export.setEnabled(self._last_record is not None)
        self.act_clear_mask.setEnabled(self.mask is not None)

    # ================================================================== settings
    def _restore_settings(self) -> None:
        s = st.app_settings()
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        split = s.value("window/splitter")
        if isinstance(split, QByteArray) and not split.isEmpty():
            self.splitter.restoreState(split)
        self.controls.restore_state(s)

    def save_settings(self) -> None:
        s = st.app_settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        self.controls.save_state(s)
        s.sync()

    def closeEvent(self, e) -> None:  # noqa: N802 - Qt
        self.inpainting.close_all()  # comparison windows stop their threads
        self.runner.stop()
        self._mode = "idle"
        self.save_settings()
        super().closeEvent(e)

    # ================================================================== for tests and scripts
    @property
    def mode(self) -> str:
        """``idle``, ``preview`` (evaluating x0 after a load) or ``run``."""
        return self._mode

    @property
    def current_frame(self) -> Frame | None:
        return self._current

    @property
    def last_record(self):
        return self._last_record


def autorun_later(win: MainWindow, delay_ms: int = 1500) -> None:
    """Press Run after ``delay_ms`` (the ``INSPECTOR_APP_AUTORUN`` hook of ``run_app``)."""
    QTimer.singleShot(delay_ms, win.run)
