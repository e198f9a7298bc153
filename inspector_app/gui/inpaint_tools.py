"""Masked-inpainting tools in the main window: the Ω brush on the input view, the demo corruption,
the blind-vs-masked inpainting window and the face demo (section 4.2).

Ω has one owner, the session's :class:`~inspector_app.core.mask.MaskModel`: the brush paints into
it, the next run reads it, and a new image brings a new one (the brush follows).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QGroupBox, QMenu, QMessageBox, QVBoxLayout, QWidget

from ..session import Session
from .brush import BrushController
from .brush_panel import BrushPanel
from .inpainting_window import InpaintingWindow, open_face_demo


class InpaintingTools(QObject):
    """The brush (bound to ``session.mask``), corrupt, the inpainting window; ``window`` is the main
    window (its input view, its menus, the parent of the dialogs)."""

    def __init__(self, session: Session, window: QWidget, tools_menu: QMenu, demo_menu: QMenu):
        super().__init__(window)
        self.session, self.window = session, window
        self.windows: list[InpaintingWindow] = []
        iv = window.input_view
        self.brush = BrushController(iv.view_box, iv.image_item, session.mask, parent=self, shortcut_widget=window)
        self.panel = BrushPanel(self.brush)
        box = QGroupBox("Inpainting mask Ω (eq. 7)")
        box.setToolTip("Paint the pixels the projection may change; the others stay bit-identical to x₀ (eq. 7). "
                       "An empty mask means every pixel may change (anomaly mode, eq. 8).")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.panel)
        self.box = box

        for key, a in self.brush.actions.items():
            if key != "clear":  # the window's own "Clear Mask Ω" (enabled only with a mask) does it
                tools_menu.addAction(a)
        self.act_face_demo = QAction("&Face Inpainting Demo", window)
        self.act_face_demo.setToolTip("Blind (eq. 8) vs masked (eq. 7) inpainting on a corrupted face, side by side")
        self.act_face_demo.triggered.connect(self.open_face_demo)
        demo_menu.insertAction(demo_menu.actions()[0] if demo_menu.actions() else None, self.act_face_demo)
        self.act_inpainting = QAction("&Compare Inpainting…", window)
        self.act_inpainting.triggered.connect(lambda: self.open_inpainting(session.omega))
        tools_menu.addAction(self.act_inpainting)

        session.mask_replaced.connect(self.brush.set_mask_model)
        self.panel.corrupt_requested.connect(self.corrupt)
        self.panel.inpainting_requested.connect(self.open_inpainting)
        self.panel.ground_truth_requested.connect(self.load_ground_truth)

    def load_ground_truth(self, path: str) -> None:
        """Show ``path`` as the defect's ground truth (the brush panel's "Load…" on a ``*_mask`` file)."""
        try:
            self.session.load_ground_truth(path)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self.window, "Load ground truth", str(e))

    def corrupt(self, mask: np.ndarray) -> None:
        """Replace the painted region of the current image by uniform noise; keep the clean image
        as the ground truth, and Ω as the mask (the paper's inpainting protocol)."""
        s = self.session
        if s.image is None or not np.any(mask):
            QMessageBox.information(self.window, "Corrupt region", "Open an image and paint the region to corrupt first.")
            return
        mask = np.asarray(mask, bool).copy()
        corrupted, clean = self.brush.corrupt(s.image.pixels)
        s.request_stop()
        s.set_image(corrupted.astype(np.float32), None, name=f"{s.image.stem}_corrupted", ground_truth=clean,
                    omega=mask)
        s.notice.emit("corrupted the painted region with uniform noise; the clean image is kept as ground truth "
                      "— Compare Inpainting… shows blind vs masked", 10000)

    def open_inpainting(self, mask: np.ndarray | None) -> InpaintingWindow | None:
        """The blind-vs-masked comparison of the current image with ``mask`` as Ω."""
        s = self.session
        if s.loaded is None or s.image is None:
            QMessageBox.information(self.window, "Compare inpainting", "Open a model and an image first.")
            return None
        mask = np.asarray(mask, bool) if mask is not None and np.any(mask) else None
        gt = s.image.ground_truth
        try:
            iw = InpaintingWindow(s.loaded, s.image.pixels, mask, gt, self.window)
        except ValueError as e:
            QMessageBox.warning(self.window, "Compare inpainting", str(e))
            return None
        self._keep(iw)
        iw.show()
        return iw

    def open_face_demo(self):
        """The bundled face demo in an inpainting window (its files are read in the returned worker)."""
        return open_face_demo(self.window, on_open=self._keep)

    def _keep(self, iw: InpaintingWindow) -> None:
        self.windows.append(iw)
        iw.destroyed.connect(lambda *_: self.windows.remove(iw) if iw in self.windows else None)

    def close_all(self) -> None:
        for iw in list(self.windows):
            iw.close()
