"""``train`` on too few images to hold any out (one image, or ``--val-fraction 0``): it printed
"validation Lr inf" and wrote an uncalibrated model that nothing said was unchecked (the window's
New Model dialog refuses such a folder). The line now says there were no validation images, and a
warning says what the model lacks and what to do."""

from __future__ import annotations

from inspector_app.cli import main
from inspector_app.core.data import write_image
from inspector_app.core.modelio import load_model


def _train(tmp_path, n, *extra):
    for i, im in enumerate(n):
        write_image(tmp_path / "d" / f"{i}.png", im)
    return main(["train", "--arch", "l2ae", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "m.safetensors"),
                 "--image-size", "32", "--latent", "8", "--max-steps", "2", "--quiet", *extra])


WARNING = ("inspector-app: warning: no validation images (all {n} used for training): the model is not calibrated "
           "(the paper's defaults apply) and nothing checked that it learned its images; train on more images, or "
           "calibrate --val-dir with good images it was not trained on")


def test_one_image(tmp_path, texture_images, capsys):
    assert _train(tmp_path, texture_images[:1]) == 0
    cap = capsys.readouterr()
    assert "inf" not in cap.out and ", no validation images," in cap.out, cap.out
    assert WARNING.format(n=1) in cap.err.splitlines(), cap.err
    assert "calibration" not in load_model(tmp_path / "m.safetensors").meta


def test_no_validation_fraction(tmp_path, texture_images, capsys):
    assert _train(tmp_path, texture_images[:4], "--val-fraction", "0") == 0
    cap = capsys.readouterr()
    assert "inf" not in cap.out and WARNING.format(n=4) in cap.err.splitlines(), cap.err
