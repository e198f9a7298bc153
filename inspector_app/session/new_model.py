"""A new model from a folder of good images (File → New Model from Folder…), without Qt.

:func:`scan_folder` looks at the folder the person chose (an MVTec AD category's ``train/good`` is
found by itself): how many images, their sizes and channels, the files that cannot be read (listed,
skipped, counted) and what is wrong with the folder for training. :func:`propose` turns a scan into
:class:`NewModelSettings` — the kind of model and protocol, a time budget, and an output path
that never names an existing file — and :func:`preview_tile` gives one model-size image at the
working scale the model will learn, so the person sees what it will learn before spending minutes.
:func:`train_command` is the ``train`` command line that :mod:`.training_run` runs in another process.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.data import DataError, ImageError, check_writable, list_images, read_image, training_folder
from ..core.ranges import RANGES

#: MVTec AD's texture categories (the texture protocol: crops); anything else defaults to crops too
#: unless it is one of MVTec's object categories (whole images).
MVTEC_TEXTURES = ("carpet", "grid", "leather", "tile", "wood")
MVTEC_OBJECTS = ("bottle", "cable", "capsule", "hazelnut", "metal_nut", "pill", "screw", "toothbrush",
                 "transistor", "zipper")
#: a split into training and validation images, and a calibration on the latter, needs this many
MIN_IMAGES = 4
#: fewer images than this make a model that has seen too little: a warning, not a refusal
FEW_IMAGES = 20


class FolderProblem(ValueError):
    """A folder that cannot be trained on; the message says why in one sentence."""


@dataclass
class FolderScan:
    """What :func:`scan_folder` found (``folder``: the folder of good images actually used)."""

    chosen: Path
    folder: Path
    names: list[str]
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)  # (height, width) -> count
    channels: Counter[int] = field(default_factory=Counter)  # 1 or 3 -> count
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)
    first: np.ndarray | None = None

    @property
    def category(self) -> str:
        """The category's name: the folder above ``train/good``, or the folder's own."""
        if self.folder.name == "good" and self.folder.parent.name == "train":
            return self.folder.parent.parent.name
        return self.folder.name

    @property
    def n(self) -> int:
        return len(self.names)

    def size_text(self) -> str:
        (h, w), _ = self.sizes.most_common(1)[0]
        return f"{w}×{h}" if len(self.sizes) == 1 else f"{len(self.sizes)} sizes, mostly {w}×{h}"

    def summary(self) -> str:
        ch = " and ".join({1: "grey", 3: "colour"}[c] for c in sorted(self.channels))
        s = f"{self.n} images in {self.folder}, {self.size_text()}, {ch}"
        if self.unreadable:
            s += f"; {len(self.unreadable)} unreadable file{'s' if len(self.unreadable) > 1 else ''} skipped"
        return s

    def warnings(self) -> list[str]:
        out = []
        if self.n < FEW_IMAGES:
            out.append(f"only {self.n} images: a model of your parts needs more (at least {FEW_IMAGES})")
        if len(self.sizes) > 1:
            out.append(f"images of {len(self.sizes)} different sizes: each is brought to the working scale on its own")
        if len(self.channels) > 1:
            out.append("grey and colour images mixed: all are converted to the model's channels")
        if self.unreadable:
            names = ", ".join(n for n, _ in self.unreadable[:5]) + (" …" if len(self.unreadable) > 5 else "")
            out.append(f"{len(self.unreadable)} file(s) could not be read and are skipped: {names}")
        return out


def scan_folder(chosen: str | os.PathLike[str], progress: Callable[[int, int], None] | None = None) -> FolderScan:
    """Read every image of the folder (``DIR/train/good`` for an MVTec category); raises
    :class:`FolderProblem` when it cannot be trained on."""
    try:
        folder = training_folder(chosen)
        files = list_images(folder)
        if not files and (folder / "good").is_dir():  # an MVTec category's train folder
            folder = folder / "good"
            files = list_images(folder)
    except (DataError, OSError) as e:
        raise FolderProblem(str(e)) from None
    scan = FolderScan(Path(chosen), folder, [])
    for i, f in enumerate(files):
        try:
            im = read_image(f)
        except (ImageError, DataError, OSError, ValueError) as e:
            scan.unreadable.append((f.name, str(e).split(": ")[-1] or type(e).__name__))
            continue
        scan.names.append(f.name)
        scan.sizes[im.shape[:2]] += 1
        scan.channels[1 if im.ndim == 2 else im.shape[2]] += 1
        if scan.first is None:
            scan.first = im
        if progress is not None:
            progress(i + 1, len(files))
    if not files:
        raise FolderProblem(f"{folder}: no images found (expected .png/.jpg/… files, or an MVTec category with "
                            "train/good)")
    if scan.n < MIN_IMAGES:
        raise FolderProblem(f"{folder}: {scan.n} readable image{'' if scan.n == 1 else 's'} of {len(files)}; "
                            f"a model needs at least {MIN_IMAGES} (some to learn, some to check and calibrate on)")
    return scan


@dataclass(frozen=True)
class NewModelSettings:
    """The ``train`` settings the dialog proposes and the person may change."""

    data: Path
    out: Path
    kind: str = "l2ae"
    crop: bool = True
    image_size: int = 128
    channels: int = 1
    minutes: float = float(RANGES["train_minutes"].default)
    max_steps: int = int(RANGES["train_steps"].default)
    calibrate_minutes: float = float(RANGES["calibrate_minutes"].default)
    eval_every: int = 100
    eval_seconds: float = 30.0
    batch: int = 16
    skip: tuple[str, ...] = ()  # unreadable files: ``train --skip-unreadable`` skips them

    def check(self) -> "NewModelSettings":
        """``ValueError`` with one sentence when a setting is out of its range or the output cannot be written."""
        for name, v in (("train_minutes", self.minutes), ("train_steps", self.max_steps),
                        ("calibrate_minutes", self.calibrate_minutes)):
            r = RANGES[name]
            if not r.contains(v):
                raise ValueError(f"{r.help}: {v:g} is outside [{r.minimum:g}, {r.maximum:g}]")
        if self.image_size % 32 or not 32 <= self.image_size <= 512:
            raise ValueError(f"image size {self.image_size}: a multiple of 32 from 32 to 512")
        if self.out.suffix != ".safetensors":
            raise ValueError(f"{self.out}: a model file ends in .safetensors")
        if self.out.exists() or self.out.with_suffix(".checkpoint").exists():
            raise ValueError(f"{self.out} exists: choose another name (a model file is never overwritten)")
        try:
            check_writable(self.out)
        except OSError as e:
            raise ValueError(str(e)) from None
        return self


def models_folder() -> Path:
    """Where new models go by default: ``$XDG_DATA_HOME/inspector-app/models``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "inspector-app" / "models"


def free_path(folder: Path, stem: str) -> Path:
    """``folder/stem.safetensors``, or ``stem-2``, ``stem-3``… when that (or its checkpoint) exists."""
    for i in range(1, 10_000):
        p = folder / (f"{stem}.safetensors" if i == 1 else f"{stem}-{i}.safetensors")
        if not p.exists() and not p.with_suffix(".checkpoint").exists():
            return p
    raise ValueError(f"{folder}: no free name for {stem}")


def propose(scan: FolderScan, out_folder: Path | None = None) -> NewModelSettings:
    """The settings proposed for ``scan``: a normalised L2AE (the model card's best kind on a CPU
    budget), the texture protocol (crops at ≤ 512 px) unless the category is one of MVTec's
    objects, colour only when the images are, 8 minutes of training and 2 of calibration."""
    crop = scan.category.lower() not in MVTEC_OBJECTS
    channels = 3 if scan.channels.get(3, 0) > scan.channels.get(1, 0) else 1
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in scan.category) or "model"
    out = free_path(out_folder or models_folder(), f"{stem}_l2ae")
    return NewModelSettings(scan.folder, out, crop=crop, channels=channels,
                            skip=tuple(n for n, _ in scan.unreadable))


def preview_tile(scan: FolderScan, settings: NewModelSettings) -> np.ndarray:
    """One model-size image as training will see it (textures: a crop of the first image brought to
    the working scale; objects: the whole image resized), in the settings' channels."""
    from ..core.models import ModelConfig
    from ..core.training import TrainConfig, model_sized

    if scan.first is None:
        raise FolderProblem("no readable image to show")
    im = scan.first
    if settings.channels == 1 and im.ndim == 3:
        im = im.mean(axis=2).astype(np.float32)
    elif settings.channels == 3 and im.ndim == 2:
        im = np.repeat(im[:, :, None], 3, axis=2)
    cfg = TrainConfig(ModelConfig(settings.kind, settings.image_size, settings.channels, 100), crop=settings.crop)
    tiles = model_sized([im], cfg)
    return tiles[len(tiles) // 2] if tiles else im


def train_command(s: NewModelSettings, pause_file: Path, resume: Path | None = None) -> list[str]:
    """The ``train`` command line for ``s`` (the same code as the command), progress on stdout."""
    prog = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "inspector_app"]
    cmd = prog + ["train", "--arch", s.kind, "--data", str(s.data), "--out", str(s.out),
                  "--image-size", str(s.image_size), "--channels", str(s.channels),
                  "--max-steps", str(s.max_steps), "--max-minutes", f"{s.minutes:g}",
                  "--calibrate-minutes", f"{s.calibrate_minutes:g}", "--eval-every", str(s.eval_every),
                  "--eval-seconds", f"{s.eval_seconds:g}",
                  "--batch", str(s.batch), "--progress-jsonl", "-", "--pause-file", str(pause_file), "--quiet"]
    if s.crop:
        cmd.append("--crop")
    if s.skip:
        cmd.append("--skip-unreadable")
    if resume is not None:
        cmd += ["--resume", str(resume)]
    return cmd


def with_out(s: NewModelSettings, out: str | os.PathLike[str]) -> NewModelSettings:
    p = Path(out)
    return replace(s, out=p if p.suffix == ".safetensors" else p.with_name(p.name + ".safetensors"))
