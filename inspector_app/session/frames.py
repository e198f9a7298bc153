"""What the window draws of one iterate, as numpy, and the bounded history behind the iteration slider.

A :class:`Frame` is made from an :class:`~inspector_app.core.projection.IterationRecord` by
:func:`frame_from_record` **in the worker thread** (the DSSIM maps are computed there too); only
frames, never tensors, reach the GUI thread.

History policy (:class:`FrameHistory`)
--------------------------------------
* Stored frames are float16 copies (half the memory of float32; 1e-3 precision is far below what a
  screen shows). The frame on screen is kept in float32.
* Only the frames the GUI received are stored (the worker drops frames when the GUI is busy); the
  final frame of a run is always received.
* Up to ``capacity`` frames (200 by default, fewer if they would take more than ``max_bytes``)
  are kept, every one. When full, every other stored frame is dropped (the first is kept) and
  from then on only every ``stride``-th received frame is stored (``stride`` doubles on each
  thinning), so the stored frames stay evenly spread over the whole run whatever its length.
* The newest received frame is always available as the last entry (the "tail"), even when the
  stride would skip it, so the slider's right end is always the live iterate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ..core.params import ProjectionParams

if TYPE_CHECKING:  # torch is imported in the worker, where frames are made (the window starts without it)
    import torch

    from ..core.projection import IterationRecord

DEFAULT_CAPACITY = 200
DEFAULT_MAX_BYTES = 96 * 2**20
_MAPS = ("x", "reconstruction", "dssim_projection", "dssim_reconstruction")


@dataclass
class Frame:
    """One iterate of image 0 of a run, ready for drawing and export (numpy only).

    ``x`` and ``reconstruction`` are H×W or H×W×3 float arrays at the model's size; the DSSIM maps
    (eq. section 4.1) are H×W: DSSIM(x0, x_t) and DSSIM(x0, f(x_t)). ``steps`` is how many updates
    the image has had (it stops on its own in a batch), ``stop_reason`` why it stopped (None while
    running or when stopped by the user), ``params`` the run's parameters with the α, λ in force.
    """

    iteration: int
    x: np.ndarray
    reconstruction: np.ndarray
    dssim_projection: np.ndarray
    dssim_reconstruction: np.ndarray
    energy: float
    recon_loss: float
    reg: float
    params: ProjectionParams
    steps: int = 0
    stop_reason: str | None = None
    finished: bool = False
    lr_threshold: float | None = None

    @property
    def alpha(self) -> float:
        return float(self.params.alpha)

    @property
    def lam(self) -> float:
        return float(self.params.lam)

    def dssim(self, compare: str) -> np.ndarray:
        """DSSIM(x0, x_t) (``projection``) or DSSIM(x0, f(x_t)) (``reconstruction``)."""
        return self.dssim_projection if compare == "projection" else self.dssim_reconstruction

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, k).nbytes for k in _MAPS)

    def _cast(self, dtype: type[np.floating[Any]]) -> "Frame":
        return replace(self, **{k: getattr(self, k).astype(dtype) for k in _MAPS})

    def compact(self) -> "Frame":
        """A float16 copy for the history."""
        return self._cast(np.float16)

    def expanded(self) -> "Frame":
        """A float32 copy, for drawing."""
        return self._cast(np.float32)


def frame_from_record(record: IterationRecord, index: int = 0) -> Frame:
    """Image ``index`` of ``record`` as a :class:`Frame`. Computes both DSSIM maps: call it in the
    worker thread, never on the GUI thread."""
    from ..core.projection import to_numpy_image

    def dmap(t: torch.Tensor) -> np.ndarray:
        out: np.ndarray = t[index].detach().to("cpu").float().numpy()
        return out

    return Frame(
        iteration=int(record.iteration),
        x=to_numpy_image(record.x[index]),
        reconstruction=to_numpy_image(record.reconstruction[index]),
        dssim_projection=dmap(record.dssim_projection),
        dssim_reconstruction=dmap(record.dssim_reconstruction),
        energy=float(record.energy[index]),
        recon_loss=float(record.recon_loss[index]),
        reg=float(record.reg[index]),
        params=record.params,
        steps=int(record.steps[index]),
        stop_reason=record.stop_reasons[index],
        finished=bool(record.finished),
        lr_threshold=record.lr_threshold,
    )


def energy_terms(record: IterationRecord, index: int = 0) -> tuple[int, float, float, float]:
    """``(iteration, E, Lr, λ‖x−x0‖₁)`` of image ``index`` of a record (eq. 4)."""
    return (int(record.iteration), float(record.energy[index]), float(record.recon_loss[index]),
            float(record.reg[index]))


class FrameHistory:
    """Bounded, evenly thinned list of frames (see the module docstring for the policy)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES):
        self.capacity = max(4, int(capacity))
        self.max_bytes = int(max_bytes)
        self.clear()

    def clear(self) -> None:
        self._kept: list[Frame] = []
        self._tail: Frame | None = None
        self._stride = 1
        self._received = 0
        self._cap = self.capacity

    def append(self, frame: Frame) -> None:
        c = frame.compact()
        if self._received == 0:  # size the capacity on the first frame
            self._cap = max(4, min(self.capacity, self.max_bytes // max(c.nbytes, 1)))
        keep = self._received % self._stride == 0
        self._received += 1
        if keep:
            if len(self._kept) >= self._cap:
                self._kept = self._kept[::2]
                self._stride *= 2
            self._kept.append(c)
            self._tail = None
        else:
            self._tail = c

    def __len__(self) -> int:
        return len(self._kept) + (self._tail is not None)

    def __getitem__(self, i: int) -> Frame:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._kept[i] if i < len(self._kept) else self._tail  # type: ignore[return-value]

    @property
    def stride(self) -> int:
        return self._stride

    def iterations(self) -> list[int]:
        return [self[i].iteration for i in range(len(self))]

    def nearest(self, iteration: int) -> int:
        """Index of the stored frame nearest to ``iteration`` (the history may have been thinned)."""
        its = np.asarray(self.iterations())
        return int(np.abs(its - iteration).argmin()) if its.size else 0


class EnergyTrace:
    """Every iteration's ``(iteration, E, Lr, λ‖x−x0‖₁)`` of a run, in growable float arrays
    (amortised appends; one contiguous row per term); the energy plot draws them, the export writes
    them."""

    NAMES = ("iteration", "E", "Lr", "reg")

    def __init__(self) -> None:
        self._a = np.empty((4, 256), np.float64)
        self.n = 0

    def extend(self, terms: ArrayLike) -> None:
        v = np.asarray(terms, np.float64).reshape(-1, 4)
        need = self.n + len(v)
        if need > self._a.shape[1]:
            b = np.empty((4, max(need, 2 * self._a.shape[1])), np.float64)
            b[:, : self.n] = self._a[:, : self.n]
            self._a = b
        self._a[:, self.n: need] = v.T
        self.n = need

    def clear(self) -> None:
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def column(self, name: str) -> np.ndarray:
        """``iteration``, ``E``, ``Lr`` or ``reg`` (a view: copy it to keep it)."""
        return self._a[self.NAMES.index(name), : self.n]

    def series(self) -> dict[str, list[float]]:
        """The curves as lists (for the exported JSON)."""
        out: dict[str, list[float]] = {"iteration": [int(v) for v in self.column("iteration")]}
        out.update({k: self.column(k).tolist() for k in self.NAMES[1:]})
        return out
