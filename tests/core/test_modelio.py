"""Model files: round trips for every kind and TorchScript, and every malformed file refused."""

from __future__ import annotations

import json
import pickle
import struct

import pytest
import torch
from torch import nn

from inspector_app.core.modelio import ModelFileError, load_model, save_model, save_torchscript
from inspector_app.core.models import KINDS, ModelConfig, create_model


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_every_kind(tmp_path, kind):
    torch.manual_seed(0)
    model = create_model(ModelConfig(kind, 32, 3 if kind == "vae" else 1, 8))
    stats = {"min": 1.0, "mean": 2.0, "quantiles": list(range(101)), "n": 5}
    path = save_model(model, tmp_path / f"{kind}.safetensors", {"training_stats": stats, "training": {"data": "x"}})
    loaded = load_model(path, "cpu")
    assert loaded.kind == kind
    assert loaded.model.config == model.config
    assert loaded.training_stats == stats
    assert loaded.meta["version"]
    x = torch.rand(2, model.channels, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded.model.reconstruct(x), model.reconstruct(x))
        assert torch.allclose(loaded.model.forward_loss(x)[0], model.forward_loss(x)[0])
    assert all(not p.requires_grad for p in loaded.model.parameters())
    assert "kind: " + kind in loaded.describe()


class _Blur(nn.Module):
    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 3, 1, 1)


def test_torchscript_model_loads_with_l2_by_default(tmp_path):
    path = save_torchscript(_Blur(), tmp_path / "blur.pt", {"image_size": 32, "channels": 1})
    loaded = load_model(path, "cpu")
    assert loaded.kind == "torchscript" and loaded.model.loss_name == "l2"
    x = torch.rand(1, 1, 32, 32)
    lr, rec = loaded.model.forward_loss(x)
    assert torch.allclose(lr, ((x - rec) ** 2).sum())
    path2 = save_torchscript(_Blur(), tmp_path / "blur2.pt", {"image_size": 32, "channels": 1, "loss": "dssim",
                                                              "training_stats": {"min": 0.5}})
    loaded2 = load_model(path2, "cpu")
    assert loaded2.model.loss_name == "dssim" and loaded2.training_stats == {"min": 0.5}
    from inspector_app.core.params import ProjectionParams
    from inspector_app.core.projection import run_to_end

    _, last, _ = run_to_end(loaded.model, x, ProjectionParams(stop="none", max_iter=3))
    assert last.steps.tolist() == [3]


@pytest.fixture
def good_file(tmp_path):
    return save_model(create_model(ModelConfig("l2ae", 32, 1, 8)), tmp_path / "good.safetensors", {})


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "nope.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_model(tmp_path / "empty.safetensors")
    with pytest.raises(ModelFileError, match="folder"):
        load_model(tmp_path)


def test_truncated_file(tmp_path, good_file):
    data = good_file.read_bytes()
    bad = tmp_path / "trunc.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="trunc.safetensors: is truncated or corrupt"):
        load_model(bad)


def _rewrite_meta(src, dst, change):
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


def test_wrong_kind_and_wrong_shape(tmp_path, good_file):
    bad = _rewrite_meta(good_file, tmp_path / "kind.safetensors", lambda m, h: m.update(kind="gan"))
    with pytest.raises(ModelFileError, match="unknown model kind 'gan'"):
        load_model(bad)
    bad = _rewrite_meta(good_file, tmp_path / "vae.safetensors", lambda m, h: m.update(kind="vae"))
    with pytest.raises(ModelFileError, match="does not hold a vae model|wrong-shaped"):
        load_model(bad)
    bad = _rewrite_meta(good_file, tmp_path / "size.safetensors", lambda m, h: m.update(image_size=64))
    with pytest.raises(ModelFileError, match="wrong-shaped tensor"):
        load_model(bad)
    bad = _rewrite_meta(good_file, tmp_path / "meta.safetensors", lambda m, h: m.pop("latent"))
    with pytest.raises(ModelFileError, match="malformed metadata"):
        load_model(bad)


def test_safetensors_without_our_metadata(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ModelFileError, match="no inspector_app metadata"):
        load_model(tmp_path / "foreign.safetensors")


def test_random_bytes(tmp_path):
    (tmp_path / "junk.bin").write_bytes(b"hello, this is not a model at all")
    with pytest.raises(ModelFileError, match="junk.bin: is not a model file"):
        load_model(tmp_path / "junk.bin")


class _Evil:
    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(_Evil.target),))


def test_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    _Evil.target = str(tmp_path / "pwned")
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps({"state": _Evil()}))
    ckpt = tmp_path / "evil.pt"
    torch.save({"state": _Evil()}, ckpt)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(raw)
    with pytest.raises(ModelFileError, match="pickled PyTorch checkpoint"):
        load_model(ckpt)
    assert not (tmp_path / "pwned").exists()
    # the payload really would have run, had it been unpickled
    pickle.loads(raw.read_bytes())
    assert (tmp_path / "pwned").exists()


def test_save_is_atomic(tmp_path, good_file, monkeypatch):
    import os

    before = good_file.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        save_model(create_model(ModelConfig("l2ae", 32, 1, 8)), good_file, {})
    assert good_file.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["good.safetensors"]
