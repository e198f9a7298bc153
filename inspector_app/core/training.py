"""Training an autoencoder on normal images (section 4.1), and its training-loss statistics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .data import Augmenter, to_tensor
from .modelio import loss_statistics
from .models import AutoEncoder, ModelConfig, create_model


@dataclass
class TrainConfig:
    model: ModelConfig
    epochs: int | None = None
    max_minutes: float | None = None
    batch: int = 32
    lr: float = 1e-4
    crop: bool = False
    seed: int = 0
    batches_per_epoch: int | None = None  # default: ceil(n_images / batch), at least 8


@dataclass
class TrainResult:
    model: AutoEncoder
    epochs: int
    steps: int
    seconds: float
    interrupted: bool
    last_loss: float
    loss_history: list[float]


def train(
    images: list[np.ndarray],
    cfg: TrainConfig,
    device: torch.device,
    progress: Callable[[int, int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Adam on the model's own training loss. Stops after ``epochs`` or ``max_minutes``; a
    ``KeyboardInterrupt`` (Ctrl-C) ends training early and returns what was trained so far.

    ``progress(epoch, step, running_loss)`` is called after every step.
    """
    if cfg.epochs is None and cfg.max_minutes is None:
        raise ValueError("give a number of epochs or a time limit")
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    aug = Augmenter(images, cfg.model.image_size, cfg.crop, seed=cfg.seed)
    per_epoch = cfg.batches_per_epoch or max(8, -(-len(images) // cfg.batch))
    deadline = None if cfg.max_minutes is None else time.monotonic() + 60.0 * cfg.max_minutes
    t0 = time.monotonic()
    step = epoch = 0
    running = float("nan")
    history: list[float] = []
    interrupted = False
    try:
        while cfg.epochs is None or epoch < cfg.epochs:
            for _ in range(per_epoch):
                x = aug.batch(cfg.batch).to(device)
                out = model.training_loss(x)
                opt.zero_grad(set_to_none=True)
                out.loss.backward()
                opt.step()
                v = float(out.loss.detach())
                running = v if np.isnan(running) else 0.95 * running + 0.05 * v
                step += 1
                if progress:
                    progress(epoch, step, running)
                if (deadline is not None and time.monotonic() > deadline) or (should_stop and should_stop()):
                    break
            epoch += 1
            history.append(running)
            if (deadline is not None and time.monotonic() > deadline) or (should_stop and should_stop()):
                break
    except KeyboardInterrupt:
        interrupted = True
    model.eval()
    return TrainResult(model, epoch, step, time.monotonic() - t0, interrupted, running, history)


@torch.no_grad()
def training_losses(model: AutoEncoder, images, device: torch.device, batch: int = 32) -> np.ndarray:
    """Lr of the deterministic f(x) on each training image (unaugmented), per image."""
    model.eval()
    out: list[float] = []
    buf: list[np.ndarray] = []

    def flush():
        if buf:
            lr, _ = model.forward_loss(to_tensor(buf).to(device))
            out.extend(lr.cpu().tolist())
            buf.clear()

    for im in images:
        buf.append(im)
        if len(buf) == batch:
            flush()
    flush()
    return np.asarray(out)


def training_statistics(model: AutoEncoder, images: list[np.ndarray], cfg: TrainConfig, device: torch.device) -> dict:
    aug = Augmenter(images, cfg.model.image_size, cfg.crop, seed=cfg.seed)
    return loss_statistics(training_losses(model, aug.eval_images(), device))
