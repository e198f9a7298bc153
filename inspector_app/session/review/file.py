"""The review file: every image of a reviewed folder, its score and the reviewer's verdict (no Qt).

Two files side by side, both rewritten atomically (temporary file + rename) after every verdict:

* ``inspector-review.json`` — the authority: the folder, the model (path, SHA-256), the projection
  parameters, the thresholds, and one record per image (:data:`RECORD_FIELDS`), plus the earlier
  verdicts that could not be applied (``stale``: the image changed or is gone), kept so that nothing
  a reviewer did is ever dropped;
* ``inspector-review.csv`` — the same records flattened, one row per image, for a spreadsheet.

A record holds the image's path (relative to the folder, posix), the SHA-256 of its bytes, its
ground truth, its score and the model's verdict under the current model, parameters and
thresholds (written with it), and, once reviewed, the reviewer's verdict (``ok``, ``defective``,
``unsure``), a comment, the time, and what the reviewer was shown then (``seen_*``: the score,
the model's verdict, the threshold and the model's SHA-256).

The files live in the folder itself; when it cannot be written to, in
``$XDG_DATA_HOME/inspector-app/reviews/<hash of the folder's path>/`` (:func:`review_paths`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core.data import atomic_write_bytes, check_writable
from ...core.vocabulary import ReviewVerdict
from .schema import SchemaError, check_review

FORMAT = "inspector-app review"
VERSION = 1
JSON_NAME = "inspector-review.json"
CSV_NAME = "inspector-review.csv"
REVIEW_VERDICTS = tuple(v.value for v in ReviewVerdict)
PARAM_NAMES = ("alpha", "lam", "optimizer", "grad_mask", "max_iter", "stop", "tol", "patience", "diverge_factor",
               "diverge_patience", "margin")
#: The CSV's columns (the JSON records hold the same keys, ``params`` as one object).
RECORD_FIELDS = (
    "path", "sha256", "ground_truth", "ground_truth_mask", "score", "model_verdict", "verdict", "comment",
    "reviewed_at",
    "seen_score", "seen_model_verdict", "seen_threshold", "seen_model_sha256",
    "threshold", "marginal_upper", "min_area", "compare", "anomalous_fraction", "iou", "iterations",
    "stop_reason", "error", "model", "model_sha256", *PARAM_NAMES,
)


class ReviewFileError(ValueError):
    """A review file that cannot be used; the message names the file and the problem."""


@dataclass
class ReviewDoc:
    """A review file's contents: the header (``model``, ``params`` …) and the records."""

    header: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model_sha256(self) -> str | None:
        m = self.header.get("model") or {}
        return m.get("sha256") if isinstance(m, dict) else None

    @property
    def model_path(self) -> str | None:
        m = self.header.get("model") or {}
        return m.get("path") if isinstance(m, dict) else None

    @property
    def reviewed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("verdict") in REVIEW_VERDICTS]


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def fallback_dir(folder: str | os.PathLike[str]) -> Path:
    """Where the review of a read-only ``folder`` is kept."""
    key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:16]
    return _data_home() / "inspector-app" / "reviews" / f"{Path(folder).name}-{key}"


def review_paths(folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(JSON, CSV) where ``folder``'s review is saved: in a writable folder an existing one (the
    folder's own first), else the folder; a read-only folder's review always goes to
    :func:`fallback_dir` (even when the folder holds one: it is read from there, see
    :func:`review_source`, and its verdicts are saved in the fall-back)."""
    root = Path(folder)
    try:
        check_writable(root / JSON_NAME)
    except OSError:
        d = fallback_dir(root)
        return d / JSON_NAME, d / CSV_NAME
    for d in (root, fallback_dir(root)):
        if (d / JSON_NAME).exists():
            return d / JSON_NAME, d / CSV_NAME
    return root / JSON_NAME, root / CSV_NAME


def review_source(folder: str | os.PathLike[str], json_path: str | os.PathLike[str]) -> Path | None:
    """The review file to resume from: ``json_path`` (where it is saved) when it exists, else the
    folder's own (a read-only folder's review, saved from now on in the fall-back), else None."""
    for p in (Path(json_path), Path(folder) / JSON_NAME):
        if p.is_file():
            return p
    return None


def read_review(path: str | os.PathLike[str]) -> ReviewDoc:
    """The review file at ``path``. Raises :class:`ReviewFileError` when it is not one we can use
    (unreadable, not JSON, another format, a newer version, malformed records)."""
    p = Path(path)
    if p.exists() and not p.is_file():  # a FIFO would block the reader for ever
        raise ReviewFileError(f"{p}: is not a regular file (a pipe or a device?)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReviewFileError(f"{p}: cannot be read ({getattr(e, 'strerror', None) or e})") from None
    try:
        d = json.loads(text)
    except ValueError as e:
        raise ReviewFileError(f"{p}: not a valid review file (broken JSON: {e})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ReviewFileError(f"{p}: not an inspector-app review file")
    v = d.get("version")
    if not isinstance(v, int) or v > VERSION:
        raise ReviewFileError(f"{p}: review file version {v!r}; this inspector-app reads version {VERSION} "
                              "(written by a newer version?)")
    recs, stale = d.get("images", []), d.get("stale", [])
    if not isinstance(recs, list) or not isinstance(stale, list):
        raise ReviewFileError(f"{p}: malformed review file ('images' is not a list)")
    for r in recs + stale:
        if not isinstance(r, dict) or not isinstance(r.get("path"), str):
            raise ReviewFileError(f"{p}: malformed review file (a record without a path)")
        if r.get("verdict") not in (None, *REVIEW_VERDICTS):
            raise ReviewFileError(f"{p}: malformed review file (unknown verdict {r.get('verdict')!r} for {r['path']})")
    header = {k: v for k, v in d.items() if k not in ("images", "stale")}
    try:
        check_review(header, recs + stale)
    except SchemaError as e:
        raise ReviewFileError(f"{p}: malformed review file ({e})") from None
    return ReviewDoc(header, recs, stale)


def quarantine(path: str | os.PathLike[str]) -> Path:
    """Move an unusable (or superseded) review file aside, next to itself, under a new name that
    says when; its CSV goes with it. Returns the JSON's new path."""
    p = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    new = p.with_name(f"{p.stem}.{stamp}{p.suffix}")
    k = 1
    while new.exists():
        new = p.with_name(f"{p.stem}.{stamp}-{k}{p.suffix}")
        k += 1
    os.replace(p, new)
    c = p.with_suffix(".csv")
    if c.exists():
        os.replace(c, new.with_suffix(".csv"))
    return new


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def to_csv(records: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RECORD_FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in records:
        flat = dict(r)
        flat.update({k: (r.get("params") or {}).get(k) for k in PARAM_NAMES})
        w.writerow({k: _csv_value(flat.get(k)) for k in RECORD_FIELDS})
    return buf.getvalue()


def write_review(json_path: str | os.PathLike[str], csv_path: str | os.PathLike[str], doc: ReviewDoc) -> None:
    """Write both files atomically (JSON first: it is the authority)."""
    d = dict(doc.header)
    d.update({"format": FORMAT, "version": VERSION, "written": now_iso(), "images": doc.records,
              "stale": doc.stale})
    from ...core.modelio import json_safe  # (on use: the window starts without torch)

    atomic_write_bytes(json_path, json.dumps(json_safe(d), indent=1, allow_nan=False).encode())
    atomic_write_bytes(csv_path, to_csv(doc.records).encode())
