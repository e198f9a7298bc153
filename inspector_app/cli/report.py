"""The ``report`` command: a review file as one self-contained HTML page, for people without the app."""

from __future__ import annotations

from pathlib import Path

from .common import UsageError, check_ranged


def add_parser(sub) -> None:
    from ..core.ranges import default

    p = sub.add_parser("report", help="write a review (inspector-review.json) as a self-contained HTML report")
    p.add_argument("review", metavar="REVIEW_FILE",
                   help="the review file review mode writes (inspector-review.json), or its folder")
    p.add_argument("--out", required=True, help="the HTML file to write (images inlined; it loads nothing)")
    p.add_argument("--model", default=None,
                   help="the review's model file, when it has moved (its SHA-256 must match the review's)")
    p.add_argument("--device", default="cpu", help="where the flagged parts are projected again for their "
                   "overlays: cpu (default), cuda or auto")
    p.add_argument("--max-parts", type=int, default=default("max_parts"), help="the most flagged parts shown (highest scores first)")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it exists")
    p.add_argument("--allow-outside", action="store_true",
                   help="also read and embed images the review names outside its folder (absolute paths, '..', "
                        "links out of it); by default they are left out with a note: a review file received from "
                        "someone else must not pull other files into the page")
    p.set_defaults(func=run)


def run(a) -> int:
    from ..core.data import check_writable
    from ..core.outputs import OutputGuard
    from ..session.review.file import JSON_NAME
    from ..session.review.report import build_report, report_summary

    check_ranged(a, ("max_parts",))  # against core.ranges.RANGES
    src = Path(a.review)
    if src.is_dir():
        src = src / JSON_NAME
    if not src.is_file():
        raise UsageError(f"{src}: no such review file")
    out = Path(a.out)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give the HTML file's name")
    if out.exists() and not a.overwrite:
        raise UsageError(f"{out} exists; choose another --out or add --overwrite")
    guard = OutputGuard(inputs=[src, src.with_suffix(".csv"), a.model], overwrite=a.overwrite,
                        hint="choose another --out or add --overwrite")
    guard.check(out)  # never the review file, a device or the bundled resources
    check_writable(out)
    page, notes = build_report(src, model=a.model, device=a.device, max_parts=a.max_parts,
                               allow_outside=a.allow_outside)
    guard.write_bytes(out, page.encode("utf-8"))
    for n in notes:
        print(f"inspector-app: note: {n}")
    info = report_summary(page)
    print(f"wrote {out} ({len(page.encode()) / 1024:.0f} kB, {info['images']} inline images)")
    return 0
