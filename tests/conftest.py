"""Shared fixtures: tiny models and images made on the fly (fast on 2 CPU cores)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Review results are cached under $XDG_CACHE_HOME: a fresh folder per test, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(autouse=True)
def _few_threads():
    # tiny models: one thread is as fast, and does not oversubscribe 2 cores when worker threads run
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def texture_images():
    """Eight 32×32 grey crops of scikit-image's brick texture, float32 in [0, 1]."""
    from skimage import data

    b = data.brick().astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    out = []
    for _ in range(8):
        y, x = rng.integers(0, 512 - 32, 2)
        out.append(np.ascontiguousarray(b[y:y + 32, x:x + 32]))
    return out


def make_model_file(path, kind="l2ae", size=32, channels=1, seed=0, stats=True, calibration=None):
    """An untrained model of the given kind saved with plausible training statistics, and with
    ``calibration`` (a dict of :class:`inspector_app.core.calibration.Calibration` fields, the
    missing ones filled in) in its metadata when given."""
    from inspector_app.core.modelio import loss_statistics, save_model
    from inspector_app.core.models import ModelConfig, create_model

    torch.manual_seed(seed)
    model = create_model(ModelConfig(kind, size, channels, 16))
    meta = {"training": {"data": "test fixture"}}
    if stats:
        with torch.no_grad():
            lr, _ = model.forward_loss(torch.rand(8, channels, size, size))
        meta["training_stats"] = loss_statistics(lr.numpy())
    if calibration is not None:
        meta["calibration"] = {"threshold": 0.2, "min_area": 1, "stop": "none", "max_iter": 100,
                               "lr_out_of_range": None, "method": "test calibration", "figures": {},
                               **calibration}
    save_model(model, path, meta)
    return path


def write_stain_category(root, counts, image, box, seed):
    """Write an MVTec-layout category: ``root/test/{folder}`` for each (folder, n) of ``counts``,
    image i from ``image(i, rng)`` (uint8 H×W); in ``stain`` a bright rectangle, ``box`` = ((h, w),
    lo, hi): its corner drawn in [lo, H − hi) × [lo, W − hi), its mask in ``root/ground_truth/stain``."""
    import cv2

    rng = np.random.default_rng(seed)
    for folder, n in counts:
        (root / "test" / folder).mkdir(parents=True)
        for i in range(n):
            img = image(i, rng)
            h, w = img.shape
            if folder == "stain":
                (bh, bw), lo, hi = box
                mask = np.zeros((h, w), np.uint8)
                y, x = rng.integers(lo, h - hi), rng.integers(lo, w - hi)
                mask[y:y + bh, x:x + bw] = 255
                img[mask > 0] = 250
                (root / "ground_truth" / folder).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / "ground_truth" / folder / f"{i:03d}_mask.png"), mask)
            cv2.imwrite(str(root / "test" / folder / f"{i:03d}.png"), img)
    return root


def make_mixed_category(root):
    """A tiny MVTec-layout category (``root/test/{good,stain}``, ``root/ground_truth/stain``) of seven
    grey images of 48×48 and 40×32 px with bright stains, and a 32-px model (``root.parent/ws.safetensors``)
    whose working scale keeps them at their size: two working sizes, mixed within batches.
    Returns (category folder, model file)."""

    def image(i, rng):
        h, w = (48, 48) if i % 3 != 2 else (40, 32)
        return rng.integers(60, 140, (h, w)).astype(np.uint8)

    write_stain_category(root, (("good", 3), ("stain", 4)), image, ((9, 7), 2, 12), seed=3)
    return root, make_tiled_model_file(root.parent, 48)


def rewrite_meta(src, dst, change):
    """A copy of the model file ``src`` at ``dst`` whose inspector_app metadata (and safetensors
    header) ``change(meta, header)`` edited in place: a tampered file, tensors untouched."""
    import json
    import struct

    data = src.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["inspector_app"])
    change(meta, header)
    header["__metadata__"]["inspector_app"] = json.dumps(meta)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    dst.write_bytes(struct.pack("<Q", len(h)) + h + data[8 + n:])
    return dst


def make_tiled_model_file(folder, max_side, calibration=None):
    """:func:`make_model_file` (32 px, grey) with the texture protocol's working scale (``crops``,
    images brought to ``max_side``): a larger image is inspected whole, tiled."""
    from inspector_app.core.modelio import load_model, save_model

    plain = load_model(make_model_file(folder / "plain.safetensors", size=32, calibration=calibration), "cpu")
    return save_model(plain.model, folder / "ws.safetensors",
                      {**plain.meta, "working_scale": {"mode": "crops", "max_side": max_side}})


@pytest.fixture
def tiny_model_file(tmp_path):
    return make_model_file(tmp_path / "tiny_l2ae.safetensors")


@pytest.fixture
def folder(tmp_path, texture_images):
    """A folder of the texture images as 8-bit PNGs (``normal/000.png`` …); a test module may define
    its own ``folder``."""
    import cv2

    d = tmp_path / "normal"
    d.mkdir()
    for i, im in enumerate(texture_images):
        cv2.imwrite(str(d / f"{i:03d}.png"), (im * 255).astype(np.uint8))
    return d


@pytest.fixture(scope="module")
def tiny_category(tmp_path_factory):
    """A 32-px make-dataset brick category (2 training images, 4 test images), once a module."""
    from inspector_app.core.datasets import make_dataset

    root = tmp_path_factory.mktemp("cat") / "brick"
    make_dataset("brick", root, n_train=2, n_test=4, seed=0, image_size=32)
    return root


def one_line_refusal(capsys, rc, match):
    """A command refused as a user should see it: exit 2, one line on stderr that says ``match``,
    no traceback. Returns the captured output."""
    cap = capsys.readouterr()
    assert rc == 2, cap.err
    assert cap.err.count("\n") == 1 and "Traceback" not in cap.err, cap.err
    assert match in cap.err, cap.err
    return cap
