"""Masked-inpainting tools in the main window: the Ω brush on the input view, the demo
corruption, the blind-vs-masked comparison and the face demo (section 4.2).

A controller only: the mask logic is :class:`~inspector_app.core.mask.MaskModel` (Qt-free), the
brush is :class:`~inspector_app.gui.brush.BrushController`, the comparison
:class:`~inspector_app.gui.compare.CompareWindow`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QGroupBox, QMessageBox, QVBoxLayout

from ..core.mask import MaskModel
from .brush import BrushController, BrushPanel
from .compare import CompareWindow, open_face_demo


class InpaintingTools(QObject):
    """Keeps the brush's Ω and the window's mask (``MainWindow.set_mask``) in step."""

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.ground_truth: np.ndarray | None = None  # the clean image after "corrupt"
        self.windows: list[CompareWindow] = []
        self._syncing = False
        iv = win.input_view
        self.brush = BrushController(iv.view_box, iv.image_item, MaskModel((1, 1)), parent=self, shortcut_widget=win)
        self.panel = BrushPanel(self.brush)
        box = QGroupBox("Inpainting mask Ω (eq. 7)")
        box.setToolTip("Paint the pixels the projection may change; the others stay bit-identical to x₀ (eq. 7). "
                       "An empty mask means every pixel may change (anomaly mode, eq. 8).")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.panel)
        win.add_side_widget(box)
        self.box = box

        for a in self.brush.actions.values():
            win.tools_menu.addAction(a)
        self.act_face_demo = QAction("&Face Inpainting Demo", win)
        self.act_face_demo.setToolTip("Blind (eq. 8) vs masked (eq. 7) inpainting on a corrupted face, side by side")
        self.act_face_demo.triggered.connect(self.open_face_demo)
        win.demo_menu.insertAction(win.demo_menu.actions()[0] if win.demo_menu.actions() else None, self.act_face_demo)
        self.act_compare = QAction("&Compare Inpainting…", win)
        self.act_compare.triggered.connect(lambda: self.compare(self.brush.mask))
        win.tools_menu.addAction(self.act_compare)

        self.brush.mask_changed.connect(self._brush_changed)
        self.brush.model_replaced.connect(lambda _m: self._brush_changed(None))
        self.panel.corrupt_requested.connect(self.corrupt)
        self.panel.compare_requested.connect(self.compare)
        win.image_changed.connect(self._image_changed)
        win.mask_changed.connect(self._window_mask_changed)
        if win.image is not None:
            self._image_changed(None)

    # ------------------------------------------------------------------ sync
    def _image_changed(self, _prepared) -> None:
        if self.win.image is None:
            return
        shape = self.win.image.shape[:2]
        if self.ground_truth is not None and self.ground_truth.shape[:2] != shape:
            self.ground_truth = None
        if self.brush.mask_model.shape != shape:
            self.brush.new_mask(shape)
        elif self.brush.mask_model.count:
            self._syncing = True
            try:
                self.brush.clear()
            finally:
                self._syncing = False

    def _brush_changed(self, _region) -> None:
        if self._syncing or self.win.image is None or self.brush.mask_model.shape != self.win.image.shape[:2]:
            return
        m = self.brush.mask
        self._syncing = True
        try:
            self.win.set_mask(m.copy() if m.any() else None)
        finally:
            self._syncing = False

    def _window_mask_changed(self, mask) -> None:
        """The window's mask changed elsewhere (e.g. Tools → Clear Mask Ω): show it in the brush."""
        if self._syncing or self.win.image is None:
            return
        self._syncing = True
        try:
            if mask is None:
                if self.brush.mask_model.count:
                    self.brush.clear()
            elif self.brush.mask_model.shape == mask.shape:
                self.brush.mask_model.set_mask(mask)
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ actions
    def corrupt(self, mask: np.ndarray) -> None:
        """Replace the painted region of the current image by uniform noise; keep the clean image
        as the ground truth, and Ω as the mask (the paper's inpainting protocol)."""
        win = self.win
        if win.image is None or not np.any(mask):
            QMessageBox.information(win, "Corrupt region", "Open an image and paint the region to corrupt first.")
            return
        mask = np.asarray(mask, bool).copy()
        corrupted, clean = self.brush.corrupt(win.image)
        stem = Path(win.image_path).stem if win.image_path else "image"
        win.set_image(corrupted.astype(np.float32), None, name=f"{stem}_corrupted")
        self.ground_truth = clean
        self.brush.mask_model.set_mask(mask)  # → _brush_changed → win.set_mask(mask)
        win.statusBar().showMessage("corrupted the painted region with uniform noise; the clean image is kept "
                                    "as ground truth — Compare Inpainting… shows blind vs masked", 10000)

    def compare(self, mask: np.ndarray | None) -> CompareWindow | None:
        win = self.win
        if win.loaded is None or win.image is None:
            QMessageBox.information(win, "Compare inpainting", "Open a model and an image first.")
            return None
        mask = np.asarray(mask, bool) if mask is not None and np.any(mask) else None
        gt = self.ground_truth if self.ground_truth is not None and self.ground_truth.shape == win.image.shape else None
        try:
            cw = CompareWindow(win.loaded, win.image, mask, gt, win)
        except ValueError as e:
            QMessageBox.warning(win, "Compare inpainting", str(e))
            return None
        self._keep(cw)
        cw.show()
        return cw

    def open_face_demo(self) -> CompareWindow | None:
        cw = open_face_demo(self.win)
        if cw is not None:
            self._keep(cw)
        return cw

    def _keep(self, cw: CompareWindow) -> None:
        self.windows.append(cw)
        cw.destroyed.connect(lambda *_: self.windows.remove(cw) if cw in self.windows else None)

    def close_all(self) -> None:
        for cw in list(self.windows):
            cw.close()
