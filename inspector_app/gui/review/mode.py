"""Review mode: open a folder of parts, project it in the background, walk through it, record
verdicts, tune the threshold on the score distribution.

A part of the main window like the others: it talks to the session and to its own
:class:`~inspector_app.session.review.ReviewSession` (which owns the folder, the results, the
verdicts and the review file; everything of the review the window uses goes through it), never to
another part. It adds File → Open Folder…, a Review menu
(PageDown / PageUp, O / D / U verdicts, Delete, C for a comment, G for the ground truth), the
gallery dock (:mod:`.gallery`) and the score-distribution dock (:mod:`.histogram`),
and the selected image's ground truth, which the views outline on x0 (``Session.set_ground_truth``).

Threads: listing and hashing the folder, hashing the model file and re-scoring the stored maps run
in :func:`~inspector_app.gui.worker.run_in_worker`; the folder's projection runs in a :class:`~inspector_app.gui.worker.ProjectionWorker`
on :meth:`ReviewSession.run_job <inspector_app.session.review.ReviewSession.run_job>`, which yields after every iteration (where
Cancel takes effect) and hands over one batch of small numpy records at a time.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox

from ...session import RunState, Session
from ...session.review import FolderError, FolderOpening, ReviewSession
from .. import settings as st
from ..worker import ProjectionWorker, TaskWorker, run_in_worker
from . import dialogs
from .gallery import GalleryPanel
from .histogram import ScorePanel

#: Images projected together by the folder run (the ``project`` command's default).
BATCH = 8


class ReviewMode(QObject):
    """See the module docstring. ``review`` is the model; ``gallery`` and ``scores`` the panels."""

    def __init__(self, session: Session, window: QMainWindow, batch: int = BATCH):
        super().__init__(window)
        self.session, self.window, self.batch = session, window, int(batch)
        self.review = rv = ReviewSession(session)
        self._run: ProjectionWorker | None = None
        self._cancelled = False
        self._tasks: list[TaskWorker] = []
        self._rescoring = False
        self._model_sha: dict[tuple, str] = {}
        self._threshold_restored = False
        self._awaiting_sha = False
        self._settling = False  # the "review made with another model" question is open
        self._build_actions()
        self._build_docks()
        self._rescore_timer = self._timer(200, self._rescore_if_needed)
        self._save_timer = self._timer(1500, rv.save_if_dirty)
        self._filter_timer = self._timer(100, self.gallery.refilter)
        rv.progress.connect(self._on_progress)
        rv.running_changed.connect(self.gallery.set_running)
        rv.selection_changed.connect(self._on_selection)
        rv.verdicts_changed.connect(lambda: self._filter_timer.start())
        rv.save_failed.connect(lambda msg: QMessageBox.warning(window, "Review not saved", msg))
        rv.opened.connect(self._update_actions)
        rv.closed.connect(self._update_actions)
        d = session.display
        for ev in (d.events.threshold, d.events.compare, d.events.min_area):
            ev.connect(self._on_display)
        session.model_changed.connect(self._on_model_changed)
        badge = getattr(window, "verdict_badge", None)  # the window's verdict says "marginal" where the gallery does
        if badge is not None:
            badge.band = lambda: rv.marginal_upper if rv.is_open else None
            for sig in (rv.band_changed, rv.opened, rv.closed):
                sig.connect(lambda *_a: badge.refresh())
        self.gallery.cancel_requested.connect(self.cancel_run)
        self.gallery.reproject_requested.connect(self.reproject)
        self._update_actions()

    @staticmethod
    def _timer(ms: int, slot) -> QTimer:
        t = QTimer()
        t.setSingleShot(True)
        t.setInterval(ms)
        t.timeout.connect(slot)
        return t

    # ================================================================== construction
    def _action(self, text: str, keys=(), tip: str = "", slot=None, checkable: bool = False) -> QAction:
        a = QAction(text, self.window)
        if keys:
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setToolTip(tip + (f"  ({', '.join(keys)})" if keys else ""))
        a.setStatusTip(tip)
        a.setCheckable(checkable)
        if slot is not None:
            (a.toggled if checkable else a.triggered).connect(slot)
        self.window.addAction(a)
        return a

    def _build_actions(self) -> None:
        act, w = self._action, self.window
        self.act_open_folder = act("Open &Folder…", ("Ctrl+Shift+O",), "Review a folder of parts: project every "
                                   "image, record OK / defective, tune the threshold", self.choose_folder)
        self.act_close_folder = act("Close Folder", (), "Leave review mode (the review file is saved)", self.close_folder)
        self.act_next = act("Next Image", ("PgDown",), "The next image in the gallery", lambda: self.step(1))
        self.act_prev = act("Previous Image", ("PgUp",), "The previous image in the gallery", lambda: self.step(-1))
        self.act_ok = act("OK", ("O",), "Your verdict: this part is OK", lambda: self.set_verdict("ok"))
        self.act_defective = act("Defective", ("D",), "Your verdict: this part is defective",
                                 lambda: self.set_verdict("defective"))
        self.act_unsure = act("Unsure", ("U",), "Your verdict: unsure", lambda: self.set_verdict("unsure"))
        self.act_clear = act("Clear Verdict", ("Delete",), "Remove your verdict on this image",
                             lambda: self.set_verdict(None))
        self.act_comment = act("Comment…", ("C",), "Write a comment on this image", self._focus_comment)
        self.act_gt = act("Show Ground Truth", ("G",), "Outline the ground-truth mask on x₀ (dashed green)",
                          lambda on: self.review.set_show_ground_truth(on), checkable=True)
        self.act_gt.setChecked(True)
        self.act_advance = act("Next Image After OK / Defective", (), "After O or D, show the next image "
                               "(Unsure stays, for a comment)", checkable=True)
        self.act_advance.setChecked(True)
        self.act_project = act("Project Folder", (), "Project the folder with the current model and parameters",
                               self.reproject)
        self.act_cancel = act("Cancel Folder Run", (), "Stop projecting the folder", self.cancel_run)
        self.act_clear_cache = act("Clear Result Cache", (), "Forget the results kept to reopen folders without "
                                   "projecting them again", self.clear_cache)
        self.act_report = act("Export &Report…", (), "The review as one self-contained HTML page (as the report "
                              "command writes it)", self.choose_report)
        self.verdict_actions = (self.act_ok, self.act_defective, self.act_unsure, self.act_clear)
        recent = getattr(w, "recent_menu", None)
        file_menu = recent.parentWidget() if recent is not None else None
        if file_menu is not None:
            file_menu.insertAction(recent.menuAction(), self.act_open_folder)
            recent.aboutToShow.connect(lambda: dialogs.add_recent_folders(recent, self.open_folder))  # after the files'
        self.menu = w.menuBar().addMenu("&Review")
        self.menu.addActions([self.act_open_folder, self.act_close_folder])
        self.menu.addSeparator()
        self.menu.addActions([self.act_next, self.act_prev])
        self.menu.addSeparator()
        self.menu.addActions([*self.verdict_actions, self.act_comment, self.act_advance])
        self.menu.addSeparator()
        self.menu.addActions([self.act_gt, self.act_project, self.act_cancel, self.act_clear_cache])
        self.menu.addSeparator()
        self.menu.addAction(self.act_report)
        help_menu = next((a for a in w.menuBar().actions() if a.text().replace("&", "") == "Help"), None)
        if help_menu is not None:  # before Help, where menus usually end
            w.menuBar().insertAction(help_menu, self.menu.menuAction())

    def _build_docks(self) -> None:
        w = self.window
        self.gallery = GalleryPanel(self.review)
        for a in self.verdict_actions:
            self.gallery.add_verdict_button(a)
        self.scores = ScorePanel(self.review)
        self.gallery_dock = QDockWidget("Review: images", w)
        self.gallery_dock.setObjectName("review_gallery_dock")
        self.gallery_dock.setWidget(self.gallery)
        self.scores_dock = QDockWidget("Review: score distribution", w)
        self.scores_dock.setObjectName("review_scores_dock")
        self.scores_dock.setWidget(self.scores)
        # both under the views, side by side: the views keep the window's whole width
        w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.gallery_dock)
        w.splitDockWidget(self.gallery_dock, self.scores_dock, Qt.Orientation.Horizontal)
        self.gallery_dock.hide()
        self.scores_dock.hide()
        self._sized = False

    # ================================================================== opening and closing
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open a folder of parts", st.last_dir("folder"))
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder, show_errors: bool = True) -> bool:
        """List, hash and open ``folder`` in a worker; False (with a dialog) when it is not a folder."""
        p = Path(folder)
        if not p.is_dir():
            self._error("Open folder", f"{p}: {'no such folder' if not p.exists() else 'not a folder'}", show_errors)
            return False
        self.cancel_run(wait=True)
        self.session.notice.emit(f"opening {p} …", 0)
        self._start_task(self.review.prepare, p, on_result=lambda op: self._on_prepared(op, show_errors),
                         on_error=lambda e: self._error("Open folder", str(e) if isinstance(e, FolderError)
                                                        else f"{p}: {type(e).__name__}: {e}", show_errors))
        return True

    def _on_prepared(self, op: FolderOpening, show_errors: bool = True) -> None:
        rv = self.review
        notes, moved = rv.open_prepared(op)
        if op.doc_error is not None:
            self._error("Review file not usable", f"{op.doc_error}\n\nIt was kept as {moved} and a new review starts."
                        if moved else op.doc_error, show_errors)
        self._threshold_restored = False
        st.set_last_dir("folder", str(op.scan.root))
        st.add_recent_file("folders", str(op.scan.root.resolve()))
        self.show_docks()
        resumed = rv.n_reviewed
        msg = f"{op.scan.root}: {op.scan.describe()}"
        if resumed:
            msg += f"; resumed {resumed} verdict{'s' * (resumed != 1)} from {op.json_path.name}"
        self.session.notice.emit(msg, 15000)
        if notes and show_errors:
            dialogs.show_not_applied(self.window, notes)
        self._update_actions()
        rv.select(0)
        self.start_run()

    def choose_report(self) -> None:
        """Review → Export Report…: ask for the file, then :meth:`export_report`."""
        if self.review.is_open:
            path = dialogs.choose_report_file(self.window, self.review.scan.root)
            if path:
                self.export_report(path)

    def export_report(self, path, show_errors: bool = True) -> bool:
        """Write the review's HTML report to ``path`` in a worker (the flagged parts are projected again
        for their overlays), as ``inspector-app report`` does. False when no review is open."""
        rv = self.review
        if not rv.is_open:
            return False
        job = rv.report_job(path, device=str(self.session.loaded.device) if self.session.loaded else "cpu")
        self.session.notice.emit(f"writing the report {path} …", 0)

        def done(notes) -> None:
            self.session.notice.emit(f"wrote the report {path}" + (f" ({notes[0]})" if notes else ""), 15000)

        self._start_task(job, on_result=done, on_error=lambda e: self._error("Export report", str(e), show_errors))
        return True

    def clear_cache(self) -> None:
        n = self.review.clear_cache()
        self.session.notice.emit(f"result cache cleared: {n} result{'s' * (n != 1)} removed", 8000)

    def show_docks(self) -> None:
        self.gallery_dock.show()
        self.scores_dock.show()
        if not self._sized:  # the first time: a third of the height, the gallery on 40 % of the width
            self._sized = True
            w = self.window
            h = max(260, min(330, w.height() // 3))
            w.resizeDocks([self.gallery_dock, self.scores_dock], [h, h], Qt.Orientation.Vertical)
            gw = max(460, int(w.width() * 0.38))
            w.resizeDocks([self.gallery_dock, self.scores_dock], [gw, w.width() - gw], Qt.Orientation.Horizontal)

    def close_folder(self) -> None:
        self.cancel_run(wait=True)
        self.review.close()
        self.gallery_dock.hide()
        self.scores_dock.hide()

    def shutdown(self) -> None:
        """The window closes: stop every worker, save the review, remove the map cache."""
        self.cancel_run(wait=True)
        for t in list(self._tasks):
            t.wait()
        self._tasks.clear()
        self.review.close()

    # ================================================================== the folder run
    def _model_key(self) -> tuple | None:
        p = self.session.model_path
        if not p:
            return None
        try:
            s = os.stat(p)
        except OSError:
            return (p, 0, 0)
        return (p, s.st_mtime_ns, s.st_size)

    def start_run(self, resume: bool = False) -> bool:
        """Project the folder with the session's model and parameters (after settling a review file
        made with another model). False when it cannot start now (it starts when a model opens)."""
        s, rv = self.session, self.review
        if not rv.is_open or self._run is not None or self._settling:
            return False  # settling: the question's answer starts the run
        if s.loaded is None or s.state == RunState.LOADING:
            if s.loaded is None:
                s.notice.emit("Open a model (Ctrl+M) to project the folder.", 10000)
            return False
        key = self._model_key()
        sha = self._model_sha.get(key) if key else None
        if key and sha is None:
            if not self._awaiting_sha:
                self._awaiting_sha = True
                self._start_task(self.review.sha256, key[0], on_result=lambda h: self._sha_done(key, h, resume),
                                 on_error=lambda _e: self._sha_done(key, "", resume))
            return False
        conflict = rv.model_conflict(sha or None)
        if conflict:
            self._settling = True
            try:
                go_on = self._settle_conflict(conflict)
            finally:
                self._settling = False
            if not go_on or not rv.is_open or self._run is not None:
                return False
            if self._model_key() != key:  # another model opened meanwhile: ask about that one
                return self.start_run(resume)
        if not self._threshold_restored:
            self._threshold_restored = True
            if rv.doc_header.get("model", {}).get("sha256") == sha and rv.restore_threshold():
                s.notice.emit(f"resumed the review's threshold T1 = {s.display.threshold:.4f}", 8000)
        rv.adopt_model(s.model_path, sha or None, s.loaded.kind)
        try:
            params = s.params.to_params()
        except ValueError as e:
            QMessageBox.critical(self.window, "Bad parameters", str(e))
            return False
        job = rv.run_job(s.loaded, params, resume=resume, batch=self.batch)
        self._cancelled = False
        w = ProjectionWorker(job)
        w.yielded.connect(self._on_batch, Qt.ConnectionType.QueuedConnection)
        w.finished.connect(lambda w=w: self._on_run_finished(w), Qt.ConnectionType.QueuedConnection)
        w.errored.connect(lambda e: self._error("Projecting the folder failed", f"{type(e).__name__}: {e}", True))
        self._run = w
        self._update_actions()
        w.start()
        return True

    def _sha_done(self, key: tuple, sha: str, resume: bool) -> None:
        self._awaiting_sha = False
        self._model_sha[key] = sha
        if self._model_key() == key:
            self.start_run(resume)

    def _settle_conflict(self, text: str) -> bool:
        """A review made with another model: continue it, start a new one, or close the folder. True: go on."""
        choice = self.ask_conflict(text)
        if choice == "continue":
            return True
        if choice == "new":
            moved = self.review.start_new_review()
            if moved is not None:
                self.session.notice.emit(f"the earlier review was kept as {moved}", 15000)
            return True
        self.close_folder()
        return False

    def ask_conflict(self, text: str) -> str:
        """Ask the reviewer: ``continue``, ``new`` or ``close``."""
        return dialogs.ask_conflict(self.window, text)

    def _on_batch(self, batch) -> None:
        if self.sender() is not (self._run.signals if self._run is not None else None):
            return  # from a run already cancelled
        self.review.add_results(batch)
        if self.review.stale_indices()[0]:
            self._rescore_timer.start()

    def _on_run_finished(self, w: ProjectionWorker) -> None:
        if w is not self._run:
            return
        w.wait()
        self._run = None
        self.review.end_run(cancelled=self._cancelled)
        n = self.review.n_done
        self.session.notice.emit(f"folder run {'cancelled' if self._cancelled else 'finished'}: {n} of "
                                 f"{len(self.review)} images projected", 10000)
        self._update_actions()
        self._rescore_timer.start()

    def cancel_run(self, wait: bool = False) -> None:
        """Stop the folder run (the results so far are kept); ``wait``: join the worker now."""
        w = self._run
        if w is None:
            return
        self._cancelled = True
        w.quit()
        if wait:
            w.wait()
            self._on_run_finished(w)

    def reproject(self) -> None:
        """Project the images left by a cancelled run, or the whole folder again."""
        if self._run is not None or not self.review.is_open:
            return
        try:
            params = self.session.params.to_params()
        except ValueError as e:
            QMessageBox.critical(self.window, "Bad parameters", str(e))
            return
        self.start_run(resume=self.review.can_resume(params))

    def _on_model_changed(self, _loaded) -> None:
        """Another model: the old one's results go (they are not this model's), and the folder is
        projected once with the new one, after a review made with another model is settled."""
        if not self.review.is_open:
            return
        self.cancel_run(wait=True)
        self.review.forget_results()
        self.start_run()

    def _on_progress(self, done: int, total: int) -> None:
        self.gallery.set_progress(done, total, self.review.eta())

    # ================================================================== thresholds → areas
    def _on_display(self, *_a) -> None:
        if self.review.is_open:
            self._rescore_timer.start()
            self._save_timer.start()

    def _rescore_if_needed(self) -> None:
        rv = self.review
        job = None if self._rescoring or not rv.is_open else rv.rescore_job()
        if job is None:
            return
        key, fn = job
        self._rescoring = True

        def done(values) -> None:
            self._rescoring = False
            if rv.is_open:
                rv.apply_rescore(values, key)
                self._rescore_timer.start()  # changed meanwhile?

        def failed(e) -> None:
            self._rescoring = False
            self.session.notice.emit(f"re-scoring failed: {e}", 10000)

        self._start_task(fn, on_result=done, on_error=failed)

    # ================================================================== navigation and verdicts
    def step(self, delta: int) -> None:
        if self.review.is_open:
            self.review.step(delta, self.gallery.order())

    def set_verdict(self, verdict: str | None) -> None:
        rv = self.review
        i = rv.current
        if i < 0:
            return
        order = self.gallery.order()
        nxt = None
        if (self.act_advance.isChecked() and verdict in ("ok", "defective") and i in order
                and order.index(i) + 1 < len(order)):
            nxt = order[order.index(i) + 1]
        rv.set_verdict(i, verdict)
        if nxt is not None:
            rv.select(nxt)

    def _focus_comment(self) -> None:
        if self.review.current >= 0:
            self.show_docks()
            self.gallery.comment.setFocus()
            self.gallery.comment.selectAll()

    def _on_selection(self, i: int) -> None:
        self._update_actions()

    def _update_actions(self, *_a) -> None:
        rv = self.review
        sel = rv.is_open and rv.current >= 0
        for a in (*self.verdict_actions, self.act_comment):
            a.setEnabled(sel)
        for a in (self.act_next, self.act_prev, self.act_close_folder, self.act_gt, self.act_report):
            a.setEnabled(rv.is_open)
        self.act_project.setEnabled(rv.is_open and self._run is None)
        self.act_cancel.setEnabled(self._run is not None)

    # ================================================================== helpers
    def _start_task(self, fn, *args, on_result, on_error) -> TaskWorker:
        holder: list[TaskWorker] = []

        def finish(cb, value) -> None:
            if holder and holder[0] in self._tasks:
                self._tasks.remove(holder[0])
            cb(value)

        w = run_in_worker(fn, *args, on_result=lambda v: finish(on_result, v), on_error=lambda e: finish(on_error, e))
        holder.append(w)
        self._tasks.append(w)
        return w

    def _error(self, title: str, text: str, show: bool) -> None:
        self.session.notice.emit(text.splitlines()[0], 15000)
        if show:
            QMessageBox.warning(self.window, title, text)

    @property
    def running(self) -> bool:
        """A folder run is in progress."""
        return self._run is not None
