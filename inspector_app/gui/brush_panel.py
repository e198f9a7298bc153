"""The brush's side panel: buttons and a radius slider for a :class:`~.brush.BrushController`."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider
from superqt.utils import signals_blocked

from ..core.mask import MIN_RADIUS, MaskFileError
from .brush import SLIDER_MAX_RADIUS, BrushController


class BrushPanel(QWidget):
    """Buttons for :class:`BrushController`: brush on/off, radius, paint/erase, clear, invert,
    undo, redo, show mask, load, save, and two requests for the main window to wire:

    * ``corrupt_requested(mask)``: "Corrupt region with noise" — replace the painted region of the
      current clean image by uniform noise and keep the clean image as the ground truth
      (``controller.corrupt(clean)`` does it), or pass ``corrupt_callback(mask)``;
    * ``inpainting_requested(mask)``: "Compare inpainting…" — open the blind-vs-masked inpainting window.
    """

    corrupt_requested = Signal(object)
    inpainting_requested = Signal(object)
    #: "Load…" was given a file named like a defect's ground truth and the user chose to show it as
    #: such (an outline) rather than use it as Ω.
    ground_truth_requested = Signal(str)

    def __init__(self, controller: BrushController, parent: QWidget | None = None, corrupt_callback=None):
        super().__init__(parent)
        self.controller = controller
        self._dir = ""
        if corrupt_callback is not None:
            self.corrupt_requested.connect(corrupt_callback)
        self._make_widgets()
        self._lay_out()
        self._connect()

    def _make_widgets(self) -> None:
        c = self.controller
        self.brush_button = QToolButton(text="Brush")
        self.brush_button.setDefaultAction(c.actions["active"])
        self.brush_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.paint_button = QToolButton(text="Paint", checkable=True)
        self.erase_button = QToolButton(text="Erase", checkable=True)
        self.paint_button.setToolTip("Add pixels to Ω (the region to inpaint)")
        self.erase_button.setToolTip("Remove pixels from Ω (E)")
        self._mode_group = QButtonGroup(self)
        self._mode_group.setExclusive(True)
        self._mode_group.addButton(self.paint_button)
        self._mode_group.addButton(self.erase_button)
        self.radius_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.radius_slider.setRange(MIN_RADIUS, SLIDER_MAX_RADIUS)
        self.radius_slider.setDecimals(1)
        self.radius_slider.setToolTip("Brush radius in image pixels ([ and ], or Ctrl + mouse wheel)")
        buttons = (("undo_button", "Undo", "Undo the last stroke (Ctrl+Z)"),
                   ("redo_button", "Redo", "Redo (Ctrl+Shift+Z or Ctrl+Y)"),
                   ("clear_button", "Clear", ""), ("invert_button", "Invert", ""),
                   ("load_button", "Load…", "Load a mask PNG of the image's size (non-zero = inside Ω)"),
                   ("save_button", "Save…", ""),
                   ("corrupt_button", "Corrupt region with noise",
                    "Demo: replace the painted region of the clean image by uniform noise (section 4.2); "
                    "the clean image becomes the ground truth"),
                   ("inpainting_button", "Compare inpainting…",
                    "Blind (eq. 8) vs masked (eq. 7) inpainting vs OpenCV Telea, side by side"))
        for name, text, tip in buttons:
            b = QPushButton(text)
            if tip:
                b.setToolTip(tip)
            setattr(self, name, b)
        self.show_check = QCheckBox("Show mask")
        self.show_check.setToolTip("Show or hide the painted mask (M)")
        self.info = QLabel()

    def _lay_out(self) -> None:
        top = QHBoxLayout()
        for w in (self.brush_button, self.paint_button, self.erase_button):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.show_check)
        grid = QGridLayout()
        for i, b in enumerate((self.undo_button, self.redo_button, self.clear_button, self.invert_button,
                               self.load_button, self.save_button)):
            grid.addWidget(b, i // 3, i % 3)
        row = QHBoxLayout()
        row.addWidget(QLabel("Radius"))
        row.addWidget(self.radius_slider, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addLayout(row)
        lay.addLayout(grid)
        for w in (self.corrupt_button, self.inpainting_button, self.info):
            lay.addWidget(w)
        lay.addStretch(1)

    def _connect(self) -> None:
        c = self.controller
        # widget → controller
        self.paint_button.clicked.connect(lambda: c.set_mode("paint"))
        self.erase_button.clicked.connect(lambda: c.set_mode("erase"))
        self.radius_slider.valueChanged.connect(c.set_radius)
        self.undo_button.clicked.connect(c.undo)
        self.redo_button.clicked.connect(c.redo)
        self.clear_button.clicked.connect(c.clear)
        self.invert_button.clicked.connect(c.invert)
        self.show_check.toggled.connect(c.set_mask_visible)
        self.load_button.clicked.connect(lambda: self.load_mask())
        self.save_button.clicked.connect(lambda: self.save_mask())
        self.corrupt_button.clicked.connect(lambda: self.corrupt_requested.emit(c.mask))
        self.inpainting_button.clicked.connect(lambda: self.inpainting_requested.emit(c.mask))
        # controller → widget (signals blocked: no feedback loops)
        c.radius_changed.connect(self._sync_radius)
        c.mode_changed.connect(self._sync_mode)
        c.visibility_changed.connect(self._sync_visible)
        c.history_changed.connect(self._sync_history)
        c.mask_changed.connect(lambda _r: self._sync_history())
        self._sync_radius(c.radius)
        self._sync_mode(c.mode)
        self._sync_visible(c.mask_visible)
        self._sync_history()

    def _sync_radius(self, r: float) -> None:
        """The slider's end follows a radius that ] or Ctrl+wheel grew past it (its label says the
        radius the brush paints with), and comes back to SLIDER_MAX_RADIUS once the radius is under
        it (not during a drag of the slider: its handle would jump)."""
        s, r = self.radius_slider, float(r)
        with signals_blocked(s):
            if r > s.maximum():
                s.setMaximum(r)
            elif r <= SLIDER_MAX_RADIUS and not s.isSliderDown():
                s.setMaximum(SLIDER_MAX_RADIUS)
            s.setValue(r)

    def _sync_mode(self, mode: str) -> None:
        (self.erase_button if mode == "erase" else self.paint_button).setChecked(True)

    def _sync_visible(self, on: bool) -> None:
        with signals_blocked(self.show_check):
            self.show_check.setChecked(on)

    def _sync_history(self) -> None:
        m = self.controller.mask_model
        self.undo_button.setEnabled(m.can_undo)
        self.redo_button.setEnabled(m.can_redo)
        n = m.count
        h, w = m.shape
        no_image = (h, w) == (1, 1)  # the session's placeholder mask until an image opens
        self.info.setText("Ω: none (open an image to paint it)" if no_image
                          else f"Ω: {n} px ({100.0 * n / (h * w):.1f} % of {w}×{h})")
        self.corrupt_button.setEnabled(n > 0)
        self.inpainting_button.setEnabled(n > 0)

    # ------------------------------------------------------------------ files
    def load_mask(self, path: str | None = None, ask: bool = True) -> bool:
        """Load Ω from ``path`` (a file dialog without it); a bad or wrong-size file is refused with
        a message box. Returns whether a mask was loaded as Ω.

        A file named like a defect's ground truth (``*_mask.*``) is asked about first: as Ω the
        projection could change exactly those pixels and the result would look like a perfect
        detection; "As Ground Truth" shows it as an outline instead (``ground_truth_requested``)."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load mask", self._dir, "Images (*.png *.bmp *.tif *.tiff *.jpg)")
            if not path:
                return False
        if ask and os.path.splitext(os.path.basename(str(path)))[0].endswith("_mask"):
            box = QMessageBox(QMessageBox.Icon.Question, "Load mask",
                              f"{os.path.basename(str(path))} is named like the ground truth of a defect.\n\n"
                              "As Ω (the pixels the projection may change, eq. 7) the run would change exactly "
                              "those pixels and look like a perfect detection. Show it as the ground truth (a "
                              "green outline, not used by the projection) instead?",
                              QMessageBox.StandardButton.NoButton, self)
            box.setObjectName("gt_or_omega")
            as_gt = box.addButton("As Ground Truth", QMessageBox.ButtonRole.AcceptRole)
            as_omega = box.addButton("As Ω", QMessageBox.ButtonRole.DestructiveRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.setDefaultButton(as_gt)
            box.exec()
            if box.clickedButton() is as_gt:
                self._dir = os.path.dirname(str(path))
                self.ground_truth_requested.emit(str(path))
                return False
            if box.clickedButton() is not as_omega:
                return False
        try:
            self.controller.load(path)
        except (MaskFileError, ValueError) as e:
            QMessageBox.warning(self, "Load mask", str(e))
            return False
        self._dir = os.path.dirname(str(path))
        return True

    def save_mask(self, path: str | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save mask", os.path.join(self._dir, "mask.png"), "PNG (*.png)")
            if not path:
                return False
        try:
            self.controller.save(path)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, "Save mask", str(e))
            return False
        self._dir = os.path.dirname(str(path))
        return True
