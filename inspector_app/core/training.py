"""Training an autoencoder on normal images (section 4.1), with a validation split.

What this adds to the paper's plain "Adam, lr 1e-4, 300 epochs" (far out of reach of a 2-core
CPU), each measured on this project's machine and recorded in the model file:

* a held-out **validation split** of the normal images (never trained on), whose loss is
  evaluated every ``eval_every`` steps and recorded as a curve;
* a **learning-rate schedule**: linear warm-up, then the rate is cut by ``lr_factor`` each time
  the validation loss stops improving for ``patience`` evaluations, and training **stops on the
  plateau** after ``max_reductions`` cuts; ``max_steps`` / ``max_minutes`` remain as caps. The
  weights with the lowest validation loss are the ones returned;
* **augmentation** that respects the texture: flips, 90° turns, a small brightness jitter;
* for the VAEs, a weight β on the KL term, raised linearly from 0 over ``kl_warmup`` steps (a VAE
  whose KL term weighs fully from the start stays at the mean image on a CPU budget);
* a **checkpoint** written atomically every ``checkpoint_minutes``, from which :func:`train`
  resumes exactly (weights, optimiser, schedule, random generators, curves).

The loop is a plain function of its inputs; the ``train`` command adds the progress bar.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .checkpoint_schema import MAX_BATCH, check_checkpoint, check_file
from .data import Augmenter, atomic_write, split_validation, to_tensor
from .elastic import corrupt_batch
from .modelio import init_weights
from .models import AutoEncoder, ModelConfig, create_model
from .ranges import RANGES

#: ``noise`` makes a denoising autoencoder: half of each batch gets a rectangle of uniform noise
#: (the inpainting corruption, 25-40 % of the area) and f is trained to give back the clean image;
#: ``masks``: the noise fills a mask of any family a user paints (``inpaint_masks.FAMILIES``);
#: ``warp``: the texture is bent instead (``elastic.local_warp``), so that f learns to straighten it.
AUGMENTATIONS = ("flip", "rot90", "brightness", "noise", "masks", "warp")
DENOISING = frozenset({"noise", "masks", "warp"})
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in the model file and the checkpoint)."""

    model: ModelConfig
    max_steps: int = int(RANGES["train_steps"].default)
    max_minutes: float | None = None
    batch: int = 16
    lr: float = 1e-3
    warmup: int = 200
    crop: bool = True
    augment: tuple[str, ...] = ("flip", "rot90")
    brightness: float = 0.05
    kl_weight: float = 1.0
    kl_warmup: int = 0
    val_fraction: float = 0.1
    eval_every: int = 100
    #: also evaluate when this many seconds of training passed since the last evaluation (None: steps
    #: only), so that a run whose minutes bind on a slow machine still shows a validation loss
    eval_seconds: float | None = None
    patience: int = 5
    min_delta: float = 0.005
    lr_factor: float = 0.3
    max_reductions: int = 2
    min_steps: int = 0
    checkpoint_minutes: float = 3.0
    seed: int = 0
    #: a model file whose weights start the training (fine-tuning), or None for a fresh network
    init: str | None = None

    def validate(self) -> "TrainConfig":
        self.model.validate()
        checks = [
            (self.max_steps >= 1, f"max_steps must be at least 1, got {self.max_steps}"),
            (self.max_minutes is None or (math.isfinite(self.max_minutes) and self.max_minutes > 0),
             f"max_minutes must be a positive number, got {self.max_minutes}"),
            (1 <= self.batch <= MAX_BATCH, f"batch must be in [1, {MAX_BATCH}], got {self.batch}"),
            (math.isfinite(self.lr) and self.lr > 0, f"lr must be a positive number, got {self.lr}"),
            (self.warmup >= 0, f"warmup must be >= 0, got {self.warmup}"),
            (0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}"),
            (self.eval_every >= 1, f"eval_every must be at least 1, got {self.eval_every}"),
            (self.eval_seconds is None or (math.isfinite(self.eval_seconds) and self.eval_seconds > 0),
             f"eval_seconds must be a positive number, got {self.eval_seconds}"),
            (self.patience >= 1, f"patience must be at least 1, got {self.patience}"),
            (math.isfinite(self.min_delta) and self.min_delta >= 0, "min_delta must be >= 0"),
            (0.0 < self.lr_factor < 1.0, f"lr_factor must be in (0, 1), got {self.lr_factor}"),
            (self.max_reductions >= 0, "max_reductions must be >= 0"),
            (0.0 <= self.brightness < 0.5, f"brightness jitter must be in [0, 0.5), got {self.brightness}"),
            (math.isfinite(self.kl_weight) and self.kl_weight >= 0, f"kl_weight must be >= 0, got {self.kl_weight}"),
            (self.kl_warmup >= 0, f"kl_warmup must be >= 0, got {self.kl_warmup}"),
            (math.isfinite(self.checkpoint_minutes) and self.checkpoint_minutes > 0,
             "checkpoint_minutes must be positive"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)
        bad = [a for a in self.augment if a not in AUGMENTATIONS]
        if bad:
            raise ValueError(f"unknown augmentation {bad[0]!r} (expected some of {', '.join(AUGMENTATIONS)})")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = list(self.augment)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        d["model"] = ModelConfig(**d["model"])
        d["augment"] = tuple(d.get("augment", ()))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class TrainState:
    """What a checkpoint holds besides the tensors: where training stands."""

    step: int = 0
    seconds: float = 0.0
    lr_scale: float = 1.0
    reductions: int = 0
    best_val: float = float("inf")
    best_step: int = 0
    since_best: int = 0
    stop_reason: str | None = None
    train_curve: list[list[float]] = field(default_factory=list)  # [step, running loss]
    running_loss: float = float("nan")  # at ``step`` (a resumed run goes on from it; nan: none yet)
    val_curve: list[list[float]] = field(default_factory=list)  # [step, val Lr, val FVE, lr]


@dataclass
class TrainResult:
    model: AutoEncoder
    config: TrainConfig
    state: TrainState
    interrupted: bool
    train_names: list[str]
    val_names: list[str]

    @property
    def steps(self) -> int:
        return self.state.step


# ------------------------------------------------------------------------------------------ batches

class TextureAugmenter:
    """Random flips, 90° turns and a brightness jitter on top of :class:`Augmenter`'s crops."""

    def __init__(self, images: list[np.ndarray], cfg: TrainConfig):
        self.base = Augmenter(images, cfg.model.image_size, cfg.crop, seed=cfg.seed)
        self.augment = set(cfg.augment)
        self.brightness = cfg.brightness
        self.rng = self.base.rng

    def sample(self) -> np.ndarray:
        x = self.base.sample()
        if "rot90" in self.augment:
            x = np.rot90(x, int(self.rng.integers(4)), axes=(0, 1))
        if "flip" in self.augment and self.rng.random() < 0.5:
            x = x[:, ::-1]
        if "brightness" in self.augment and self.brightness > 0:
            x = np.clip(x + self.rng.uniform(-self.brightness, self.brightness), 0.0, 1.0)
        return np.ascontiguousarray(x, dtype=np.float32)

    def batch(self, n: int) -> torch.Tensor:
        return to_tensor([self.sample() for _ in range(n)])

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The denoising augmentations' input (:func:`~.elastic.corrupt_batch`); the target stays ``x``."""
        return corrupt_batch(x, self.rng, self.augment)


# ------------------------------------------------------------------------------------------ validation

@torch.no_grad()
def evaluate_split(model: AutoEncoder, images: list[np.ndarray], device: torch.device,
                   batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(Lr, fraction of variance explained) of the deterministic f(x) on each image.

    The fraction of variance explained is 1 − Σ(x − f(x))² / Σ(x − mean x)²: 0 for a model that
    returns the mean grey, 1 for a perfect reconstruction."""
    was_training = model.training
    model.eval()
    lrs, fves = [], []
    for i in range(0, len(images), batch):
        x = to_tensor(images[i:i + batch]).to(device)
        lr, rec = model.forward_loss(x)
        err = (x - rec).square().flatten(1).sum(1)
        var = (x - x.mean(dim=(1, 2, 3), keepdim=True)).square().flatten(1).sum(1).clamp_min(1e-12)
        lrs.append(lr.cpu().numpy())
        fves.append((1.0 - err / var).cpu().numpy())
    model.train(was_training)
    if not lrs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(lrs).astype(np.float64), np.concatenate(fves).astype(np.float64)


def model_sized(images: list[np.ndarray], cfg: TrainConfig) -> list[np.ndarray]:
    """Images at the model's size, unaugmented (textures: the non-overlapping tiles)."""
    return list(Augmenter(images, cfg.model.image_size, cfg.crop, seed=cfg.seed).eval_images())


def model_sized_groups(images: list[np.ndarray], cfg: TrainConfig) -> tuple[list[np.ndarray], list[int] | None]:
    """:func:`model_sized`, and for textures the index of the image each tile was cut from (the
    calibration's whole-photograph grouping); None when every image is one model-size image."""
    if not cfg.crop:
        return model_sized(images, cfg), None
    tiles: list[np.ndarray] = []
    groups: list[int] = []
    for i, im in enumerate(images):
        t = model_sized([im], cfg)
        tiles += t
        groups += [i] * len(t)
    return tiles, groups


# ------------------------------------------------------------------------------------------ checkpoint

def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return dict(rng.bit_generator.state)


def save_checkpoint(path: str | Path, model: AutoEncoder, best: dict[str, torch.Tensor],
                    opt: torch.optim.Optimizer, cfg: TrainConfig, state: TrainState,
                    rng: np.random.Generator, names: list[str]) -> Path:
    """Write everything :func:`train` needs to resume, atomically, as one safetensors file."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        tensors[f"model.{k}"] = v.detach().cpu().contiguous()
    for k, v in best.items():
        tensors[f"best.{k}"] = v.detach().cpu().contiguous()
    osd = opt.state_dict()
    for pid, st in osd["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"opt.{pid}.{k}"] = t.detach().cpu().contiguous()
    tensors["torch_rng"] = torch.get_rng_state()
    meta = {
        "format": CHECKPOINT_FORMAT,
        "config": cfg.to_dict(),
        "state": asdict(state),
        "numpy_rng": _rng_state(rng),
        "param_groups": osd["param_groups"],
        "names": names,
    }
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata={"inspector_app_checkpoint": json.dumps(meta)}))
    return Path(path)


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(metadata, tensors) of a checkpoint; ``ValueError`` naming the file when it is not one."""
    from safetensors import safe_open

    p = check_file(Path(path))  # a FIFO would block for ever
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get("inspector_app_checkpoint")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors has its own error types
        raise ValueError(f"{p}: not a readable checkpoint ({type(e).__name__})") from None
    if raw is None:
        raise ValueError(f"{p}: not an inspector-app training checkpoint")
    try:
        meta = json.loads(raw)
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unsupported checkpoint format {meta.get('format')!r}")
        TrainConfig.from_dict(meta["config"]).validate()
        check_checkpoint(meta, tensors)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{p}: malformed checkpoint ({e})") from None
    return meta, tensors


# ------------------------------------------------------------------------------------------ loop

Progress = Callable[[TrainState, float], None]


def train(
    images: list[np.ndarray],
    names: list[str],
    cfg: TrainConfig,
    device: torch.device,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    on_evaluate: Callable[[AutoEncoder, list[np.ndarray], TrainState], None] | None = None,
) -> TrainResult:
    """Train a fresh model (or resume ``resume``) on ``images``; see the module docstring.

    ``names`` identify the images (file names): the validation split is drawn from them and
    stored, so a resumed run and the calibration use the same split. ``progress(state,
    running_loss)`` is called after every step. ``KeyboardInterrupt`` (Ctrl-C) ends training and
    returns the best weights so far (``interrupted``). A checkpoint goes to ``checkpoint`` every
    ``cfg.checkpoint_minutes`` and when training ends. ``on_evaluate(model, validation images,
    state)`` is called after each validation evaluation (the progress protocol's f(x) samples).
    """
    cfg = cfg.validate()
    if len(images) != len(names):
        raise ValueError("one name per image is needed")
    run = _Trainer(images, list(names), cfg, device, checkpoint, resume)
    run.loop(progress, should_stop, on_evaluate)
    return run.result()


class _Trainer:
    """One training run: the model, its optimiser, the augmenter and where training stands."""

    def __init__(self, images: list[np.ndarray], names: list[str], cfg: TrainConfig, device: torch.device,
                 checkpoint: str | Path | None, resume: str | Path | None):
        self.names, self.device, self.checkpoint = names, device, checkpoint
        self.state = TrainState()
        ck = None
        if resume is not None:
            ck = load_checkpoint(resume)
            cfg = self._resumed_config(resume, ck[0], cfg)
        self.cfg = cfg
        self.tr_idx, self.val_idx = split_validation(names, cfg.val_fraction, cfg.seed)
        self.val_images = model_sized([images[i] for i in self.val_idx], cfg) if self.val_idx else []
        torch.manual_seed(cfg.seed)
        self.model = create_model(cfg.model)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.aug = TextureAugmenter([images[i] for i in self.tr_idx], cfg)
        self.best: dict[str, torch.Tensor] = {}
        if ck is not None:
            self._restore(*ck)
        elif cfg.init is not None:
            init_weights(self.model, cfg.init)
        self.model.to(device).train()
        for st in self.opt.state.values():
            for k, v in st.items():
                if torch.is_tensor(v) and k != "step":
                    st[k] = v.to(device)
        self.interrupted = False

    def _resumed_config(self, resume: str | Path, meta: dict[str, Any], cfg: TrainConfig) -> TrainConfig:
        ck_cfg = TrainConfig.from_dict(meta["config"])
        if ck_cfg.model != cfg.model:
            raise ValueError(f"{resume}: the checkpoint holds a {ck_cfg.model}, not a {cfg.model}")
        if meta["names"] != self.names:
            raise ValueError(f"{resume}: the checkpoint was trained on other images ({len(meta['names'])} files)")
        self.state = TrainState(**meta["state"])
        self.state.stop_reason = None
        return _merge_caps(ck_cfg, cfg)

    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        self.best = {k[5:]: v.clone() for k, v in tensors.items() if k.startswith("best.")}
        osd: dict[str, Any] = {"state": {}, "param_groups": meta["param_groups"]}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, pid, name = k.split(".", 2)
                osd["state"].setdefault(int(pid), {})[name] = v
        self.opt.load_state_dict(osd)
        self.aug.rng.bit_generator.state = meta["numpy_rng"]
        torch.set_rng_state(tensors["torch_rng"])

    def lr(self) -> float:
        cfg, s = self.cfg, self.state
        warm = min(1.0, (s.step + 1) / cfg.warmup) if cfg.warmup else 1.0
        return cfg.lr * s.lr_scale * warm

    def snapshot_best(self) -> None:
        self.best = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def write_checkpoint(self) -> None:
        if self.checkpoint is not None:
            save_checkpoint(self.checkpoint, self.model, self.best, self.opt, self.cfg, self.state, self.aug.rng,
                            self.names)

    def cap_reached(self, t_start: float, should_stop: Callable[[], bool] | None) -> str | None:
        if self.state.step >= self.cfg.max_steps:
            return "max_steps"
        if self.cfg.max_minutes is not None and time.monotonic() - t_start > 60.0 * self.cfg.max_minutes:
            return "max_minutes"
        if should_stop is not None and should_stop():
            return "stopped"
        return None

    def step(self) -> float:
        """One optimiser step on an augmented batch; returns the batch's loss."""
        cfg = self.cfg
        for g in self.opt.param_groups:
            g["lr"] = self.lr()
        x = self.aug.batch(cfg.batch)
        x_in = self.aug.corrupt(x).to(self.device) if DENOISING & set(cfg.augment) else None
        x = x.to(self.device)
        beta = cfg.kl_weight * (min(1.0, self.state.step / cfg.kl_warmup) if cfg.kl_warmup else 1.0)
        out = self.model.training_loss(x, kl_weight=beta) if x_in is None else \
            self.model.training_loss(x_in, kl_weight=beta, target=x)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()  # type: ignore[no-untyped-call]
        self.opt.step()
        return float(out.loss.detach())

    def loop(self, progress: Progress | None, should_stop: Callable[[], bool] | None,
             on_evaluate: Callable[[AutoEncoder, list[np.ndarray], TrainState], None] | None = None) -> None:
        s, cfg = self.state, self.cfg
        t_start = time.monotonic() - s.seconds
        last_ck = last_eval = time.monotonic()
        running = s.running_loss if math.isfinite(s.running_loss) else (s.train_curve[-1][1] if s.train_curve
                                                                            else float("nan"))
        try:
            while s.stop_reason is None:
                s.stop_reason = self.cap_reached(t_start, should_stop)
                if s.stop_reason is not None:
                    break
                v = self.step()
                if not math.isfinite(v):
                    s.stop_reason = "diverged"
                    break
                running = s.running_loss = v if math.isnan(running) else 0.98 * running + 0.02 * v
                s.step += 1
                s.seconds = time.monotonic() - t_start
                if s.step % cfg.eval_every == 0 or (cfg.eval_seconds is not None
                                                    and time.monotonic() - last_eval >= cfg.eval_seconds):
                    last_eval = time.monotonic()
                    s.train_curve.append([s.step, running])
                    _validate(self.model, self.val_images, self.device, cfg, s, self.lr(), self.snapshot_best)
                    if on_evaluate is not None and self.val_images:
                        on_evaluate(self.model, self.val_images, s)
                if progress is not None:
                    progress(s, running)
                if self.checkpoint is not None and time.monotonic() - last_ck > 60.0 * cfg.checkpoint_minutes:
                    self.write_checkpoint()
                    last_ck = time.monotonic()
        except KeyboardInterrupt:
            self.interrupted = True
            s.stop_reason = "interrupted"
        s.seconds = time.monotonic() - t_start
        self.write_checkpoint()  # before the final evaluation, so that a resumed run continues exactly

    def result(self) -> TrainResult:
        s, val = self.state, self.val_images
        finished = s.stop_reason not in ("stopped", "interrupted")
        if finished and val and s.step and (not s.val_curve or s.val_curve[-1][0] != s.step):
            _validate(self.model, val, self.device, self.cfg, s, self.lr(), self.snapshot_best)  # the last steps count
        if not self.best or not val:  # no validation: the last weights are the result
            self.snapshot_best()
            s.best_step = s.step
        self.model.load_state_dict(self.best)
        self.model.eval()
        return TrainResult(self.model, self.cfg, s, self.interrupted,
                           [self.names[i] for i in self.tr_idx], [self.names[i] for i in self.val_idx])


def _merge_caps(ck: TrainConfig, new: TrainConfig) -> TrainConfig:
    """Resuming keeps the checkpoint's settings; only the caps (steps, minutes) may change."""
    from dataclasses import replace

    return replace(ck, max_steps=new.max_steps, max_minutes=new.max_minutes)


def _validate(model: AutoEncoder, val_images: list[np.ndarray], device: torch.device, cfg: TrainConfig,
              state: TrainState, lr: float, snapshot_best: Callable[[], None]) -> None:
    """Evaluate the validation split; keep the best weights; cut the rate or stop on a plateau."""
    if not val_images:
        return
    lrs, fves = evaluate_split(model, val_images, device)
    val = float(lrs.mean())
    state.val_curve.append([state.step, val, float(np.median(fves)), lr])
    if not math.isfinite(val) or state.step < cfg.kl_warmup:
        return  # while β rises, the losses are not comparable: no best weights, no plateau
    # relative to |best|: the Gaussian VAE's negative log-likelihood is below zero
    if val < state.best_val - cfg.min_delta * abs(state.best_val):
        state.best_val, state.best_step, state.since_best = val, state.step, 0
        snapshot_best()
        return
    if val < state.best_val:  # better, but not by min_delta: keep the weights, count the plateau
        state.best_val, state.best_step = val, state.step
        snapshot_best()
    state.since_best += 1
    if state.since_best >= cfg.patience and state.step >= cfg.min_steps:
        if state.reductions >= cfg.max_reductions:
            state.stop_reason = "plateau"
        else:
            state.reductions += 1
            state.lr_scale *= cfg.lr_factor
            state.since_best = 0
