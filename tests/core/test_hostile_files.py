"""Issue 26, tracebacks: every file the program reads is checked whole before use — model metadata
(training, inpainting schedule, huge integers), training checkpoints for ``train --resume`` — and a
TorchScript model that answers a batch with the wrong batch size is refused when it loads."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn

from conftest import make_model_file, rewrite_meta
from inspector_app.core.modelio import ModelFileError, load_model, save_torchscript
from inspector_app.core.models import ModelConfig
from inspector_app.core.training import TrainConfig, train


def _rewrite_meta(src, dst, change):
    return rewrite_meta(src, dst, lambda meta, _header: change(meta))


def _set(path, value):
    def f(meta):
        d = meta
        for k in path[:-1]:
            d = d.setdefault(k, {})
        d[path[-1]] = value
    return f


META_CASES = {
    "seconds abc": (_set(["training", "seconds"], "abc"), "training.seconds must be a number"),
    "val_names ints": (_set(["training", "val_names"], [1, 2]), "training.val_names must be a list of file names"),
    "val_names null": (_set(["training", "val_names"], [None]), "training.val_names must be a list of file names"),
    "val_names ..": (_set(["training", "val_names"], ["../x.png"]), "training.val_names"),
    "masked oops": (_set(["inpainting", "masked"], "oops"), "inpainting.masked must be a JSON object"),
    "masked max_iter abc": (_set(["inpainting", "masked"], {"max_iter": "abc"}), "inpainting.masked.max_iter"),
    "masked max_iter 1e9": (_set(["inpainting", "masked"], {"max_iter": 10 ** 9}), "out of range"),
    "image_size 1e400": (_set(["image_size"], 10 ** 400), "image_size"),
    "latent 1e400": (_set(["latent"], -(10 ** 400)), "latent"),
}


@pytest.mark.parametrize("case", sorted(META_CASES))
def test_malformed_model_metadata_is_refused_on_load(tmp_path, case):
    change, message = META_CASES[case]
    good = make_model_file(tmp_path / "good.safetensors")
    bad = _rewrite_meta(good, tmp_path / "bad.safetensors", change)
    with pytest.raises(ModelFileError, match="malformed metadata") as e:
        load_model(bad, "cpu")
    assert message in str(e.value)


def test_commands_say_one_line_for_malformed_metadata(tmp_path, capsys):
    from inspector_app.cli import main

    good = make_model_file(tmp_path / "good.safetensors")
    bad = _rewrite_meta(good, tmp_path / "bad.safetensors", _set(["training", "val_names"], [1, 2]))
    rc = main(["calibrate", "--model", str(bad), "--data", str(tmp_path), "--out", str(tmp_path / "c.safetensors")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "val_names" in err, err


# ------------------------------------------------------------------------------------------ checkpoints

def _cfg():
    return TrainConfig(model=ModelConfig("l2ae", 32, 1, 8, "batch"), max_steps=2, batch=2, lr=1e-3, warmup=1,
                       eval_every=5, crop=True, checkpoint_minutes=60.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, texture_images):
    ck = tmp_path_factory.mktemp("ck") / "run.checkpoint"
    train(texture_images[:4], [f"{i}.png" for i in range(4)], _cfg(), torch.device("cpu"), checkpoint=ck)
    return ck


def _tamper(src, dst, change_meta=None, drop=None):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        meta = json.loads(f.metadata()["inspector_app_checkpoint"])
        tensors = {k: f.get_tensor(k) for k in f.keys() if k != drop}
    if change_meta:
        change_meta(meta)
    save_file(tensors, str(dst), metadata={"inspector_app_checkpoint": json.dumps(meta)})
    return dst


def _del(key):
    return lambda m: m.pop(key)


CK_CASES = {
    "no names": (_del("names"), None, "names is missing"),
    "no state": (_del("state"), None, "state is missing"),
    "no torch_rng": (None, "torch_rng", "torch_rng is missing"),
    "extra state key": (lambda m: m["state"].__setitem__("extra", 1), None, "unknown field 'extra'"),
    "state a string": (lambda m: m.__setitem__("state", "s"), None, "state must be a JSON object"),
    "step a string": (lambda m: m["state"].__setitem__("step", "3"), None, "state.step"),
    "numpy_rng a string": (lambda m: m.__setitem__("numpy_rng", "s"), None, "numpy_rng is not a random generator"),
    "lr a string": (lambda m: m["param_groups"][0].__setitem__("lr", "x"), None, "param_groups[0].lr"),
}


@pytest.mark.parametrize("case", sorted(CK_CASES))
def test_tampered_checkpoints_are_refused_before_resuming(tmp_path, checkpoint, texture_images, case):
    change, drop, message = CK_CASES[case]
    bad = _tamper(checkpoint, tmp_path / "bad.checkpoint", change, drop)
    with pytest.raises(ValueError, match="malformed checkpoint") as e:
        train(texture_images[:4], [f"{i}.png" for i in range(4)], _cfg(), torch.device("cpu"), resume=bad)
    assert message in str(e.value)


def test_a_fifo_checkpoint_is_refused_not_read(tmp_path, texture_images):
    f = tmp_path / "run.fifo"
    os.mkfifo(f)
    with pytest.raises(ValueError, match="not a regular file"):
        train(texture_images[:4], [f"{i}.png" for i in range(4)], _cfg(), torch.device("cpu"), resume=f)


# ------------------------------------------------------------------------------------------ TorchScript

class _FirstOnly(nn.Module):
    def forward(self, x):
        return x[:1]


def test_torchscript_that_returns_the_wrong_batch_size_is_refused(tmp_path):
    f = save_torchscript(_FirstOnly(), tmp_path / "first.pt", {"image_size": 32, "channels": 1})
    with pytest.raises(ModelFileError, match="first.pt: returns"):
        load_model(f, "cpu")


# ------------------------------------------------------------------------------------------ sizes

@pytest.mark.parametrize("args, message", [
    (["--image-size", "100000"], "image size must be a multiple of 32 in [32, 512]"),
    (["--batch", "1000000000"], "batch must be in [1, 1024]"),
    (["--latent", "1000000"], "latent size must be in [1, 4096]"),
])
def test_train_sizes_are_bounded_before_anything_is_allocated(tmp_path, texture_images, capsys, args, message):
    from inspector_app.cli import main
    from inspector_app.core.data import write_image

    for i, im in enumerate(texture_images[:2]):
        write_image(tmp_path / "d" / f"{i}.png", im)
    rc = main(["train", "--arch", "l2ae", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "m.safetensors"),
               "--max-steps", "1", "--quiet", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("args, message", [
    (["--n-train", "1000000000"], "at most 10000"),
    (["--n-test", "1000000000"], "at most 10000"),
    (["--image-size", "100000"], "image_size must be in [8, 512]"),
    (["--full-size", "1000000000"], "full_size and full_good must be in [0, 10000]"),
])
def test_make_dataset_counts_are_bounded(tmp_path, capsys, args, message):
    from inspector_app.cli import main

    rc = main(["make-dataset", "--source", "brick", "--out", str(tmp_path / "ds"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "ds").exists()
