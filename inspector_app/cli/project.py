"""The ``project`` command: project images (files or folders) and write anomaly maps, verdicts and
a ``summary.csv``.

Outputs mirror the inputs' relative folders under ``--out`` (``test/hole/000.png`` → ``OUT/hole/
000_*``); two inputs that would still share a name get ``_1``, ``_2`` …, all names reserved before
anything is written. A run never replaces a file it did not create, unless ``--overwrite``.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .common import (EXIT_BAD_INPUT, MARGIN_HELP, UsageError, add_projection_flags, check_ranged, finite_float, params_from_args,
                     resolved_settings, warn, warn_not_learned)
from .project_resume import Interrupted as _Interrupted  # Ctrl-C with the rows already written (here or on Ray)
from .ray_pool import add_ray_flags

SUMMARY = "summary.csv"
SUMMARY_FIELDS = ("source", "output", "verdict", "score", "threshold", "min_area", "anomalous_fraction",
                  "iterations", "stop_reason", "recon_loss_x0", "warnings")
#: Columns added when a folder has ground truth (an MVTec category, ``*_mask`` siblings): as the review mode pairs it.
GT_FIELDS = ("ground_truth", "defect")


def add_parser(sub) -> None:
    from ..core.params import COMPARE
    from ..core.ranges import PAPER_ALPHA, PAPER_MAX_ITER, PAPER_THRESHOLD, default

    p = sub.add_parser("project", help="project images onto the normal manifold; write anomaly maps and verdicts")
    p.add_argument("--model", required=True, help="model file (.safetensors or TorchScript)")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR",
                   help="images, or folders searched recursively as review mode lists them (ground-truth masks "
                        "*_mask.* and ground_truth/ skipped; an MVTec category: test/ only)")
    p.add_argument("--train", action="store_true",
                   help="an MVTec category's train/ images too (skipped by default, as in the window)")
    p.add_argument("--out", required=True, help="output folder")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--overwrite", action="store_true", help="replace result files already in --out")
    again.add_argument("--resume", action="store_true",
                       help="continue a run into --out: the images whose results are complete there are not "
                            "projected again (their rows are read back into summary.csv)")
    add_projection_flags(p, defaults={"max_iter": None, "stop": None, "alpha": None, "margin": None}, helps={
        "alpha": f"step size α of eq. 5 (learning rate for Adam) (default: the model's calibration, else {PAPER_ALPHA:g})",
        "margin": MARGIN_HELP,
        "max_iter": f"maximum number of iterations (default: the model's calibration, else {PAPER_MAX_ITER})",
        "stop": "train-min (paper), train-qNN, converge, none, or an Lr value (default: the model's calibration)"})
    p.add_argument("--threshold", type=finite_float, default=None,
                   help=f"DSSIM threshold of the segmentation and the verdict (default: the model's calibration, "
                        f"else {PAPER_THRESHOLD:g})")
    p.add_argument("--min-area", type=int, default=None,
                   help="smallest defect region, in pixels at the model's size (default: the model's calibration, else 1)")
    p.add_argument("--paper-defaults", action="store_true",
                   help=f"the paper's threshold {PAPER_THRESHOLD:g}, single pixels and stop at the training minimum, "
                        "not the calibration")
    p.add_argument("--mask", default=None, help="Ω for masked inpainting (eq. 7): PNG, non-zero = may change")
    p.add_argument("--compare", choices=COMPARE, default="projection",
                   help="DSSIM between x0 and x_T (projection) or f(x_T) (reconstruction)")
    p.add_argument("--batch", type=int, default=default("batch"), help="images projected together")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_ray_flags(p, "project")
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------ inputs

@dataclass
class Job:
    source: Path
    name: str  # output name under --out, may hold sub-folders
    ground_truth: str | None = None  # "good" / "defective" where the folder says (review mode's pairing)
    defect: str | None = None  # an MVTec category's defect folder


def collect_inputs(inputs: Sequence[str], include_train: bool = False) -> tuple[list[Job], list[str]]:
    """Input files with unique output names (see the module docstring), and the problems found.
    Folders are listed as review mode lists them (:func:`inspector_app.session.review.folder.scan_folder`:
    the same parts, the same ground truth); ``include_train``: an MVTec category's ``train/`` too."""
    from ..session.review.folder import FolderError, scan_folder

    found: list[tuple[Path, Path, str | None, str | None]] = []  # (file, root its name is relative to, gt, defect)
    problems: list[str] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            try:
                scan = scan_folder(p, include_train=include_train)
            except FolderError as e:
                problems.append(str(e))
                continue
            for it in scan.items:
                odd = _odd_part(it.path, p)
                if odd:
                    problems.append(odd)
                else:
                    found.append((it.path, p, it.gt, it.defect))
        elif p.exists():
            found.append((p, p.parent, None, None))
        else:
            problems.append(f"{p}: no such file")
    if not found:
        return [], problems
    roots = {os.path.abspath(r) for _, r, _g, _d in found}  # lexical: a link is named where it lies
    common = os.path.commonpath(sorted(roots)) if len(roots) > 1 else None
    natural = []
    for f, root, _g, _d in found:
        base = os.path.abspath(root) if common is None else common
        natural.append(Path(os.path.relpath(os.path.abspath(f), base)).with_suffix("").as_posix())
    return [Job(f, n, g, d) for (f, _, g, d), n in zip(found, unique_names(natural))], problems


#: The longest suffix a result file adds to an image's name (``_reconstruction.png``), in bytes.
_LONGEST_SUFFIX = 24


def _odd_part(f: Path, root: Path) -> str | None:
    """Why a part found in folder ``root`` is skipped (listed, the others go on), or None: a link to a
    file outside the folder, or a name too long for its result files."""
    from ..core.outputs import inside

    if f.is_symlink() and not inside(f, root):
        return f"{_shown(f)}: a link to a file outside {_shown(root)}"
    if len(os.fsencode(f.stem)) + _LONGEST_SUFFIX > 255:
        return f"{_shown(f)}: the name is too long for its result files ({len(os.fsencode(f.name))} bytes)"
    return None


def _shown(s) -> str:
    """A path as it can be printed: bytes that are not UTF-8 (a name from another system) escaped."""
    return str(s).encode("utf-8", "backslashreplace").decode("utf-8")


def unique_names(names: list[str]) -> list[str]:
    """``names`` made unique: later duplicates get ``_1``, ``_2`` … never taking a name another
    input has (every name is reserved before any is changed). Names are compared ignoring case:
    on macOS and Windows ``Part.json`` and ``part.json`` are one file."""
    taken = {n.casefold() for n in names}
    seen: set[str] = set()
    out = []
    for n in names:
        if n.casefold() not in seen:
            seen.add(n.casefold())
            out.append(n)
            continue
        k = 1
        while f"{n}_{k}".casefold() in taken:
            k += 1
        new = f"{n}_{k}"
        taken.add(new.casefold())
        seen.add(new.casefold())
        out.append(new)
    return out


def _existing_outputs(jobs: list[Job], out_dir: Path) -> list[Path]:
    from ..core.pipeline import output_paths

    hits = [out_dir / SUMMARY] if (out_dir / SUMMARY).exists() else []
    for j in jobs:
        hits += [p for p in output_paths(out_dir, j.name).values() if p.exists()]
    return hits


def _check_outputs(a, jobs: list[Job], out_dir: Path) -> None:
    """Every planned file: never an input (``--out`` may be the input folder), a device or a
    bundled resource, even with ``--overwrite`` (:class:`inspector_app.core.outputs.OutputGuard`)."""
    from ..core.outputs import OutputGuard
    from ..core.pipeline import output_paths

    guard = OutputGuard(inputs=[*(j.source for j in jobs), a.model, a.mask], overwrite=True)
    guard.check_all([out_dir / SUMMARY, *(p for j in jobs for p in output_paths(out_dir, j.name).values())])


# ------------------------------------------------------------------------------------------ run

def run(a) -> int:
    """Project the inputs, holding ``--out`` for this run (a second run into it is refused at once)."""
    from ..core.data import check_writable
    from ..core.outputs import folder_lock

    out_dir = Path(a.out)
    if getattr(a, "ray", None) is not None:
        from .ray_pool import check_ray_flags

        check_ray_flags(a)  # Ray installed, the address and worker counts: before anything else
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file, not a folder")
    check_writable(out_dir / SUMMARY)
    with folder_lock(out_dir):
        return _run(a)


def _run(a) -> int:
    from ..core.data import check_writable
    from ..core.mask import load_mask_png
    from ..core.modelio import load_model
    from ..core.verdict import fmt_level

    check_ranged(a, ("batch", "threshold", "min_area"))  # against core.ranges.RANGES
    params_from_args(a)  # flag errors before the model is loaded
    out_dir = Path(a.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file, not a folder")
    jobs, problems = collect_inputs(a.inputs, include_train=a.train)
    if not jobs:
        raise UsageError(problems[-1] if len(problems) == 1 else "no input images" + (f" ({problems[-1]})" if problems else ""))
    existing = _existing_outputs(jobs, out_dir)
    if existing and not (a.overwrite or a.resume):
        raise UsageError(f"{existing[0]} exists ({len(existing)} result file(s) already in {out_dir}); "
                         "choose another --out, add --resume to continue that run, or --overwrite")
    _check_outputs(a, jobs, out_dir)
    check_writable(out_dir / SUMMARY)

    on_ray = getattr(a, "ray", None) is not None
    loaded = load_model(a.model, "cpu" if on_ray else a.device)  # with --ray, the workers load it where they run
    warn_not_learned(a.model, loaded.meta)
    params, threshold, min_area, source = resolved_settings(a, loaded.meta)
    omega = None
    if a.mask:
        omega = load_mask_png(a.mask)
    todo, done = jobs, {}
    if a.resume:  # the complete results are read back, only the rest is projected (project_resume)
        from .project_resume import check_leftovers, completed, expected_settings

        todo, done = completed(jobs, out_dir, expected_settings(loaded.path, params, threshold, min_area,
                                                                 a.compare, omega is not None))
        check_leftovers(todo, done, out_dir)  # the user's own files named as results are never replaced
    try:
        if on_ray:
            from .project_ray import RunSpec, project_on_ray

            new = project_on_ray(a, RunSpec(todo, params, omega, out_dir, a.compare, threshold, min_area, source,
                                            len(jobs), project_batch), problems)
        else:
            new = _project_here(a, todo, len(jobs), loaded, params, omega, out_dir, threshold, min_area, source,
                                problems)
    except _Interrupted as e:  # Ctrl-C: the finished results get their summary.csv, --resume goes on
        return _summary_of_interrupted(jobs, {**done, **{r["output"]: r for r in e.rows}}, out_dir)
    by_name = {**done, **{r["output"]: r for r in new}}
    rows = [by_name[j.name] for j in jobs if j.name in by_name]  # the inputs' order, resumed or not
    if not rows:
        raise UsageError(problems[-1] if len(problems) == 1 else f"no input could be used ({problems[-1]})")
    from ..core.checks import folder_fit_warning

    fit = folder_fit_warning([r["warnings"].split(";") for r in rows])
    write_summary(out_dir / SUMMARY, rows, fit)
    for r in rows:
        print(f"{_shown(r['source'])}: {r['verdict']} (score {fmt_level(r['score'])}, threshold {fmt_level(r['threshold'])}), "
              f"{r['iterations']} iteration{'' if int(r['iterations']) == 1 else 's'} ({r['stop_reason']})")
    n_bad = sum(r["verdict"] == "defective" for r in rows)
    print(f"wrote {len(rows)} result(s) and {SUMMARY} to {out_dir}: {n_bad} defective, {len(rows) - n_bad} good")
    if fit:
        warn(fit)  # one line for the whole run
    for msg in problems:  # one line per input that could not be used
        print(f"inspector-app: error: skipped {_shown(msg)}", file=sys.stderr)
    if problems:
        return EXIT_BAD_INPUT
    return 0


def _summary_of_interrupted(jobs: list[Job], by_name: dict[str, dict], out_dir: Path) -> int:
    """summary.csv for the results an interrupted run finished (one line says so); exit status 130."""
    rows = [by_name[j.name] for j in jobs if j.name in by_name]
    if rows:
        write_summary(out_dir / SUMMARY, rows)
    print(f"inspector-app: interrupted: {len(rows)} of {len(jobs)} result(s) and {SUMMARY if rows else 'no summary'} "
          f"in {_shown(out_dir)}; run the same command with --resume to finish", file=sys.stderr)
    return 130


def _project_here(a, jobs: list[Job], total: int, loaded, params, omega, out_dir: Path, threshold: float,
                  min_area: int, source: str, problems: list[str]) -> list[dict]:
    """Project ``jobs`` in this process, ``--batch`` at a time (``total``: the run's images, resumed ones included)."""
    from tqdm import tqdm

    rows: list[dict] = []
    bar = tqdm(total=total, initial=total - len(jobs), unit="image", disable=True if a.quiet else None,
               dynamic_ncols=True, desc="projecting")
    try:
        for i in range(0, len(jobs), a.batch):
            for res in project_batch(jobs[i:i + a.batch], loaded, params, omega, out_dir, a.compare, threshold,
                                     min_area, source, problems):
                rows.append(res)
                bar.update(1)
            bar.update(0)
    except KeyboardInterrupt:
        raise _Interrupted(rows) from None
    finally:
        bar.close()
    return rows


def project_batch(jobs: list[Job], loaded, params, omega, out_dir: Path, compare: str, threshold: float,
                  min_area: int, threshold_source: str, problems: list[str], read=None) -> list[dict]:
    """Read, project, decide and write one batch; unreadable inputs are reported and skipped.
    ``read(job)``: the image's pixels (default: :func:`~inspector_app.core.data.read_image_as` on
    ``job.source``, in the model's channels: a colour photograph read for a grey model is never held
    as colour floats; a Ray worker decodes bytes). Only the pixels in the model's channels are kept.

    The full-size images waiting for their projection hold at most the pixel cap
    (:func:`~inspector_app.core.data.max_pixels`) together, with the next one read: large images are
    projected as they come instead of ``--batch`` of them held at once (each 6,000-px image is 144 MB)."""
    from ..core.data import max_pixels

    rows: list[dict] = []
    ready: list = []
    held = 0
    for job in jobs:
        item = _read_prepared(job, loaded, omega, min_area, problems, read)
        if item is None:
            continue
        pixels = int(item[1].original.shape[0]) * int(item[1].original.shape[1])
        if ready and held + pixels > max_pixels():
            rows += _project_ready(ready, loaded, params, out_dir, compare, threshold, min_area, threshold_source,
                                   problems)
            ready, held = [], 0
        ready.append(item)
        held += pixels
    return rows + _project_ready(ready, loaded, params, out_dir, compare, threshold, min_area, threshold_source,
                                 problems)


def _read_prepared(job: Job, loaded, omega, min_area: int, problems: list[str], read) -> tuple | None:
    """(job, its prepared image, the file's channel count), or None with the reason in ``problems``."""
    from ..core.checks import image_channels
    from ..core.data import ImageError, read_image_as
    from ..core.pipeline import prepare

    try:
        if read is None:
            img, source_channels = read_image_as(job.source, loaded.model.channels)
        else:
            img = read(job)
            source_channels = image_channels(img)
        if omega is not None and omega.shape != img.shape[:2]:
            raise ValueError(f"the mask is {omega.shape[1]}×{omega.shape[0]} but the image is "
                             f"{img.shape[1]}×{img.shape[0]}")
        prep = prepare(job.name, img, loaded, omega)
        del img  # prep.original is it
        h, w = prep.working_shape
        if min_area > h * w:  # no region could reach it: every part would pass as good
            raise ValueError(f"--min-area {min_area} is larger than the image at the model's scale "
                             f"({w}×{h} = {h * w} px): no defect could be counted")
        return job, prep, source_channels
    except (ImageError, ValueError) as e:
        problems.append(str(e) if str(job.source) in str(e) else f"{job.source}: {e}")
        return None


def _project_ready(ready: list, loaded, params, out_dir: Path, compare: str, threshold: float, min_area: int,
                   threshold_source: str, problems: list[str]) -> list[dict]:
    """Project the read images (one projection batch per working size); their rows in their order."""
    from ..core.pipeline import shape_groups

    by_index: dict[int, dict] = {}
    for group in shape_groups([r[1] for r in ready]):  # one projection batch per working size
        part = [ready[i] for i in group]
        for i, row in zip(group, _project_group(part, loaded, params, out_dir, compare, threshold, min_area,
                                                threshold_source, problems)):
            if row is not None:
                by_index[i] = row
    return [by_index[i] for i in sorted(by_index)]


def _project_group(ready: list, loaded, params, out_dir: Path, compare: str, threshold: float, min_area: int,
                   threshold_source: str, problems: list[str]) -> list[dict | None]:
    """Project images of one working size as one batch; one row each (None where it diverged)."""
    from ..core.checks import fit_warnings
    from ..core.pipeline import batch_tensors, finish, write_outputs
    from ..core.projection import run_to_end
    from ..core.vocabulary import StopReason

    model = loaded.model
    x0, mask = batch_tensors([r[1] for r in ready])
    t0 = time.perf_counter()
    first, last, curves = run_to_end(model, x0, params, mask=mask)
    dt = (time.perf_counter() - t0) / len(ready)
    rows: list[dict | None] = []
    for j, (job, prep, source_channels) in enumerate(ready):
        if last.stop_reasons[j] == StopReason.DIVERGED:  # x_T fell back to an early iterate: no verdict to give
            problems.append(f"{job.source}: the projection diverged with α = {params.alpha:g} (the energy rose "
                            f"instead of falling; stopped at t = {int(last.steps[j])}), so there is no verdict; "
                            f"use a smaller --alpha (e.g. {params.alpha / 10:.3g}) or --optimizer adam")
            rows.append(None)
            continue
        lr0 = float(first.recon_loss[j])
        warns = fit_warnings(prep.original.shape, source_channels, model.image_size, model.channels, lr0,
                             last.lr_threshold, loaded.meta.get("calibration"), loaded.training_stats,
                             working_scale=loaded.working_scale, pixels=prep.model_input)
        for w in warns:
            warn(f"{job.source}: {w['message']}")
        out = finish(prep, last, j, compare=compare, threshold=threshold, min_area=min_area,
                     threshold_source=threshold_source, energy_curve=curves[j], params=params, warnings=warns,
                     extra={"source": str(job.source), "model": str(loaded.path), "device": str(loaded.device),
                            "recon_loss_x0": lr0, "seconds": round(dt, 4)})
        try:
            write_outputs(out, out_dir, original=prep.original)
        except OSError as e:  # this image's files only (a name the file system refuses …): the others go on
            problems.append(f"{job.source}: its results could not be written ({e.strerror or e})")
            rows.append(None)
            continue
        info = out.info
        del out  # the full-size outputs go before the next image's are made
        rows.append({"source": str(job.source), "output": job.name, "verdict": info["verdict"],
                     "score": info["score"], "threshold": threshold, "min_area": min_area,
                     "anomalous_fraction": info["anomalous_fraction"], "iterations": info["iterations"],
                     "stop_reason": info["stop_reason"], "recon_loss_x0": lr0,
                     "warnings": ";".join(w["code"] for w in warns), "ground_truth": job.ground_truth or "",
                     "defect": job.defect or ""})
    return rows


def write_summary(path: Path, rows: list[dict], folder_warning: str | None = None) -> None:
    """``summary.csv``: one row per image (source, output name, verdict, score …, and the ground
    truth when a folder has it, and ``folder_warning`` on every row when a share of the images lies
    outside what the model was trained on), atomically."""
    from ..core.data import atomic_write_bytes

    fields = SUMMARY_FIELDS + (GT_FIELDS if any(r.get("ground_truth") for r in rows) else ())
    if folder_warning:
        fields += ("folder_warning",)
        rows = [{**r, "folder_warning": folder_warning} for r in rows]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in fields})
    atomic_write_bytes(path, buf.getvalue().encode("utf-8", "surrogateescape"))  # a name's own bytes, as on disk
