"""How an image of any size meets a model that learned small crops: its working scale, and the
model-size tiles that cover it.

**Working scale** (:class:`WorkingScale`, stored in the model file as ``working_scale``): how
``train`` brought its images to the scale of the crops the model learned, so that an image to
inspect is brought to the same scale.

* ``crops`` (textures): an image whose longer side exceeds ``max_side`` is resized so that it
  equals ``max_side`` (keeping its aspect ratio); a smaller one keeps its own scale (but is
  brought up so that its shorter side is at least the model's size). The model then sees
  model-size tiles cut at that scale, as it saw its training crops.
* ``whole`` (objects, faces): the whole image resized to the model's size, as in training.

A file without it is inspected as before: the whole image resized to the model's size, with a
warning.

**Tiles** (:class:`TileGrid`, :class:`TiledLoss`): an image larger than the model's size is
covered by model-size tiles that overlap by :data:`TILE_OVERLAP` pixels (the last tile of a row
or column is aligned to the image's border). The projection walks one image x on one energy,

    E(x) = w · Σ_tiles Lr(tile(x)) + λ‖x − x0‖₁,      w = H·W / Σ_tiles |tile|,

so overlapping tiles' gradients meet in one x_t and DSSIM(x0, x_T) is computed once on the whole
image, with no seams. The Lr gradient at a pixel is the mean of the gradients of the tiles that
cover it (a diagonal preconditioning by the coverage count): every pixel then moves as it would
in one crop, in the interior of the image as at its corners, and one model-size tile is exactly
the paper's step. The reported Lr is the tiles' mean Lr, on the scale of the training losses that
the stop criteria compare with. f(x) is the tiles' reconstructions blended with a window that
tapers over the overlap. Tiles are evaluated in chunks (forward and backward to the tile, then
folded into the image's gradient), so memory is bounded by the chunk, not by the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

import torch

if TYPE_CHECKING:
    from .models import AutoEncoder

#: What a loss gives (see :class:`TiledLoss`): Lr, λ‖x − x0‖₁, E, f(x), and ∇ₓE or None.
LossResult = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None"]
Loss = Callable[[torch.Tensor, torch.Tensor, float, bool], LossResult]

#: Pixels by which neighbouring tiles overlap, as a fraction of the tile (32 px for 128-px models).
TILE_OVERLAP_FRACTION = 0.25
#: The largest side a texture's images are brought to by ``train`` (MVTec's 1024-px textures to 512, as in the paper).
TEXTURE_MAX_SIDE = 512
#: Memory one chunk of tiles may use for the model's activations (forward and backward). Larger
#: chunks run faster on a CPU (measured here: 48 tiles in chunks of 24 took 1.6–2× as long as in
#: one batch), so a 1,024-px image (121 tiles) is one chunk; a 4,096-px image is 12.
CHUNK_BYTES = 640 << 20
#: What the projection of one batch may hold in all: the walk keeps about 24 image-sized float
#: buffers (x0, x_t, f(x_t), the fallback iterate, the gradient, the records' copies, temporaries),
#: and a chunk gets what they leave of this, at least :data:`MIN_CHUNK_BYTES` (a 4,096-px image's
#: chunks are smaller than a 1,024-px image's).
MEMORY_BUDGET = 1536 << 20
MIN_CHUNK_BYTES = 96 << 20
_IMAGE_BUFFERS = 24
#: Activation memory per input pixel of a tile, forward and backward (measured on the 128-px
#: Bergmann autoencoder: 264 MB more resident memory for 64 tiles, about 63 floats a pixel).
_BYTES_PER_TILE_PIXEL = 64 * 4

WORKING_MODES = ("crops", "whole")


class TilingError(ValueError):
    """An image that cannot be tiled, or a malformed working scale."""


@dataclass(frozen=True)
class WorkingScale:
    """How an image is brought to the scale of the crops a model learned (see the module doc)."""

    mode: str
    max_side: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in WORKING_MODES:
            raise TilingError(f"working_scale.mode must be one of {', '.join(WORKING_MODES)}, got {self.mode!r}")
        if self.max_side is not None and (isinstance(self.max_side, bool) or not isinstance(self.max_side, int)
                                          or not 8 <= self.max_side <= 65536):
            raise TilingError(f"working_scale.max_side must be an integer from 8 to 65536, got {self.max_side!r}")

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any] | None) -> "WorkingScale | None":
        """The working scale a model file records, or None when it records none. Raises
        :class:`TilingError` when the record is malformed."""
        raw = (meta or {}).get("working_scale")
        if raw is None:
            return None
        if not isinstance(raw, Mapping) or set(raw) - {"mode", "max_side"}:
            raise TilingError(f"working_scale must be {{'mode': ..., 'max_side': ...}}, got {raw!r}")
        return cls(raw.get("mode"), raw.get("max_side"))  # type: ignore[arg-type]

    def to_meta(self) -> dict[str, Any]:
        return {"mode": self.mode, "max_side": self.max_side}

    def shape_for(self, height: int, width: int, model_size: int) -> tuple[int, int]:
        """(height, width) of an image of this size at the working scale."""
        if self.mode == "whole":
            return model_size, model_size
        scale = 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
        if min(height, width) * scale < model_size:
            scale = model_size / min(height, width)
        return max(model_size, round(height * scale)), max(model_size, round(width * scale))

    def describe(self) -> str:
        if self.mode == "whole":
            return "the whole image resized to the model's size"
        side = f"resized to {self.max_side} px when larger, " if self.max_side else "at its own scale, "
        return f"{side}covered by model-size tiles"


def tile_starts(length: int, size: int, overlap: int) -> list[int]:
    """Where the tiles of one axis start: the fewest tiles of ``size`` that overlap by at least
    ``overlap`` and cover ``length``, evenly spread, the first at 0 and the last at the border."""
    if length < size:
        raise TilingError(f"an image side of {length} px is smaller than the model's {size} px")
    if length == size:
        return [0]
    stride = max(1, size - overlap)
    n = math.ceil((length - size) / stride) + 1
    return [round(i * (length - size) / (n - 1)) for i in range(n)]


def default_overlap(size: int) -> int:
    return int(round(size * TILE_OVERLAP_FRACTION))


def _axis_sum(starts: list[int], size: int, length: int, values: torch.Tensor) -> torch.Tensor:
    """Σ over the tiles of one axis of ``values`` (size entries) placed at each start."""
    out = torch.zeros(length, device=values.device)
    for st in starts:
        out[st:st + size] += values
    return out


def _ramp(size: int, overlap: int) -> torch.Tensor:
    """A 1-D window that rises linearly over ``overlap`` pixels at each end (never 0)."""
    i = torch.arange(size, dtype=torch.float32)
    o = max(1, overlap)
    return torch.minimum(torch.ones(size), torch.minimum((i + 1) / (o + 1), (size - i) / (o + 1)))


class TileGrid:
    """The model-size tiles that cover an H×W image (flat pixel indices, coverage counts, blend weights)."""

    def __init__(self, height: int, width: int, size: int, overlap: int | None = None,
                 device: torch.device | str = "cpu"):
        self.height, self.width, self.size = int(height), int(width), int(size)
        self.overlap = default_overlap(size) if overlap is None else int(overlap)
        ys = tile_starts(self.height, size, self.overlap)
        xs = tile_starts(self.width, size, self.overlap)
        self.boxes = [(y, x) for y in ys for x in xs]
        ramp = _ramp(size, self.overlap).to(device)
        self.window = ramp[:, None] * ramp[None, :]
        # the grid is the product of its rows and columns: coverage counts and window sums are outer
        # products of their one-dimensional versions (no per-pixel index of every tile is kept)
        ones = torch.ones(size, device=device)
        cy, cx = _axis_sum(ys, size, self.height, ones), _axis_sum(xs, size, self.width, ones)
        wy, wx = _axis_sum(ys, size, self.height, ramp), _axis_sum(xs, size, self.width, ramp)
        self.inv_coverage = (1.0 / (cy[:, None] * cx[None, :]))[None, None]
        self.inv_window_sum = (1.0 / (wy[:, None] * wx[None, :]))[None, None]
        #: w of the energy: the image's pixels over the tiles' pixels (1 for one tile).
        self.weight = self.height * self.width / float(len(self.boxes) * size * size)

    def __len__(self) -> int:
        return len(self.boxes)

    def chunks(self, batch: int, channels: int = 1, bytes_per_tile: int | None = None) -> list[slice]:
        """Slices of tile indices whose activations fit the chunk budget (:data:`CHUNK_BYTES`, less
        when the batch's own buffers leave less of :data:`MEMORY_BUDGET`)."""
        per = bytes_per_tile or _BYTES_PER_TILE_PIXEL * channels * self.size * self.size
        images = _IMAGE_BUFFERS * 4 * batch * channels * self.height * self.width
        budget = max(MIN_CHUNK_BYTES, min(CHUNK_BYTES, MEMORY_BUDGET - images))
        m = max(1, budget // max(1, per * batch))
        return [slice(s, min(s + m, len(self))) for s in range(0, len(self), m)]

    def cut(self, x: torch.Tensor, sel: slice) -> torch.Tensor:
        """Tiles ``sel`` of a B×C×H×W batch as (B·m)×C×s×s (tile-major within each image); plain
        slices (measured here: 30× faster than one gather by a per-pixel index)."""
        s = self.size
        t = torch.stack([x[:, :, y:y + s, c:c + s] for y, c in self.boxes[sel]], 1)
        return t.reshape(-1, x.shape[1], s, s)

    def fold_add(self, out: torch.Tensor, tiles: torch.Tensor, sel: slice, weight: torch.Tensor | None = None) -> None:
        """Add (B·m)×C×s×s ``tiles`` (times ``weight``, s×s) into ``out``, B×C×H×W, where they were cut."""
        s = self.size
        boxes = self.boxes[sel]
        t = tiles.reshape(out.shape[0], len(boxes), out.shape[1], s, s)
        if weight is not None:
            t = t * weight
        for i, (y, c) in enumerate(boxes):
            out[:, :, y:y + s, c:c + s] += t[:, i]


def _finite_rows(e: torch.Tensor, rec: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(e) & torch.isfinite(rec).flatten(1).all(1)


class TiledLoss:
    """The energy of whole images from their tiles (see the module doc); the same interface as
    :func:`plain_loss`.

    Called as ``loss(x, x0, lam, need_grad)`` on a B×C×H×W batch of images of this grid's size;
    returns (the tiles' mean Lr, λ‖x − x0‖₁, E = w·Σ Lr + λ‖x − x0‖₁, f(x) blended, and the step's
    gradient — the coverage-normalised ∇Lr plus λ·sign(x − x0), 0 where E is not finite — or None).
    """

    def __init__(self, model: AutoEncoder, grid: TileGrid):
        self.model, self.grid = model, grid

    def __call__(self, x: torch.Tensor, x0: torch.Tensor, lam: float, need_grad: bool) -> LossResult:
        g = self.grid
        b, c, h, w = x.shape
        x = x.detach()
        lr_sum = torch.zeros(b, device=x.device)
        rec = torch.zeros(b, c, h, w, device=x.device)
        grad = torch.zeros(b, c, h, w, device=x.device) if need_grad else None
        for sel in g.chunks(b, c):
            tiles = g.cut(x, sel)
            m = tiles.shape[0] // b
            if need_grad:
                tiles.requires_grad_(True)
                with torch.enable_grad():
                    lr_t, rec_t = self.model.forward_loss(tiles)
                    (g_t,) = torch.autograd.grad(torch.where(torch.isfinite(lr_t), lr_t, torch.zeros_like(lr_t)).sum(), tiles)
                assert grad is not None  # need_grad
                g.fold_add(grad, g_t, sel)
            else:
                with torch.no_grad():
                    lr_t, rec_t = self.model.forward_loss(tiles)
            lr_sum += lr_t.detach().view(b, m).sum(1)
            g.fold_add(rec, rec_t.detach(), sel, g.window)
        rec = rec * g.inv_window_sum
        diff = x - x0
        reg = lam * diff.abs().flatten(1).sum(1)
        e = lr_sum * g.weight + reg
        if grad is not None:
            grad = grad * g.inv_coverage + lam * torch.sign(diff)
            grad = torch.where(_finite_rows(e, rec).view(-1, 1, 1, 1), grad, torch.zeros_like(grad))
        return lr_sum / len(g), reg, e, rec, grad


def plain_loss(model: AutoEncoder) -> Loss:
    """:class:`TiledLoss`'s interface for images of exactly the model's size: E = Lr + λ‖x − x0‖₁
    and ∇ₓE by autograd, as the paper's step."""

    def loss(x: torch.Tensor, x0: torch.Tensor, lam: float, need_grad: bool) -> LossResult:
        xa = x.detach().requires_grad_(True)
        with torch.enable_grad():
            lr, rec = model.forward_loss(xa)
            reg = lam * (xa - x0).abs().flatten(1).sum(1)
            e = lr + reg
        grad = None
        if need_grad:
            finite = _finite_rows(e.detach(), rec.detach())
            (grad,) = torch.autograd.grad(torch.where(finite, e, torch.zeros_like(e)).sum(), xa)
        return lr.detach(), reg.detach(), e.detach(), rec.detach(), grad

    return loss


def reconstruct(model: AutoEncoder, x: torch.Tensor, overlap: int | None = None) -> torch.Tensor:
    """f(x) of a B×C×H×W batch of any size ≥ the model's: the model itself at its size, else its
    tiles' reconstructions blended as the projection blends them (no gradient)."""
    size = int(model.image_size)
    with torch.no_grad():
        if tuple(x.shape[2:]) == (size, size):
            return model.reconstruct(x)
        grid = TileGrid(x.shape[2], x.shape[3], size, overlap, x.device)
        return TiledLoss(model, grid)(x, x, 0.0, False)[3]
