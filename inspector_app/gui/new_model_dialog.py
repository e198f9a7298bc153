"""File → New Model from Folder…: a model of a person's own parts, built in the window.

Thin over :mod:`inspector_app.session.new_model` (the folder's scan, the proposed settings, the
preview tile) and :mod:`inspector_app.session.training_run` (``train`` in another process, read
through the progress protocol). Two pages: the folder and the settings — how many images, their
sizes and channels, one model-size tile at the working scale, the kind, protocol, budget and the
file it will write (never an existing one) —, then :class:`~.training_view.TrainingView`. When the
run ends with a model, the window opens it (its calibrated defaults apply) and the page shows its
card: what it learned, what its calibration passes and catches, the warnings that apply.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QStackedWidget, QVBoxLayout, QWidget)

from ..core.model_fit import card_lines
from ..core.models import KINDS
from ..core.ranges import RANGES
from ..session.new_model import FolderProblem, FolderScan, NewModelSettings, preview_tile, propose, scan_folder
from ..session.training_run import TrainingRun
from .training_view import TrainingView, pixmap
from .worker import run_in_worker

PROTOCOLS = (("texture: model-size crops at the image's own scale (≤ 512 px)", True),
             ("object: the whole image resized to the model's size", False))
SIZES = (64, 128, 256)


class NewModelDialog(QDialog):
    """See the module docstring; ``win`` is the :class:`~.main_window.MainWindow` that opens the model."""

    def __init__(self, win, folder: str | Path | None = None, out_folder: Path | None = None):
        super().__init__(win)
        self.win, self.out_folder = win, out_folder
        self.setWindowTitle("New Model from Folder")
        self.setObjectName("new_model_dialog")
        self.scan: FolderScan | None = None
        self.settings: NewModelSettings | None = None
        self.run: TrainingRun | None = None
        self.card = ""
        self._scanning = None
        self.pages = QStackedWidget()
        self.pages.addWidget(self._setup_page())
        self.view = TrainingView()
        self.view.ended.connect(self._ended)
        self.view.cancel_button.clicked.connect(self._cancel)
        self.pages.addWidget(self.view)
        lay = QVBoxLayout(self)
        lay.addWidget(self.pages)
        self.resize(760, 640)
        if folder is not None:
            self.set_folder(folder)

    # ------------------------------------------------------------------ the setup page
    def _setup_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a folder of photographs of good parts (or an MVTec AD category)")
        self.folder_edit.returnPressed.connect(lambda: self.set_folder(self.folder_edit.text()))
        browse = QPushButton("Choose Folder…")
        browse.clicked.connect(self._choose_folder)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        lay.addLayout(row)
        self.summary = QLabel("Choose a folder of good images.")
        self.summary.setObjectName("new_model_summary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary)
        mid = QHBoxLayout()
        form = QFormLayout()
        self.kind = QComboBox()
        self.kind.addItems(list(KINDS))
        self.protocol = QComboBox()
        for text, _crop in PROTOCOLS:
            self.protocol.addItem(text)
        self.size = QComboBox()
        self.size.addItems([str(s) for s in SIZES])
        self.size.setCurrentText("128")
        self.channels = QComboBox()
        self.channels.addItems(["grey", "colour"])
        self.minutes = _spin("train_minutes")
        self.out_edit = QLineEdit()
        for w in (self.protocol, self.size, self.channels):
            w.currentIndexChanged.connect(self._update_preview)
        form.addRow("Model", self.kind)
        form.addRow("Protocol", self.protocol)
        form.addRow("Model size (px)", self.size)
        form.addRow("Channels", self.channels)
        form.addRow("Training time", self.minutes)
        self.calibration_note = QLabel("")  # the time after the training, which the budget above leaves out
        self.calibration_note.setObjectName("new_model_calibration_note")
        form.addRow("Calibration", self.calibration_note)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        save_as = QPushButton("…")
        save_as.clicked.connect(self._choose_out)
        out_row.addWidget(save_as)
        form.addRow("Model file", out_row)
        mid.addLayout(form, 1)
        tile_box = QVBoxLayout()
        self.tile = QLabel()
        self.tile.setObjectName("new_model_tile")
        self.tile.setFixedSize(192, 192)
        self.tile.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.tile.setStyleSheet("background: #20262c;")
        tile_box.addWidget(self.tile)
        self.tile_caption = QLabel("one model-size image, as the model will learn it")
        self.tile_caption.setWordWrap(True)
        self.tile_caption.setMaximumWidth(192)
        tile_box.addWidget(self.tile_caption)
        tile_box.addStretch(1)
        mid.addLayout(tile_box)
        lay.addLayout(mid)
        lay.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("new_model_train")
        self.train_button.setDefault(True)
        self.train_button.setEnabled(False)
        self.train_button.clicked.connect(self.start_training)
        buttons.addWidget(close)
        buttons.addWidget(self.train_button)
        lay.addLayout(buttons)
        return page

    def _choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "A folder of good images", self.folder_edit.text())
        if d:
            self.set_folder(d)

    def _choose_out(self) -> None:
        f, _ = QFileDialog.getSaveFileName(self, "Model file", self.out_edit.text(), "Model (*.safetensors)")
        if f:
            self.out_edit.setText(f if f.endswith(".safetensors") else f + ".safetensors")

    def set_folder(self, folder: str | Path) -> None:
        """Scan ``folder`` in a worker; the page fills in when it is done."""
        self.folder_edit.setText(str(folder))
        self.summary.setText(f"reading the images of {folder}…")
        self.train_button.setEnabled(False)
        self._scanning = run_in_worker(scan_folder, str(folder), on_result=self._scanned, on_error=self._scan_failed)

    @property
    def scanning(self) -> bool:
        return self._scanning is not None

    def _scanned(self, scan: FolderScan) -> None:
        self._scanning = None
        self.scan = scan
        s = propose(scan, self.out_folder)
        self.settings = s
        self.kind.setCurrentText(s.kind)
        self.protocol.setCurrentIndex(0 if s.crop else 1)
        self.channels.setCurrentIndex(0 if s.channels == 1 else 1)
        self.minutes.setValue(s.minutes)
        self.calibration_note.setText(f"then up to {s.calibrate_minutes:g} min: it sets the threshold on the images "
                                      "held out")
        self.out_edit.setText(str(s.out))
        warns = scan.warnings()
        self.summary.setText(scan.summary() + "".join(f"\n⚠ {w}" for w in warns))
        self._update_preview()
        self.train_button.setEnabled(True)

    def _scan_failed(self, e: BaseException) -> None:
        self._scanning = None
        self.scan = None
        msg = str(e) if isinstance(e, FolderProblem) else f"{type(e).__name__}: {e}"
        self.summary.setText(f"⚠ {msg}")
        self.tile.clear()
        QMessageBox.warning(self, "Cannot train on this folder", msg)

    def current_settings(self) -> NewModelSettings:
        assert self.settings is not None
        return replace(self.settings, kind=self.kind.currentText(), crop=PROTOCOLS[self.protocol.currentIndex()][1],
                       image_size=int(self.size.currentText()), channels=1 if self.channels.currentIndex() == 0 else 3,
                       minutes=float(self.minutes.value()), out=Path(self.out_edit.text()).expanduser())

    def _update_preview(self) -> None:
        if self.scan is None or self.settings is None:
            return
        s = self.current_settings()
        tile = preview_tile(self.scan, s)
        import numpy as np

        self.tile.setPixmap(pixmap(np.clip(np.rint(tile * 255), 0, 255).astype(np.uint8), 192))
        self.tile_caption.setText(f"one {s.image_size}×{s.image_size} image as the model will learn it "
                                  f"({'a crop at the image scale' if s.crop else 'the whole image'})")

    # ------------------------------------------------------------------ training
    def start_training(self) -> None:
        try:
            s = self.current_settings().check()
        except ValueError as e:
            QMessageBox.warning(self, "Cannot train", str(e))
            return
        self.run = TrainingRun(s)
        self.pages.setCurrentIndex(1)
        try:
            self.view.start(self.run)
        except OSError as e:
            self.pages.setCurrentIndex(0)
            QMessageBox.warning(self, "Cannot start the training", str(e))

    def _cancel(self) -> None:
        self.view.cancel()
        self.pages.setCurrentIndex(0)
        if self.scan is not None:  # a fresh proposal: the cancelled run left nothing behind
            self._scanned(self.scan)

    def _ended(self, state: str) -> None:
        if state == "failed":
            QMessageBox.warning(self, "The training stopped", self.run.message if self.run else "")
        if state != "finished" or self.run is None:
            return
        self.view.message.setText(f"{self.run.out}: opening it in the window…")
        self.win.files.model_opened.connect(self._opened)
        self.win.open_model(str(self.run.out))

    def _opened(self, ok: bool) -> None:
        self.win.files.model_opened.disconnect(self._opened)
        if not ok or self.run is None or self.win.session.loaded is None:
            return
        folder_warns = [w for w in (self.scan.warnings() if self.scan else []) if not w.startswith("only ")]
        self.card = "\n".join(card_lines(self.win.session.loaded.meta, folder_warns))
        self.view.message.setText(f"{self.run.out.name} is open in the window.\n{self.card}")
        self.view.phase_label.setText("done: the new model is open with its calibrated defaults")

    def shutdown(self) -> None:
        """The window closes: a run still going is cancelled (nothing of it is kept), no question asked."""
        if self.run is not None and self.run.running:
            self.view.cancel()
        self.close()

    def reject(self) -> None:
        """Closing the dialog while a run goes on cancels it (nothing half-written stays)."""
        if self.run is not None and self.run.running:
            if QMessageBox.question(self, "Cancel the training?", "The training is still running. Cancel it? "
                                    "Nothing of it is kept.") != QMessageBox.StandardButton.Yes:
                return
            self.view.cancel()
        elif self.run is not None:
            self.run.close()
        super().reject()


def _spin(name: str) -> QDoubleSpinBox:
    r = RANGES[name]
    sp = QDoubleSpinBox()
    sp.setRange(r.minimum, r.maximum)
    sp.setDecimals(1)
    sp.setValue(r.default)
    sp.setSuffix(f" {r.unit}")
    sp.setToolTip(r.help)
    return sp


def open_new_model_dialog(win, folder: str | Path | None = None) -> NewModelDialog:
    """Show the dialog over ``win`` (non-modal: the window stays usable) and return it; while one
    is training, that one comes to the front instead (one training at a time)."""
    old = getattr(win, "new_model_dialog", None)
    if old is not None and old.run is not None and old.run.state in ("running", "pausing", "paused"):
        old.show()
        old.raise_()
        old.activateWindow()
        return old
    dlg = NewModelDialog(win, folder)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    dlg.show()
    win.new_model_dialog = dlg
    return dlg
