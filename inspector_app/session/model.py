"""The inspection session: the one owner of everything the window shows and edits (no Qt).

A :class:`Session` holds the loaded model, the current input image, Ω (one
:class:`~inspector_app.core.mask.MaskModel`), the projection parameters and the display settings
(evented, :mod:`.params`), the run state (:class:`RunState`), the run's frames, energy trace,
history and result, the user-facing warnings and the model's suggested defaults. Widgets bind to
it; parts of the window talk to it, never to each other. Its signals (psygnal) are emitted in the
thread that changes it: the GUI thread. Frames arrive from the worker as numpy
(:class:`~.frames.Frame`); nothing here runs a model.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from psygnal import Signal

from ..core.mask import MIN_RADIUS, MaskModel
from .assess import Verdict, VerdictCache, export_source, fit_warning_items, origin_text
from .frames import EnergyTrace, Frame, FrameHistory
from .params import Defaults, Display, ParamsModel

if TYPE_CHECKING:  # torch comes with the model, opened in a worker: the window shows itself without it
    from ..core.modelio import LoadedModel
    from ..core.pipeline import PreparedImage


def prepare(name: str, image: np.ndarray, loaded: LoadedModel, mask: np.ndarray | None = None) -> PreparedImage:
    """:func:`inspector_app.core.pipeline.prepare`, imported on first use (with a model, so with torch)."""
    from ..core.pipeline import prepare as core_prepare

    return core_prepare(name, image, loaded, mask)


def default_brush_radius(shape: tuple[int, int]) -> float:
    """The brush radius a new image starts with: 1/16 of its shorter side (8 px on 128 px, 2 px on a
    32 px face), in half pixels, between :data:`~inspector_app.core.mask.MIN_RADIUS` and 32."""
    return float(min(32.0, max(MIN_RADIUS, round(min(shape[:2]) / 16.0 * 2.0) / 2.0)))


class RunState(enum.Enum):
    """What the worker is doing for this session."""

    IDLE = "idle"  # nothing
    LOADING = "loading"  # opening a model file (a TorchScript model runs a forward pass to check it)
    PREVIEW = "preview"  # evaluating x0 alone: f(x0), E(x0)
    RUNNING = "running"  # a projection run
    PAUSED = "paused"  # a projection run, waiting between iterations


S = RunState
#: The transitions :meth:`Session.set_state` allows (a run may be restarted while it runs).
TRANSITIONS: dict[RunState, set[RunState]] = {
    S.IDLE: {S.LOADING, S.PREVIEW, S.RUNNING, S.PAUSED},
    S.LOADING: {S.IDLE},
    S.PREVIEW: {S.IDLE, S.LOADING, S.RUNNING, S.PAUSED},
    S.RUNNING: {S.PAUSED, S.IDLE},
    S.PAUSED: {S.RUNNING, S.IDLE},
}


class InvalidTransition(RuntimeError):
    """A run-state change the session does not allow (a bug in a caller, not bad user input)."""


@dataclass(frozen=True)
class InputImage:
    """The current input: pixels as read (float32 in [0, 1], its own size and channels), where it
    came from (``path``; None for an image made in the window, then ``name`` names it), and the
    clean image when known (after "corrupt": the inpainting ground truth)."""

    pixels: np.ndarray
    path: str | None = None
    name: str | None = None
    ground_truth: np.ndarray | None = None

    @property
    def stem(self) -> str:
        return Path(self.path).stem if self.path else (self.name or "image")

    @property
    def label(self) -> str:
        return Path(self.path).name if self.path else (self.name or "image")

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


class Session:
    """See the module docstring. Signals:

    ``model_changed(LoadedModel | None)``, ``image_changed(InputImage | None)``,
    ``mask_replaced(MaskModel)`` (a new Ω for a new image), ``omega_changed()`` (Ω edited),
    ``state_changed(RunState)``, ``run_cleared()``, ``frame_shown(Frame | None)``,
    ``energy_added(list)``, ``result_changed(Frame | None)``, ``warnings_changed(tuple)``,
    ``device_changed(str)``, ``history_changed()``, ``notice(str, int)`` (a message for the status
    bar, milliseconds), ``origin_changed(str)`` (where the threshold in use comes from: ``model``,
    ``paper`` or ``user``), ``defaults_changed(Defaults)``, ``ground_truth_changed()`` (the defect
    ground truth shown beside the segmentation); and two requests the run controller serves:
    ``run_requested()``, ``stop_requested()`` (served synchronously: after :meth:`request_stop` no
    run is in progress).

    Warnings (:attr:`warning_items`, ``[{code, message}]``; :attr:`warnings` holds their messages)
    are re-evaluated when the model, the image, the stop criterion or Lr(x0) change; Lr(x0) comes
    from the first frame (iteration 0) of a preview or a run.
    """

    model_changed = Signal(object)
    image_changed = Signal(object)
    mask_replaced = Signal(object)
    omega_changed = Signal()
    state_changed = Signal(object)
    run_cleared = Signal()
    frame_shown = Signal(object)
    energy_added = Signal(object)
    result_changed = Signal(object)
    warnings_changed = Signal(tuple)
    device_changed = Signal(str)
    notice = Signal(str, int)
    history_changed = Signal()
    run_requested = Signal()
    stop_requested = Signal()
    origin_changed = Signal(str)
    defaults_changed = Signal(object)
    ground_truth_changed = Signal()

    def __init__(self, device: str = "cpu"):
        self.loaded: LoadedModel | None = None
        self.model_path: str | None = None
        self.image: InputImage | None = None
        self.mask = MaskModel((1, 1))  # Ω (True = may change); replaced for each new image
        self.mask.on_change.append(self._on_omega)
        self.params = ParamsModel()
        self.display = Display()
        self.defaults = Defaults()
        self.state = RunState.IDLE
        self.history = FrameHistory()
        self.energy = EnergyTrace()
        self.current: Frame | None = None  # the frame on screen (float32)
        self.latest: Frame | None = None  # the newest frame of the run
        self.result: Frame | None = None  # the run's final frame (export)
        self.follow = True  # the history's right end (the live iterate) is shown
        self.stopped_by_user = False
        self.run_error: str | None = None
        self.warnings: tuple[str, ...] = ()
        self.warning_items: list[dict[str, str]] = []
        self.lr0: float | None = None  # Lr(x0) of the open model and image, from the worker's first frame
        self.paper_defaults = False  # the paper's values instead of the model's calibration
        self.threshold_origin = "paper"  # where the threshold in use comes from (params.ORIGINS)
        self.gt_mask: np.ndarray | None = None  # the defect ground truth at the image's size (shown only)
        self._applying = False
        self._verdicts = VerdictCache()
        self._device = device
        self._prepared: PreparedImage | None = None
        for name in ("threshold", "min_area"):
            getattr(self.display.events, name).connect(self._on_threshold_edit)
        for name in ("stop_kind", "percentile", "lr_value"):
            getattr(self.params.events, name).connect(lambda *_a: self._update_warnings())

    # ================================================================== inputs
    @property
    def device(self) -> str:
        return self._device

    @device.setter
    def device(self, value: str) -> None:
        if value != self._device:
            self._device = value
            self.device_changed.emit(value)

    @property
    def ready(self) -> bool:
        """A model and an image are open: a run can start."""
        return self.loaded is not None and self.image is not None

    def set_model(self, loaded: LoadedModel, path: str | None = None) -> None:
        """Use ``loaded`` from now on: the run is forgotten, the warnings re-evaluated, and the
        model's defaults (its calibration, or the paper's) set the stop criterion, the iteration
        budget, the threshold and the minimum area (α and λ stay as they are).

        Everything that can fail (the defaults, the image prepared for this model) is done before
        anything changes: on ``ValueError`` the previous model stays fully in place."""
        defaults = Defaults.for_model(loaded.meta, paper=self.paper_defaults)
        defaults.params.validated()
        prepared = None
        if self.image is not None:
            prepared = prepare(self.image.stem, self.image.pixels, loaded, self.omega)
        self.loaded, self.model_path = loaded, (str(path) if path is not None else loaded.path)
        self._prepared = prepared
        self.lr0 = None
        self.clear_run()
        self._set_defaults(defaults, parameters=False)
        self._update_warnings()
        self.model_changed.emit(loaded)

    def set_image(self, pixels: np.ndarray, path: str | None = None, name: str | None = None,
                  ground_truth: np.ndarray | None = None, omega: np.ndarray | None = None) -> None:
        """Make ``pixels`` (float in [0, 1], as ``core.data.read_image`` returns) the input x0.

        Ω starts empty (or as ``omega``) at the image's size, keeping the brush radius and mode.
        """
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim not in (2, 3) or pixels.size == 0:
            raise ValueError(f"an image is H×W or H×W×C, got shape {pixels.shape}")
        self.image = InputImage(pixels, str(path) if path is not None else None, name, ground_truth)
        old = self.mask
        old.end_stroke()
        old.on_change.remove(self._on_omega)
        self.mask = MaskModel(pixels.shape[:2], None if omega is None else self._checked_omega(omega))
        # the radius the user chose stays for an image of the same size; another size starts with
        # a radius scaled to it
        same = old.shape == self.mask.shape
        self.mask.radius = old.radius if same else default_brush_radius(self.mask.shape)
        self.mask.mode = old.mode
        self.mask.on_change.append(self._on_omega)
        self._prepared = None
        self.lr0 = None
        if self.gt_mask is not None:
            self.gt_mask = None
            self.ground_truth_changed.emit()
        self.clear_run()
        self._update_warnings()
        self.mask_replaced.emit(self.mask)
        self.image_changed.emit(self.image)

    # ================================================================== Ω (eq. 7)
    def _checked_omega(self, omega: np.ndarray) -> np.ndarray:
        if self.image is None:
            raise ValueError("open an image before setting a mask")
        m = np.asarray(omega).astype(bool)
        if m.shape != self.image.shape:
            raise ValueError(f"the mask is {m.shape[1]}×{m.shape[0]} but the image is "
                             f"{self.image.shape[1]}×{self.image.shape[0]}")
        return m

    @property
    def omega(self) -> np.ndarray | None:
        """Ω at the image's own size for the next run, or None when empty (every pixel may change)."""
        if self.image is None or self.mask.shape != self.image.shape or not self.mask.count:
            return None
        return self.mask.mask.copy()

    def set_omega(self, omega: np.ndarray | None) -> None:
        """Replace Ω (one undo step of the brush); None or an empty mask clears it."""
        if omega is None:
            self.mask.clear()
        else:
            self.mask.set_mask(self._checked_omega(omega))

    def _on_omega(self, _region: object) -> None:
        self._prepared = None
        self.omega_changed.emit()

    @property
    def prepared(self) -> PreparedImage | None:
        """The input converted to the model's channels and size, with Ω at both sizes (numpy)."""
        if self._prepared is None and self.ready and self.image is not None and self.loaded is not None:
            self._prepared = prepare(self.image.stem, self.image.pixels, self.loaded, self.omega)
        return self._prepared if self.ready else None

    @property
    def x0(self) -> np.ndarray | None:
        """x0 as the views show it: at the model's size when a model is open, else as read."""
        p = self.prepared
        if p is not None:
            return p.model_input
        return self.image.pixels if self.image is not None else None

    # ================================================================== run state
    @property
    def running(self) -> bool:
        """A projection run is in progress (running or paused)."""
        return self.state in (RunState.RUNNING, RunState.PAUSED)

    def set_state(self, new: RunState) -> None:
        if new == self.state:
            return
        if new not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"{self.state.value} → {new.value}")
        self.state = new
        self.state_changed.emit(new)

    def clear_run(self) -> None:
        """Forget the run: history, energy, result; the views show x0 again."""
        self.history.clear()
        self.energy.clear()
        self.current = self.latest = self.result = None
        self.follow = True
        self.stopped_by_user = False
        self.run_error = None
        self.run_cleared.emit()
        self.history_changed.emit()
        self.result_changed.emit(None)

    def begin_run(self, paused: bool = False) -> None:
        """A projection run starts (the previous one is forgotten)."""
        self.clear_run()
        self.set_state(RunState.PAUSED if paused else RunState.RUNNING)

    def accept_frame(self, frame: Frame) -> None:
        """A frame from the worker: kept in the history during a run, shown when following. The
        first frame (iteration 0) of a preview or a run gives Lr(x0) for the warnings."""
        self._note_lr0(frame)
        if not self.running:
            self.show(frame)
            return
        self.latest = frame
        self.history.append(frame)
        self.history_changed.emit()
        if self.follow:
            self.show(frame)

    def add_energy(self, terms: list[tuple[float, ...]]) -> None:
        if self.running and terms:
            self.energy.extend(terms)
            self.energy_added.emit(terms)

    def end_run(self, final: Frame | None, error: str | None = None) -> None:
        """The worker finished (``final`` is its last frame; None when it failed at once)."""
        was_run = self.running
        self.run_error = error
        if was_run and final is not None:
            self.accept_frame(final)
            self.result = final
            self.stopped_by_user = final.stop_reason is None
        elif final is not None and self.result is None:  # a preview; never over a stored result
            self.show(final)
        self.set_state(RunState.IDLE)
        if was_run:
            self.result_changed.emit(self.result)

    # ================================================================== display
    def _note_lr0(self, frame: Frame | None) -> None:
        """Lr(x0) from a frame of iteration 0 (computed in the worker), for the warnings."""
        if frame is None or frame.iteration != 0 or not np.isfinite(frame.recon_loss):
            return
        if frame.recon_loss != self.lr0:
            self.lr0 = float(frame.recon_loss)
            self._update_warnings()

    def show(self, frame: Frame | None) -> None:
        self._note_lr0(frame)
        self.current = frame
        self.frame_shown.emit(frame)

    def show_history(self, index: int) -> Frame | None:
        """Show stored frame ``index`` (the last index follows the live iterate again)."""
        n = len(self.history)
        if n == 0:
            return None
        self.follow = index >= n - 1
        if self.follow:
            frame = self.latest if self.latest is not None else self.history[-1].expanded()
        else:
            frame = self.history[max(0, index)].expanded()
        self.show(frame)
        return frame

    def show_stored(self, frame: Frame, energy: np.ndarray | None = None) -> None:
        """Show a result computed earlier for the current image (review mode's folder run) as the
        result of a run that just ended: the history holds ``frame``, the energy curve is ``energy``
        (rows of iteration, E, Lr, λ‖x−x0‖₁), Export writes it. Nothing runs."""
        self.clear_run()
        if energy is not None and len(energy):
            terms = [tuple(row) for row in np.asarray(energy, np.float64).reshape(-1, 4)]
            self.energy.extend(terms)
            self.energy_added.emit(terms)
        self.latest = self.result = frame
        self.history.append(frame)
        self.history_changed.emit()
        self.show(frame)
        self.result_changed.emit(frame)

    def request_run(self) -> None:
        """Ask for a run from x0 with the current parameters."""
        self.run_requested.emit()

    def request_stop(self) -> None:
        """Ask that the worker stop; when this returns, the state is IDLE or LOADING."""
        self.stop_requested.emit()

    def apply_defaults(self) -> None:
        """Set every parameter, the threshold and the minimum area to the model's defaults (its
        calibration, or the paper's values)."""
        self._set_defaults(self.defaults, parameters=True)
        self.notice.emit(f"parameters, threshold and minimum area of the {self.defaults.source}", 6000)

    def use_paper_defaults(self, on: bool) -> None:
        """Take the paper's values (``on``) or the model's calibration as the defaults, and apply
        their stop criterion, iteration budget, threshold and minimum area."""
        self.paper_defaults = bool(on)
        meta = self.loaded.meta if self.loaded is not None else None
        self._set_defaults(Defaults.for_model(meta, paper=self.paper_defaults), parameters=False)
        self.notice.emit(f"threshold, minimum area and stop criterion of the {self.defaults.source}", 6000)

    def _set_defaults(self, defaults: Defaults, parameters: bool) -> None:
        """Make ``defaults`` the model's defaults and apply them: the threshold, the minimum area,
        the stop criterion, the iteration budget and a calibrated step size (or the paper's, in
        place of one); with ``parameters`` every parameter."""
        step = defaults.alpha_calibrated or self.defaults.alpha_calibrated
        self.defaults = defaults
        self._applying = True
        try:
            p = defaults.params
            if parameters:
                self.params.set_params(p)
            else:
                current = self.params.to_params() if self._params_valid() else p
                current = current.replace(alpha=p.alpha) if step else current
                self.params.set_params(current.replace(stop=p.stop, max_iter=p.max_iter, margin=p.margin))
            self.display.threshold = defaults.threshold
            self.display.min_area = defaults.min_area
        finally:
            self._applying = False
        self._set_origin(defaults.origin)
        self.defaults_changed.emit(defaults)

    def _params_valid(self) -> bool:
        try:
            self.params.to_params()
            return True
        except ValueError:
            return False

    # ================================================================== threshold and verdict
    def _on_threshold_edit(self, *_a: object) -> None:
        if not self._applying:
            self._set_origin("user")

    def _set_origin(self, origin: str) -> None:
        if origin != self.threshold_origin:
            self.threshold_origin = origin
            self.origin_changed.emit(origin)

    @property
    def threshold_source(self) -> str:
        """Where the threshold and minimum area in use come from, in one line."""
        d = self.display
        return origin_text(self.threshold_origin, self.defaults, d.threshold, d.min_area)

    @property
    def export_threshold_source(self) -> str:
        """The ``threshold_source`` an export records (the calibration's text, the paper's, or the user)."""
        return export_source(self.threshold_origin, self.defaults)

    def verdict_of(self, frame: Frame | None = None) -> Verdict | None:
        """The image score and verdict of ``frame`` (the shown one by default) with the display's
        threshold and minimum area; None without a frame."""
        f = self.current if frame is None else frame
        if f is None:
            return None
        d = self.display
        return self._verdicts.verdict(f, d.compare, d.threshold, d.min_area)

    def load_ground_truth(self, path: str) -> None:
        """Read a ground-truth defect mask (non-zero = defect) of the image's size and show it.
        Raises ``MaskFileError`` (a ``ValueError``) naming the file."""
        from ..core.mask import load_mask_png

        if self.image is None:
            raise ValueError("open an image before its ground truth")
        self.set_ground_truth(load_mask_png(path, self.image.shape))

    def set_ground_truth(self, mask: np.ndarray | None) -> None:
        """The defect ground truth (a ``*_mask.png`` of the image's size) to show beside the
        segmentation. It is never Ω: the projection does not read it."""
        if mask is not None:
            mask = self._checked_omega(mask)
            if not mask.any():
                mask = None
        self.gt_mask = mask
        self.ground_truth_changed.emit()

    # ================================================================== warnings
    def _update_warnings(self) -> None:
        prepared = self.prepared  # (cached: the run uses it too)
        items = fit_warning_items(self.loaded, self.image.pixels if self.image is not None else None,
                                  self.lr0, self.params.stop_spec(),
                                  working=prepared.model_input if prepared is not None else None)
        w = tuple(i["message"] for i in items)
        self.warning_items = items
        if w != self.warnings:
            self.warnings = w
            self.warnings_changed.emit(w)

    @property
    def has_training_stats(self) -> tuple[bool, bool]:
        """Whether the model carries the training-loss minimum, and all 101 quantiles."""
        s = self.loaded.training_stats if self.loaded is not None else None
        return bool(s and "min" in s), bool(s and s.get("quantiles") and len(s["quantiles"]) == 101)
