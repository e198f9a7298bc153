"""A review as one self-contained HTML page, for people without the app (no Qt).

:func:`build_report` reads a review file (:mod:`.file`) and writes: the counts (images,
the model's verdicts, the reviewer's verdicts, their agreement, and the ground truth where there is
one), the histogram of image scores with T1 (and T2), the ROC curve with its AUROC, a grid of the
parts flagged defective (by the reviewer or by the model) with the segmentation drawn over them
and the ground truth outlined, and every parameter. Images are inlined as base64 PNG; the page
loads nothing from anywhere.

The review file keeps scores, not maps, so the overlays come from projecting the flagged parts
again with the model the review names (its SHA-256 is checked: another file is refused) and the
parameters it records. Without the model the grid shows the parts without overlays, and says why.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from ...core.data import ImageError, read_image, to_uint8
from ...core.params import ProjectionParams
from ...core.ranges import PAPER_THRESHOLD, RANGES
from ...core.verdict import fmt_level
from ...core.vocabulary import ModelVerdict, ReviewVerdict, review_agrees, review_label
from .file import ReviewDoc, read_review
from .folder import file_sha256
from .stats import confusion, histogram_edges, model_verdict, roc, suggest, suggestion_note, wants_log_scale

GT_BGR = (110, 230, 70)  # the window's ground-truth green, in OpenCV's order


@dataclass
class _Scored:
    """A review file's records with what the page computes from them: the scored records, their
    scores and model verdicts at T1/T2, and their labels (``known``, ``y``: defective) by ``what``."""

    doc: ReviewDoc
    t1: float
    t2: float | None
    scored: list[dict[str, Any]]
    scores: np.ndarray
    verdicts: list[str]
    known: np.ndarray
    y: np.ndarray
    what: str


def _scored(doc: ReviewDoc) -> _Scored:
    h = doc.header
    t1 = float(h.get("threshold", PAPER_THRESHOLD))
    t2 = h.get("marginal_upper")
    t2 = float(t2) if isinstance(t2, (int, float)) else None
    src, labels_all = _labels(doc)
    idx = [i for i, r in enumerate(doc.records) if isinstance(r.get("score"), (int, float))]
    scores = np.array([doc.records[i]["score"] for i in idx], np.float64)
    labels = [labels_all[i] for i in idx]
    return _Scored(doc, t1, t2, [doc.records[i] for i in idx], scores, [model_verdict(v, t1, t2) for v in scores],
                   np.array([lab is not None for lab in labels], bool), np.array([bool(lab) for lab in labels], bool),
                   "ground truth" if src == "ground_truth" else "reviewer's verdict")


def _fit_warning(doc: ReviewDoc) -> list[str]:
    """The folder-level "wrong model?" warning the review recorded (``fit_warning``), as a paragraph."""
    w = doc.header.get("fit_warning")
    return [f"<p class='warning'>⚠ {html.escape(w)}</p>"] if isinstance(w, str) and w else []


def _png(rgb: np.ndarray) -> str:
    a = rgb if rgb.dtype == np.uint8 else to_uint8(rgb)
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", a)
    if not ok:
        raise ValueError("could not encode a PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def _figure_png(draw: Callable[[Any], None], size: tuple[float, float] = (5.2, 3.2)) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    draw(ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _labels(doc: ReviewDoc) -> tuple[str, list[int | None]]:
    src = doc.header.get("label_source") or "reviewer"
    out: list[int | None] = []
    for r in doc.records:
        if src == "ground_truth":
            g = r.get("ground_truth")
            out.append(1 if g == ModelVerdict.DEFECTIVE else 0 if g == ModelVerdict.GOOD else None)
        else:
            out.append(review_label(r.get("verdict")))
    return src, out


def _folder_of(doc: ReviewDoc, review_path: Path, notes: list[str], allow_outside: bool = False) -> Path:
    """The reviewed folder: as recorded, or the review file's own folder when it moved with it.

    The recorded folder is believed only where the review file lies in it or in its fall-back
    (:func:`~.file.fallback_dir`: the app's own data folder), or with ``allow_outside``: a review
    file received from someone else that names another folder of this machine pulls nothing from it."""
    from ...core.outputs import inside
    from .file import fallback_dir

    rec = Path(doc.header["folder"]) if doc.header.get("folder") else None  # a string (the schema)
    trusted = rec is not None and (allow_outside or inside(review_path, rec) or inside(review_path, fallback_dir(rec)))
    if rec is not None and not trusted:
        notes.append(f"the review names the folder {rec}, which does not hold the review file: images are read "
                     f"from {review_path.parent} only (--allow-outside reads that folder)")
    recorded = [rec] if rec is not None and trusted else []
    for cand in recorded + [review_path.parent]:
        if cand.is_dir() and any((cand / r["path"]).exists() for r in doc.records[:20]):
            return cand
    return recorded[0] if recorded else review_path.parent


def _thumb(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    k = side / float(max(h, w))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_NEAREST
    return cv2.resize(img, (max(1, round(w * k)), max(1, round(h * k))), interpolation=interp)


def _overlays(folder: Path, recs: list[dict[str, Any]], doc: ReviewDoc, model: str | None, device: str,
              notes: list[str], batch: int = 8) -> dict[str, np.ndarray]:
    """The flagged parts with the segmentation and the ground truth drawn over them (uint8 RGB at the
    image's size), from a new projection with the review's model and parameters."""
    from ...core.modelio import load_model
    from ...core.pipeline import batch_tensors, finish, overlay, prepare, shape_groups
    from ...core.projection import run_to_end
    from ...core.watchdog import ModelStopped

    want = (doc.header.get("model") or {}).get("sha256")
    path = model or (doc.header.get("model") or {}).get("path")
    if not path or not Path(path).is_file():
        notes.append(f"the model {path or '(none recorded)'} is not there: the parts are shown without overlays "
                     "(give it with --model)")
        return {}
    if want and file_sha256(path) != want:
        notes.append(f"{path} is not the model the review was made with (SHA-256 differs): the parts are shown "
                     "without overlays")
        return {}
    loaded = load_model(path, device)
    hp = doc.header.get("params") or {}
    params = ProjectionParams(**{k: v for k, v in hp.items() if k in ProjectionParams.__dataclass_fields__
                                 and k != "extra"}).validated()
    t = float(doc.header.get("threshold", PAPER_THRESHOLD))
    area = int(doc.header.get("min_area", 1))
    compare = str(doc.header.get("compare", "projection"))
    out: dict[str, np.ndarray] = {}
    for i in range(0, len(recs), batch):
        ready = []
        for r in recs[i:i + batch]:
            try:
                img = read_image(folder / r["path"], loaded.model.channels)  # what prepare makes of it
            except ImageError as e:
                notes.append(str(e))
                continue
            ready.append((r, prepare(r["path"], img, loaded)))
        for group in shape_groups([p for _r, p in ready]):  # one projection batch per working size
            part = [ready[k] for k in group]
            x0, _m = batch_tensors([p for _r, p in part])
            try:
                _first, last, _c = run_to_end(loaded.model, x0, params)
            except ModelStopped as e:  # a user's TorchScript that stopped answering (core.watchdog)
                notes.append(f"{e}: the remaining parts are shown without overlays")
                return out
            for j, (r, prep) in enumerate(part):
                res = finish(prep, last, j, compare=compare, threshold=t, min_area=area)
                out[r["path"]] = overlay(prep.original, res.segmentation)
    return out


def _outside(folder: Path, rel: str) -> bool:
    """Whether a path a record names leads out of the review's folder (absolute, through ``..``, or a
    link inside the folder to a file outside it): a review file received from someone else must not
    pull other files into the page, unless the report is told so (``allow_outside``)."""
    from ...core.outputs import inside

    p = Path(rel)
    if p.is_absolute() or bool(p.drive) or ".." in p.parts or ".." in Path(rel.replace("\\", "/")).parts:
        return True
    return not inside(folder / p, folder)  # links followed (a linked file or a linked sub-folder)


def _draw_gt(rgb: np.ndarray, folder: Path, rec: dict[str, Any], allow_outside: bool = False) -> np.ndarray:
    """The record's ground-truth mask (``ground_truth_mask``) outlined in green, when it is there
    (inside the review's folder unless ``allow_outside``)."""
    m_rel = rec.get("ground_truth_mask")
    if not m_rel or (not allow_outside and _outside(folder, m_rel)):
        return rgb
    try:
        m = read_image(folder / m_rel)
    except ImageError:
        return rgb
    m = (m.max(axis=2) if m.ndim == 3 else m) > 0.5
    if m.shape != rgb.shape[:2]:
        return rgb
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(bgr, contours, -1, GT_BGR, 1)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _table(rows: list[tuple[Any, ...]], head: tuple[Any, ...] | None = None) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in head) if head else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{'<tr>' + h + '</tr>' if h else ''}{body}</table>"


CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:6px 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f2f2f2} .grid{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;width:170px;font-size:.8em} figure img{width:160px;image-rendering:pixelated}
.warning{background:#7a2e12;color:#fff;padding:6px 10px;border-radius:3px} .note{color:#8a5a00} .defective{color:#b0281c} .good{color:#2b7a3d} .marginal{color:#9a7400}
"""


def _counts(sc: _Scored) -> list[tuple[Any, ...]]:
    """Images, the model's and the reviewer's verdicts, the ground truth, and their agreement."""
    recs, mv = sc.doc.records, sc.verdicts
    n_err = sum(1 for r in recs if r.get("error"))
    counts: list[tuple[Any, ...]] = [("images", len(recs)), ("scored", len(sc.scored)), ("unreadable", n_err)]
    counts += [(f"model: {v}", mv.count(v)) for v in ModelVerdict
               if v != ModelVerdict.MARGINAL or sc.t2 is not None]
    counts += [(f"reviewer: {v}", sum(1 for r in recs if r.get("verdict") == v)) for v in ReviewVerdict]
    gt_known = [r.get("ground_truth") for r in recs if r.get("ground_truth")]
    if gt_known:
        counts += [(f"ground truth: {v}", gt_known.count(v)) for v in ("good", "defective")]
    agree = [(r.get("verdict"), m) for r, m in zip(sc.scored, mv) if review_label(r.get("verdict")) is not None]
    if agree:
        same = sum(bool(review_agrees(v, m)) for v, m in agree)
        counts.append(("reviewer and model agree", f"{same} of {len(agree)}"))
    return counts


def _statistics(sc: _Scored) -> tuple[str, str | None, list[tuple[Any, ...]]]:
    """The confusion table at T1/T2, the ROC figure (or None) and the suggested thresholds."""
    if not sc.known.any():
        return "<p>No labelled images.</p>", None, []
    s, y, t1, t2 = sc.scores[sc.known], sc.y[sc.known], sc.t1, sc.t2
    m = confusion(s, y, t1, t2)
    cols = ["model good"] + (["marginal"] if t2 is not None else []) + ["model defective"]
    keep = [0, 1, 2] if t2 is not None else [0, 2]
    conf_html = _table([("truly good", *m[0, keep]), ("truly defective", *m[1, keep])], ("by " + sc.what, *cols))
    roc_src, sugg = None, []
    r = roc(s, y)
    if r is not None:
        def draw_roc(ax: Any) -> None:
            ax.plot(r.fpr, r.tpr, color="#1f77b4", lw=2)
            ax.plot([0, 1], [0, 1], ":", color="grey")
            f = s > t1
            ax.plot([f[~y].mean()], [f[y].mean()], "o", color="#ff8c1a", label=f"T1 = {t1:.4f}")
            ax.set_xlabel("false-positive rate")
            ax.set_ylabel("true-positive rate")
            ax.set_title(f"ROC by {sc.what}: image AUROC {r.auroc:.3f}")
            ax.legend(loc="lower right", fontsize=8)
        roc_src = _figure_png(draw_roc, (4.2, 3.6))
        sugg.append((f"image AUROC (by {sc.what})", f"{r.auroc:.3f}"))
    target = float(sc.doc.header.get("frr_target", RANGES["frr_target"].default))
    labels = y.astype(np.float64)
    f1, frr = suggest(s, labels, target)  # as the window suggests them: in the gap, with enough labels
    if f1:
        sugg.append(("F1-max threshold", f"{fmt_level(f1.threshold)} (F1 {f1.value:.2f}; between the scores "
                     f"{fmt_level(f1.below or 0.0)} and {fmt_level(f1.above) if f1.above is not None else '–'})"))
    if frr:
        sugg.append((f"threshold with ≤ {100 * target:.1f} % false rejects",
                     f"{fmt_level(frr.threshold)} (rejects {100 * frr.value:.1f} %, detects {100 * frr.detection:.0f} %)"))
    if not (f1 or frr) and (note := suggestion_note(labels)):
        sugg.append(("suggested thresholds", note))
    return conf_html, roc_src, sugg


def _histogram(sc: _Scored) -> str | None:
    """The image scores by label, with T1 (and T2 and the band between), or None without scores."""
    if not sc.scores.size:
        return None
    scores, known, y, t1, t2 = sc.scores, sc.known, sc.y, sc.t1, sc.t2

    log = wants_log_scale(scores, t1, t2)  # as in the window: a calibrated model's scores span decades

    def draw_hist(ax: Any) -> None:
        edges = histogram_edges(scores, t1, t2, log=log)
        groups = [("good", "#3a9d55", known & ~y), ("defective", "#d2412f", known & y), ("unlabelled", "#999999", ~known)]
        for name, color, sel in groups:
            if sel.any():
                vals = np.clip(scores[sel], edges[0], None) if log else scores[sel]
                ax.hist(vals, bins=edges, color=color, alpha=0.55, label=name, histtype="stepfilled", edgecolor=color)
        ax.axvline(t1, color="#ff8c1a", lw=2, label=f"T1 {fmt_level(t1)}")
        if t2 is not None:
            ax.axvline(t2, color="#d9c21a", lw=2, ls="--", label=f"T2 {fmt_level(t2)}")
            ax.axvspan(t1, t2, color="#f0dc5a", alpha=0.2)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel("image score (DSSIM" + (", log scale)" if log else ")"))
        ax.set_ylabel("images")
        ax.set_title(f"image scores by {sc.what}")
        ax.legend(fontsize=8)
    return _figure_png(draw_hist)


def _flagged_cells(sc: _Scored, folder: Path, model: str | None, device: str, max_parts: int, thumb: int,
                   notes: list[str], allow_outside: bool = False) -> list[str]:
    """One figure per part flagged by the reviewer or the model (highest scores first), with the
    segmentation (when the model is there) and the ground truth drawn over it; a part outside the
    review's folder is left out with a note unless ``allow_outside``."""
    recs = sc.doc.records
    flagged = [r for r, m in zip(sc.scored, sc.verdicts) if r.get("verdict") == "defective" or m != "good"]
    flagged += [r for r in recs if r.get("verdict") == "defective" and not isinstance(r.get("score"), (int, float))]
    flagged.sort(key=lambda r: -(r.get("score") or 0.0))
    for r in [r for r in flagged if not allow_outside and _outside(folder, r["path"])]:
        notes.append(f"{r['path']}: not inside the review's folder; it is not read (--allow-outside reads it)")
        flagged.remove(r)
    if len(flagged) > max_parts:
        notes.append(f"{len(flagged)} parts are flagged; the {max_parts} with the highest scores are shown")
        flagged = flagged[:max_parts]
    over = _overlays(folder, flagged, sc.doc, model, device, notes) if flagged else {}
    cells = []
    for r in flagged:
        img = over.get(r["path"])
        if img is None:
            try:
                img = to_uint8(read_image(folder / r["path"], channels=3))
            except ImageError as e:
                notes.append(str(e))
                continue
        img = _thumb(_draw_gt(img, folder, r, allow_outside), thumb)
        s = r.get("score")
        m = model_verdict(s, sc.t1, sc.t2) if isinstance(s, (int, float)) else "–"
        name = html.escape(r["path"])
        cap = (f"<b>{name}</b><br>score {fmt_level(s)} · model <span class='{m}'>{m}</span><br>"
               if isinstance(s, (int, float)) else f"<b>{name}</b><br>")
        cap += f"reviewer: {html.escape(r.get('verdict') or 'not reviewed')}"
        if r.get("comment"):
            cap += f"<br><i>{html.escape(r['comment'])}</i>"
        cells.append(f"<figure><img src='{_png(img)}' alt='{name}'><figcaption>{cap}</figcaption></figure>")
    return cells


def _parameters(sc: _Scored, folder: Path) -> list[tuple[Any, ...]]:
    h = sc.doc.header
    mdl = h.get("model") or {}
    prm = [("folder", str(folder)), ("model", mdl.get("path")), ("model SHA-256", mdl.get("sha256")),
           ("model kind", mdl.get("kind")), ("T1 (verdict and segmentation threshold)", f"{sc.t1:.4f}"),
           ("T2 (top of the marginal band)", "none" if sc.t2 is None else f"{sc.t2:.4f}"),
           ("minimum defect area (model pixels)", h.get("min_area")), ("DSSIM against", h.get("compare")),
           ("image score", h.get("score_definition")), ("labels", sc.what)]
    prm += list((h.get("params") or {}).items())
    prm += [("written", h.get("written")), ("inspector-app", h.get("app_version"))]
    return [(k, "" if v is None else v) for k, v in prm]


def write_report(review_path: str | Path, out: str | Path, *, model: str | None = None, device: str = "cpu",
                 max_parts: int = 48, allow_outside: bool = False) -> list[str]:
    """:func:`build_report` written to ``out`` atomically (never over the review file, the model, a
    device or the bundled resources: :class:`~inspector_app.core.outputs.OutputGuard`); returns the
    report's notes. What Review → Export Report… runs in a worker; the ``report`` command writes the
    same page."""
    from ...core.outputs import OutputGuard

    review_path = Path(review_path)
    guard = OutputGuard(inputs=[review_path, review_path.with_suffix(".csv"), model], overwrite=True)
    guard.check(out)
    page, notes = build_report(review_path, model=model, device=device, max_parts=max_parts,
                               allow_outside=allow_outside)
    guard.write_bytes(out, page.encode("utf-8"))
    return notes


def build_report(review_path: str | Path, *, model: str | None = None, device: str = "cpu",
                 max_parts: int = 48, thumb: int = 160, allow_outside: bool = False) -> tuple[str, list[str]]:
    """The HTML page for the review file at ``review_path`` (see the module docstring), and the notes
    it carries (what could not be shown). Only images inside the review's folder are read (a record
    naming an absolute path, ``..`` or a link out of the folder is left out with a note), unless
    ``allow_outside``. Raises :class:`~.file.ReviewFileError`."""
    review_path = Path(review_path)
    doc = read_review(review_path)
    notes: list[str] = []
    folder = _folder_of(doc, review_path, notes, allow_outside)
    sc = _scored(doc)
    conf_html, roc_src, sugg = _statistics(sc)
    hist_src = _histogram(sc)
    cells = _flagged_cells(sc, folder, model, device, max_parts, thumb, notes, allow_outside)
    notes = list(dict.fromkeys(notes))  # a part that cannot be read is said once (its overlay and its picture)
    name = html.escape(folder.name)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Inspection review — {name}</title><style>{CSS}</style></head><body>",
        f"<h1>Inspection review — {name}</h1>",
        f"<p>{html.escape(str(folder))} · written {html.escape(str(doc.header.get('written', '')))}</p>",
        *_fit_warning(doc),
        "<h2>Counts</h2>", _table(_counts(sc)),
        "<h2>Score distribution</h2>",
        f"<img src='{hist_src}' alt='histogram of image scores'>" if hist_src else "<p>No scores.</p>",
        f"<img src='{roc_src}' alt='ROC curve'>" if roc_src else "",
        f"<h3>Confusion at T1{'/T2' if sc.t2 is not None else ''}</h3>", conf_html,
        _table(sugg, ("figure", "value")) if sugg else "",
        f"<h2>Flagged parts ({len(cells)})</h2>",
        "<p>Red: the segmentation at T1; dashed-green in the window, solid green here: the ground truth.</p>",
        "<div class='grid'>" + "".join(cells) + "</div>" if cells else "<p>No part is flagged.</p>",
    ]
    if doc.stale:
        parts += ["<h2>Earlier verdicts not applied</h2>",
                  _table([(r.get("path"), r.get("verdict"), r.get("reviewed_at"), r.get("stale_reason"))
                          for r in doc.stale], ("image", "verdict", "reviewed", "why"))]
    parts += ["<h2>Parameters</h2>", _table(_parameters(sc, folder))]
    if notes:
        parts += ["<h2>Notes</h2><ul>"] + [f"<li class='note'>{html.escape(n)}</li>" for n in notes] + ["</ul>"]
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p), notes


def report_summary(page: str) -> dict[str, Any]:
    """How many inline images the page holds, and whether it references anything outside itself
    (tests and the command's one line)."""
    import re

    srcs = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
    return {"images": sum(s.startswith("data:image/png;base64,") for s in srcs),
            "external": [s for s in srcs if not s.startswith("data:")]}
