"""Review mode's model: a folder of parts, their results, the reviewer's verdicts (no Qt).

A :class:`ReviewSession` sits beside the window's :class:`~inspector_app.session.model.Session` and shares its display
settings: the segmentation threshold ``display.threshold`` is T1, the verdict threshold, and
``display.min_area`` the smallest region counted, so one number moves the histogram's line, every
image's verdict and the segmentation on screen together (:mod:`inspector_app.core.verdict`). An
optional second threshold T2 ≥ T1 makes a marginal band (:mod:`.stats`).

It holds the folder's parts (:mod:`.folder`), their results (:mod:`.results`; maps
on disk, :mod:`.store`), the verdicts (:mod:`.records`), the filter and the selection.
Results are kept across reviews in a bounded cache on disk (:mod:`.cache`): reopening a folder
projects only the images, model or parameters that changed (:meth:`run_job`).
Selecting an image puts it into the session with its stored result (nothing runs); a verdict is
written at once to the review file (:mod:`.file`). Worker threads are the window's business:
this model hands out what to project (:meth:`begin_run`) and takes what came back.

Signals: ``opened()``, ``closed()``, ``rows_changed(list | None)`` (rows whose data changed; None:
all), ``verdicts_changed()`` (the model's verdicts moved: thresholds, band, scores),
``selection_changed(int)`` (-1: none), ``filter_changed(str)``, ``band_changed(object)``,
``labels_changed(str)``, ``progress(int, int)``, ``running_changed(bool)``, ``saved(str)``,
``save_failed(str)``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator

import numpy as np
from psygnal import Signal

from ... import __version__
from ...core.checks import folder_fit_warning
from ...core.data import ImageError, read_image
from ...core.params import ProjectionParams
from ...core.pipeline import SCORE_DEFINITION
from ...core.ranges import RANGES
from ..frames import Frame
from ..model import Session
from .cache import ResultCache, result_key
from .file import REVIEW_VERDICTS, ReviewDoc, fallback_dir, now_iso, quarantine, write_review
from .folder import FolderScan, file_sha256
from .jobs import folder_job, read_gt, rescore
from .queries import FILTERS, LABEL_SOURCES, ReviewQueries
from .records import FolderOpening, Review, image_record, model_conflict, prepare_folder, resume_reviews
from .report import write_report
from .results import FolderResults, stored_frame
from .stats import MODEL_VERDICTS, FolderStats
from .store import AreaKey, ImageFailure, ImageResult, ResultStore

if TYPE_CHECKING:
    from ...core.modelio import LoadedModel
    from ..model import InputImage

#: What :func:`~.jobs.rescore` gives: per image, its scores (or None), its anomalous fraction and IoU.
Rescored = dict[int, tuple[dict[str, float] | None, float, float | None]]

__all__ = ["FILTERS", "LABEL_SOURCES", "FolderOpening", "FolderStats", "Review", "ReviewSession", "prepare_folder"]

class ReviewSession(ReviewQueries):
    """See the module docstring; what it answers without changing anything is :class:`~.queries.ReviewQueries`."""

    opened = Signal()
    closed = Signal()
    rows_changed = Signal(object)
    verdicts_changed = Signal()
    selection_changed = Signal(int)
    filter_changed = Signal(str)
    band_changed = Signal(object)
    labels_changed = Signal(str)
    progress = Signal(int, int)
    running_changed = Signal(bool)
    saved = Signal(str)
    save_failed = Signal(str)

    def __init__(self, session: Session, frr_target: float = RANGES["frr_target"].default,
                 cache: ResultCache | None = None):
        self.session = session
        #: Results kept across reviews (:mod:`.cache`); None: none kept.
        self.cache = cache if cache is not None else ResultCache()
        self.frr_target = float(frr_target)
        self.show_ground_truth = True
        self.scan: FolderScan | None = None
        self.store: ResultStore | None = None
        self.json_path: Path | None = None
        self.csv_path: Path | None = None
        self._reset()
        d = session.display
        d.events.threshold.connect(self._on_threshold)
        d.events.compare.connect(self._on_threshold)
        d.events.min_area.connect(self._on_threshold)
        session.image_changed.connect(self._on_session_image)

    def _reset(self) -> None:
        self.items = self.scan.items if self.scan is not None else []
        n = len(self.items)
        self.sha: list[str | None] = [None] * n
        self.folder_results = FolderResults(n)
        self.reviews: list[Review | None] = [None] * n
        self.stale: list[dict[str, Any]] = []
        self.doc_header: dict[str, Any] = {}
        self.current = -1
        self.current_gt: np.ndarray | None = None
        self.filter = "all"
        self.marginal_upper: float | None = None
        self.label_source = "reviewer"
        self.run_model: dict[str, Any] = {}
        self._dirty = False
        self._selecting = False

    # ================================================================== folder
    def open(self, scan: FolderScan, hashes: list[str | None], doc: ReviewDoc | None,
             json_path: Path, csv_path: Path, store: ResultStore | None = None) -> list[str]:
        """Show the parts of ``scan`` (``hashes``: their SHA-256) and resume the review ``doc``.

        A verdict is resumed only for an image whose bytes are unchanged (same SHA-256); the others
        are kept as ``stale`` records, written back with every save. Returns one line per verdict
        not resumed (for the user)."""
        self.close()
        self.scan = scan
        self._reset()
        self.sha = list(hashes)
        self.store = store or ResultStore()
        self.json_path, self.csv_path = Path(json_path), Path(csv_path)
        self.label_source = "ground_truth" if scan.has_ground_truth else "reviewer"
        notes = self._resume(doc) if doc is not None else []
        self.opened.emit()
        self.filter_changed.emit(self.filter)  # "all" again: the combo must not say the last folder's filter
        self.rows_changed.emit(None)
        self.band_changed.emit(self.marginal_upper)
        self.labels_changed.emit(self.label_source)
        return notes

    #: Opening a folder, in the window's worker (touches no state): a :class:`FolderOpening`.
    prepare = staticmethod(prepare_folder)
    #: The SHA-256 of a file (the model's), in the window's worker.
    sha256 = staticmethod(file_sha256)

    def open_prepared(self, op: FolderOpening) -> tuple[list[str], Path | None]:
        """Open what :meth:`prepare` found; an unusable review file is put aside first (renamed with the
        time) and a new review starts. Returns the lines of :meth:`open` and where the unusable file went."""
        moved = quarantine(op.json_path) if op.doc_error is not None and op.json_path.exists() else None
        return self.open(op.scan, op.hashes, op.doc, op.json_path, op.csv_path), moved

    def _resume(self, doc: ReviewDoc) -> list[str]:
        self.doc_header = dict(doc.header)
        t2 = doc.header.get("marginal_upper")
        if isinstance(t2, (int, float)) and 0 <= t2 <= 1:
            self.marginal_upper = float(t2)
        if doc.header.get("label_source") in LABEL_SOURCES and self.scan is not None and self.scan.has_ground_truth:
            self.label_source = doc.header["label_source"]
        self.reviews, self.stale, notes = resume_reviews(doc, self.items, self.sha)
        return notes

    def model_conflict(self, model_sha256: str | None) -> str | None:
        """A message when the resumed review was made with another model than ``model_sha256`` and
        holds verdicts (they must not be merged silently), else None."""
        return model_conflict(self.doc_header, self.n_reviewed, model_sha256)

    def start_new_review(self) -> Path | None:
        """Put the review file aside (renamed with the time) and forget its verdicts. Returns the
        old file's new path."""
        moved = None
        if self.json_path is not None and self.json_path.exists():
            moved = quarantine(self.json_path)
        self.reviews = [None] * len(self.items)
        self.stale, self.doc_header = [], {}
        self.rows_changed.emit(None)
        self.verdicts_changed.emit()
        return moved

    def adopt_model(self, model_path: str | None, model_sha256: str | None, kind: str | None) -> None:
        """The results from now on come from this model (the conflict, if any, was settled)."""
        path = str(Path(model_path).resolve()) if model_path else None
        self.doc_header["model"] = {"path": path, "sha256": model_sha256, "kind": kind}
        self.run_model = dict(self.doc_header["model"])
        self._remember_shown()

    def restore_threshold(self) -> bool:
        """Take T1 and the minimum area from the resumed review (same model only). True when taken."""
        h = self.doc_header
        t = h.get("threshold")
        if not isinstance(t, (int, float)) or not 0 <= t <= 1:
            return False
        self.session.display.threshold = float(t)
        a = h.get("min_area")
        if isinstance(a, int) and a >= 1:
            self.session.display.min_area = a
        return True

    def close(self) -> None:
        """Save, forget the folder, remove the map cache."""
        if self.scan is None:
            return
        self.save_if_dirty()
        if self.store is not None:
            self.store.close()
        self.scan, self.store = None, None
        self._reset()
        self.closed.emit()

    # ================================================================== runs
    def begin_run(self, params: ProjectionParams, resume: bool = False) -> tuple[list[tuple[int, Any]], int]:
        """A run of the folder with ``params``. Returns the (index, item) pairs to project and the
        store's generation for the worker. ``resume``: only the images without a result yet (same
        parameters and model: after a cancel), else every image again (the results are forgotten)."""
        assert self.store is not None
        fr = self.folder_results
        if not fr.will_resume(params, resume):
            self.store.new_generation()
        todo = fr.begin(params, self.items, resume)
        self.running_changed.emit(True)
        self.progress.emit(0, fr.total)
        self.rows_changed.emit(None)
        self.verdicts_changed.emit()
        return todo, self.store.generation

    def run_job(self, loaded: LoadedModel, params: ProjectionParams, resume: bool = False,
                batch: int = 8) -> Callable[[], Generator[list[ImageResult | ImageFailure] | None, None, None]]:
        """:meth:`begin_run`, and the generator function the window's worker runs for it
        (:func:`~.jobs.folder_job` bound to this folder's images, store and thresholds)."""
        todo, generation = self.begin_run(params, resume)
        assert self.store is not None  # begin_run needs it
        model_sha = self.run_model.get("sha256")
        keys = {i: result_key(self.sha[i], model_sha, params) for i, _item in todo}
        return partial(folder_job, loaded, todo, params, self.store, generation=generation, compare=self.compare,
                       threshold=self.threshold, min_area=self.min_area, batch=batch, cache=self.cache, keys=keys)

    def fit_warning(self) -> str | None:
        """The folder-level warning when a share of the images projected so far lies outside what the
        model was trained on (:func:`inspector_app.core.checks.folder_fit_warning`), else None."""
        return folder_fit_warning([[w.get("code", "") for w in r.warnings] for r in self.results if r is not None])

    def report_job(self, out: str | Path, device: str = "cpu") -> Callable[[], list[str]]:
        """Save the review, then the function the window's worker runs: the review's HTML report to
        ``out``, the page the ``report`` command writes (:func:`~.report.write_report`, with the model of
        the results, for the flagged parts' overlays). It returns the report's notes."""
        if self.json_path is None:
            raise ValueError("no review is open")
        self._dirty = True
        if not self.save():
            raise ValueError(f"{self.json_path}: the review could not be saved")
        return partial(write_report, self.json_path, Path(out), model=self.run_model.get("path"), device=device)

    def clear_cache(self) -> int:
        """Forget every result kept across reviews (:mod:`.cache`); returns how many."""
        return self.cache.clear() if self.cache is not None else 0

    def forget_results(self) -> None:
        """Another model opened: the results (the old model's) are forgotten, and the stored maps;
        the verdicts stay. Nothing is shown until the folder is projected with the new model."""
        if self.scan is None:
            return
        if self.store is not None:
            self.store.new_generation()
        self.folder_results = FolderResults(len(self.items))
        self.run_model = {}
        self.progress.emit(0, len(self.items))
        self.rows_changed.emit(None)
        self.verdicts_changed.emit()

    def can_resume(self, params: ProjectionParams) -> bool:
        """Some images have no result yet, and the others were made with ``params``."""
        return self.folder_results.can_resume(params)

    def add_results(self, batch: list[ImageResult | ImageFailure]) -> None:
        """Results (or failures) of one batch, from the worker."""
        fr = self.folder_results
        changed = fr.add(batch)
        self.progress.emit(fr.done, fr.total)
        if changed:
            self.rows_changed.emit(changed)
            self.verdicts_changed.emit()
            if self.current in changed and not self.session.running:
                frame = self.stored_frame(self.current)
                if frame is not None:
                    self.session.show_stored(frame, self.results[self.current].energy)

    def end_run(self, cancelled: bool = False) -> None:
        self.folder_results.end()
        self.running_changed.emit(False)
        self._dirty = True
        self.save_if_dirty()

    def eta(self) -> float | None:
        """Seconds left in the folder run, from its pace so far (None before the first batch)."""
        return self.folder_results.eta()

    # ================================================================== thresholds
    def set_marginal_upper(self, t2: float | None) -> None:
        """T2 of the marginal band (None: no band); kept ≥ T1."""
        if t2 is not None:
            t2 = float(min(1.0, max(self.threshold, float(t2))))
        if t2 != self.marginal_upper:
            self.marginal_upper = t2
            self._dirty = True
            self.band_changed.emit(t2)
            self.verdicts_changed.emit()

    def _on_threshold(self, *_a: object) -> None:
        if self.marginal_upper is not None and self.marginal_upper < self.threshold:
            self.marginal_upper = self.threshold
            self.band_changed.emit(self.marginal_upper)
        self._remember_shown()
        if self.scan is not None:
            self._dirty = True
            self.verdicts_changed.emit()

    def rescore_job(self) -> tuple[AreaKey, Callable[[], Rescored]] | None:
        """(key, function) for the window's worker when some areas or scores are out of date
        (:meth:`stale_indices`), else None; give the function's result to :meth:`apply_rescore`."""
        stale, scores = self.stale_indices()
        if not stale or self.store is None:
            return None
        key = self.area_key()
        known = None if scores else {i: self.results[i].score(key[0]) for i in stale}
        return key, partial(rescore, self.store, stale, key[0], key[1], key[2], known)

    def apply_rescore(self, values: Rescored, key: AreaKey) -> None:
        """Results of :func:`~.jobs.rescore` made for ``key`` = (compare, threshold, min_area)."""
        changed = self.folder_results.apply_rescore(values, key)
        if changed:
            self.rows_changed.emit(changed)
            self.verdicts_changed.emit()

    def set_label_source(self, source: str) -> None:
        if source not in LABEL_SOURCES:
            raise ValueError(f"label source must be one of {LABEL_SOURCES}")
        if source != self.label_source:
            self.label_source = source
            self._dirty = True
            self.labels_changed.emit(source)

    # ================================================================== labels, filters, navigation
    def set_filter(self, flt: str) -> None:
        if flt not in FILTERS:
            raise ValueError(f"filter must be one of {FILTERS}")
        if flt != self.filter:
            self.filter = flt
            self.filter_changed.emit(flt)

    def step(self, delta: int, order: list[int] | None = None) -> int:
        """Select the next (``delta`` > 0) or previous image among ``order`` (the gallery's rows, in
        their sorted order; by default the filter's, by name). Returns the new index, or -1."""
        order = self.visible() if order is None else order
        if not order:
            return -1
        if self.current in order:
            k = order.index(self.current) + (1 if delta > 0 else -1)
            k = min(max(k, 0), len(order) - 1)
        else:
            k = 0 if delta > 0 else len(order) - 1
        self.select(order[k])
        return order[k]

    # ================================================================== selection
    def stored_frame(self, i: int) -> Frame | None:
        """Image ``i``'s stored result as a frame (float32), or None when it has none."""
        r = self.results[i]
        m = self.store.load(i) if (r is not None and self.store is not None) else None
        return None if m is None else stored_frame(r, m)

    def select(self, i: int) -> bool:
        """Put image ``i`` into the session with its stored result (nothing runs). False, with a
        notice, when the image cannot be read."""
        if not 0 <= i < len(self.items):
            return False
        item = self.items[i]
        s = self.session
        try:
            pixels = read_image(item.path)
        except ImageError as e:
            self.errors[i] = self.errors[i] or str(e)
            self.rows_changed.emit([i])
            s.notice.emit(str(e), 10000)
            return False
        try:
            self.current_gt = read_gt(item, pixels.shape[:2])
        except (ImageError, ValueError) as e:
            self.current_gt = None
            s.notice.emit(f"ground truth not shown: {e}", 10000)
        self._selecting = True
        try:
            if s.running:
                s.request_stop()
            s.set_image(pixels, str(item.path))
            if self.show_ground_truth and self.current_gt is not None:
                s.set_ground_truth(self.current_gt)  # outlined on x0 by the views
            frame = self.stored_frame(i)
            if frame is not None and s.prepared is not None and frame.x.shape[:2] == s.prepared.model_input.shape[:2]:
                s.show_stored(frame, self.results[i].energy)
        finally:
            self._selecting = False
        self.current = i
        self.selection_changed.emit(i)
        return True

    def set_show_ground_truth(self, on: bool) -> None:
        """Outline the selected image's ground truth on x0 (through the session), or not."""
        self.show_ground_truth = bool(on)
        s = self.session
        if self.current >= 0 and s.image is not None and s.image.path == str(self.items[self.current].path):
            s.set_ground_truth(self.current_gt if on else None)

    def _on_session_image(self, image: InputImage | None) -> None:
        if self._selecting or self.current < 0:
            return
        if image is None or image.path != str(self.items[self.current].path):
            self.current = -1
            self.current_gt = None
            self.selection_changed.emit(-1)

    # ================================================================== verdicts
    def set_verdict(self, i: int, verdict: str | None, comment: str | None = None) -> None:
        """The reviewer's verdict on image ``i`` (None clears it); saved at once."""
        if verdict is not None and verdict not in REVIEW_VERDICTS:
            raise ValueError(f"a verdict is one of {REVIEW_VERDICTS}")
        old = self.reviews[i]
        if verdict is None:
            self.reviews[i] = None
        else:
            seen = {"score": self.score(i), "model_verdict": self.model_verdict(i), "threshold": self.threshold,
                    "model_sha256": self.run_model.get("sha256")}
            keep = comment if comment is not None else (old.comment if old else "")
            self.reviews[i] = Review(verdict, keep, now_iso(), seen)
        self._dirty = True
        self.save()
        self.rows_changed.emit([i])
        self.verdicts_changed.emit()

    def set_comment(self, i: int, comment: str) -> None:
        """A comment on image ``i`` (kept with its verdict; an image without one becomes ``unsure``)."""
        r = self.reviews[i]
        if r is None:
            self.set_verdict(i, "unsure", comment)
            return
        if r.comment != comment:
            r.comment = comment
            self._dirty = True
            self.save()
            self.rows_changed.emit([i])

    # ================================================================== the review file
    def record(self, i: int) -> dict[str, Any]:
        """Image ``i``'s record in the review file (:func:`~.records.image_record`)."""
        r = self.results[i]
        params = (self.run_params or self.session.params.to_params()).to_dict() if r is not None else None
        shown = {"score": self.score(i), "model_verdict": self.model_verdict(i), "threshold": self.threshold,
                 "marginal_upper": self.marginal_upper, "min_area": self.min_area, "compare": self.compare}
        return image_record(self.items[i], self.sha[i], r, self.reviews[i], self.errors[i], shown, self.run_model,
                            params, self.scan.root if self.scan is not None else None)

    def document(self) -> ReviewDoc:
        self._remember_shown()
        h = dict(self.doc_header)
        h.update({
            "folder": str(self.scan.root.resolve()) if self.scan else None, "app_version": __version__,
            "params": self.run_params.to_dict() if self.run_params is not None else h.get("params"),
            "compare": self.compare, "label_source": self.label_source, "score_definition": SCORE_DEFINITION,
            "model_verdicts": list(MODEL_VERDICTS), "frr_target": self.frr_target, "fit_warning": self.fit_warning(),
        })
        for k in ("threshold", "marginal_upper", "min_area"):
            h.setdefault(k, getattr(self, k))
        return ReviewDoc(h, [self.record(i) for i in range(len(self.items))], list(self.stale))

    def _remember_shown(self) -> None:
        """T1, T2 and the area the window shows, kept in the header while its model (or none yet) is the
        window's: another model's, opened with its question still unanswered, never reach the file."""
        path = (self.doc_header.get("model") or {}).get("path")
        open_path = self.session.model_path
        if not path or (open_path and str(Path(open_path).resolve()) == path):
            self.doc_header.update(threshold=self.threshold, marginal_upper=self.marginal_upper,
                                   min_area=self.min_area)

    def save(self) -> bool:
        """Write the review file (both files, atomically). False, with ``save_failed``, on an error."""
        if self.scan is None or self.json_path is None or self.csv_path is None:
            return False
        try:
            write_review(self.json_path, self.csv_path, self.document())
        except (OSError, ValueError) as e:
            fb = fallback_dir(self.scan.root)
            if not isinstance(e, OSError) or self.json_path.parent == fb:
                self.save_failed.emit(f"{self.json_path}: the review could not be saved ({e})")
                return False
            self.json_path, self.csv_path = fb / self.json_path.name, fb / self.csv_path.name  # $XDG_DATA_HOME
            return self.save()
        self._dirty = False
        self.saved.emit(str(self.json_path))
        return True

    def save_if_dirty(self) -> bool:
        return self.save() if self._dirty else True

    @property
    def dirty(self) -> bool:
        return self._dirty
