"""The schema of a training checkpoint (``train --checkpoint`` / ``--resume``), checked whole before use.

A checkpoint is a file like any other: it may be damaged or edited. :func:`check_checkpoint` refuses,
in one message naming the field, whatever ``train --resume`` would otherwise trip on later with a
traceback: a missing ``names``, ``state`` or ``torch_rng``, an unknown or mistyped field of the
state, a random generator state that is not one, optimiser settings that are not numbers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

#: TrainState's fields and their JSON types (``None`` allowed for ``stop_reason`` only).
_STATE = {"step": int, "seconds": float, "lr_scale": float, "reductions": int, "best_val": float, "best_step": int,
          "since_best": int, "stop_reason": str, "train_curve": list, "val_curve": list, "running_loss": float}
#: Largest training batch (``train --batch``): 1024 images of 512×512×3 floats are 3 GB already.
MAX_BATCH = 1024
#: Optimiser group settings that must be finite numbers (when present).
_GROUP_NUMBERS = ("lr", "eps", "weight_decay")


class CheckpointError(ValueError):
    """A field of a checkpoint that cannot be used; the message names it."""


def _is_number(v: Any, integer: bool = False, finite: bool = True) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if isinstance(v, int) and abs(v) > 2 ** 53:
        return False
    if finite and not math.isfinite(v):
        return False
    return not integer or float(v).is_integer()


def _check_state(state: Any) -> None:
    if not isinstance(state, Mapping):
        raise CheckpointError(f"state must be a JSON object, got {state!r:.40}")
    extra = sorted(set(state) - set(_STATE))
    if extra:
        raise CheckpointError(f"state has unknown field {extra[0]!r}")
    for k, typ in _STATE.items():
        if k not in state:
            continue
        v = state[k]
        if typ is str:
            ok = v is None or isinstance(v, str)
        elif typ is list:
            ok = isinstance(v, list) and all(isinstance(row, list) and all(_is_number(x, finite=False) for x in row)
                                             for row in v)
        else:
            finite = k not in ("best_val", "running_loss")  # inf before any evaluation; nan before any step
            ok = _is_number(v, integer=typ is int, finite=finite) and (typ is not int or v >= 0)
        if not ok:
            raise CheckpointError(f"state.{k} must be {'a whole number ≥ 0' if typ is int else typ.__name__}, "
                                  f"got {v!r:.40}")


def _check_groups(groups: Any) -> None:
    if not isinstance(groups, list) or not groups or not all(isinstance(g, Mapping) for g in groups):
        raise CheckpointError(f"param_groups must be a list of JSON objects, got {groups!r:.40}")
    for i, g in enumerate(groups):
        for k in _GROUP_NUMBERS:
            if k in g and not (_is_number(g[k]) and g[k] >= 0):
                raise CheckpointError(f"param_groups[{i}].{k} must be a number ≥ 0, got {g[k]!r:.40}")
        b = g.get("betas")
        if b is not None and not (isinstance(b, list) and len(b) == 2 and all(_is_number(x) and 0 <= x < 1 for x in b)):
            raise CheckpointError(f"param_groups[{i}].betas must be two numbers in [0, 1), got {b!r:.40}")
        p = g.get("params")
        if not (isinstance(p, list) and all(_is_number(x, integer=True) for x in p)):
            raise CheckpointError(f"param_groups[{i}].params must be a list of indices, got {p!r:.40}")


def _check_rng(state: Any) -> None:
    try:
        np.random.default_rng(0).bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise CheckpointError(f"numpy_rng is not a random generator state ({type(e).__name__})") from None


def check_file(p: Path) -> Path:
    """``p`` when it is not a FIFO or a device (they would block the reader for ever)."""
    if p.exists() and not p.is_file():
        raise CheckpointError(f"{p}: is not a regular file (a pipe or a device?)")
    return p


def check_checkpoint(meta: Any, tensors: Mapping[str, torch.Tensor]) -> None:
    """Every field :func:`inspector_app.core.training.train` reads when it resumes. Raises
    :class:`CheckpointError`."""
    if not isinstance(meta, Mapping):
        raise CheckpointError("the metadata must be a JSON object")
    for k in ("config", "state", "numpy_rng", "param_groups", "names"):
        if k not in meta:
            raise CheckpointError(f"{k} is missing")
    names = meta["names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"names must be a list of file names, got {names!r:.40}")
    _check_state(meta["state"])
    _check_groups(meta["param_groups"])
    _check_rng(meta["numpy_rng"])
    rng = tensors.get("torch_rng")
    if rng is None:
        raise CheckpointError("torch_rng is missing")
    if rng.dtype != torch.uint8 or rng.ndim != 1 or rng.numel() != torch.get_rng_state().numel():
        raise CheckpointError(f"torch_rng is not a random generator state ({rng.dtype}, {tuple(rng.shape)})")
    if not any(k.startswith("model.") for k in tensors):
        raise CheckpointError("it holds no model weights")
