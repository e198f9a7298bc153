"""The run's history for the iteration slider: displayable frames in bounded memory (no Qt here).

Policy
------
* A :class:`Frame` holds what the views draw for one iterate: x_t, f(x_t), both DSSIM maps and
  the energy terms. Stored frames are float16 copies (half the memory of float32; 1e-3 precision
  is far below what a screen shows). The frame on screen is kept in float32.
* Only the frames the GUI received are stored (the worker drops frames when the GUI is busy, and
  sends at most ``max_fps`` a second); the final record of a run is always received.
* Up to ``capacity`` frames (200 by default, fewer if they would take more than ``max_bytes``)
  are kept, every one. When full, every other stored frame is dropped (the first is kept) and
  from then on only every ``stride``-th received frame is stored (``stride`` doubles on each
  thinning), so the stored frames stay evenly spread over the whole run whatever its length.
* The newest received frame is always available as the last entry (the "tail"), even when the
  stride would skip it, so the slider's right end is always the live iterate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

DEFAULT_CAPACITY = 200
DEFAULT_MAX_BYTES = 96 * 2**20


def _np_image(t) -> np.ndarray:
    """C×H×W tensor → H×W (grey) or H×W×3 array."""
    a = t.detach().to("cpu").numpy()
    return a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))


@dataclass
class Frame:
    """One iterate ready for drawing (image 0 of an :class:`IterationRecord`)."""

    iteration: int
    x: np.ndarray
    reconstruction: np.ndarray
    dssim_projection: np.ndarray
    dssim_reconstruction: np.ndarray
    energy: float
    recon_loss: float
    reg: float
    alpha: float
    lam: float
    stop_reason: str | None = None
    finished: bool = False

    @classmethod
    def from_record(cls, rec, index: int = 0) -> "Frame":
        return cls(
            iteration=int(rec.iteration),
            x=_np_image(rec.x[index]).astype(np.float32, copy=False),
            reconstruction=_np_image(rec.reconstruction[index]).astype(np.float32, copy=False),
            dssim_projection=rec.dssim_projection[index].detach().to("cpu").numpy().astype(np.float32, copy=False),
            dssim_reconstruction=rec.dssim_reconstruction[index].detach().to("cpu").numpy().astype(np.float32, copy=False),
            energy=float(rec.energy[index]),
            recon_loss=float(rec.recon_loss[index]),
            reg=float(rec.reg[index]),
            alpha=float(rec.params.alpha),
            lam=float(rec.params.lam),
            stop_reason=rec.stop_reasons[index],
            finished=bool(rec.finished),
        )

    def dssim(self, compare: str) -> np.ndarray:
        """DSSIM(x0, x_t) (``projection``) or DSSIM(x0, f(x_t)) (``reconstruction``)."""
        return self.dssim_projection if compare == "projection" else self.dssim_reconstruction

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.x, self.reconstruction, self.dssim_projection, self.dssim_reconstruction))

    def compact(self) -> "Frame":
        """A float16 copy for the history."""
        h = lambda a: a.astype(np.float16)  # noqa: E731
        return replace(self, x=h(self.x), reconstruction=h(self.reconstruction),
                       dssim_projection=h(self.dssim_projection), dssim_reconstruction=h(self.dssim_reconstruction))

    def expanded(self) -> "Frame":
        """A float32 copy, for drawing."""
        f = lambda a: a.astype(np.float32)  # noqa: E731
        return replace(self, x=f(self.x), reconstruction=f(self.reconstruction),
                       dssim_projection=f(self.dssim_projection), dssim_reconstruction=f(self.dssim_reconstruction))


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
