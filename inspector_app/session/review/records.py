"""A reviewed folder's verdicts going in and out of its review file (no Qt).

* :func:`prepare_folder` — opening a folder: its parts, their SHA-256 and its review file, read
  in a worker;
* :func:`resume_reviews` — the verdicts of a review file applied to the folder's images, only to
  images whose bytes are unchanged; the others are kept as ``stale`` records;
* :func:`model_conflict` — a review made with another model than the open one;
* :func:`image_record` — one image's record in the review file (:data:`.file.RECORD_FIELDS`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .file import REVIEW_VERDICTS, ReviewDoc, ReviewFileError, now_iso, read_review, review_paths, review_source
from .folder import FolderItem, FolderScan, hash_items, scan_folder
from .store import ImageResult


@dataclass
class Review:
    """A reviewer's verdict on one image, and what the reviewer was shown then."""

    verdict: str
    comment: str = ""
    time: str = ""
    seen: dict[str, Any] = field(default_factory=dict)


@dataclass
class FolderOpening:
    """What opening a folder found (:func:`prepare_folder`, in a worker)."""

    scan: FolderScan
    hashes: list[str | None]
    doc: ReviewDoc | None
    doc_error: str | None
    json_path: Path
    csv_path: Path


def prepare_folder(folder: str | os.PathLike[str]) -> FolderOpening:
    """List the folder's parts, hash them, find and read its review file. Reads every image file:
    call it in a worker. Raises :class:`~.folder.FolderError`; an unusable review file is
    reported in ``doc_error``, never overwritten."""
    scan = scan_folder(folder)
    hashes = hash_items(scan.items)
    json_path, csv_path = review_paths(scan.root)
    doc, err = None, None
    source = review_source(scan.root, json_path)
    if source is not None:
        try:
            doc = read_review(source)
        except ReviewFileError as e:
            err = str(e)
    return FolderOpening(scan, hashes, doc, err, json_path, csv_path)


def resume_reviews(doc: ReviewDoc, items: list[FolderItem], sha: list[str | None]
                   ) -> tuple[list[Review | None], list[dict[str, Any]], list[str]]:
    """The verdicts of ``doc`` for ``items`` (``sha``: their SHA-256): (one review or None per item,
    the stale records, one line per verdict not resumed). A verdict is resumed only for an image whose
    bytes are unchanged; the others join the stale records, which every save writes back."""
    where = {it.rel: i for i, it in enumerate(items)}
    reviews: list[Review | None] = [None] * len(items)
    stale, notes = list(doc.stale), []
    for r in doc.records:
        v = r.get("verdict")
        if v not in REVIEW_VERDICTS:
            continue
        i = where.get(r["path"])
        why = None
        if i is None:
            why = "image missing"
        elif sha[i] is None or r.get("sha256") != sha[i]:
            why = "image changed since it was reviewed"
        if why or i is None:
            stale.append({**r, "stale_reason": why, "stale_since": now_iso()})
            notes.append(f"{r['path']}: {why}; its verdict '{v}' ({r.get('reviewed_at', '?')}) is kept in "
                         "the review file but not applied")
            continue
        seen = {k[5:]: r.get(k) for k in r if k.startswith("seen_")}
        reviews[i] = Review(v, str(r.get("comment") or ""), str(r.get("reviewed_at") or ""), seen)
    return reviews, stale, notes


def model_conflict(header: dict[str, Any], n_reviewed: int, model_sha256: str | None) -> str | None:
    """A message when the review (``header``, holding ``n_reviewed`` verdicts) was made with another
    model than ``model_sha256`` (they must not be merged silently), else None."""
    model = header.get("model")
    old: dict[str, Any] = model if isinstance(model, dict) else {}
    if not old.get("sha256") or old.get("sha256") == model_sha256 or not n_reviewed:
        return None
    return (f"This folder's review ({n_reviewed} verdicts) was made with the model "
            f"{Path(str(old.get('path') or '?')).name} (SHA-256 {str(old['sha256'])[:12]}…); the open model "
            f"is another one (SHA-256 {str(model_sha256)[:12]}…).")


def _rel(p: Path | None, root: Path | None) -> str | None:
    if p is None or root is None:
        return None
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


def image_record(item: FolderItem, sha: str | None, result: ImageResult | None, review: Review | None,
                 error: str | None, shown: dict[str, Any], run_model: dict[str, Any],
                 params: dict[str, Any] | None, root: Path | None) -> dict[str, Any]:
    """One image's record. ``shown``: its ``score`` and ``model_verdict`` and the ``threshold``,
    ``marginal_upper``, ``min_area`` and ``compare`` in use; ``run_model``: the model's ``path`` and
    ``sha256``; ``params``: the projection's parameters (recorded only with a result)."""
    r, rv = result, review
    rec: dict[str, Any] = {
        "path": item.rel, "sha256": sha, "ground_truth": item.gt, "ground_truth_mask": _rel(item.mask_path, root),
        "score": shown["score"], "model_verdict": shown["model_verdict"], "verdict": rv.verdict if rv else None,
        "comment": rv.comment if rv else "", "reviewed_at": rv.time if rv else None,
        "threshold": shown["threshold"], "marginal_upper": shown["marginal_upper"], "min_area": shown["min_area"],
        "compare": shown["compare"], "anomalous_fraction": r.area if r is not None else None,
        "iou": r.iou if r is not None else None, "iterations": r.iterations if r is not None else None,
        "stop_reason": r.stop_reason if r is not None else None, "error": error,
        "model": run_model.get("path") if r is not None else None,
        "model_sha256": run_model.get("sha256") if r is not None else None,
        "params": params if r is not None else None,
    }
    for k, v in (rv.seen if rv else {}).items():
        rec[f"seen_{k}"] = v
    return rec
