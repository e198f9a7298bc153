"""The Qt-free core: models, losses, the projection engine, anomaly maps, metrics, model files, data.

Nothing here imports Qt (an import-linter contract and a test check it).
"""

from .anomaly import gradient_maps
from .losses import dssim_map, ssim_map
from .modelio import LoadedModel, ModelFileError, load_model, resolve_device, save_model
from .models import KINDS, AutoEncoder, ModelConfig, create_model
from .params import RANGES, ProjectionParams
from .projection import IterationRecord, ProjectionError, project, run_to_end
from .verdict import image_score, segment, verdict

__all__ = [
    "KINDS", "RANGES", "AutoEncoder", "IterationRecord", "LoadedModel", "ModelConfig", "ModelFileError",
    "ProjectionError", "ProjectionParams", "create_model", "dssim_map", "gradient_maps", "image_score",
    "load_model", "project", "resolve_device", "run_to_end", "save_model", "segment", "ssim_map", "verdict",
]
