"""From a user's image (any size, grey or colour) to the projection's outputs at that size.

Shared by the ``project`` / ``inpaint`` commands, the evaluation and the GUI's export, so the
files they write mean the same thing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .. import __version__
from .data import atomic_write, atomic_write_bytes, to_tensor, write_image
from .imageops import composite, convert_channels, resize_image, resize_mask, row_bands, to_uint8
from .params import ProjectionParams
from .ranges import PAPER_THRESHOLD
from .verdict import DSSIM_SCALE_MAX, dssim_scale_top, image_score, scaled_area, segment, verdict

if TYPE_CHECKING:  # the torch modules are imported where they are used: the window starts without torch
    import torch

    from .modelio import LoadedModel
    from .projection import IterationRecord


@dataclass
class PreparedImage:
    """An input converted to the model's channels, at its own size and at the model's working
    scale (:mod:`~inspector_app.core.tiling`: the model's size for a file without one)."""

    name: str
    original: np.ndarray  # float32, H×W or H×W×3, the model's channel count
    model_input: np.ndarray  # same, at the working scale (model-size tiles cover it)
    mask: np.ndarray | None = None  # Ω at the original size (True = may change)
    mask_model: np.ndarray | None = None  # Ω at the working scale (covers every pixel of ``mask``)
    model_size: int = 0  # the model's (tile's) side

    @property
    def resized(self) -> bool:
        return self.original.shape[:2] != self.model_input.shape[:2]

    @property
    def working_shape(self) -> tuple[int, int]:
        return int(self.model_input.shape[0]), int(self.model_input.shape[1])


def working_shape(loaded: LoadedModel, height: int, width: int) -> tuple[int, int]:
    """(height, width) at which an image of this size meets the model: its working scale, or
    the model's size for a file that records none (the whole image resized, as before)."""
    from .tiling import WorkingScale

    size = int(loaded.model.config.image_size)
    ws = WorkingScale.from_meta(loaded.meta)
    return (size, size) if ws is None else ws.shape_for(int(height), int(width), size)


def prepare(name: str, image: np.ndarray, loaded: LoadedModel, mask: np.ndarray | None = None) -> PreparedImage:
    cfg = loaded.model.config
    img = convert_channels(image.astype(np.float32, copy=False), cfg.channels)
    shape = working_shape(loaded, img.shape[0], img.shape[1])
    small = resize_image(img, shape)
    mask_small = None
    if mask is not None:
        if mask.shape[:2] != img.shape[:2]:
            raise ValueError(
                f"the mask is {mask.shape[1]}×{mask.shape[0]} but the image is {img.shape[1]}×{img.shape[0]}"
            )
        mask = mask.astype(bool)
        mask_small = mask.copy() if shape == mask.shape[:2] else resize_mask(mask, shape)
    return PreparedImage(name, img, small, mask, mask_small, int(cfg.image_size))


def shape_groups(items: list[PreparedImage]) -> list[list[int]]:
    """Indices of ``items`` grouped by working shape (in order of first appearance): one batch
    of the projection holds images of one size."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(it.working_shape, []).append(i)
    return list(groups.values())


def batch_tensors(items: list[PreparedImage]) -> tuple[torch.Tensor, torch.Tensor | None]:
    x0 = to_tensor([it.model_input for it in items])
    if all(it.mask_model is None for it in items):
        return x0, None
    masks = [it.mask_model if it.mask_model is not None else np.ones(it.model_input.shape[:2], bool) for it in items]
    import torch

    return x0, torch.from_numpy(np.stack(masks)[:, None].astype(np.float32))


@dataclass
class ProjectionOutput:
    """One image's results at its original size."""

    name: str
    projection: np.ndarray
    reconstruction: np.ndarray
    dssim: np.ndarray  # float32 H×W
    segmentation: np.ndarray  # bool H×W
    score: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return str(self.info.get("verdict", ""))


@dataclass
class FinalState:
    """One image's last iterate, in numpy, at the model's size (what :func:`finish` needs)."""

    x: np.ndarray  # H×W or H×W×C
    reconstruction: np.ndarray
    dssim: np.ndarray  # H×W, DSSIM(x0, x_T) or DSSIM(x0, f(x_T)) as ``compare`` says
    iterations: int
    stop_reason: str | None
    energy: float
    recon_loss: float
    reg: float
    lr_threshold: float | None
    params: ProjectionParams

    @classmethod
    def from_record(cls, record: IterationRecord, index: int, compare: str = "projection") -> "FinalState":
        from .projection import to_numpy_image

        return cls(
            to_numpy_image(record.x[index]), to_numpy_image(record.reconstruction[index]),
            record.dssim(compare)[index].detach().cpu().numpy().astype(np.float32),
            int(record.steps[index]), record.stop_reasons[index], float(record.energy[index]),
            float(record.recon_loss[index]), float(record.reg[index]), record.lr_threshold, record.params,
        )


#: What the ``score`` of a result means (written into every result JSON).
SCORE_DEFINITION = (
    "the highest DSSIM threshold at which the map still holds a connected region (8-connectivity) of at least "
    "min_area pixels at the model's working scale; verdict 'defective' when score > threshold"
)


def _back(img: np.ndarray, prep: PreparedImage) -> np.ndarray:
    h, w = prep.original.shape[:2]
    return resize_image(img, (h, w))


def finish(
    prep: PreparedImage,
    state: FinalState | IterationRecord,
    index: int = 0,
    *,
    compare: str = "projection",
    threshold: float = PAPER_THRESHOLD,
    min_area: int = 1,
    threshold_source: str = "",
    energy_curve: list[float] | None = None,
    params: ProjectionParams | None = None,
    warnings: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> ProjectionOutput:
    """Outputs of one image (``state``, or image ``index`` of a record) at the original image's size.

    The score and the verdict are computed on the model-sized map (where ``min_area`` is
    calibrated); the segmentation at the original size keeps the regions of at least
    ``min_area`` model pixels (scaled). With a mask Ω, the projection is composited into the
    original outside Ω, so those pixels stay bit-identical to the input whatever the resizing.
    """
    if not isinstance(state, FinalState):  # an IterationRecord
        state = FinalState.from_record(state, index, compare)
    x_t, dmap = state.x, state.dssim.astype(np.float32, copy=False)
    if prep.mask is not None:
        projection = composite(prep.original, x_t, prep.mask)
    else:
        projection = prep.original.copy() if not prep.resized and np.array_equal(x_t, prep.model_input) else _back(x_t, prep)
    reconstruction = _back(state.reconstruction, prep)
    dssim = _back(dmap, prep) if prep.resized else dmap
    score = image_score(dmap, min_area)
    area = scaled_area(min_area, dmap.shape[:2], dssim.shape)
    seg = segment(dssim, threshold, area) if score > threshold else np.zeros(dssim.shape, bool)
    p = params or state.params
    info = {
        "version": __version__,
        "name": prep.name,
        "image_size": [int(prep.original.shape[1]), int(prep.original.shape[0])],
        "model_size": int(prep.model_size),
        "working_size": [int(prep.model_input.shape[1]), int(prep.model_input.shape[0])],
        "params": p.to_dict(),
        "compare": compare,
        "verdict": verdict(score, threshold),
        "score": score,
        "score_definition": SCORE_DEFINITION,
        "threshold": float(threshold),
        "min_area": int(min_area),
        "threshold_source": threshold_source,
        "anomalous_fraction": float(seg.mean()),
        "max_dssim": float(dmap.max()),
        "dssim_png_max": dssim_scale_top(threshold),
        "iterations": int(state.iterations),
        "stop_reason": state.stop_reason,
        "lr_threshold": state.lr_threshold,
        "energy": state.energy,
        "recon_loss": state.recon_loss,
        "reg": state.reg,
        "masked": prep.mask is not None,
        "warnings": list(warnings or []),
    }
    if energy_curve is not None:
        info["energy_curve"] = [float(v) for v in energy_curve]
    if extra:
        info.update(extra)
    return ProjectionOutput(prep.name, projection, reconstruction, dssim, seg, score, info)


def dssim_visual(dssim: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """8-bit RGB visualisation of a DSSIM map (inferno colour map, 0 … the scale top that
    :func:`~inspector_app.core.verdict.dssim_scale_top` gives the threshold; 0 … 0.5 without one)."""
    top = DSSIM_SCALE_MAX if threshold is None else dssim_scale_top(threshold)
    out = np.empty((*dssim.shape[:2], 3), np.uint8)
    for band in row_bands(dssim.shape[0]):  # a band at a time: no full-size float temporaries
        u8 = to_uint8(np.clip(dssim[band] / top, 0.0, 1.0))
        out[band] = cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    return out


def overlay(image: np.ndarray, seg: np.ndarray, color: tuple[float, float, float] = (1.0, 0.15, 0.1),
            opacity: float = 0.45) -> np.ndarray:
    """The input with the segmentation drawn over it (translucent fill and a solid contour), 8-bit RGB.

    Blended and quantised a band of rows at a time, in float32 as a whole float copy would be (the
    same bytes): only the 8-bit result has the image's size."""
    c = np.asarray(color, np.float32)
    u8 = np.empty((*image.shape[:2], 3), np.uint8)
    for band in row_bands(image.shape[0]):
        rgb = convert_channels(np.array(image[band], np.float32), 3)  # a copy: the input is not touched
        s = seg[band]
        rgb[s] = (1 - opacity) * rgb[s] + opacity * c
        u8[band] = to_uint8(rgb)
    contours, _ = cv2.findContours(seg.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(u8, contours, -1, tuple(int(v * 255) for v in color), 1)
    return u8


#: Suffixes of the files :func:`write_outputs` writes for a result ``NAME``.
OUTPUT_SUFFIXES = {
    "projection": "_projection.png",
    "reconstruction": "_reconstruction.png",
    "dssim_png": "_dssim.png",
    "dssim_npy": "_dssim.npy",
    "segmentation": "_segmentation.png",
    "overlay": "_overlay.png",
    "json": ".json",
}


def output_paths(out_dir: str | Path, name: str) -> dict[str, Path]:
    """The files a result named ``name`` (which may hold sub-folders) is written to."""
    d = Path(out_dir)
    return {k: d / f"{name}{suffix}" for k, suffix in OUTPUT_SUFFIXES.items()}


def _save_npy(path: str, array: np.ndarray) -> None:
    """``array`` as float32 ``.npy`` at ``path`` exactly (``np.save`` on a name would add ``.npy``),
    streamed to the file: no copy of the array in memory (a float32 map is not converted)."""
    with open(path, "wb") as f:
        np.save(f, array.astype(np.float32, copy=False))


def write_outputs(out: ProjectionOutput, out_dir: str | Path, original: np.ndarray | None = None) -> dict[str, str]:
    """``NAME_projection.png``, ``_reconstruction.png``, ``_dssim.png``, ``_dssim.npy``,
    ``_segmentation.png``, ``_overlay.png`` (when ``original`` is given) and ``NAME.json``; each
    written atomically. Callers check :func:`output_paths` for files they must not replace."""
    paths = output_paths(out_dir, out.name)
    files = {
        "projection": write_image(paths["projection"], out.projection),
        "reconstruction": write_image(paths["reconstruction"], out.reconstruction),
        "dssim_png": write_image(paths["dssim_png"], dssim_visual(out.dssim, out.info.get("threshold"))),  # 0 … dssim_png_max
        "segmentation": write_image(paths["segmentation"], out.segmentation.astype(np.uint8) * np.uint8(255)),
    }
    files["dssim_npy"] = atomic_write(paths["dssim_npy"], lambda tmp: _save_npy(tmp, out.dssim))
    if original is not None:
        files["overlay"] = write_image(paths["overlay"], overlay(original, out.segmentation))
    info = dict(out.info)
    info["files"] = {k: Path(v).name for k, v in files.items()}
    info["written"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    from .modelio import json_safe

    files["json"] = atomic_write_bytes(paths["json"], json.dumps(json_safe(info), indent=2, allow_nan=False).encode())
    return {k: str(v) for k, v in files.items()}
