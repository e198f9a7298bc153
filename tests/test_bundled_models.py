"""The bundled demo models themselves: what issue 8 asks each shipped file to carry and do.

These read the real files in ``resources/models`` (not stand-ins), so replacing one with a model
that has learned nothing, or one without its calibration or training record, fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inspector_app.core.data import read_image, to_tensor
from inspector_app.core.evaluation import variance_explained
from inspector_app.core.modelio import load_model

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted((ROOT / "resources" / "models").glob("*.safetensors"))
SAMPLES = ROOT / "resources" / "samples"


def test_the_bundle_is_there_and_within_50_mb():
    assert len(MODELS) >= 2
    assert sum(p.stat().st_size for p in MODELS) <= 50 * 1024 * 1024


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_each_model_records_its_training_and_its_validation_calibration(path):
    meta = load_model(path, "cpu").meta
    t = meta["training"]
    assert t["norm"] == meta["norm"] and t["augment"] and t["steps"] > 0 and t["stop_reason"]
    assert len(t["val_curve"]) >= 2 and t["val_names"]  # the validation curve, and which images it used
    cal = meta["calibration"]
    assert 0 < cal["threshold"] < 1 and cal["min_area"] >= 1 and cal["stop"] and cal["max_iter"] >= 1
    assert "validation" in cal["method"]


def _good_sample(model: Path) -> Path | None:
    goods = sorted((SAMPLES / model.stem.split("_")[0]).glob("good_*.png"))
    return goods[0] if goods else None


@pytest.mark.parametrize("path", [p for p in MODELS if _good_sample(p)], ids=lambda p: p.stem)
def test_each_model_reconstructs_its_own_good_sample(path):
    """f(x) is texture, not a flat grey: it explains at least 0.15 of the variance (the issue's floor)
    of the good sample of its category."""
    net = load_model(path, "cpu").model
    good = _good_sample(path)
    img = read_image(good, net.channels)
    s = net.image_size
    assert img.shape[0] >= s and img.shape[1] >= s
    x = to_tensor([img[:s, :s]])
    with torch.no_grad():
        fve = float(variance_explained(x, net.reconstruct(x))[0])
    assert fve >= 0.15, f"{path.name} explains {fve:.2f} of the variance of {good.name}"
