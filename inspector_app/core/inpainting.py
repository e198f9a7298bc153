"""Helpers for the inpainting demo (section 4.2): corrupt, mask, reference inpainting, metrics.

Qt-free (numpy, OpenCV, scikit-image). Images are float arrays in [0, 1], H×W (grey) or H×W×C;
masks are boolean H×W arrays, True = inside Ω (the pixels that may change). Every function that
returns an image keeps the pixels outside the mask **bit-identical** to its input.

Sizes are ``(height, width)`` tuples (numpy order), or one int for a square.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable

import cv2
import numpy as np
from .metrics import psnr, ssim
from .imageops import composite, float_image, hw, mask_for, resize_image, resize_mask, to_uint8

if TYPE_CHECKING:
    import torch

    from .modelio import LoadedModel
    from .params import ProjectionParams
    from .projection import IterationRecord

__all__ = [
    "comparison_metrics",
    "composite",
    "corrupt_with_noise",
    "random_box_mask",
    "resize_image",
    "resize_mask",
    "telea_inpaint",
]


def corrupt_with_noise(
    image: np.ndarray, mask: np.ndarray, seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """Replace the pixels inside ``mask`` by uniform noise U(0, 1), every channel independently.

    The corruption of section 4.2. Returns a new array of the image's (float) dtype; pixels
    outside the mask are bit-identical to ``image``.
    """
    image = float_image(image)
    mask = mask_for(image, mask)
    rng = np.random.default_rng(seed)
    out = image.copy()
    n = int(np.count_nonzero(mask))
    out[mask] = rng.random((n, *image.shape[2:])).astype(image.dtype, copy=False)
    return out


def random_box_mask(
    shape: int | tuple[int, int],
    fraction_range: tuple[float, float] = (0.2, 0.35),
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """A random axis-aligned rectangle as a boolean mask of ``shape`` (height, width).

    Its area is a fraction of the image drawn uniformly from ``fraction_range`` (up to rounding
    to whole pixels), its aspect ratio (width/height) log-uniform in [1/2, 2] (clipped to the
    image), its position uniform over the places where it fits.
    """
    h, w = hw(int(shape) if isinstance(shape, (int, np.integer)) else (int(shape[0]), int(shape[1])))
    lo, hi = (float(f) for f in fraction_range)
    if not (0.0 < lo <= hi <= 1.0):
        raise ValueError(f"fraction_range must satisfy 0 < low <= high <= 1, got {fraction_range!r}")
    rng = np.random.default_rng(rng)
    area = rng.uniform(lo, hi) * h * w
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    bh = min(max(round(math.sqrt(area / aspect)), 1), h)
    bw = min(max(round(area / bh), 1), w)
    bh = min(max(round(area / bw), 1), h)  # re-balance when the width was clipped
    top = int(rng.integers(0, h - bh + 1))
    left = int(rng.integers(0, w - bw + 1))
    mask = np.zeros((h, w), dtype=bool)
    mask[top : top + bh, left : left + bw] = True
    return mask


def telea_inpaint(image: np.ndarray, mask: np.ndarray, radius: float = 3) -> np.ndarray:
    """Reference inpainting: OpenCV's Telea (2004) fast marching method, ``cv2.INPAINT_TELEA``.

    ``image`` is float in [0, 1], H×W or H×W×C; OpenCV works on 8 bits, so the filled pixels are
    quantized to 1/255. Returns the image's shape and dtype with the pixels outside ``mask``
    bit-identical to ``image``.
    """
    image = float_image(image)
    mask = mask_for(image, mask)
    out = image.copy()
    if not mask.any():
        return out
    m8 = mask.astype(np.uint8) * 255
    u8 = to_uint8(image)
    if u8.ndim == 2 or u8.shape[2] in (1, 3):
        filled = cv2.inpaint(u8, m8, float(radius), cv2.INPAINT_TELEA).reshape(image.shape)
    else:  # cv2.inpaint takes 1 or 3 channels: do the others one by one
        filled = np.stack(
            [cv2.inpaint(np.ascontiguousarray(u8[:, :, c]), m8, float(radius), cv2.INPAINT_TELEA)
             for c in range(u8.shape[2])],
            axis=2,
        )
    out[mask] = (filled[mask].astype(np.float32) / 255.0).astype(image.dtype, copy=False)
    return out


def comparison_metrics(image: np.ndarray, ground_truth: np.ndarray) -> dict[str, float]:
    """PSNR (dB, ``inf`` for identical images) and SSIM of ``image`` against ``ground_truth``
    (:func:`inspector_app.core.metrics.psnr` and :func:`~inspector_app.core.metrics.ssim`)."""
    a = np.asarray(image, dtype=np.float64)
    b = np.asarray(ground_truth, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare images of shapes {a.shape} and {b.shape}")
    return {"psnr": psnr(a, b), "ssim": ssim(a, b)}


# ------------------------------------------------------------------------------------------------
# Blind vs masked inpainting side by side (section 4.2): the panels of the ``inpaint`` command
# and of the comparison window, computed at the image's own resolution.
# ------------------------------------------------------------------------------------------------

#: Panels of a comparison, in display order, and their titles.
PANELS = ("corrupted", "reconstruction", "blind", "masked", "telea", "ground_truth")
PANEL_TITLES = {
    "corrupted": "Corrupted input x0",
    "reconstruction": "Reconstruction f(x0)",
    "blind": "Blind inpainting (eq. 8)",
    "masked": "Masked inpainting (eq. 7)",
    "telea": "OpenCV Telea",
    "ground_truth": "Ground truth",
}
#: The two projections of a comparison.
INPAINT_MODES = ("blind", "masked")

#: Default iteration cap of the inpainting runs (the runs normally stop on energy convergence).
INPAINT_MAX_ITER = 200

# Defaults for inpainting, chosen on a VAE trained on 80 lfw_subset faces at 32×32 (12 min on one
# CPU thread), over 20 held-out faces with a box of uniform noise covering 20–35 % of the image
# (mean PSNR vs the clean face; plain reconstruction f(x0) 17.3 dB, OpenCV Telea 23.3 dB):
#   masked, plain step α = 0.5, λ = 0: 24.2 dB in ~36 iterations; Adam α = 0.05: 23.6 dB;
#   blind, plain step α = 2, λ = 0.1: 19.4 dB in ~36 iterations (α = 5: 19.5, α = 10 oscillates;
#   λ = 0: 18.7; Adam: 17.6, it normalises eq. 8's per-pixel weighting away).
# The anomaly-detection stop (Lr under the training minimum) is not used: inpainting stops when the
# energy has converged (|ΔE| per pixel < tol for ``patience`` iterations), or after ``max_iter``.
# The plain step's scale follows the model's loss: for a γ-VAE or a DSAE try Adam (α ≈ 0.05).
_INPAINT_DEFAULTS: dict[str, dict[str, Any]] = {
    # eq. 7: only Ω moves, and it should move as far as the model wants → no L1 pull towards the
    # noise (λ = 0).
    "masked": dict(alpha=0.5, lam=0.0, optimizer="sgd", grad_mask="none", stop="converge",
                   tol=1e-5, patience=5, max_iter=INPAINT_MAX_ITER),
    # eq. 8: the gradient weighted by (x − f(x))², no mask; a moderate λ keeps the pixels that are
    # already well reconstructed in place.
    "blind": dict(alpha=2.0, lam=0.1, optimizer="sgd", grad_mask="recon", stop="converge",
                  tol=1e-5, patience=5, max_iter=INPAINT_MAX_ITER),
}


#: Where masked inpainting starts inside Ω: the corrupted pixels (the paper) or OpenCV's Telea fill.
MASKED_INITS = ("input", "telea")


def model_inpainting(loaded: LoadedModel | None, thin: bool = False) -> dict[str, Any]:
    """The masked-inpainting schedule a model file carries (``meta["inpainting"]``, tuned on its
    validation images by ``calibrate --inpainting``), or an empty dict. ``thin``: for a thin or
    small Ω (:func:`thin_mask`), the file's schedule for those (its ``thin`` block,
    tuned on such masks alone) where it has one."""
    block = (getattr(loaded, "meta", None) or {}).get("inpainting")
    if not isinstance(block, dict):
        return {}
    sub = block.get("thin")
    return {**block, **sub} if thin and isinstance(sub, dict) else block


def inpaint_params(mode: str, base: ProjectionParams | None = None, loaded: LoadedModel | None = None,
                   thin: bool = False, **changes: Any) -> ProjectionParams:
    """The projection parameters of one inpainting run: ``mode`` is ``"blind"`` or ``"masked"``.

    Without ``base`` the mode's defaults (``_INPAINT_DEFAULTS``). With a ``base``
    :class:`~inspector_app.core.params.ProjectionParams`, its values are kept except the gradient
    weighting, which the mode decides (blind: ``grad_mask="recon"``, eq. 8; masked:
    ``grad_mask="none"``, eq. 7 with Ω). ``changes`` override either (``None`` values are ignored).
    ``thin``: Ω is thin or small (:attr:`InpaintJob.thin`), the model's schedule for such masks.
    """
    from .params import ProjectionParams

    if mode not in INPAINT_MODES:
        raise ValueError(f"inpainting mode must be one of {INPAINT_MODES}, got {mode!r}")
    fixed = {"grad_mask": _INPAINT_DEFAULTS[mode]["grad_mask"]}
    if base is None:
        tuned = model_inpainting(loaded, thin).get(mode) if loaded is not None else None
        known = {f: v for f, v in (tuned or {}).items() if f in _INPAINT_DEFAULTS[mode]}
        p = ProjectionParams(**{**_INPAINT_DEFAULTS[mode], **known})
    else:
        p = base.replace(**fixed)
    changes = {k: v for k, v in changes.items() if v is not None}
    return p.replace(**changes).validated()


#: A mask is "thin" when under this share of its pixels lie farther than :data:`THIN_DEPTH` px from
#: its edge (at the model's size). On the face model, the families where the rectangle-tuned
#: schedule lost to Telea are thin (small discs, strokes, brush strokes: share ≤ 0.08 on average)
#: and those that gained are not (large discs 0.39, large rectangles 0.62); eyes, mouth and small
#: rectangles lie between (0.14-0.23).
THIN_SHARE = 0.25
THIN_DEPTH = 2.5


def thin_mask(mask: np.ndarray) -> bool:
    """Whether Ω is thin or small (see :data:`THIN_SHARE`): Telea, which copies nearby pixels, does
    about as well as masked inpainting there; a model may carry a schedule of its own for such Ω
    (the model card's *Other masks*)."""
    m = np.asarray(mask, bool)
    if not m.any():
        return False
    depth = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
    return float((depth > THIN_DEPTH).sum()) / float(m.sum()) < THIN_SHARE


def omega_is_thin(mask_model: np.ndarray | None) -> bool:
    """Whether Ω at the model's size is thin or small (:func:`thin_mask`): the
    model's schedule for such masks applies (Telea alone does about as well there)."""
    return mask_model is not None and thin_mask(np.asarray(mask_model) > 0.5)


class InpaintJob:
    """One corrupted image, its mask Ω and (optionally) its clean version, ready for inpainting.

    Qt-free; shared by :func:`run_comparison` (the ``inpaint`` command) and the comparison window,
    which drives the two projections itself. The image is converted to the model's channel count
    and kept at its own size; the projections run at the model's size.

    * ``x0`` is the 1×C×S×S model input, ``mask_tensor`` Ω at the model's size (1×1×S×S, covering
      every pixel of Ω, see :func:`resize_mask`), or None without a mask.
    * :meth:`panel` turns a projection's x_T back into a panel at the image's size: the masked
      one is composited into the corrupted input, so the pixels outside Ω are bit-identical (from
      the Telea fill, on an image larger than the model, Ω gets the Telea fill made at the image's
      own size plus the projection's upsampled change: a stroke thinner than the model's pixels
      keeps the fill's detail); the blind one adds the upsampled change x_T − x0 to the input (at
      the model's size this is x_T), so that pixels the projection did not move keep their full
      resolution.
    """

    def __init__(self, loaded: LoadedModel, image: np.ndarray, mask: np.ndarray | None = None,
                 ground_truth: np.ndarray | None = None, masked_init: str | None = None):
        from .data import convert_channels
        from .pipeline import prepare

        image = float_image(np.asarray(image))
        channels = loaded.model.channels
        img = convert_channels(image.astype(np.float32, copy=False), channels)
        if mask is not None:
            mask = mask_for(img, mask).copy()
        gt = None
        if ground_truth is not None:
            gt = convert_channels(float_image(np.asarray(ground_truth), "ground truth").astype(np.float32), channels)
            if gt.shape[:2] != img.shape[:2]:
                raise ValueError(
                    f"the ground truth is {gt.shape[1]}×{gt.shape[0]} but the image is {img.shape[1]}×{img.shape[0]}"
                )
        self.loaded = loaded
        self.prep = prepare("image", img, loaded, mask)
        self.image = self.prep.original
        self.mask = mask
        self.ground_truth = gt
        self.thin = omega_is_thin(self.prep.mask_model)
        self.masked_init = masked_init or model_inpainting(loaded, self.thin).get("init") or "input"
        if self.masked_init not in MASKED_INITS:
            raise ValueError(f"masked inpainting starts from one of {', '.join(MASKED_INITS)}, not {self.masked_init!r}")
        self._static: dict[str, np.ndarray] | None = None
        self._telea: np.ndarray | None = None

    # -- model-size tensors --------------------------------------------------------------------
    @property
    def x0(self) -> torch.Tensor:
        from .data import to_tensor

        return to_tensor([self.prep.model_input])

    def start_image(self, mode: str) -> np.ndarray:
        """Where a run starts, at the model's size (numpy): x0, or for masked inpainting from
        ``telea`` x0 with Ω filled by OpenCV's Telea (the pixels outside Ω stay x0's)."""
        if mode == "masked" and self.masked_init == "telea" and self.prep.mask_model is not None:
            return telea_inpaint(self.prep.model_input, self.prep.mask_model > 0.5)
        return self.prep.model_input

    def start(self, mode: str) -> torch.Tensor:
        """:meth:`start_image` as the 1×C×S×S tensor the projection takes."""
        from .data import to_tensor

        return to_tensor([self.start_image(mode)])

    @property
    def mask_tensor(self) -> torch.Tensor | None:
        import torch

        if self.prep.mask_model is None:
            return None
        return torch.from_numpy(self.prep.mask_model[None, None].astype(np.float32))

    @property
    def modes(self) -> tuple[str, ...]:
        """The projections this job can run: masked inpainting needs Ω."""
        return INPAINT_MODES if self.mask is not None else ("blind",)

    # -- panels --------------------------------------------------------------------------------
    def telea_full(self) -> np.ndarray:
        """OpenCV's Telea fill of Ω at the image's own size (kept: a run's frames reuse it)."""
        if self.mask is None:
            raise ValueError("the Telea fill needs a mask")
        if self._telea is None:
            self._telea = telea_inpaint(self.image, self.mask)
        return self._telea

    def _to_image_size(self, small: np.ndarray) -> np.ndarray:
        return resize_image(small.astype(np.float32, copy=False), self.image.shape[:2]).reshape(self.image.shape)

    def static_panels(self) -> dict[str, np.ndarray]:
        """The panels that need no projection: corrupted, reconstruction f(x0), Telea, ground truth."""
        if self._static is None:
            import torch

            from .projection import to_numpy_image
            from .tiling import reconstruct

            model = self.loaded.model
            device = next(iter(model.parameters()), torch.empty(0)).device
            rec = reconstruct(model, self.x0.to(device)).clamp(0.0, 1.0)  # tiled at the working scale
            panels = {
                "corrupted": self.image.copy(),
                "reconstruction": self._to_image_size(to_numpy_image(rec[0])),
            }
            if self.mask is not None:
                panels["telea"] = self.telea_full().copy()
            if self.ground_truth is not None:
                panels["ground_truth"] = self.ground_truth.copy()
            self._static = panels
        return {k: v.copy() for k, v in self._static.items()}

    def panel(self, mode: str, x_t: torch.Tensor | np.ndarray) -> np.ndarray:
        """A projection's x_T (C×S×S tensor, or an S×S[×C] array) as a panel at the image's size."""
        from .projection import to_numpy_image

        if isinstance(x_t, np.ndarray) or not hasattr(x_t, "detach"):
            small = np.asarray(x_t, np.float32)
        else:
            small = to_numpy_image(x_t)
        if mode == "masked":
            if self.mask is None:
                raise ValueError("masked inpainting needs a mask")
            if self.prep.resized and self.masked_init == "telea":
                # the projection's change to the Telea fill, upsampled, on the Telea fill made at the
                # image's own size: the model's size holds no detail finer than its pixels
                fill = self.telea_full() + self._to_image_size(small - self.start_image("masked"))
                return composite(self.image, np.clip(fill, 0.0, 1.0), self.mask)
            return composite(self.image, small, self.mask)
        if mode != "blind":
            raise ValueError(f"inpainting mode must be one of {INPAINT_MODES}, got {mode!r}")
        if not self.prep.resized:
            return small.reshape(self.image.shape).astype(self.image.dtype, copy=True)
        change = self._to_image_size(small - self.prep.model_input)
        out: np.ndarray = np.clip(self.image + change, 0.0, 1.0).astype(self.image.dtype, copy=False)
        return out

    def metrics(self, name: str, panel: np.ndarray) -> dict[str, float] | None:
        """PSNR and SSIM of a panel against the ground truth (None without one); with a mask also
        ``psnr_mask``, the PSNR over the pixels inside Ω only."""
        if self.ground_truth is None:
            return None
        m = comparison_metrics(panel, self.ground_truth)
        if self.mask is not None:
            m["psnr_mask"] = psnr(panel, self.ground_truth, mask=self.mask)
        return m


@dataclass(frozen=True)
class InpaintRun:
    """How one inpainting projection ended."""

    iterations: int
    stop_reason: str | None
    energy: float
    recon_loss: float
    reg: float
    params: dict[str, Any]
    energy_curve: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """Blind vs masked inpainting side by side: the panels at the image's size, their figures
    against the ground truth, and the runs."""

    panels: dict[str, np.ndarray]  # name → H×W[×C] float32, in PANELS order
    metrics: dict[str, dict[str, float]]  # name → {psnr, ssim, psnr_mask}; empty without ground truth
    runs: dict[str, InpaintRun]
    image_size: tuple[int, int]  # (width, height)
    model_size: int
    masked_fraction: float | None
    thin: bool = False  # Ω thin or small: the model's schedule for such masks ran (InpaintJob.thin)


def run_comparison(
    loaded: LoadedModel,
    image: np.ndarray,
    mask: np.ndarray | None,
    ground_truth: np.ndarray | None = None,
    params: ProjectionParams | None = None,
    max_iter: int | None = None,
    on_record: Callable[[str, IterationRecord], None] | None = None,
    *,
    modes: tuple[str, ...] | None = None,
    blind_params: ProjectionParams | None = None,
    masked_params: ProjectionParams | None = None,
    masked_init: str | None = None,
    changes: dict[str, dict[str, Any]] | None = None,
) -> Comparison:
    """Blind vs masked inpainting of ``image`` (section 4.2), with the references, headless.

    ``image`` is the corrupted image (float [0, 1], any size, grey or colour; converted to the
    model's channels), ``mask`` Ω at its size (True = corrupted, may change) or None (then only the
    blind run, no Telea), ``ground_truth`` the clean image or None.

    Parameters of the two runs: ``blind_params`` / ``masked_params`` when given; else
    :func:`inpaint_params` of the mode (for the shape of Ω), based on ``params`` when given (its
    gradient weighting is replaced by the mode's), with ``changes[mode]`` applied (the command
    line's flags). ``max_iter`` caps both. ``on_record(mode, record)`` sees every
    iteration. ``modes`` restricts the runs (default: both when there is a mask).

    Panels (:class:`Comparison`): ``corrupted``, ``reconstruction`` (f(x0)), ``blind``,
    ``masked`` (outside Ω bit-identical to ``corrupted``), ``telea``, ``ground_truth``.
    """
    from .projection import run_to_end

    job = InpaintJob(loaded, image, mask, ground_truth, masked_init)
    if modes is None:
        modes = job.modes
    for m in modes:
        if m not in job.modes:
            raise ValueError("masked inpainting needs a mask" if m == "masked" else f"unknown mode {m!r}")
    panels = job.static_panels()
    runs: dict[str, InpaintRun] = {}
    explicit = {"blind": blind_params, "masked": masked_params}
    for mode in modes:
        given = explicit[mode]
        p = given if given is not None else inpaint_params(mode, params, loaded, job.thin,
                                                           **(changes or {}).get(mode, {}))
        if max_iter is not None:
            p = p.replace(max_iter=int(max_iter))
        p = p.validated()
        cb = (lambda rec, _m=mode: on_record(_m, rec)) if on_record is not None else None
        _, last, curves = run_to_end(
            loaded.model, job.start(mode), p, mask=job.mask_tensor if mode == "masked" else None, on_record=cb
        )
        panels[mode] = job.panel(mode, last.x[0])
        runs[mode] = InpaintRun(int(last.steps[0]), last.stop_reasons[0], float(last.energy[0]),
                                float(last.recon_loss[0]), float(last.reg[0]), p.to_dict(),
                                [float(v) for v in curves[0]])
    panels = {k: panels[k] for k in PANELS if k in panels}
    metrics: dict[str, dict[str, float]] = {}
    if job.ground_truth is not None:
        for name, panel in panels.items():
            figures = job.metrics(name, panel) if name != "ground_truth" else None
            if figures is not None:
                metrics[name] = figures
    return Comparison(panels, metrics, runs, (int(job.image.shape[1]), int(job.image.shape[0])),
                      int(loaded.model.image_size), None if job.mask is None else float(job.mask.mean()), job.thin)


__all__ += ["INPAINT_MODES", "MASKED_INITS", "model_inpainting", "PANELS", "PANEL_TITLES", "Comparison", "InpaintJob", "InpaintRun", "inpaint_params",
            "run_comparison"]
