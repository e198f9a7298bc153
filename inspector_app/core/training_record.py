"""What a trained model's file records about its training: the training-loss statistics the stop
criteria read, the working scale an image to inspect is brought to, and the ``training`` block
(settings, steps, time, curves). Split from :mod:`.training` (the loop itself)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .modelio import loss_statistics
from .models import AutoEncoder
from .training import TrainConfig, TrainResult, evaluate_split, model_sized


def training_statistics(model: AutoEncoder, images: list[np.ndarray], cfg: TrainConfig,
                        device: torch.device) -> dict[str, Any]:
    """Statistics (min, mean, quantiles) of Lr(x) − f(x) deterministic, unaugmented − over the
    model-sized training images."""
    return loss_statistics(evaluate_split(model, model_sized(images, cfg), device)[0])


def working_scale(cfg: "TrainConfig") -> dict[str, Any]:
    """The ``working_scale`` a model trained with ``cfg`` records (``core.tiling.WorkingScale``): the
    texture protocol's crops were cut from images brought to at most :data:`~.tiling.TEXTURE_MAX_SIDE`
    px; the object protocol resized whole images to the model's size."""
    from .tiling import TEXTURE_MAX_SIDE, WorkingScale

    ws = WorkingScale("crops", TEXTURE_MAX_SIDE) if cfg.crop else WorkingScale("whole")
    return ws.to_meta()


def training_metadata(res: TrainResult, device: torch.device, data: str, folder: str) -> dict[str, Any]:
    """The ``training`` block of a model file: settings, steps, time and both curves."""
    s = res.state
    val_fve = [v[2] for v in s.val_curve if v[0] == s.best_step]
    return {
        "data": data,
        "folder": folder,
        "n_images": len(res.train_names) + len(res.val_names),
        "n_train": len(res.train_names),
        "val_names": res.val_names,
        "protocol": "texture crops" if res.config.crop else "object (rotation/translation)",
        "config": res.config.to_dict(),
        "norm": res.config.model.norm,
        "augment": list(res.config.augment),
        "steps": s.step,
        "best_step": s.best_step,
        "best_val_loss": s.best_val if math.isfinite(s.best_val) else None,
        "best_val_fve": val_fve[0] if val_fve else None,
        "stop_reason": s.stop_reason,
        "seconds": round(s.seconds, 1),
        "device": str(device) + ("" if device.type != "cpu" else f" ({torch.get_num_threads()} threads)"),
        "interrupted": res.interrupted,
        "train_curve": s.train_curve,
        "val_curve": s.val_curve,
    }
