"""Opening models and images, the demo, exporting, the recent-files and sample menus, drag and drop.

Talks to the session only. A model file is opened in a worker (a TorchScript file runs a forward
pass to check itself); an image is read on the GUI thread (no model code). Bad input gets a dialog
naming the file and the problem, and the previous model or image stays.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from ..core.data import IMAGE_EXTENSIONS, ImageError, read_image
from ..core.modelio import ModelFileError
from ..core.pipeline import write_outputs
from ..resources import DEMO_IMAGE, DEMO_MODEL, resource, sample_images
from ..session import RunState, Session
from ..session.export import finish_frame
from ..session.jobs import open_model
from . import settings as st
from .run_controller import ask_restart
from .worker import TaskWorker, run_in_worker

MODEL_EXTENSIONS = (".safetensors", ".pt", ".pth", ".ts", ".torchscript")
MODEL_FILTER = "Models (*.safetensors *.pt *.pth *.ts *.torchscript);;All files (*)"


class FileActions(QObject):
    """File operations on ``session``; ``parent`` is the window the dialogs belong to.

    Signal ``model_opened(bool)``: a model file finished opening (True) or was refused (False).
    """

    model_opened = Signal(bool)

    def __init__(self, session: Session, parent: QWidget):
        super().__init__(parent)
        self.session, self.window = session, parent
        self._loading: TaskWorker | None = None
        self._reload_path: str | None = None
        session.device_changed.connect(self._on_device_changed)

    @property
    def loading(self) -> bool:
        return self._loading is not None

    def wait(self) -> None:
        """Join a model file still opening and forget it (the window is closing)."""
        w, self._loading = self._loading, None
        if w is not None:
            w.wait()

    def _error(self, title: str, text: str, show: bool) -> None:
        if show:
            QMessageBox.critical(self.window, title, text)
        self.session.notice.emit(text, 10000)

    # ------------------------------------------------------------------ models
    def open_model(self, path: str | Path, show_errors: bool = True) -> TaskWorker:
        """Open a model file in a worker; the session takes it when it is good (``model_opened``)."""
        s, path = self.session, str(path)
        s.request_stop()
        if self._loading is None:
            s.set_state(RunState.LOADING)
        w = run_in_worker(open_model, path, s.device,
                          on_result=lambda loaded: self._on_loaded(w, path, loaded),
                          on_error=lambda e: self._on_refused(w, path, e, show_errors))
        self._loading = w
        return w

    def _on_loaded(self, w: TaskWorker, path: str, loaded) -> None:
        if w is not self._loading:
            return  # a newer file was asked for meanwhile
        self._loading = None
        s = self.session
        s.set_state(RunState.IDLE)
        s.set_model(loaded, path)
        st.add_recent_file("models", str(Path(path).resolve()))
        st.set_last_dir("model", str(Path(path).resolve().parent))
        s.notice.emit(f"model: {Path(path).name} ({loaded.kind})", 6000)
        self.model_opened.emit(True)

    def _on_refused(self, w: TaskWorker, path: str, e: BaseException, show: bool) -> None:
        if w is not self._loading:
            return
        self._loading = None
        self.session.set_state(RunState.IDLE)
        if isinstance(e, ModelFileError):
            msg = str(e)
        else:
            msg = f"{path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        self._error("Cannot open the model", msg, show)
        self.model_opened.emit(False)

    def _on_device_changed(self, device: str) -> None:
        s = self.session
        if s.model_path is None:
            return
        if s.running and not ask_restart(self.window, "device"):
            s.notice.emit("the device applies when the model is next opened", 6000)
            return
        self.open_model(s.model_path)

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", st.last_dir("model"), MODEL_FILTER)
        if path:
            self.open_model(path)

    # ------------------------------------------------------------------ images
    def open_image(self, path: str | Path, show_errors: bool = True) -> bool:
        """Read an image; on failure show the one-line reason and keep the previous image."""
        path = str(path)
        try:
            img = read_image(path)
        except ImageError as e:
            self._error("Cannot open the image", str(e), show_errors)
            return False
        except (OSError, ValueError) as e:
            self._error("Cannot open the image", f"{path}: {e}", show_errors)
            return False
        s = self.session
        s.request_stop()
        s.set_image(img, path)
        st.add_recent_file("images", str(Path(path).resolve()))
        st.set_last_dir("image", str(Path(path).resolve().parent))
        msg = f"image: {Path(path).name} ({img.shape[1]}×{img.shape[0]})"
        p = s.prepared
        if p is not None and p.resized:
            msg += f", resized to the model's {p.model_input.shape[1]}×{p.model_input.shape[0]}"
        s.notice.emit(msg, 8000)
        if s.loaded is None and s.state != RunState.LOADING:
            s.notice.emit("Now open a model (Ctrl+M) to inspect this image.", 0)
        return True

    def choose_image(self) -> None:
        pats = " ".join(f"*{e}" for e in IMAGE_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self.window, "Open image", st.last_dir("image"),
                                              f"Images ({pats});;All files (*)")
        if path:
            self.open_image(path)

    def open_path(self, path: str | Path) -> bool:
        """Open a model or an image, by its extension (unknown extensions are tried as a model)."""
        p = str(path)
        if p.lower().endswith(IMAGE_EXTENSIONS):
            return self.open_image(p)
        self.open_model(p)
        return True

    def open_paths(self, paths: list[str]) -> None:
        """Dropped files: models first, so that an image dropped with its model is prepared for it."""
        for f in sorted(paths, key=lambda f: not f.lower().endswith(MODEL_EXTENSIONS)):
            self.open_path(f)

    def open_demo(self) -> bool:
        """The bundled brick model and stained sample; a status message when they are not installed."""
        m, i = resource(DEMO_MODEL), resource(DEMO_IMAGE)
        if m is not None:
            self.open_model(m)
        ok = self.open_image(i) if i is not None else True
        if m is None or i is None:
            s = self.session
            missing = " and ".join(n for n, p in ((DEMO_MODEL, m), (DEMO_IMAGE, i)) if p is None)
            todo = " and ".join(t for t, have in (("a model (Ctrl+M)", s.loaded or self.loading),
                                                  ("an image (Ctrl+O)", s.image)) if not have)
            s.notice.emit(f"The bundled demo ({missing}) is not installed: open {todo}.", 0)
            return False
        return ok

    # ------------------------------------------------------------------ export
    def choose_export(self) -> None:
        if self.session.result is None:
            QMessageBox.information(self.window, "Export", "Nothing to export yet: run the projection first (F5).")
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Export to folder", st.last_dir("export"))
        if not folder:
            return
        try:
            files = self.export_results(folder)
        except (OSError, ValueError, RuntimeError) as e:
            self._error("Export failed", str(e), True)
            return
        st.set_last_dir("export", folder)
        self.session.notice.emit(f"exported {len(files)} files to {folder}", 10000)

    def export_results(self, folder: str | Path) -> dict[str, str]:
        """Write the run's final outputs at the image's size (PNGs, the DSSIM map, a JSON), atomically."""
        s = self.session
        frame, prep = s.result, s.prepared
        if frame is None or prep is None:
            raise RuntimeError("nothing to export: run the projection first")
        curves = s.energy.series()
        extra = {
            "model": s.model_path, "model_kind": s.loaded.kind, "image": s.image.path,
            "device": str(s.loaded.device), "run_finished": bool(frame.finished),
            "stopped_by_user": s.stopped_by_user, "energy_terms": curves,
        }
        out = finish_frame(prep, frame, compare=s.display.compare, threshold=s.display.threshold,
                           energy_curve=curves["E"], extra=extra)
        return write_outputs(out, folder, original=prep.original)

    # ------------------------------------------------------------------ menus
    def fill_recent_menu(self, m: QMenu) -> None:
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
            m.addAction("(none)").setEnabled(False)
        else:
            m.addSeparator()
            m.addAction("Clear Recent Files", st.clear_recent_files)

    def fill_samples_menu(self, m: QMenu) -> None:
        m.clear()
        for p in sample_images():
            m.addAction(f"{p.parent.name}/{p.name}").triggered.connect(lambda _c=False, p=p: self.open_image(p))
        if m.isEmpty():
            m.addAction("(no samples installed)").setEnabled(False)
