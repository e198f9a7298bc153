"""A full disk (issue 24 item 4): ``train`` and ``calibrate`` end with one line and exit status 2,
leave no half-written model, never touch the file already there, and ``train`` keeps its
checkpoint so that a resume saves the model once there is space again.

The disk is made full without root: ``safetensors.torch.save_file`` (the model and checkpoint
writer) is replaced by one that writes half the file and then fails as safetensors does when the
disk is full (a ``SafetensorError`` naming os error 28, not an ``OSError``); and once for real, in
a subprocess whose file-size limit (``RLIMIT_FSIZE``) is smaller than the model, so the write in
safetensors' own code fails (os error 27)."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
from safetensors import SafetensorError

from conftest import make_model_file
from inspector_app.cli import main
from inspector_app.core.modelio import load_model

REAL_SAVE = safetensors.torch.save_file


def full_disk(monkeypatch, names=(".m.safetensors.",)):
    """``save_file`` fails with a full disk for the temporary files whose names start with one of ``names``."""
    def save_file(tensors, filename, metadata=None):
        if not any(Path(filename).name.startswith(n) for n in names):
            return REAL_SAVE(tensors, filename, metadata=metadata)
        with open(filename, "wb") as f:  # what fitted before the disk was full
            f.write(b"\0" * 4096)
        raise SafetensorError(f"Error while serializing: I/O error: {os.strerror(errno.ENOSPC)} (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)


def _train(tmp_path, folder, *extra):
    return main(["train", "--arch", "l2ae", "--data", str(folder), "--out", str(tmp_path / "m.safetensors"),
                 "--image-size", "32", "--latent", "8", "--max-steps", "3", "--batch", "4", "--val-fraction", "0.5",
                 "--calibrate-minutes", "0.0002", "--quiet", *extra])


def test_train_on_a_full_disk_keeps_the_old_model_and_the_checkpoint_then_resumes(tmp_path, folder, capsys,
                                                                                  monkeypatch):
    out = make_model_file(tmp_path / "m.safetensors")
    before = out.read_bytes()
    full_disk(monkeypatch)
    assert _train(tmp_path, folder, "--overwrite") == 2
    err = capsys.readouterr().err.splitlines()  # the calibration's summary, then the one line that says why
    assert err[0].startswith("calibration: ") and "Traceback" not in "\n".join(err)
    assert [e for e in err if "error" in e] == err[-1:] and err[-1].startswith(f"inspector-app: error: cannot write {out}: no space left on device (the file already "
                          f"there is unchanged); the training is kept in {tmp_path / 'm.checkpoint'}: free some space")
    assert out.read_bytes() == before  # untouched, and no half file beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.checkpoint", "m.safetensors", "normal"]
    monkeypatch.setattr(safetensors.torch, "save_file", REAL_SAVE)  # space again: the resume saves the model
    assert _train(tmp_path, folder, "--overwrite", "--resume", str(tmp_path / "m.checkpoint")) == 0
    meta = load_model(out).meta
    assert meta["training"]["steps"] == 3 and "calibration" in meta
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "normal"]


def test_a_full_disk_during_training_loses_no_file(tmp_path, folder, capsys, monkeypatch):
    full_disk(monkeypatch, names=(".m.safetensors.", ".m.checkpoint."))
    assert _train(tmp_path, folder) == 2
    err = capsys.readouterr().err
    assert err == (f"inspector-app: error: cannot write {tmp_path / 'm.checkpoint'}: no space left on device "
                   "(nothing was written)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["normal"]


def test_calibrate_in_place_on_a_full_disk_leaves_the_model_as_it_was(tmp_path, folder, capsys, monkeypatch):
    model = make_model_file(tmp_path / "m.safetensors")
    before = model.read_bytes()
    full_disk(monkeypatch)
    rc = main(["calibrate", "--model", str(model), "--data", str(folder), "--val-dir", "--in-place",
               "--max-iter", "2", "--quiet"])
    err = capsys.readouterr().err.splitlines()  # the calibration's summary, then the one line that says why
    assert rc == 2 and [e for e in err if "error" in e or "Traceback" in e] == err[-1:]
    assert err[-1] == f"inspector-app: error: cannot write {model}: no space left on device (the file already there is unchanged)"
    assert model.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "normal"]


def _small_file_limit():  # in the child, before it runs: files over 64 KiB cannot be written (EFBIG, not a signal)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))


def test_a_real_failed_write_in_safetensors_is_one_line_and_loses_nothing(tmp_path, folder):
    model = make_model_file(tmp_path / "m.safetensors")
    before = model.read_bytes()
    assert len(before) > 64 * 1024
    proc = subprocess.run([sys.executable, "-B", "-m", "inspector_app", "calibrate", "--model", str(model), "--data",
                           str(folder), "--val-dir", "--in-place", "--max-iter", "2", "--quiet"],
                          capture_output=True, text=True, preexec_fn=_small_file_limit, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.splitlines()
    assert [e for e in err if "error" in e or "Traceback" in e] == err[-1:]
    assert err[-1] == f"inspector-app: error: cannot write {model}: file too large (the file already there is unchanged)"
    assert model.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "normal"]
