"""Review mode's dialogs and menu entries that hold no state: the question about a review made with
another model, the verdicts not applied, the recent folders in File → Open Recent, and the file of
an exported report."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from .. import settings as st


def ask_conflict(parent: QWidget, text: str) -> str:
    """Ask the reviewer about a review made with another model: ``continue``, ``new`` or ``close``."""
    box = QMessageBox(QMessageBox.Icon.Question, "Review made with another model", text, parent=parent)
    box.setInformativeText("Continue the review with the open model (your verdicts stay; each keeps the "
                           "model it was made with), or start a new review (the old file is kept, renamed)?")
    cont = box.addButton("Continue the review", QMessageBox.ButtonRole.AcceptRole)
    new = box.addButton("Start a new review", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Close the folder", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(cont)
    box.exec()
    b = box.clickedButton()
    return "continue" if b is cont else "new" if b is new else "close"


def show_not_applied(parent: QWidget, notes: list[str]) -> None:
    """Say which verdicts of the review file were kept but not applied (non-modal)."""
    box = QMessageBox(QMessageBox.Icon.Information, "Earlier verdicts not applied",
                      f"{len(notes)} verdict(s) of the review file are kept in it but not applied:\n\n"
                      + "\n".join(notes[:12]) + ("\n…" if len(notes) > 12 else ""),
                      QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()


def add_recent_folders(m: QMenu, open_folder: Callable[[str], object]) -> None:
    """The recent folders in File → Open Recent (filled by the file actions first), in a section of
    their own before its Clear entry."""
    folders = st.recent_files("folders")
    if not folders:
        return
    acts = m.actions()
    if len(acts) == 1 and not acts[0].isEnabled():  # "(none)": only folders, then
        m.clear()
    acts = m.actions()
    clear = next((a for a in acts if a.text() == "Clear Recent Files"), None)
    before = acts[acts.index(clear) - 1] if clear is not None and acts.index(clear) > 0 else None
    items = []
    for f in folders:
        a = QAction(Path(f).name or f, m)
        a.setToolTip(f)
        a.setStatusTip(f)
        a.triggered.connect(lambda _c=False, f=f: open_folder(f))
        items.append(a)
    if before is not None:
        m.insertSection(before, "Folders")
        m.insertActions(before, items)
    else:
        m.addSection("Folders")
        m.addActions(items)
        m.addSeparator()
        m.addAction("Clear Recent Files", st.clear_recent_files)


def choose_report_file(parent: QWidget, folder: Path) -> str:
    """The HTML file to export a review to ('' when cancelled); the dialog asks before replacing one."""
    start = Path(st.last_dir("report") or folder) / f"{folder.name}-review.html"
    path, _f = QFileDialog.getSaveFileName(parent, "Export the review as an HTML report", str(start),
                                           "HTML report (*.html)")
    if path:
        st.set_last_dir("report", str(Path(path).parent))
    return path
