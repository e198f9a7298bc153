"""``project --ray [ADDRESS]``: the images projected by actors on a Ray cluster (imported only with ``--ray``).

The actors, the cluster and the model's one trip through the object store: :mod:`.ray_pool` (shared with
``evaluate --ray``). The driver reads each image file's bytes where the files are
and sends them with their batch (the same batches ``--batch`` makes in a plain run); the actor decodes
them (:func:`inspector_app.core.data.image_from_bytes`: the same checks as a file), projects, decides and
writes the results with the plain run's own code (:func:`inspector_app.cli.project.project_batch`, into a
folder of its own) and returns the files' bytes. The driver writes them under ``--out`` as each batch
finishes, each file atomically and the JSON last, so a result whose JSON is there is complete
(``--resume`` counts on it). A worker that dies is started again and its batch retried (Ray's
``max_restarts`` / ``max_task_retries``); a batch is written only once, when its one result arrives.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .project_resume import Interrupted
from .ray_pool import INSTALL_HINT, NAMESPACE, ModelWorker, check_ray_flags, worker_pool
from .ray_pool import _probe, first_line as _first_line

__all__ = ["INSTALL_HINT", "NAMESPACE", "RunSpec", "check_ray_flags", "project_on_ray", "write_result", "_probe"]


@dataclass
class RunSpec:
    """What a ``project`` run hands to :func:`project_on_ray`."""

    jobs: list  # cli.project.Job: the images still to project
    params: Any  # ProjectionParams
    omega: Any  # Ω (numpy bool, the input's size) or None
    out_dir: Path
    compare: str
    threshold: float
    min_area: int
    threshold_source: str
    total: int  # the run's images, resumed ones included (the progress bar's total)
    project_batch: Callable  # cli.project.project_batch: the plain run's code, which every worker runs


class ProjectWorker(ModelWorker):
    """One worker slot: the model loaded once (:class:`.ray_pool.ModelWorker`), then batches projected
    with the plain run's code."""

    def project(self, model_box: list, jobs: list, blobs: dict) -> dict:
        """Project one batch (``blobs``: each image file's bytes by output name); the result files' bytes
        by output name and kind, the summary rows, the problems and the warnings printed meanwhile."""
        from ..core.data import image_from_bytes
        from ..core.pipeline import output_paths

        self.load(model_box)  # a restarted actor loads it again
        s = self.settings
        out = Path(tempfile.mkdtemp(dir=self._tmp))
        problems: list[str] = []
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                rows = s["project_batch"](jobs, self.loaded, s["params"], s["omega"], out, s["compare"],
                                          s["threshold"], s["min_area"], s["threshold_source"], problems,
                                          read=lambda job: image_from_bytes(job.source, blobs[job.name]))
            files = {r["output"]: {k: p.read_bytes() for k, p in output_paths(out, r["output"]).items() if p.exists()}
                     for r in rows}
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return {"rows": rows, "files": files, "problems": problems, "messages": err.getvalue().splitlines()}


def project_on_ray(a, spec: RunSpec, problems: list[str]) -> list[dict]:
    """Project ``spec.jobs`` on Ray; the summary rows of the images projected (problems appended)."""
    from tqdm import tqdm

    if not spec.jobs:
        return []
    batches = [spec.jobs[i:i + a.batch] for i in range(0, len(spec.jobs), a.batch)]
    settings = {"params": spec.params, "omega": spec.omega, "compare": spec.compare, "threshold": spec.threshold,
                "min_area": spec.min_area, "threshold_source": spec.threshold_source,
                "project_batch": spec.project_batch}
    with worker_pool(a, ProjectWorker, len(batches), settings, "project") as pool:
        bar = tqdm(total=spec.total, initial=spec.total - len(spec.jobs), unit="image", desc="projecting on Ray",
                   disable=True if a.quiet else None, dynamic_ncols=True)
        rows: list[dict] = []
        try:
            pool.run(batches, lambda actor, batch: _submit(actor, pool.model_box, batch, problems, bar),
                     lambda ref, batch: _collect(ref, batch, spec.out_dir, rows, problems, bar))
        except KeyboardInterrupt:  # the results written so far get their summary.csv (cli.project)
            raise Interrupted(rows) from None
        finally:
            bar.close()
    return rows


def _submit(actor, model_box: list, batch: list, problems: list[str], bar) -> tuple[Any, list] | None:
    """``batch`` (its images' bytes read here) sent to ``actor``: (the result's ObjectRef, the jobs sent),
    or None when none of its images could be read."""
    from ..core.data import ImageError, read_image_bytes

    blobs, ok = {}, []
    for job in batch:
        try:
            blobs[job.name] = read_image_bytes(job.source)  # the header checked before anything travels
            ok.append(job)
        except ImageError as e:
            problems.append(str(e))
            bar.update(1)
    return (actor.project.remote(model_box, ok, blobs), ok) if ok else None


def _collect(ref, batch: list, out_dir: Path, rows: list[dict], problems: list[str], bar) -> None:
    """One finished batch: its files written under ``out_dir`` (once), its rows appended to ``rows`` one by
    one as each result is complete (a Ctrl-C meanwhile leaves ``rows`` naming exactly those)."""
    import ray
    from tqdm import tqdm

    try:
        res = ray.get(ref)
    except ray.exceptions.RayError as e:  # the retries spent: these images are reported, --resume projects them
        problems += [f"{job.source}: not projected, the Ray worker failed ({_first_line(e)}); run again with --resume"
                     for job in batch]
        bar.update(len(batch))
        return
    for msg in res["messages"]:
        tqdm.write(msg, file=sys.stderr)
    names = {job.name for job in batch}
    for r in res["rows"]:
        if r["output"] in names:
            write_result(out_dir, r["output"], res["files"][r["output"]])
            rows.append(r)
    problems += res["problems"]
    bar.update(len(batch))


def write_result(out_dir: Path, name: str, files: dict[str, bytes]) -> None:
    """One result's files under ``out_dir``, each atomically, the JSON last (its presence says the
    result is complete); only the files a result of that name has (``output_paths``)."""
    from ..core.outputs import atomic_write_bytes
    from ..core.pipeline import output_paths

    paths = output_paths(out_dir, name)
    for key in sorted((k for k in files if k in paths), key=lambda k: k == "json"):
        atomic_write_bytes(paths[key], files[key])
