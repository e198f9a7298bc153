"""Model files: round trips for every kind and TorchScript, and every malformed file refused."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
import torch
from torch import nn

from conftest import rewrite_meta
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
    assert loaded.model.training_stats == stats  # what the train-* stop criteria read
    assert loaded.device == torch.device("cpu") and loaded.path == str(path)
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
    with pytest.raises(ModelFileError, match="trunc.safetensors: is truncated or corrupt") as e:
        load_model(bad)
    assert e.value.path == str(bad) and e.value.problem.startswith("is truncated or corrupt (SafetensorError: ")


def test_wrong_kind_and_wrong_shape(tmp_path, good_file):
    bad = rewrite_meta(good_file, tmp_path / "kind.safetensors", lambda m, h: m.update(kind="gan"))
    with pytest.raises(ModelFileError, match="unknown model kind 'gan'"):
        load_model(bad)
    bad = rewrite_meta(good_file, tmp_path / "vae.safetensors", lambda m, h: m.update(kind="vae"))
    with pytest.raises(ModelFileError, match="does not hold a vae model|wrong-shaped"):
        load_model(bad)
    # declared with BatchNorm: many tensors missing and many unexpected, the first three of each named
    bad = rewrite_meta(good_file, tmp_path / "bn.safetensors", lambda m, h: m.update(norm="batch"))
    with pytest.raises(ModelFileError) as e:
        load_model(bad)
    import re

    m = re.fullmatch(r"does not hold a l2ae model: missing \[(.*)\], unexpected \[(.*)\]", e.value.problem)
    assert m and e.value.path == str(bad)
    assert m.group(1).count("'") == 6 and m.group(2).count("'") == 6
    bad = rewrite_meta(good_file, tmp_path / "size.safetensors", lambda m, h: m.update(image_size=64))
    with pytest.raises(ModelFileError, match="wrong-shaped tensor") as e:
        load_model(bad)
    assert e.value.path == str(bad)
    bad = rewrite_meta(good_file, tmp_path / "meta.safetensors", lambda m, h: m.pop("latent"))
    with pytest.raises(ModelFileError, match="malformed metadata") as e:
        load_model(bad)
    assert e.value.path == str(bad)


def test_safetensors_without_our_metadata(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ModelFileError, match="no inspector_app metadata") as e:
        load_model(tmp_path / "foreign.safetensors")
    assert e.value.path == str(tmp_path / "foreign.safetensors")


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


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_pickle_named_safetensors_is_refused_without_running_it(tmp_path, how):
    """The extension decides nothing: a pickle called .safetensors is sniffed and refused."""
    _Evil.target = str(tmp_path / "pwned")
    evil = tmp_path / "evil.safetensors"
    if how == "pickle":
        evil.write_bytes(pickle.dumps({"state": _Evil()}))
    else:
        torch.save({"state": _Evil()}, evil)
    with pytest.raises(ModelFileError, match="pickle") as e:
        load_model(evil)
    assert str(e.value).startswith(f"{evil}: ")
    assert "arbitrary code" in str(e.value)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("protocol, container", [(0, dict), (0, list), (1, dict), (1, list), (2, dict), (5, dict)])
def test_every_pickle_protocol_is_sniffed(tmp_path, protocol, container):
    f = tmp_path / "model.safetensors"
    f.write_bytes(pickle.dumps(container(), protocol=protocol))
    with pytest.raises(ModelFileError, match="model.safetensors: is a Python pickle"):
        load_model(f)


def test_header_only_safetensors_is_read_as_safetensors(tmp_path):
    """A safetensors file without tensors is all header (n = size − 8): still sniffed as safetensors."""
    from safetensors.torch import save_file

    f = tmp_path / "hollow.safetensors"
    save_file({}, str(f), metadata={"inspector_app": json.dumps({"kind": "l2ae", "image_size": 32, "channels": 1,
                                                                  "latent": 8})})
    data = f.read_bytes()
    assert struct.unpack("<Q", data[:8])[0] == len(data) - 8
    with pytest.raises(ModelFileError, match="does not hold a l2ae model: missing"):
        load_model(f)


def test_non_finite_weights_are_refused(tmp_path):
    model = create_model(ModelConfig("l2ae", 32, 1, 8))
    with torch.no_grad():
        next(iter(model.parameters()))[0].view(-1)[0] = float("nan")
    f = save_model(model, tmp_path / "nan.safetensors", {})
    with pytest.raises(ModelFileError, match="nan.safetensors: has non-finite weights in encoder.0.weight"):
        load_model(f)


# the test writes TorchScript files itself (the loader silences these warnings for its own use)
@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.(script|save)` is deprecated:DeprecationWarning")
def test_saved_metadata_is_exact_and_json_safe(tmp_path):
    model = create_model(ModelConfig("gvae", 64, 3, 12, "batch"))
    f = save_model(model, tmp_path / "g.safetensors", {"training": {"best": float("nan"), "n": np.int64(7)},
                                                        "kind": "overridden by the model"})
    meta = load_model(f, "cpu").meta
    assert {k: meta[k] for k in ("format", "kind", "image_size", "channels", "latent", "norm", "loss", "version")} == {
        "format": 1, "kind": "gvae", "image_size": 64, "channels": 3, "latent": 12, "norm": "batch",
        "loss": "gaussian_learned", "version": "0.1.0"}
    assert meta["training"] == {"best": None, "n": 7}
    with pytest.raises(ValueError, match="TorchScript"):
        from inspector_app.core.models import ScriptedAutoEncoder

        save_model(ScriptedAutoEncoder(torch.jit.script(_Blur()), ModelConfig("l2ae", 32, 1, 1)), tmp_path / "s.safetensors")


def test_json_safe():
    from inspector_app.core.modelio import json_safe

    assert json_safe({"a": [1.0, float("inf"), (float("-inf"), np.float32(0.5))], 3: np.int32(4), "s": "x",
                      "n": None, "b": True}) == {"a": [1.0, None, [None, 0.5]], "3": 4, "s": "x", "n": None, "b": True}
    assert json_safe(float("nan")) is None and json_safe(np.float64("nan")) is None


def test_loss_statistics_are_exact():
    from inspector_app.core.modelio import loss_statistics

    s = loss_statistics(np.arange(101))
    assert len(s["quantiles"]) == 101
    assert s["quantiles"] == pytest.approx(list(range(101)), abs=1e-9)  # quantile k of 0 … 100 is k
    assert (s["min"], s["max"], s["mean"], s["n"]) == (0.0, 100.0, 50.0, 101)
    assert s["std"] == pytest.approx(np.sqrt((101 ** 2 - 1) / 12))  # population std of 0 … 100
    s = loss_statistics([4.0, 2.0])
    assert s["quantiles"][0] == 2.0 and s["quantiles"][50] == 3.0 and s["quantiles"][100] == 4.0
    assert s["quantiles"][25] == pytest.approx(2.5) and s["std"] == 1.0
    with pytest.raises(ValueError, match="^no training losses to summarise$"):
        loss_statistics([])
    # float32 losses are summarised in float64 (a float32 mean of these loses the four ones)
    assert loss_statistics(np.float32([2 ** 24, 1, 1, 1, 1]))["mean"] == (2 ** 24 + 4) / 5
    # the quantiles feed train-qNN
    from inspector_app.core.projection import threshold_from_stats

    assert threshold_from_stats("train-q05", loss_statistics(np.arange(101))) == pytest.approx(5.0, abs=1e-9)
    assert threshold_from_stats("train-q95", loss_statistics(np.arange(101) * 2.0)) == pytest.approx(190.0, abs=1e-9)


def test_describe_names_the_file_kind_size_and_training(tmp_path):
    model = create_model(ModelConfig("vae", 32, 3, 8))
    meta = {"training_stats": {"min": 1.5, "mean": 2.25, "n": 9},
            "training": {"data": "bricks", "seconds": 600.0, "epochs": 3, "device": "cpu"}}
    loaded = load_model(save_model(model, tmp_path / "v.safetensors", meta), "cpu")
    assert loaded.describe().splitlines() == [
        f"file: {tmp_path / 'v.safetensors'}",
        "kind: vae (gaussian reconstruction loss)",
        "image: 32×32, 3 channel(s); latent 8",
        "working scale: not recorded: every image is resized to the model size",
        "training Lr: min 1.5, mean 2.25, over 9 images",
        "trained on: bricks",
        "training: 3 epochs, 10.0 min on cpu",
    ]
    bare = load_model(save_model(model, tmp_path / "b.safetensors", {}), "cpu")
    assert len(bare.describe().splitlines()) == 4 and bare.training_stats is None
    # statistics without a mean, training without a time or epochs
    from inspector_app.core.modelio import LoadedModel

    nomin = LoadedModel(model, {"training_stats": {"n": 3}}, "x")
    assert nomin.describe().splitlines()[4] == "training Lr: min nan, mean nan, over 3 images"
    partial = load_model(save_model(model, tmp_path / "p.safetensors", {
        "training_stats": {"min": 2.0}, "training": {"seconds": 30.0}}), "cpu")
    assert partial.describe().splitlines()[4:] == ["training Lr: min 2, mean nan, over ? images",
                                                   "training: ? epochs, 0.5 min on ?"]


def test_resolve_device():
    from inspector_app.core.modelio import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want and resolve_device(None).type == want
    assert resolve_device().type == want  # "auto" by default
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


class _GreyConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class _Divide(nn.Module):
    def forward(self, x):
        return x / torch.zeros_like(x)


class _Slow(nn.Module):
    """About 0.1 s of matrix products (a loop of element-wise ops would be JIT-fused, for seconds)."""

    def forward(self, x):
        w = torch.ones(400, 400) / 400.0
        m = torch.ones(400, 400)
        for _ in range(10):
            m = m @ w
        return x * m[0, 0]


def test_torchscript_forward_under_a_time_limit(tmp_path, monkeypatch):
    import inspector_app.core.modelio as modelio

    slow = save_torchscript(_Slow(), tmp_path / "slow.pt", {"image_size": 32, "channels": 1})
    monkeypatch.setattr(modelio, "LOAD_CHECK_SECONDS", 0.001)
    with pytest.raises(ModelFileError, match=r"slow.pt: did not return a reconstruction within 0.001 s"):
        load_model(slow, "cpu")
    import threading

    left = [t for t in threading.enumerate() if t.name == "load-check slow.pt"]
    assert left and all(t.daemon for t in left)  # the forward still runs, in a daemon thread
    for t in left:
        t.join(30)  # let it finish: a thread inside TorchScript at interpreter exit aborts the process
    monkeypatch.setattr(modelio, "LOAD_CHECK_SECONDS", 60.0)
    assert load_model(slow, "cpu").model.image_size == 32


def test_archive_with_code_that_torchscript_cannot_load(tmp_path):
    import zipfile

    f = tmp_path / "fake.pt"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("fake/code/__torch__.py", "not torchscript")
        z.writestr("fake/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(ModelFileError, match=r"fake.pt: is not a loadable TorchScript archive \(RuntimeError: "
                                             r"Expected hasRecord\(\"version\"\) to be true, but got false.  "
                                             r"\(Could this error message be improved\?  If so, please report an "
                                             r"enhancement request to PyTorch.\)\)$"):
        load_model(f, "cpu")


def test_torchscript_load_error_without_a_message(tmp_path, monkeypatch):
    f = save_torchscript(_Blur(), tmp_path / "blur.pt", {"image_size": 32, "channels": 1})

    def silent(*a, **k):
        raise RuntimeError()

    monkeypatch.setattr(torch.jit, "load", silent)
    with pytest.raises(ModelFileError, match=r"blur.pt: is not a loadable TorchScript archive \(RuntimeError: no message\)$"):
        load_model(f, "cpu")


class _Pair(nn.Module):
    def forward(self, x):
        return (x, x)


def test_torchscript_model_file_fields(tmp_path):
    from inspector_app.core.modelio import LoadedModel

    stats = {"min": 0.5, "quantiles": [float(k) for k in range(101)]}
    path = save_torchscript(_Blur(), tmp_path / "blur.pt", {"image_size": 32, "channels": 1, "training_stats": stats,
                                                          "note": "mine"})
    loaded = load_model(path, "cpu")
    assert isinstance(loaded, LoadedModel)
    assert loaded.path == str(path) and loaded.device == torch.device("cpu")
    assert loaded.meta == {"kind": "torchscript", "loss": "l2", "image_size": 32, "channels": 1,
                           "training_stats": stats, "note": "mine"}
    assert loaded.model.training_stats == stats  # what the train-* stop criteria read
    assert loaded.model.config == ModelConfig("l2ae", 32, 1, 1, "none")
    assert loaded.kind == "torchscript"
    pair = save_torchscript(_Pair(), tmp_path / "pair.pt", {"image_size": 32, "channels": 1})
    with pytest.raises(ModelFileError, match=r"pair.pt: returns tuple, not a reconstruction of shape \(2, 1, 32, 32\)$"):
        load_model(pair, "cpu")


def test_model_file_error_carries_path_and_problem(tmp_path):
    with pytest.raises(ModelFileError) as e:
        load_model(tmp_path / "none.safetensors")
    assert e.value.path == str(tmp_path / "none.safetensors") and e.value.problem == "no such file"
    assert str(e.value) == f"{tmp_path / 'none.safetensors'}: no such file"


def test_torchscript_deprecation_warnings_are_silenced_there_only(tmp_path):
    import warnings

    from inspector_app.core.modelio import _torchscript_warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        path = save_torchscript(_Blur(), tmp_path / "blur.pt", {"image_size": 32, "channels": 1})
        load_model(path, "cpu")
        with _torchscript_warnings():
            warnings.warn("`torch.jit.foo` is deprecated", DeprecationWarning)
            warnings.warn("something else is deprecated", DeprecationWarning)
            warnings.warn("`torch.jit.foo` is deprecated", UserWarning)
        warnings.warn("`torch.jit.bar` is deprecated", DeprecationWarning)
    msgs = [(w.category, str(w.message)) for w in seen]
    assert msgs == [(DeprecationWarning, "something else is deprecated"), (UserWarning, "`torch.jit.foo` is deprecated"),
                    (DeprecationWarning, "`torch.jit.bar` is deprecated")]


class _Shrink(nn.Module):
    def forward(self, x):
        return x[..., :-1, :]


# the test writes TorchScript files itself (the loader silences these warnings for its own use)
@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.(script|save)` is deprecated:DeprecationWarning")
def test_torchscript_files_that_cannot_be_used(tmp_path):
    import zipfile

    bad = save_torchscript(_Shrink(), tmp_path / "shrink.pt", {"image_size": 32, "channels": 1})
    with pytest.raises(ModelFileError, match=r"shrink.pt: returns torch.Size\(\[2, 1, 31, 32\]\), not a reconstruction"):
        load_model(bad)
    wrong = save_torchscript(_Blur(), tmp_path / "five.pt", {"image_size": 32, "channels": 5})
    with pytest.raises(ModelFileError, match=r"five.pt: has unusable inspector_app.json metadata \(channels must be 1 or 3"):
        load_model(wrong)
    grey = save_torchscript(_GreyConv(), tmp_path / "grey.pt", {"image_size": 32, "channels": 3})
    with pytest.raises(ModelFileError, match=r"grey.pt: does not map a 2×3×32×32 batch to a reconstruction \(RuntimeError\); "
                                             r"give image_size/channels in its inspector_app.json"):
        load_model(grey)
    nan = save_torchscript(_Divide(), tmp_path / "nan.pt", {"image_size": 32, "channels": 1})
    with pytest.raises(ModelFileError, match="nan.pt: returns non-finite values for a random image"):
        load_model(nan)
    loss = save_torchscript(_Blur(), tmp_path / "loss.pt", {"image_size": 32, "channels": 1, "loss": "gaussian_learned"})
    with pytest.raises(ModelFileError, match="loss.pt: has unusable inspector_app.json metadata .*unsupported loss"):
        load_model(loss)
    # a zip that is not TorchScript, a damaged archive, malformed metadata
    plain = tmp_path / "plain.pt"
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(ModelFileError) as e:
        load_model(plain)
    assert e.value.problem == (
        "is a pickled PyTorch checkpoint (torch.save); it is refused because unpickling can run arbitrary code "
        "(export the autoencoder with torch.jit.script(...).save, or train it with inspector-app)")
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    with pytest.raises(ModelFileError, match="broken.pt: is a damaged archive"):
        load_model(tmp_path / "broken.pt")
    scripted = torch.jit.script(_Blur())
    torch.jit.save(scripted, str(tmp_path / "meta.pt"), _extra_files={"inspector_app.json": "{not json"})
    with pytest.raises(ModelFileError, match="meta.pt: has malformed inspector_app.json metadata"):
        load_model(tmp_path / "meta.pt")
    # no metadata at all: 128×128 grey by default, which this blur maps to itself
    torch.jit.save(scripted, str(tmp_path / "bare.pt"))
    loaded = load_model(tmp_path / "bare.pt", "cpu")
    assert (loaded.model.image_size, loaded.model.channels, loaded.model.loss_name) == (128, 1, "l2")
    assert loaded.meta["kind"] == "torchscript" and loaded.training_stats is None


NOT_A_MODEL = "is not a model file (expected .safetensors from inspector-app, or a TorchScript archive)"


@pytest.mark.parametrize("name, data, problem", [
    # the smallest safetensors header, "{}": read as safetensors, refused for lacking our metadata
    ("two", struct.pack("<Q", 2) + b"{}",
     "has no inspector_app metadata (kind, image size, ...): not made by inspector-app"),
    ("huge", b"\xff" * 8 + b"{abc", NOT_A_MODEL),  # a header length beyond the file
    ("long", struct.pack("<Q", 7) + b'{"a":1', NOT_A_MODEL),  # one byte beyond
    ("bracket", struct.pack("<Q", 4) + b"[1,2]", NOT_A_MODEL),  # a header that is no JSON object
    ("short", b"\x02\x00\x00\x00\x00\x00\x00", NOT_A_MODEL),  # 7 bytes
])
def test_sniffing_the_safetensors_header(tmp_path, name, data, problem):
    f = tmp_path / f"{name}.safetensors"
    f.write_bytes(data)
    with pytest.raises(ModelFileError) as e:
        load_model(f, "cpu")
    assert e.value.problem == problem


def test_load_model_messages_are_exact(tmp_path):
    def problem_of(path, device="cpu"):
        with pytest.raises(ModelFileError) as e:
            load_model(path, device)
        assert str(e.value) == f"{path}: {e.value.problem}" and e.value.path == str(path)
        return e.value.problem

    assert problem_of(tmp_path / "missing.safetensors") == "no such file"
    assert problem_of(tmp_path) == "is a folder, not a model file"
    (tmp_path / "zero.safetensors").write_bytes(b"")
    assert problem_of(tmp_path / "zero.safetensors") == "the file is empty"
    (tmp_path / "one.safetensors").write_bytes(b"\x00")
    assert problem_of(tmp_path / "one.safetensors") == NOT_A_MODEL
    (tmp_path / "p.safetensors").write_bytes(pickle.dumps({}))
    assert problem_of(tmp_path / "p.safetensors") == (
        "is a Python pickle; it is refused because unpickling can run arbitrary code "
        "(save the model as .safetensors with inspector-app, or as TorchScript)")


@pytest.mark.skipif(torch.cuda.is_available(), reason="refusing CUDA needs a machine without it")
def test_asking_for_cuda_without_it_names_the_file(tmp_path, good_file):
    with pytest.raises(ModelFileError) as e:
        load_model(good_file, "cuda")
    assert str(e.value) == f"{good_file}: CUDA was asked for but no CUDA device is available"


def test_loaded_models_are_on_the_device_asked_for(tmp_path, good_file):
    for f in (good_file, save_torchscript(_Blur(), tmp_path / "b.pt", {"image_size": 32, "channels": 1})):
        loaded = load_model(f, "cpu")
        assert loaded.device == torch.device("cpu") and loaded.path == str(f)
        assert all(p.device.type == "cpu" for p in loaded.model.parameters())


def test_out_of_range_numbers_with_one_bound_are_a_message_not_a_traceback(tmp_path, good_file):
    """A metadata number below a lower bound with no upper bound once raised TypeError while the
    message was formatted; and a negative 'wrong model?' bound (a γ-VAE's Lr is negative) is valid."""
    from inspector_app.core.metadata import MetadataError, _number

    with pytest.raises(MetadataError, match=r"max_iter = 0 is out of range \[1, inf\]"):
        _number({"max_iter": 0}, "max_iter", "calibration.", lo=1)
    with pytest.raises(MetadataError, match=r"x = 5 is out of range \[-inf, 2\]"):
        _number({"x": 5}, "x", "", hi=2)
    cal = {"threshold": 0.1, "min_area": 4, "stop": "none", "max_iter": 10, "lr_out_of_range": -40.0,
           "method": "m", "figures": {}}
    ok = rewrite_meta(good_file, tmp_path / "neg.safetensors", lambda m, h: m.update(calibration=cal))
    assert load_model(ok).meta["calibration"]["lr_out_of_range"] == -40.0


def test_the_wrong_model_bound_lies_above_negative_losses_too():
    from inspector_app.core.calibration import far_above

    assert far_above(10.0) == 20.0
    assert far_above(-20000.0) == 0.0 and far_above(-20000.0) > -20000.0
