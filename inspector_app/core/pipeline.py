"""From a user's image (any size, grey or colour) to the projection's outputs at that size.

Shared by the ``project`` / ``inpaint`` commands, the evaluation and the GUI's export, so the
files they write mean the same thing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .. import __version__
from .anomaly import segmentation
from .data import atomic_write_bytes, convert_channels, resize_image, to_tensor, to_uint8, write_image
from .inpainting import composite, resize_mask
from .modelio import LoadedModel
from .params import ProjectionParams
from .projection import IterationRecord, to_numpy_image

#: DSSIM values mapped to the full colour map in the 8-bit visualisation.
DSSIM_VIS_MAX = 0.5


@dataclass
class PreparedImage:
    """An input converted to the model's channels, at its own size and at the model's size."""

    name: str
    original: np.ndarray  # float32, H×W or H×W×3, the model's channel count
    model_input: np.ndarray  # same, at image_size × image_size
    mask: np.ndarray | None = None  # Ω at the original size (True = may change)
    mask_model: np.ndarray | None = None  # Ω at the model's size (covers every pixel of ``mask``)

    @property
    def resized(self) -> bool:
        return self.original.shape[:2] != self.model_input.shape[:2]


def prepare(name: str, image: np.ndarray, loaded: LoadedModel, mask: np.ndarray | None = None) -> PreparedImage:
    cfg = loaded.model.config
    img = convert_channels(image.astype(np.float32, copy=False), cfg.channels)
    small = resize_image(img, (cfg.image_size, cfg.image_size))
    mask_small = None
    if mask is not None:
        if mask.shape[:2] != img.shape[:2]:
            raise ValueError(
                f"the mask is {mask.shape[1]}×{mask.shape[0]} but the image is {img.shape[1]}×{img.shape[0]}"
            )
        mask = mask.astype(bool)
        mask_small = resize_mask(mask, (cfg.image_size, cfg.image_size))
    return PreparedImage(name, img, small, mask, mask_small)


def batch_tensors(items: list[PreparedImage]) -> tuple[torch.Tensor, torch.Tensor | None]:
    x0 = to_tensor([it.model_input for it in items])
    if all(it.mask_model is None for it in items):
        return x0, None
    masks = [it.mask_model if it.mask_model is not None else np.ones(it.model_input.shape[:2], bool) for it in items]
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


def _back(img: np.ndarray, prep: PreparedImage) -> np.ndarray:
    h, w = prep.original.shape[:2]
    return resize_image(img, (h, w))


def finish(
    prep: PreparedImage,
    record: IterationRecord,
    index: int,
    *,
    compare: str = "projection",
    threshold: float = 0.2,
    energy_curve: list[float] | None = None,
    params: ProjectionParams | None = None,
    extra: dict[str, Any] | None = None,
) -> ProjectionOutput:
    """Outputs of image ``index`` of ``record`` (its last iterate) at the original image's size.

    With a mask Ω, the projection is composited into the original outside Ω, so those pixels
    stay bit-identical to the input whatever the resizing.
    """
    x_t = to_numpy_image(record.x[index])
    rec = to_numpy_image(record.reconstruction[index])
    dmap = record.dssim(compare)[index].detach().cpu().numpy().astype(np.float32)
    if prep.mask is not None:
        projection = composite(prep.original, x_t, prep.mask)
    else:
        projection = prep.original.copy() if not prep.resized and np.array_equal(x_t, prep.model_input) else _back(x_t, prep)
    reconstruction = _back(rec, prep)
    dssim = _back(dmap, prep) if prep.resized else dmap
    seg = segmentation(torch.from_numpy(dssim), threshold).numpy()
    p = params or record.params
    info = {
        "version": __version__,
        "name": prep.name,
        "image_size": [int(prep.original.shape[1]), int(prep.original.shape[0])],
        "model_size": int(prep.model_input.shape[0]),
        "params": p.to_dict(),
        "compare": compare,
        "threshold": threshold,
        "iterations": int(record.steps[index]),
        "stop_reason": record.stop_reasons[index],
        "lr_threshold": record.lr_threshold,
        "energy": float(record.energy[index]),
        "recon_loss": float(record.recon_loss[index]),
        "reg": float(record.reg[index]),
        "score": float(dssim.max()),
        "anomalous_fraction": float(seg.mean()),
        "masked": prep.mask is not None,
    }
    if energy_curve is not None:
        info["energy_curve"] = [float(v) for v in energy_curve]
    if extra:
        info.update(extra)
    return ProjectionOutput(prep.name, projection, reconstruction, dssim, seg, float(dssim.max()), info)


def dssim_visual(dssim: np.ndarray) -> np.ndarray:
    """8-bit RGB visualisation of a DSSIM map (inferno colour map, 0 … DSSIM_VIS_MAX)."""
    u8 = to_uint8(np.clip(dssim / DSSIM_VIS_MAX, 0.0, 1.0))
    return cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, seg: np.ndarray, color=(1.0, 0.15, 0.1), opacity: float = 0.45) -> np.ndarray:
    """The input with the segmentation drawn over it (translucent fill and a solid contour)."""
    rgb = convert_channels(image, 3).astype(np.float32).copy()
    c = np.asarray(color, np.float32)
    rgb[seg] = (1 - opacity) * rgb[seg] + opacity * c
    contours, _ = cv2.findContours(seg.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    u8 = to_uint8(rgb)
    cv2.drawContours(u8, contours, -1, tuple(int(v * 255) for v in color), 1)
    return u8


def write_outputs(out: ProjectionOutput, out_dir: str | Path, original: np.ndarray | None = None) -> dict[str, str]:
    """``NAME_projection.png``, ``_reconstruction.png``, ``_dssim.png``, ``_dssim.npy``, ``_mask.png``,
    ``_overlay.png`` (when ``original`` is given) and ``NAME.json``; each written atomically."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    n = out.name
    files = {
        "projection": write_image(d / f"{n}_projection.png", out.projection),
        "reconstruction": write_image(d / f"{n}_reconstruction.png", out.reconstruction),
        "dssim_png": write_image(d / f"{n}_dssim.png", dssim_visual(out.dssim)),
        "mask": write_image(d / f"{n}_mask.png", (out.segmentation * 255).astype(np.uint8)),
    }
    import io

    buf = io.BytesIO()
    np.save(buf, out.dssim.astype(np.float32))
    files["dssim_npy"] = atomic_write_bytes(d / f"{n}_dssim.npy", buf.getvalue())
    if original is not None:
        files["overlay"] = write_image(d / f"{n}_overlay.png", overlay(original, out.segmentation))
    info = dict(out.info)
    info["files"] = {k: Path(v).name for k, v in files.items()}
    info["written"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    files["json"] = atomic_write_bytes(d / f"{n}.json", json.dumps(info, indent=2).encode())
    return {k: str(v) for k, v in files.items()}
