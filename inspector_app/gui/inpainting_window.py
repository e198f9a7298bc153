"""Blind vs masked inpainting side by side (Dehaene et al. 2020, section 4.2, appendix D).

:class:`InpaintingWindow` shows, for one corrupted image and its mask Ω: the corrupted input, the
plain reconstruction f(x0), blind inpainting (eq. 8, no mask), masked inpainting (eq. 7 with Ω),
OpenCV's Telea inpainting, and the clean ground truth when known; under each panel its PSNR and
SSIM against the ground truth (and the PSNR inside Ω). The two projections run in worker threads
(:class:`inspector_app.gui.worker.ProjectionRunner`) and stream live; the panels and their metrics
are made in the workers too (as are f(x0) and Telea's), so nothing here runs a model or an SSIM.
The panels share one zoom.

The algorithm lives in :class:`inspector_app.core.inpainting.InpaintJob` (Qt-free, shared with
the ``inpaint`` command); this module only draws it.

Entry points: ``InpaintingWindow(loaded, image, mask, ground_truth=None)`` and
``open_face_demo(parent=None)`` (the bundled face model and sample, opened in a worker, running).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.inpainting import INPAINT_MODES, PANEL_TITLES, PANELS, InpaintJob, inpaint_params, model_inpainting
from ..core.params import RANGES, Stop
from ..core.vocabulary import StopKind
from ..session.jobs import inpainting_frame, inpainting_static
from ..session.pacing import one_line
from .brush import MASK_COLOR
from .views import ContourItem
from .worker import ProjectionRunner, run_in_worker

#: Screen pixels per image pixel the panels start with (32×32 faces → 192 px), nearest neighbour.
MIN_PANEL_PX = 180
#: The window's height besides the images: the titles, the metrics lines and the controls.
CHROME_PX = 230
#: The panels' title sizes, largest first: the largest at which every title fits its column.
TITLE_SIZES = ("11pt", "10pt", "9pt")
_BEST = "#ffd54a"
_RUN_COLORS = {"blind": "#7fc8ff", "masked": "#9be29b"}


def _fmt_db(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return "∞" if v == math.inf else f"{v:.2f}"


class _Label(pg.LabelItem):
    """A LabelItem that does not widen its column to its text (the panels' columns stay equal, and
    with one shared zoom a wider column would not show a larger image anyway)."""

    def updateMin(self) -> None:  # noqa: N802 - pyqtgraph API
        super().updateMin()
        self.setMinimumWidth(0)
        h = self._sizeHint[Qt.SizeHint.MinimumSize][1]
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, h)
        self._sizeHint[Qt.SizeHint.PreferredSize] = (0, h)
        self.updateGeometry()


class _Panel:
    """One titled image with a metrics line, in the shared GraphicsLayout."""

    def __init__(self, layout: pg.GraphicsLayout, col: int, name: str):
        self.name = name
        self.title = self._label(layout, PANEL_TITLES[name], 0, col, size="11pt", bold=True)
        self.view = layout.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.02)
        self.view.setMinimumSize(MIN_PANEL_PX * 0.6, MIN_PANEL_PX * 0.6)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.metrics = self._label(layout, "", 2, col, size="10pt")
        self.status = self._label(layout, "", 3, col, size="9pt", color="#aaaaaa")
        self.data: np.ndarray | None = None

    @staticmethod
    def _label(layout: pg.GraphicsLayout, text: str, row: int, col: int, **opts) -> _Label:
        item = _Label(text, **opts)
        layout.addItem(item, row=row, col=col)
        return item

    def set_image(self, img: np.ndarray) -> None:
        first = self.data is None
        self.data = img
        self.image.setImage(img, levels=(0.0, 1.0), autoLevels=False)
        if first:
            h, w = img.shape[:2]
            self.view.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)


class InpaintingWindow(QMainWindow):
    """Corrupted input, f(x0), blind and masked inpainting (ours), OpenCV Telea, ground truth.

    ``loaded`` is a :class:`~inspector_app.core.modelio.LoadedModel`; ``image`` the corrupted image
    (float [0, 1], any size; converted to the model's channels), ``mask`` Ω at its size (True =
    corrupted; None: only the blind run), ``ground_truth`` the clean image or None. ``params``
    optionally maps ``"blind"`` / ``"masked"`` to ProjectionParams (else the inpainting defaults of
    :func:`~inspector_app.core.inpainting.inpaint_params`). ``autostart`` starts both runs.

    Signals: ``all_finished()`` once both runs of a start have ended (stopped or converged) and the
    static panels (f(x0), Telea) are shown.
    """

    all_finished = Signal()

    def __init__(self, loaded, image: np.ndarray, mask: np.ndarray | None, ground_truth: np.ndarray | None = None,
                 parent: QWidget | None = None, *, params: dict | None = None, autostart: bool = True,
                 title: str | None = None, max_fps: float = 10.0):
        super().__init__(parent)
        self.setWindowTitle(title or "Inpainting: blind (eq. 8) vs masked (eq. 7) — Dehaene et al. 2020, §4.2")
        self.job = InpaintJob(loaded, image, mask, ground_truth)
        self.loaded = loaded
        self.params = {m: (params or {}).get(m) or inpaint_params(m, loaded=loaded, thin=self.job.thin)
                       for m in INPAINT_MODES}
        self.results: dict[str, np.ndarray] = {}
        self.metrics: dict[str, dict] = {}
        self.final_frames: dict[str, object] = {}
        self._status: dict[str, str] = {}

        names = [n for n in PANELS if n in self.job.modes or n in ("corrupted", "reconstruction")
                 or (n == "telea" and mask is not None) or (n == "ground_truth" and ground_truth is not None)]
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setSpacing(4)
        self.panels: dict[str, _Panel] = {}
        for col, n in enumerate(names):
            self.panels[n] = _Panel(self.graphics.ci, col, n)
        grid = self.graphics.ci.layout
        for row in (0, 2, 3):  # the text rows keep their height; the images take the rest
            grid.setRowStretchFactor(row, 0)
            grid.setRowMaximumHeight(row, 42 if row == 2 else 24)
        grid.setRowStretchFactor(1, 1)
        for col in range(len(names)):
            grid.setColumnStretchFactor(col, 1)
        # one zoom for all: a manual pan/zoom in any panel is copied to the others (pyqtgraph's
        # X+Y links fight with lockAspect when the views differ in size; setRange emits no manual signal)
        for p in self.panels.values():
            p.view.sigRangeChangedManually.connect(lambda *_a, _v=p.view: self._sync_views(_v))
        for n in names:
            title = PANEL_TITLES[n]
            if n == "masked" and self.job.masked_init == "telea":
                title = "Masked from Telea (eq. 7)"  # the model's tuned schedule starts Ω at the Telea fill
            self.panels[n].title.setText(title, color=_RUN_COLORS.get(n, "#e8e8e8"))
        # Ω's outline on the corrupted input, in the brush's colour: where the masked run may change pixels
        self.omega_outline: ContourItem | None = None
        if self.job.mask is not None and "corrupted" in self.panels:
            self.omega_outline = ContourItem(level=0.5, pen=pg.mkPen(MASK_COLOR, width=1.5), axisOrder="row-major")
            self.omega_outline.setZValue(20)
            self.omega_outline.setData(self.job.mask.astype(np.float32), level=0.5)
            self.panels["corrupted"].view.addItem(self.omega_outline)

        self.runners: dict[str, ProjectionRunner] = {}
        for m in self.job.modes:
            r = ProjectionRunner(self, max_fps=max_fps)
            r.frame.connect(lambda f, _m=m: self._on_frame(_m, f, final=False))
            r.finished.connect(lambda f, _m=m: self._on_finished(_m, f))
            r.errored.connect(lambda msg, _m=m: self._on_error(_m, msg))
            self.runners[m] = r
        self._pending: set[str] = {"static"}

        self._build_controls()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.controls)
        self.setCentralWidget(central)
        self.resize(*self._start_size(len(names)))
        self.graphics.installEventFilter(self)  # the titles' size follows the columns' width

        self._show("corrupted", self.job.image.copy())
        self._static = run_in_worker(inpainting_static, self.job, on_result=self._on_static,
                                     on_error=self._on_static_error)
        for m in self.job.modes:
            self._show(m, self.job.image)  # x0 until the first frame
            self._set_status(m, "ready")
        if autostart:
            self.run()

    def _start_size(self, n_panels: int) -> tuple[int, int]:
        """The window's first size: each panel the image's own size (small images enlarged to
        :data:`MIN_PANEL_PX`, at least 215 px for the title and metrics lines), scaled down so that
        the window fits the screen's free area (a 1200-px photograph made it 6080 px wide)."""
        h, w = self.job.image.shape[:2]
        scale = max(1, math.ceil(MIN_PANEL_PX / max(h, w)))
        panel_w = max(w * scale, 215)
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            avail = screen.availableGeometry()
            fit_w = (0.98 * avail.width() - 30) / n_panels - 10
            fit_h = (0.9 * avail.height() - CHROME_PX) * w / h
            panel_w = max(1, min(panel_w, int(fit_w), int(fit_h)))
        width, height = max(900, n_panels * (panel_w + 10) + 30), round(panel_w * h / w) + CHROME_PX
        if screen is not None:
            width, height = min(width, int(0.98 * avail.width())), min(height, int(0.9 * avail.height()))
        return width, height

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt
        if obj is self.graphics and ev.type() == QEvent.Type.Resize:
            self._fit_titles(ev.size().width())
        return super().eventFilter(obj, ev)

    def _fit_titles(self, width: int) -> None:
        """The titles in the largest of :data:`TITLE_SIZES` at which each fits its column (six
        panels on a 1280-px screen ran two titles into each other)."""
        column = width / max(1, len(self.panels)) - 12
        for size in TITLE_SIZES:
            for p in self.panels.values():
                if p.title.opts.get("size") != size:
                    p.title.setText(p.title.text, size=size)
            if max(p.title.item.boundingRect().width() for p in self.panels.values()) <= column:
                return

    def _on_static(self, result) -> None:
        panels, metrics = result
        self.metrics.update(metrics)
        for n, img in panels.items():
            self._show(n, img)
        self._done("static")

    def _on_static_error(self, e: BaseException) -> None:
        self.info.setText(f"f(x₀) and Telea failed: {one_line(e)}")
        self._done("static")

    def _done(self, what: str) -> None:
        self._pending.discard(what)
        if not self._pending:
            self.stop_button.setEnabled(False)
            self.all_finished.emit()

    def _sync_views(self, source: pg.ViewBox) -> None:
        (x0, x1), (y0, y1) = source.viewRange()
        for p in self.panels.values():
            if p.view is not source:
                p.view.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def reset_zoom(self) -> None:
        """Show every image whole."""
        for p in self.panels.values():
            if p.data is not None:
                h, w = p.data.shape[:2]
                p.view.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    # ------------------------------------------------------------------ controls
    def _build_controls(self) -> None:
        self.controls = QWidget()
        g = QGridLayout(self.controls)
        g.setContentsMargins(0, 0, 0, 0)
        self.alpha_spin: dict[str, QDoubleSpinBox] = {}
        self.lam_spin: dict[str, QDoubleSpinBox] = {}
        self.iter_spin: dict[str, QSpinBox] = {}
        ra, rl = RANGES["alpha"], RANGES["lam"]
        labels = {"blind": "Blind (eq. 8, (x − f(x))² weighting, no mask)", "masked": "Masked (eq. 7, Ω only)"}
        for row, m in enumerate(INPAINT_MODES):
            p = self.params[m]
            name = QLabel(labels[m])
            name.setStyleSheet(f"color: {_RUN_COLORS[m]}; font-weight: bold")
            name.setWordWrap(True)  # two lines on a narrow screen rather than a window wider than it
            a = QDoubleSpinBox(decimals=4, minimum=ra.minimum, maximum=ra.maximum, value=p.alpha)
            a.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
            a.setToolTip(ra.help + f" — {p.optimizer}")
            lam = QDoubleSpinBox(decimals=4, minimum=rl.minimum, maximum=rl.maximum, value=p.lam, singleStep=0.005)
            lam.setToolTip(rl.help)
            a.valueChanged.connect(lambda v, _m=m: self._live(_m, alpha=v))
            lam.valueChanged.connect(lambda v, _m=m: self._live(_m, lam=v))
            it = QSpinBox(minimum=int(RANGES["max_iter"].minimum), maximum=int(RANGES["max_iter"].maximum),
                          value=int(p.max_iter))
            it.setToolTip("maximum iterations of this run" + (" (it stops earlier when the energy has converged)"
                                                               if Stop.parse(p.stop).kind == StopKind.CONVERGE else ""))
            enabled = m in self.job.modes
            for wdg in (name, a, lam, it):
                wdg.setEnabled(enabled)
            self.alpha_spin[m], self.lam_spin[m], self.iter_spin[m] = a, lam, it
            g.addWidget(name, row, 0)
            g.addWidget(QLabel("α"), row, 1, alignment=Qt.AlignmentFlag.AlignRight)
            g.addWidget(a, row, 2)
            g.addWidget(QLabel("λ"), row, 3, alignment=Qt.AlignmentFlag.AlignRight)
            g.addWidget(lam, row, 4)
            g.addWidget(QLabel("iterations"), row, 5, alignment=Qt.AlignmentFlag.AlignRight)
            g.addWidget(it, row, 6)
        self.run_button = QPushButton("Run again")
        self.run_button.setToolTip("Restart both projections from the corrupted input with these settings")
        self.stop_button = QPushButton("Stop")
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stop)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.run_button)
        row.addWidget(self.stop_button)
        g.addLayout(row, 0, 7, 2, 1)
        g.setColumnStretch(0, 1)  # the names take the room they need first (they wrap only when short of it)
        g.setColumnStretch(7, 1)
        self.info = QLabel()
        self.info.setWordWrap(True)  # a long line wraps: it never widens the window past a small screen
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        g.addWidget(self.info, 2, 0, 1, 8)
        self._update_info()

    def _update_info(self) -> None:
        h, w = self.job.image.shape[:2]
        s = self.loaded.model.image_size
        wh, ww = self.job.prep.working_shape
        how = "" if (wh, ww) == (h, w) else (f" (resized to {ww}×{wh} and back)" if (wh, ww) != (s, s)
                                               else " (resized to the model and back)")
        tiles = f", in {s}×{s} tiles" if (wh, ww) != (s, s) else ""
        parts = [f"{self.loaded.kind} {s}×{s}", f"image {w}×{h}{how}{tiles}"]
        if self.job.mask is not None:
            parts.append(f"Ω {100 * self.job.mask.mean():.1f} % of the pixels")
            if self.job.thin:  # where masked inpainting gains least (model card, "Other masks")
                own = "thin" in model_inpainting(self.loaded)
                parts.append("thin or small Ω" + (" (its own schedule)" if own else "")
                             + ": Telea does about as well here")
        if self.job.ground_truth is None:
            parts.append("no ground truth: no PSNR / SSIM")
        parts += [f"{m}: {self._status.get(m, '')}" for m in self.job.modes]
        self.info.setText("   ·   ".join(parts))

    def _live(self, mode: str, alpha: float | None = None, lam: float | None = None) -> None:
        r = self.runners.get(mode)
        if r is not None and r.running:
            r.set_live(alpha=alpha, lam=lam)

    def current_params(self, mode: str):
        return self.params[mode].replace(
            alpha=float(self.alpha_spin[mode].value()), lam=float(self.lam_spin[mode].value()),
            max_iter=int(self.iter_spin[mode].value()),
        ).validated()

    # ------------------------------------------------------------------ runs
    @property
    def running(self) -> bool:
        return any(r.running for r in self.runners.values())

    def run(self) -> None:
        """(Re)start both projections from the corrupted input."""
        self.stop()
        self._pending = set(self.runners) | (self._pending & {"static"})
        self.final_frames.clear()
        prep = self.job.prep
        for m, r in self.runners.items():
            self._set_status(m, "running…")
            r.start(self.loaded.model, self.job.start_image(m), self.current_params(m),
                    mask=prep.mask_model if m == "masked" else None, to_frame=inpainting_frame(self.job, m))
        self.stop_button.setEnabled(True)

    def stop(self) -> None:
        """Stop both runs and join their threads (their last iterate stays shown)."""
        for r in self.runners.values():
            r.stop()
        self.stop_button.setEnabled(False)

    def _on_frame(self, mode: str, frame, final: bool) -> None:
        if frame is None:
            return
        self._show(mode, frame.panel, frame.metrics)
        if final:
            self._set_status(mode, f"{frame.steps} iterations ({frame.stop_reason or 'stopped'})")
        else:
            self._set_status(mode, f"iteration {frame.steps}…")

    def _on_finished(self, mode: str, frame) -> None:
        if frame is not None:
            self.final_frames[mode] = frame
            self._on_frame(mode, frame, final=True)
        self._done(mode)

    def _on_error(self, mode: str, msg: str) -> None:
        self._set_status(mode, f"error: {msg}")
        self.panels[mode].status.setText(f"error: {msg}", color="#ff6b6b")

    def _set_status(self, mode: str, text: str) -> None:
        self._status[mode] = text
        if mode in self.panels:
            self.panels[mode].status.setText(text, color="#aaaaaa")
        self._update_info()

    # ------------------------------------------------------------------ drawing
    def _show(self, name: str, img: np.ndarray, metrics: dict | None = None) -> None:
        self.results[name] = img
        if metrics is not None:
            self.metrics[name] = metrics
        panel = self.panels.get(name)
        if panel is None:
            return
        panel.set_image(img)
        self._draw_metrics()

    def _draw_metrics(self) -> None:
        if not self.metrics:
            for p in self.panels.values():
                if p.name != "ground_truth":
                    p.metrics.setText("")
            if "ground_truth" in self.panels:
                self.panels["ground_truth"].metrics.setText("")
            return
        contenders = {k: v["psnr"] for k, v in self.metrics.items() if k != "corrupted"}
        best = max(contenders, key=contenders.get) if contenders else None
        for name, p in self.panels.items():
            if name == "ground_truth":
                p.metrics.setText("reference", color="#aaaaaa")
                continue
            m = self.metrics.get(name)
            if m is None:
                continue
            text = f"PSNR {_fmt_db(m['psnr'])} dB · SSIM {m['ssim']:.3f}"
            if "psnr_mask" in m:
                text += f"<br>inside Ω: PSNR {_fmt_db(m['psnr_mask'])} dB"
            p.metrics.setText(text, color=_BEST if name == best else "#e8e8e8", bold=name == best)

    # ------------------------------------------------------------------ teardown
    def closeEvent(self, ev) -> None:  # noqa: N802 - Qt API
        self.stop()
        self._static.wait()
        super().closeEvent(ev)


_open: list[InpaintingWindow] = []  # windows opened without a parent stay alive until closed
FACE_TITLE = "Face inpainting demo: blind (eq. 8) vs masked (eq. 7) — Dehaene et al. 2020, §4.2"


def _read_face_demo(paths: dict):
    """The face model, corrupted face, mask and clean face (in a worker: opening a model file)."""
    from ..core.data import read_image
    from ..core.mask import load_mask_png
    from ..resources import FACE_CLEAN, FACE_IMAGE, FACE_MASK, FACE_MODEL
    from ..session.jobs import open_model

    loaded = open_model(str(paths[FACE_MODEL]), "auto")
    ch = loaded.model.channels
    image = read_image(paths[FACE_IMAGE], ch)
    mask = load_mask_png(paths[FACE_MASK], image.shape[:2])
    return loaded, image, mask, read_image(paths[FACE_CLEAN], ch)


def open_face_demo(parent: QWidget | None = None, on_open: Callable[[InpaintingWindow], None] | None = None):
    """Open the bundled face demo (a VAE trained on ``lfw_subset`` faces, a face with a patch of
    uniform noise, its mask and the clean face) in an :class:`InpaintingWindow`, already running.

    The files are read in a worker (returned, to wait on); the window opens when they are, and is
    handed to ``on_open``. Returns None after telling the user in a message box when the demo files
    are missing; unusable files get a message box too, later.
    """
    from ..resources import FACE_CLEAN, FACE_IMAGE, FACE_MASK, FACE_MODEL, resource

    title = "Face inpainting demo"
    paths = {k: resource(k) for k in (FACE_MODEL, FACE_IMAGE, FACE_MASK, FACE_CLEAN)}
    missing = [k for k, p in paths.items() if p is None]
    if missing:
        QMessageBox.warning(
            parent, title,
            "The face inpainting demo is not installed: missing " + ", ".join(f"resources/{k}" for k in missing) + ".",
        )
        return None

    def fail(e: BaseException) -> None:
        QMessageBox.warning(parent, title, f"The face demo cannot be opened: {one_line(e)}")

    def show(result) -> None:
        loaded, image, mask, clean = result
        try:
            win = InpaintingWindow(loaded, image, mask, clean, parent, title=FACE_TITLE)
        except ValueError as e:
            fail(e)
            return
        win.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        if parent is None:
            _open.append(win)
            win.destroyed.connect(lambda *_: _open.remove(win) if win in _open else None)
        win.show()
        win.raise_()
        if on_open is not None:
            on_open(win)

    return run_in_worker(_read_face_demo, paths, on_result=show, on_error=fail)
