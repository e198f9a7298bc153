"""``project --resume``: the results already complete in ``--out``, so that a rerun projects only the rest.

A result is complete when every file :func:`inspector_app.core.pipeline.write_outputs` writes for its
name is there: the JSON is written last (each file atomically), so a readable JSON beside the other
files means the image was finished, by the plain run or by a Ray worker alike. Its summary row is read
back from the JSON (the same figures: JSON floats round-trip exactly). A complete result made with
another model, other parameters or from another image is never mixed into this run: that is one line
and exit status 2 (choose another ``--out``, or ``--overwrite`` to project everything again). An
incomplete one (an interrupted run) is projected again, and its partial files replaced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from .common import UsageError

class Interrupted(KeyboardInterrupt):
    """Ctrl-C during the projection (in this process or on Ray), with the rows of the images already written."""

    def __init__(self, rows: list[dict]):
        super().__init__()
        self.rows = rows


#: A result JSON larger than this is not one this program wrote (an energy curve of 10,000 steps is ~200 kB).
MAX_JSON_BYTES = 16 << 20


def expected_settings(model_path: str, params, threshold: float, min_area: int, compare: str,
                      masked: bool) -> dict[str, Any]:
    """What a result JSON of this run records about how it was made (compared field by field)."""
    from ..core.modelio import json_safe

    return {"model": str(model_path), "params": json.loads(json.dumps(json_safe(params.to_dict()))),
            "threshold": float(threshold), "min_area": int(min_area), "compare": compare, "masked": bool(masked)}


def _read_info(path: Path) -> dict | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_JSON_BYTES:
            return None
        info = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _same_source(recorded: Any, source: Path) -> bool:
    """Whether a JSON's recorded path names ``source`` (as given, or the same file resolved)."""
    if not isinstance(recorded, str):
        return False
    try:
        return recorded == str(source) or Path(recorded).resolve() == source.resolve()
    except (OSError, RuntimeError):
        return False


def _row(job, info: dict, expected: dict[str, Any]) -> dict | None:
    """The summary row of a complete result (as the run that made it wrote it), or None when the
    JSON lacks a field the row needs (then the image is projected again)."""
    try:
        warnings = ";".join(str(w["code"]) for w in info["warnings"])
        row = {"source": str(job.source), "output": job.name, "verdict": info["verdict"], "score": float(info["score"]),
               "threshold": expected["threshold"], "min_area": expected["min_area"],
               "anomalous_fraction": float(info["anomalous_fraction"]), "iterations": int(info["iterations"]),
               "stop_reason": info["stop_reason"], "recon_loss_x0": float(info["recon_loss_x0"]),
               "warnings": warnings, "ground_truth": job.ground_truth or "", "defect": job.defect or ""}
    except (KeyError, TypeError, ValueError):
        return None
    return row if row["verdict"] in ("good", "defective") else None


#: Fields every result JSON of ``project`` holds (``core.pipeline.finish``): a JSON without them is someone's own.
RESULT_FIELDS = ("verdict", "score", "score_definition", "params")


def check_leftovers(todo: Sequence, done: dict[str, dict], out_dir: Path) -> None:
    """Before the results of ``todo`` are written again: their files already in ``out_dir`` are
    replaced only where they are this program's. A JSON there that parses but is not a result is the
    user's own; other files are an interrupted run's only where a run finished something there (a
    complete result, or its ``summary.csv``). Else :class:`UsageError`: nothing is replaced."""
    from ..core.pipeline import output_paths

    found = [p for job in todo for p in output_paths(out_dir, job.name).values() if p.exists()]
    for p in found:
        if p.suffix == ".json":
            try:
                info = json.loads(p.read_bytes()) if p.is_file() and p.stat().st_size <= MAX_JSON_BYTES else {}
            except (OSError, ValueError):  # damaged (an atomic write never leaves one): projected again
                continue
            if not isinstance(info, dict) or not all(k in info for k in RESULT_FIELDS):
                raise UsageError(f"--resume: {p} is not a result of inspector-app project; it is never replaced "
                                 "(choose another --out)")
    if found and not done and not _summary_of_a_run(out_dir):
        raise UsageError(f"--resume: {found[0]} exists, but {out_dir} holds no finished result of an earlier run to "
                         "continue; it is never replaced (choose another --out, or --overwrite)")


def _summary_of_a_run(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds the ``summary.csv`` a ``project`` run writes (its header)."""
    try:
        with open(out_dir / "summary.csv", encoding="utf-8", errors="replace") as f:
            return f.readline().startswith("source,output,verdict,score,")
    except OSError:
        return False


def completed(jobs: Sequence, out_dir: Path, expected: dict[str, Any]) -> tuple[list, dict[str, dict]]:
    """``(to_project, done)``: the jobs whose results are not complete in ``out_dir``, and the summary
    rows of those that are (by output name). Raises :class:`UsageError` when a complete result was made
    otherwise than this run would make it (``expected``: :func:`expected_settings`)."""
    from ..core.pipeline import output_paths

    todo, done = [], {}
    for job in jobs:
        paths = output_paths(out_dir, job.name)
        if not all(p.is_file() for p in paths.values()):
            todo.append(job)
            continue
        info = _read_info(paths["json"])
        row = None if info is None else _row(job, info, expected)
        if row is None:
            todo.append(job)
            continue
        if not _same_source(info.get("source"), Path(job.source)):
            raise UsageError(f"--resume: {paths['json']} is the result of {info.get('source')!r}, not of {job.source}; "
                             "choose another --out, or --overwrite to project everything again")
        diffs = differences(info, expected)
        if diffs:
            raise UsageError(f"--resume: {paths['json']} was made with another {', '.join(diffs)} (that run → this "
                             "run); choose another --out, or --overwrite to project everything again")
        done[job.name] = row
    return todo, done


def differences(info: dict, expected: dict[str, Any]) -> list[str]:
    """Each field of ``expected`` that a result JSON recorded otherwise, as ``name (old → new)``;
    ``params`` by its own fields (``params.alpha (0.5 → 0.1)``), not as two whole dicts."""
    out = []
    for key, want in expected.items():
        got = info.get(key)
        if got == want or (key == "model" and _same_source(got, Path(want))):
            continue
        if isinstance(got, dict) and isinstance(want, dict):
            out += [f"{key}.{k} ({_shown(got, k)} → {_shown(want, k)})"
                    for k in dict.fromkeys([*want, *got]) if got.get(k, _ABSENT) != want.get(k, _ABSENT)]
        else:
            out.append(f"{key} ({got!r} → {want!r})")
    return out


_ABSENT = object()


def _shown(d: dict, key: str) -> str:
    return repr(d[key]) if key in d else "absent"
