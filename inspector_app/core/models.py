"""The four autoencoders of section 4.1 on Bergmann et al.'s convolutional architecture.

Each kind owns its reconstruction loss Lr — the loss it is trained with and the one the
projection descends:

========  =========================================  ==============================
kind      training loss                              Lr (projection)
========  =========================================  ==============================
l2ae      Σ (x − f(x))²                              same
dsae      Σ DSSIM(x, f(x)), 11×11 window             same
vae       ½ Σ (x − f(x))² + KL                       ½ Σ (x − f(x))²  (no KL)
gvae      Σ (x − f)²/(2γ²) + D log γ + KL, γ learned same, without KL
========  =========================================  ==============================

``reconstruct`` is the deterministic f(x): for the VAEs the decoder mean at the encoder mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence, TypeVar

import torch
from torch import nn

from . import losses

KINDS = ("l2ae", "dsae", "vae", "gvae")
#: Normalisation after every convolution but the latent and the output ones. ``none`` is Bergmann
#: et al.'s exact network; ``batch`` (BatchNorm, used in eval mode with fixed statistics by the
#: projection, so f stays a deterministic function of x) makes it leave the mean image within a few
#: hundred steps on a CPU; ``group`` (GroupNorm, 8 groups) does not depend on batch statistics.
NORMS = ("none", "batch", "group")
LOSS_OF_KIND = {"l2ae": "l2", "dsae": "dssim", "vae": "gaussian", "gvae": "gaussian_learned"}


#: Largest image side a model may have (a multiple of 32); a model file declaring more is refused.
MAX_IMAGE_SIZE = 512
#: Largest latent size a model may have.
MAX_LATENT = 4096

@dataclass(frozen=True)
class ModelConfig:
    kind: str = "l2ae"
    image_size: int = 128
    channels: int = 1
    latent: int = 100
    norm: str = "none"

    def validate(self) -> "ModelConfig":
        if self.kind not in KINDS:
            raise ValueError(f"unknown model kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        if self.image_size < 32 or self.image_size % 32 or self.image_size > MAX_IMAGE_SIZE:
            raise ValueError(f"image size must be a multiple of 32 in [32, {MAX_IMAGE_SIZE}] (a model file holds "
                             f"no larger), got {self.image_size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if not 1 <= self.latent <= MAX_LATENT:
            raise ValueError(f"latent size must be in [1, {MAX_LATENT}], got {self.latent}")
        if self.norm not in NORMS:
            raise ValueError(f"unknown normalisation {self.norm!r} (expected one of {', '.join(NORMS)})")
        return self


class TrainingLoss(NamedTuple):
    loss: torch.Tensor  # scalar to minimise (batch mean)
    recon_loss: torch.Tensor  # Lr per sample, detached
    kl: torch.Tensor | None  # KL per sample for the VAEs, detached


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def _norm(kind: str, channels: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "group":
        return [nn.GroupNorm(min(8, channels), channels)]
    return []


def _stack(convs: Sequence[nn.Conv2d | nn.ConvTranspose2d], norm: str) -> list[nn.Module]:
    """conv → [norm] → LeakyReLU for every convolution of ``convs``."""
    layers: list[nn.Module] = []
    for conv in convs:
        layers += [conv, *_norm(norm, int(conv.out_channels)), _act()]
    return layers


def build_encoder(cfg: ModelConfig, out_features: int) -> nn.Sequential:
    """Bergmann et al.'s encoder: 128 → 8×8 → ``out_features`` with an (S/16)×(S/16) valid conv."""
    c = cfg.channels
    k = cfg.image_size // 16
    body = [
        nn.Conv2d(c, 32, 4, 2, 1),
        nn.Conv2d(32, 32, 4, 2, 1),
        nn.Conv2d(32, 32, 3, 1, 1),
        nn.Conv2d(32, 64, 4, 2, 1),
        nn.Conv2d(64, 64, 3, 1, 1),
        nn.Conv2d(64, 128, 4, 2, 1),
        nn.Conv2d(128, 64, 3, 1, 1),
        nn.Conv2d(64, 32, 3, 1, 1),
    ]
    return nn.Sequential(*_stack(body, cfg.norm), nn.Conv2d(32, out_features, k, 1, 0))


def build_decoder(cfg: ModelConfig) -> nn.Sequential:
    """Mirror of the encoder with transposed convolutions; sigmoid output in [0, 1]."""
    c = cfg.channels
    k = cfg.image_size // 16
    body = [
        nn.ConvTranspose2d(cfg.latent, 32, k, 1, 0),
        nn.ConvTranspose2d(32, 64, 3, 1, 1),
        nn.ConvTranspose2d(64, 128, 3, 1, 1),
        nn.ConvTranspose2d(128, 64, 4, 2, 1),
        nn.ConvTranspose2d(64, 64, 3, 1, 1),
        nn.ConvTranspose2d(64, 32, 4, 2, 1),
        nn.ConvTranspose2d(32, 32, 3, 1, 1),
        nn.ConvTranspose2d(32, 32, 4, 2, 1),
    ]
    return nn.Sequential(*_stack(body, cfg.norm), nn.ConvTranspose2d(32, c, 4, 2, 1), nn.Sigmoid())


class AutoEncoder(nn.Module):
    """Common interface every model the engine drives implements.

    ``reconstruct(x)`` is f(x); ``recon_loss(x, recon)`` is Lr per sample;
    ``forward_loss(x)`` returns both from a single forward pass.
    """

    kind: str = "l2ae"
    loss_name: str = "l2"

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def channels(self) -> int:
        return self.config.channels

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def recon_loss(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Lr(x) per sample, f(x)) from one forward pass."""
        recon = self.reconstruct(x)
        return self.recon_loss(x, recon), recon

    def training_loss(self, x: torch.Tensor, kl_weight: float = 1.0, target: torch.Tensor | None = None) -> TrainingLoss:
        """The loss the model is trained with; ``kl_weight`` (β) scales the VAEs' KL term. With a
        ``target``, f(x) is compared with it instead of x (a denoising autoencoder's training)."""
        if target is None:
            lr, _ = self.forward_loss(x)
        else:
            lr = self.recon_loss(target, self.reconstruct(x))
        return TrainingLoss(lr.mean(), lr.detach(), None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D401 - nn.Module protocol
        return self.reconstruct(x)


class DeterministicAE(AutoEncoder):
    """L2AE / DSAE: encoder → latent vector → decoder."""

    def __init__(self, cfg: ModelConfig, loss: str):
        super().__init__(cfg)
        self.kind = "l2ae" if loss == "l2" else "dsae"
        self.loss_name = loss
        self.encoder = build_encoder(cfg, cfg.latent)
        self.decoder = build_decoder(cfg)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.decoder(self.encoder(x))
        return out

    def recon_loss(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        return losses.l2_loss(x, recon) if self.loss_name == "l2" else losses.dssim_loss(x, recon)


class VariationalAE(AutoEncoder):
    """VAE with unit decoder variance, or γ-VAE with a learned scalar decoder std γ."""

    def __init__(self, cfg: ModelConfig, learned_gamma: bool):
        super().__init__(cfg)
        self.kind = "gvae" if learned_gamma else "vae"
        self.loss_name = "gaussian_learned" if learned_gamma else "gaussian"
        self.encoder = build_encoder(cfg, 2 * cfg.latent)
        self.decoder = build_decoder(cfg)
        self.log_gamma: nn.Parameter | None = nn.Parameter(torch.zeros(())) if learned_gamma else None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        mu, logvar = torch.chunk(h, 2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.encode(x)
        out: torch.Tensor = self.decoder(mu)
        return out

    def recon_loss(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        return losses.gaussian_nll(x, recon, self.log_gamma)

    def training_loss(self, x: torch.Tensor, kl_weight: float = 1.0, target: torch.Tensor | None = None) -> TrainingLoss:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = self.decoder(z)
        lr = self.recon_loss(x if target is None else target, recon)
        kl = losses.kl_divergence(mu, logvar)
        return TrainingLoss((lr + kl_weight * kl).mean(), lr.detach(), kl.detach())

    @property
    def gamma(self) -> float | None:
        return None if self.log_gamma is None else float(self.log_gamma.detach().exp())


_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l2": losses.l2_loss,
    "dssim": losses.dssim_loss,
    "gaussian": lambda x, r: losses.gaussian_nll(x, r, None),
}


class ScriptedAutoEncoder(AutoEncoder):
    """A user's own TorchScript autoencoder x → f(x). Lr = L2 unless its metadata says otherwise."""

    kind = "torchscript"

    def __init__(self, module: torch.jit.ScriptModule, cfg: ModelConfig, loss: str = "l2"):
        super().__init__(cfg)
        if loss not in _LOSSES:
            raise ValueError(f"unsupported loss {loss!r} for a TorchScript model (expected {', '.join(_LOSSES)})")
        self.module = module
        self.loss_name = loss
        self._loss = _LOSSES[loss]
        self.name = "TorchScript model"
        self.stopped: str | None = None  # why the model is no longer called
        self.check_seconds: float | None = None  # what the load check's call (a batch of two) took

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) under :mod:`~inspector_app.core.watchdog`'s time limit, every call; an answer of another
        shape than ``x`` (a batch answered by its first image) stops the model too."""
        from .watchdog import ModelStopped, call_seconds, call_with_time_limit

        if self.stopped:
            raise ModelStopped(self.stopped)
        try:
            limit = call_seconds(self.check_seconds, x.shape[0] / 2)
            y = call_with_time_limit(self.module, x, seconds=limit, name=self.name)
        except ModelStopped as e:
            self.stopped = str(e)
            raise
        if not isinstance(y, torch.Tensor) or y.shape != x.shape:
            self.stopped = (f"{self.name}: the model answered a batch of shape {tuple(x.shape)} with "
                            f"{tuple(getattr(y, 'shape', ())) or type(y).__name__}; it is not used again")
            raise ModelStopped(self.stopped)
        return y

    def recon_loss(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        return self._loss(x, recon)


def create_model(cfg: ModelConfig) -> AutoEncoder:
    """A fresh, untrained model of the given kind."""
    cfg.validate()
    if cfg.kind in ("l2ae", "dsae"):
        return DeterministicAE(cfg, LOSS_OF_KIND[cfg.kind])
    return VariationalAE(cfg, learned_gamma=cfg.kind == "gvae")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def freeze(model: ModuleT) -> ModuleT:
    """Evaluation mode and no parameter gradients: the projection differentiates the input only."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
