"""Model files: safetensors weights with JSON metadata in the same file; TorchScript autoencoders.

Loading never unpickles anything. A safetensors file is a JSON header and raw tensor bytes;
a TorchScript archive is read by ``torch.jit.load`` (TorchScript's own restricted loader, no
Python globals). A plain ``torch.save`` checkpoint or any other pickle is refused *without*
being opened by pickle, because unpickling can run arbitrary code.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch

from .. import __version__
from .data import atomic_write
from .metadata import check_metadata
from .models import KINDS, NORMS, AutoEncoder, ModelConfig, ScriptedAutoEncoder, create_model, freeze

if TYPE_CHECKING:
    from .tiling import WorkingScale

META_KEY = "inspector_app"
TORCHSCRIPT_META = "inspector_app.json"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class LoadedModel:
    """A frozen model ready for projection, with the metadata its file carried."""

    model: AutoEncoder
    meta: dict[str, Any]
    path: str = ""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def training_stats(self) -> dict[str, Any] | None:
        return self.meta.get("training_stats")

    @property
    def working_scale(self) -> WorkingScale | None:
        """How an image is brought to the scale the model learned (``core.tiling.WorkingScale``),
        or None for a file that does not record it (the whole image is resized to the model's size)."""
        from .tiling import WorkingScale

        return WorkingScale.from_meta(self.meta)

    def describe(self) -> str:
        cfg = self.model.config
        s = self.training_stats or {}
        lines = [
            f"file: {self.path}",
            f"kind: {self.kind} ({self.model.loss_name} reconstruction loss)",
            f"image: {cfg.image_size}×{cfg.image_size}, {cfg.channels} channel(s); latent {cfg.latent}",
        ]
        ws = self.working_scale
        lines.append(f"working scale: {ws.describe() if ws is not None else 'not recorded: every image is resized to the model size'}")
        if s:
            lines.append(
                f"training Lr: min {s.get('min', float('nan')):.4g}, mean {s.get('mean', float('nan')):.4g}, "
                f"over {s.get('n', '?')} images"
            )
        tr = self.meta.get("training", {})
        if tr.get("data"):
            lines.append(f"trained on: {tr['data']}")
        if tr.get("seconds") is not None:
            lines.append(f"training: {tr.get('epochs', '?')} epochs, {tr['seconds'] / 60:.1f} min on {tr.get('device', '?')}")
        return "\n".join(lines)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r} ({str(e).splitlines()[0]}); use auto, cpu or cuda") from None
    if dev.type not in ("cpu", "cuda", "mps"):  # meta, xla …: not a device a projection runs on
        raise ValueError(f"device {device!r} cannot run a projection; use auto, cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA device is available")
    return dev


def loss_statistics(values: np.ndarray | list[float]) -> dict[str, Any]:
    """Training-loss statistics the ``train-min`` / ``train-qNN`` stop criteria read."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no training losses to summarise")
    return {
        "min": float(v.min()),
        "max": float(v.max()),
        "mean": float(v.mean()),
        "std": float(v.std()),
        "n": int(v.size),
        "quantiles": [float(q) for q in np.quantile(v, np.linspace(0, 1, 101))],
    }


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, (np.floating, np.integer)):
        return json_safe(value.item())
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def save_model(model: AutoEncoder, path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> Path:
    """Write weights (safetensors) and metadata (JSON in the safetensors header) atomically."""
    from safetensors.torch import save_file

    if isinstance(model, ScriptedAutoEncoder):
        raise ValueError("TorchScript models are saved with torch.jit.save, not as safetensors")
    cfg = model.config
    m = dict(meta or {})
    m.update(
        format=FORMAT_VERSION,
        kind=model.kind,
        image_size=cfg.image_size,
        channels=cfg.channels,
        latent=cfg.latent,
        norm=cfg.norm,
        loss=model.loss_name,
        version=__version__,
    )
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata={META_KEY: json.dumps(json_safe(m), allow_nan=False)}))
    return Path(path)


def _sniff(path: Path, head: bytes, size: int) -> str:
    if size >= 8:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:1] == b"\x80" or head[:2] in (b"(d", b"(l", b"}q", b"]q"):
        return "pickle"
    return "unknown"


def load_model(path: str | os.PathLike[str], device: str | torch.device | None = "auto") -> LoadedModel:
    """Load a model file; raise :class:`ModelFileError` naming the file and the problem."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(p, "no such file")
    if p.is_dir():
        raise ModelFileError(p, "is a folder, not a model file")
    try:
        dev = resolve_device(device)
    except (ValueError, RuntimeError) as e:
        raise ModelFileError(p, str(e)) from None
    size = p.stat().st_size
    if size == 0:
        raise ModelFileError(p, "the file is empty")
    with open(p, "rb") as f:
        head = f.read(16)
    kind = _sniff(p, head, size)
    if kind == "safetensors":
        return _load_safetensors(p, dev)
    if kind == "zip":
        return _load_zip(p, dev)
    if kind == "pickle":
        raise ModelFileError(
            p, "is a Python pickle; it is refused because unpickling can run arbitrary code "
            "(save the model as .safetensors with inspector-app, or as TorchScript)"
        )
    raise ModelFileError(p, "is not a model file (expected .safetensors from inspector-app, or a TorchScript archive)")


def _load_safetensors(p: Path, dev: torch.device) -> LoadedModel:
    from safetensors import safe_open

    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get(META_KEY)
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for truncation, bad headers
        raise ModelFileError(p, f"is truncated or corrupt ({type(e).__name__}: {e})") from None
    if raw is None:
        raise ModelFileError(p, "has no inspector_app metadata (kind, image size, ...): not made by inspector-app")
    try:
        meta = json.loads(raw)
        arch = check_metadata(meta, KINDS, NORMS)
    except (ValueError, RecursionError) as e:
        raise ModelFileError(p, f"has malformed metadata ({e})") from None
    cfg = ModelConfig(kind=arch["kind"], image_size=arch["image_size"], channels=arch["channels"],
                      latent=arch["latent"], norm=arch["norm"])
    with torch.device("meta"):  # the expected shapes, without allocating anything
        expected = create_model(cfg).state_dict()
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    if missing or extra:
        raise ModelFileError(
            p, f"does not hold a {cfg.kind} model: missing {missing[:3]}, unexpected {extra[:3]}"
        )
    for k, v in expected.items():
        if shapes[k] != tuple(v.shape):
            raise ModelFileError(
                p, f"has a wrong-shaped tensor {k}: {shapes[k]}, a {cfg.kind} of this size needs {tuple(v.shape)}"
            )
    try:  # the shapes match the file's contents, so loading them allocates what the file holds
        with safe_open(str(p), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise ModelFileError(p, f"is truncated or corrupt ({type(e).__name__}: {e})") from None
    model = create_model(cfg)
    for k in expected:
        if tensors[k].is_floating_point() and not torch.isfinite(tensors[k]).all():
            raise ModelFileError(p, f"has non-finite weights in {k}")
    model.load_state_dict(tensors, strict=True)
    model = freeze(model).to(dev)
    model.training_stats = meta.get("training_stats")
    return LoadedModel(model, meta, str(p), dev)


def _load_zip(p: Path, dev: torch.device) -> LoadedModel:
    try:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
    except zipfile.BadZipFile as e:
        raise ModelFileError(p, f"is a damaged archive ({e})") from None
    if not any("/code/" in n for n in names):
        raise ModelFileError(
            p, "is a pickled PyTorch checkpoint (torch.save); it is refused because unpickling can run arbitrary code "
            "(export the autoencoder with torch.jit.script(...).save, or train it with inspector-app)"
        )
    extra = {TORCHSCRIPT_META: ""}
    try:
        with _torchscript_warnings():
            module = torch.jit.load(str(p), map_location="cpu", _extra_files=extra)  # type: ignore[no-untyped-call]
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else "no message"
        raise ModelFileError(p, f"is not a loadable TorchScript archive ({type(e).__name__}: {first})") from None
    meta: Any = {}
    if extra[TORCHSCRIPT_META]:
        try:
            meta = json.loads(extra[TORCHSCRIPT_META])
        except (ValueError, RecursionError) as e:
            raise ModelFileError(p, f"has malformed {TORCHSCRIPT_META} metadata ({e})") from None
    try:
        arch = check_metadata(meta, KINDS, NORMS, torchscript=True)
        cfg = ModelConfig(kind="l2ae", image_size=arch["image_size"], channels=arch["channels"], latent=1)
        model = ScriptedAutoEncoder(module, cfg, loss=str(meta.get("loss", "l2")))
        model.name = str(p)
    except ValueError as e:
        raise ModelFileError(p, f"has unusable {TORCHSCRIPT_META} metadata ({e})") from None
    x = torch.rand(2, cfg.channels, cfg.image_size, cfg.image_size)  # a batch: a model answering x[:1] is refused
    t0 = time.perf_counter()
    y = _forward_with_time_limit(p, module, x, cfg)
    model.check_seconds = time.perf_counter() - t0  # every later call's limit scales from it (core.watchdog)
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != tuple(x.shape):
        raise ModelFileError(p, f"returns {getattr(y, 'shape', type(y).__name__)}, not a reconstruction of shape {tuple(x.shape)}")
    if not torch.isfinite(y).all():
        raise ModelFileError(p, "returns non-finite values for a random image")
    model = freeze(model).to(dev)
    meta = {"kind": "torchscript", "loss": model.loss_name, "image_size": cfg.image_size, "channels": cfg.channels, **meta}
    model.training_stats = meta.get("training_stats")
    return LoadedModel(model, meta, str(p), dev)


#: Seconds a TorchScript model's first forward pass may take when it is loaded.
LOAD_CHECK_SECONDS = 20.0


def _forward_with_time_limit(p: Path, module: torch.nn.Module, x: torch.Tensor, cfg: ModelConfig) -> Any:
    """One forward pass of a user's TorchScript, in a daemon thread, given ``LOAD_CHECK_SECONDS``.

    A model whose forward never returns is refused instead of hanging the caller; its thread is
    left to run in the background (Python cannot stop a thread), and ends with the process."""
    import threading

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            with torch.no_grad():
                box["y"] = module(x)
        except Exception as e:  # noqa: BLE001 - any failure of a user's model is reported
            box["error"] = e

    t = threading.Thread(target=run, name=f"load-check {p.name}", daemon=True)
    t.start()
    t.join(LOAD_CHECK_SECONDS)
    if t.is_alive():
        raise ModelFileError(p, f"did not return a reconstruction within {LOAD_CHECK_SECONDS:g} s (does its forward loop?)")
    if "error" in box:
        e = box["error"]
        raise ModelFileError(
            p, f"does not map a {x.shape[0]}×{cfg.channels}×{cfg.image_size}×{cfg.image_size} batch to a reconstruction "
            f"({type(e).__name__}); give image_size/channels in its {TORCHSCRIPT_META}"
        )
    return box.get("y")


@contextmanager
def _torchscript_warnings() -> Iterator[None]:
    """TorchScript is deprecated in favour of torch.export, but it is the one format in which a
    user's own model loads without unpickling, so its deprecation warnings are silenced here."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=DeprecationWarning)
        yield


def save_torchscript(module: torch.nn.Module, path: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> Path:
    """Script ``module`` (x → reconstruction) and save it with its metadata, for ``load_model``."""
    with _torchscript_warnings():
        scripted = torch.jit.script(module)
    extra = {TORCHSCRIPT_META: json.dumps(meta or {})}

    def write(tmp: str) -> None:
        with _torchscript_warnings():
            torch.jit.save(scripted, tmp, _extra_files=extra)

    atomic_write(Path(path), write)
    return Path(path)


#: Kinds whose networks share their weights: the loss differs (DSSIM, a learned γ), the layers do not.
_COMPATIBLE_KINDS = ({"l2ae", "dsae"}, {"vae", "gvae"})


def init_weights(model: AutoEncoder, path: str | Path) -> None:
    """Start ``model`` from the weights of the model file ``path`` (fine-tuning): same layers, size,
    latent and normalisation; an L2AE may start a DSAE and a VAE a GVAE (whose γ then starts at 1).
    A GVAE continued from a GVAE keeps its γ: Adam moves log γ by about the learning rate per step,
    so restarting it at 1 would repeat thousands of steps of its descent."""
    src = load_model(path, "cpu").model
    a, b = src.config, model.config
    same_net = any({a.kind, b.kind} <= group for group in _COMPATIBLE_KINDS)
    if not same_net or (a.image_size, a.channels, a.latent, a.norm) != (b.image_size, b.channels, b.latent, b.norm):
        raise ValueError(f"--init {path}: a {a.kind} of {a.image_size} px, {a.channels} channel(s), latent {a.latent}, "
                         f"norm {a.norm} cannot start a {b.kind} of {b.image_size} px, {b.channels} channel(s), "
                         f"latent {b.latent}, norm {b.norm}")
    state = {k: v for k, v in src.state_dict().items() if k != "log_gamma" or a.kind == b.kind}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k != "log_gamma"]:
        raise ValueError(f"--init {path}: the weights do not fit ({len(missing)} missing, {len(unexpected)} unexpected)")
