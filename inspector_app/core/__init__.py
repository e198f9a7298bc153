"""The Qt-free core: models, losses, the projection engine, anomaly maps, metrics, model files, data.

Nothing here imports Qt (an import-linter contract and a test check it).
"""

from importlib import import_module
from typing import Any

#: Where each name of ``__all__`` lives. They are imported on first use (PEP 562), so that
#: ``import inspector_app.core.params`` does not import torch: the window shows itself before
#: torch is loaded (README, "Startup").
_HOMES = {
    "gradient_maps": "anomaly", "dssim_map": "losses", "ssim_map": "losses",
    "LoadedModel": "modelio", "ModelFileError": "modelio", "load_model": "modelio", "resolve_device": "modelio",
    "save_model": "modelio", "KINDS": "models", "AutoEncoder": "models", "ModelConfig": "models",
    "create_model": "models", "RANGES": "params", "ProjectionParams": "params", "IterationRecord": "projection",
    "ProjectionError": "projection", "project": "projection", "run_to_end": "projection",
    "image_score": "verdict", "segment": "verdict", "verdict": "verdict",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{home}", __name__), name)


__all__ = [
    "KINDS", "RANGES", "AutoEncoder", "IterationRecord", "LoadedModel", "ModelConfig", "ModelFileError",
    "ProjectionError", "ProjectionParams", "create_model", "dssim_map", "gradient_maps", "image_score",
    "load_model", "project", "resolve_device", "run_to_end", "save_model", "segment", "ssim_map", "verdict",
]
