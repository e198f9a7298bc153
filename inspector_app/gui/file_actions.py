"""Opening models and images, the demo, exporting, the recent-files and sample menus, drag and drop.

Talks to the session only. A model file is opened in a worker (a TorchScript file runs a forward
pass to check itself); an image is read on the GUI thread (no model code). Bad input gets a dialog
naming the file and the problem, and the previous model or image stays.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QDir, QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from ..core.data import IMAGE_EXTENSIONS, ImageError, read_image
from ..resources import DEMO_IMAGE, DEMO_MODEL, resource, sample_images
from ..session import RunState, Session
from ..session.jobs import open_model
from ..session.samples import inside_resources, matching_model, sample_info
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
        self._written: set[Path] = set()  # files this window's exports wrote (replaced without asking)
        self._loading_path: str | None = None  # the model file opening in the worker
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
        self._loading_path = path
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
        try:
            s.set_model(loaded, path)  # changes nothing when it fails
        except (ValueError, RuntimeError) as e:
            self._error("Cannot open the model", f"{path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                        True)
            self.model_opened.emit(False)  # the previous model, image and result stay as they were
            return
        st.add_recent_file("models", str(Path(path).resolve()))
        st.set_last_dir("model", str(Path(path).resolve().parent))
        s.notice.emit(f"model: {Path(path).name} ({loaded.kind})", 6000)
        self.model_opened.emit(True)

    def _on_refused(self, w: TaskWorker, path: str, e: BaseException, show: bool) -> None:
        if w is not self._loading:
            return
        self._loading = None
        self.session.set_state(RunState.IDLE)
        from ..core.modelio import ModelFileError  # (torch is loaded by now: the model was read in a worker)

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
            h, w = p.working_shape
            msg += (f", resized to the model's {w}×{h}" if (h, w) == (p.model_size, p.model_size)
                    else f", brought to the model's working scale, {w}×{h}")
        if p is not None and p.working_shape != (p.model_size, p.model_size):
            from ..core.tiling import TileGrid

            n = len(TileGrid(p.working_shape[0], p.working_shape[1], p.model_size))
            msg += f"; projected in {n} tiles of {p.model_size}×{p.model_size}"
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
        folder = QFileDialog.getExistingDirectory(self.window, "Export to folder", self.export_dir())
        if not folder:
            return
        if inside_resources(folder):
            QMessageBox.warning(self.window, "Export", f"{folder} is the application's bundled resources folder, "
                                                      "which it never writes into: choose another folder.")
            return
        name = self.export_name(folder)
        if name is None:
            return
        try:
            files = self.export_results(folder, name, overwrite=True)
        except (OSError, ValueError, RuntimeError) as e:
            self._error("Export failed", str(e), True)
            return
        st.set_last_dir("export", folder)
        self.session.notice.emit(f"exported {len(files)} files named {name}_* to {folder}", 10000)

    def export_dir(self) -> str:
        """Where the export dialog opens: the last export folder, else the image's folder, else the
        user's documents folder — never the bundled resources folder."""
        s = self.session
        image_dir = str(Path(s.image.path).parent) if s.image is not None and s.image.path else ""
        for cand in (st.last_dir("export"), image_dir):
            if cand and Path(cand).is_dir() and not inside_resources(cand):
                return cand
        docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return docs if docs and Path(docs).is_dir() else QDir.homePath()

    def export_files(self, folder: str | Path, name: str) -> list[Path]:
        """The files an export named ``name`` writes into ``folder`` (Ω's only when one is painted)."""
        from ..core.pipeline import output_paths  # imported on use: the window starts without torch

        paths = list(output_paths(folder, name).values())
        if self.session.omega is not None:
            paths.append(Path(folder) / f"{name}_omega.png")
        return paths

    def collisions(self, folder: str | Path, name: str) -> list[Path]:
        """Files an export would replace that this window did not write itself."""
        return [p for p in self.export_files(folder, name) if p.exists() and p.resolve() not in self._written]

    def export_name(self, folder: str | Path, ask: bool = True) -> str | None:
        """The name to export under: the image's, or — when files of that name that this window did
        not write are in ``folder`` — the user's choice of replacing them, a free name, or None (cancel)."""
        name = self.session.prepared.name if self.session.prepared is not None else "image"
        clash = self.collisions(folder, name)
        if not clash:
            return name
        free = next(f"{name}_{k}" for k in range(1, 10000) if not any(p.exists() for p in self.export_files(folder, f"{name}_{k}")))
        if not ask:
            return free
        box = QMessageBox(QMessageBox.Icon.Question, "Export",
                          f"{len(clash)} file(s) named {name}_* are already in {folder} (e.g. {clash[0].name}), "
                          f"and this window did not write them.\n\nReplace them, or export as {free}_* beside them?",
                          QMessageBox.StandardButton.NoButton, self.window)
        box.setObjectName("export_collision")
        keep = box.addButton(f"Export as {free}", QMessageBox.ButtonRole.AcceptRole)
        replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        return free if clicked is keep else name if clicked is replace else None

    def export_results(self, folder: str | Path, name: str | None = None, overwrite: bool = False) -> dict[str, str]:
        """Write the run's final outputs at the image's size (PNGs, the DSSIM map, Ω when painted, a
        JSON with the same fields as the ``project`` command's), atomically, as ``name`` (the image's
        by default). Refuses (``FileExistsError``) to replace a file this window did not write,
        unless ``overwrite``; never writes into the bundled resources folder."""
        s = self.session
        frame, prep = s.result, s.prepared
        if frame is None or prep is None:
            raise RuntimeError("nothing to export: run the projection first")
        if inside_resources(folder):
            raise ValueError(f"{folder} is the bundled resources folder: the window never writes into it")
        name = name or prep.name
        clash = self.collisions(folder, name)
        if clash and not overwrite:
            raise FileExistsError(f"{clash[0]} exists (not written by this window): choose another folder or name")
        curves = s.energy.series()
        omega = s.omega
        extra = {
            "source": s.image.path, "model": s.model_path, "model_kind": s.loaded.kind, "image": s.image.path,
            "device": str(s.loaded.device), "recon_loss_x0": s.lr0, "run_finished": bool(frame.finished),
            "stopped_by_user": s.stopped_by_user, "energy_terms": curves,
            "omega_file": f"{name}_omega.png" if omega is not None else None,
            "omega_pixels": int(omega.sum()) if omega is not None else 0,
        }
        from ..core.pipeline import write_outputs
        from ..session.export import finish_frame

        d = s.display
        out = finish_frame(prep, frame, compare=d.compare, threshold=d.threshold, min_area=d.min_area,
                           threshold_source=s.export_threshold_source, warnings=list(s.warning_items),
                           energy_curve=curves["E"], extra=extra)
        out.name = name
        out.info["name"] = name
        written: dict[str, str] = {}
        if omega is not None:  # Ω first: a JSON never names a file that is not there
            from ..core.data import write_image

            written["omega"] = str(write_image(Path(folder) / f"{name}_omega.png", (omega * 255).astype("uint8")))
        written.update(write_outputs(out, folder, original=prep.original))
        self._written.update(Path(p).resolve() for p in written.values())
        return written

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
            a = m.addAction(f"{p.parent.name}/{p.name}")
            a.setStatusTip(f"Open {p.name} with the bundled {p.parent.name} model")
            a.triggered.connect(lambda _c=False, p=p: self.open_sample(p))
        if m.isEmpty():
            m.addAction("(no samples installed)").setEnabled(False)

    def open_sample(self, path: str | Path) -> bool:
        """A bundled sample with the model it belongs to (opened when the current one is of another
        category) and what lies beside it: a defect's ground truth as an outline, or for an
        inpainting sample its corrupted region as Ω and the clean image as the ground truth."""
        s = self.session
        info = sample_info(path)
        model = matching_model(info.path, s.model_path if self._loading is None else self._loading_path)
        if model is not None:
            self.open_model(model)
        try:
            img = read_image(info.path)
        except (ImageError, OSError, ValueError) as e:
            self._error("Cannot open the image", str(e), True)
            return False
        omega = clean = None
        try:
            if info.mask_is_omega and info.mask is not None:
                from ..core.mask import load_mask_png

                omega = load_mask_png(info.mask, img.shape[:2])
                clean = read_image(info.clean) if info.clean is not None else None
        except (ImageError, OSError, ValueError):
            omega = clean = None  # the sample alone, without its mask
        s.request_stop()
        s.set_image(img, str(info.path), ground_truth=clean, omega=omega)
        st.add_recent_file("images", str(info.path.resolve()))
        if not info.mask_is_omega and info.mask is not None:
            try:
                s.load_ground_truth(str(info.mask))
            except ValueError:
                pass
        what = " with its model" if model is not None else ""
        extra = (", its corrupted region as Ω" if omega is not None else
                 ", its ground truth outlined in green" if s.gt_mask is not None else "")
        s.notice.emit(f"sample {info.category}/{info.path.name}{what}{extra}", 8000)
        return True

    # ------------------------------------------------------------------ ground truth
    def choose_ground_truth(self) -> None:
        if self.session.image is None:
            QMessageBox.information(self.window, "Load ground truth", "Open an image first.")
            return
        start = str(Path(self.session.image.path).parent) if self.session.image.path else st.last_dir("image")
        path, _ = QFileDialog.getOpenFileName(self.window, "Load ground-truth defect mask", start,
                                              "Images (*.png *.bmp *.tif *.tiff *.jpg);;All files (*)")
        if path:
            self.load_ground_truth(path)

    def load_ground_truth(self, path: str | Path, show_errors: bool = True) -> bool:
        """Show a defect mask of the image's size as the ground truth (an outline; never Ω)."""
        try:
            self.session.load_ground_truth(str(path))
        except (OSError, ValueError) as e:
            self._error("Cannot load the ground truth", str(e), show_errors)
            return False
        n = int(self.session.gt_mask.sum()) if self.session.gt_mask is not None else 0
        self.session.notice.emit(f"ground truth: {Path(path).name} ({n} px), outlined in green", 8000)
        return True
