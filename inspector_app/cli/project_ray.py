"""``project --ray [ADDRESS]``: the images projected by actors on a Ray cluster (imported only with ``--ray``).

Without an address a local Ray is started (one CPU per slot of this machine); with one, this process
joins that cluster as its driver. Each worker slot (one per GPU, or one per ``--worker-threads`` CPUs)
is an actor that loads the model once, from the model file's bytes put once in the object store (the
other machines need not have the file). The driver reads each image file's bytes where the files are
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
import logging
import os
import re
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .common import UsageError
from .project_resume import Interrupted

INSTALL_HINT = "pip install 'inspector-app[cluster]'"
#: The actors' namespace on the cluster (their names: ``inspector-project-RUN-I``).
NAMESPACE = "inspector-app"
#: Batches in flight per actor: one projecting, the next one already sent (its images on the way).
IN_FLIGHT = 2
#: How often a worker that died is started again, and its batch retried, before its images are reported.
RETRIES = 3
_ADDRESS = re.compile(r"^(ray://)?([A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$")


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


def check_ray_flags(a) -> None:
    """Ray importable, ``--ray``'s address and the worker counts sane: one line and exit 2 otherwise."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError(f"--ray needs Ray, an optional extra: {INSTALL_HINT}") from None
    if a.ray not in ("local", "auto") and not _ADDRESS.match(a.ray):
        raise UsageError(f"--ray: {a.ray!r} is not a cluster's address (host:port, ray://host:port or auto); "
                         "give the images before --ray, or write --ray=ADDRESS")
    if a.workers is not None and not 1 <= a.workers <= 10_000:
        raise UsageError(f"--workers must be between 1 and 10000, got {a.workers}")
    if not 1 <= a.worker_threads <= 256:
        raise UsageError(f"--worker-threads must be between 1 and 256, got {a.worker_threads}")


class ProjectWorker:
    """One worker slot: the model loaded once, then batches projected with the plain run's code."""

    def __init__(self, model_name: str, device: str, threads: int, settings: dict):
        import torch

        torch.set_num_threads(threads)
        self.model_name, self.device, self.settings = model_name, device, settings
        self.loaded = None
        self._tmp = Path(tempfile.mkdtemp(prefix="inspector-app-ray-"))

    def load(self, model_box: list) -> str:
        """Load the model from its file's bytes in the object store (``model_box``: [its ObjectRef], passed
        to each call rather than to the constructor, which Ray would pin); once per actor (and restart)."""
        import ray

        from ..core.modelio import load_model

        if self.loaded is None:
            path = self._tmp / f"model{Path(self.model_name).suffix}"
            path.write_bytes(ray.get(model_box[0]))
            try:
                self.loaded = load_model(path, self.device)
            finally:
                path.unlink(missing_ok=True)
            self.loaded.path = self.model_name  # the results name the file the run was given, as a plain run's do
        return str(self.loaded.device)

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


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(e).__name__


def _connect(a) -> bool:
    """Start a local Ray or join the cluster at ``--ray``; True when this call started it (and shuts it down).
    A Ray this process already runs (a caller's ``ray.init``) is used as it is."""
    import ray

    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if a.ray not in ("local", "auto"):
        _probe(a.ray)
    try:
        if a.ray == "local":
            cpus = a.workers * a.worker_threads if a.workers else (os.cpu_count() or 1)
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
        else:
            with _stderr_aside():  # Ray's C++ client warns once a second while it retries an address
                ray.init(address=a.ray, **quiet)
    except Exception as e:  # ConnectionError, RuntimeError, ValueError from Ray: one line, never a traceback
        where = "start a local Ray" if a.ray == "local" else f"join the Ray cluster at {a.ray}"
        raise UsageError(f"--ray: could not {where} ({_first_line(e)})") from None
    return True


@contextlib.contextmanager
def _stderr_aside():
    """File descriptor 2 into a temporary file meanwhile (native code writes there, not to ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as aside:
        os.dup2(aside.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _probe(address: str, timeout: float = 10.0) -> None:
    """One line at once when nothing answers at ``address`` (Ray itself would wait minutes for it)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise UsageError(f"--ray: nothing answers at {address} ({e.strerror or e}); is the cluster's head running "
                         "(ray start --head prints its address)?") from None


def _plan(a, n_batches: int) -> tuple[int, dict, str, str]:
    """(actors, their Ray options, the device they load the model on, the line naming the cluster)."""
    import ray

    res = ray.cluster_resources()
    cpus, gpus = float(res.get("CPU", 0)), float(res.get("GPU", 0))
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    threads = a.worker_threads
    on_gpu = gpus >= 1 and a.device in ("auto", "cuda")
    if a.device == "cuda" and not on_gpu:
        raise UsageError("--device cuda: the Ray cluster has no GPU")
    slots = int(gpus) if on_gpu else int(cpus // threads)
    if slots < 1:
        raise UsageError(f"--ray: the cluster has {cpus:g} CPUs, fewer than --worker-threads {threads}")
    if a.workers is not None and a.workers > slots:
        what = f"{int(gpus)} GPU(s)" if on_gpu else f"{cpus:g} CPUs ({slots} workers of {threads} thread(s))"
        raise UsageError(f"--workers {a.workers}: the Ray cluster has room for {slots} ({what})")
    n = min(a.workers or slots, n_batches)
    options = {"num_cpus": threads, "num_gpus": 1 if on_gpu else 0, "max_restarts": RETRIES,
               "max_task_retries": RETRIES, "namespace": NAMESPACE}
    where = "a local Ray" if a.ray == "local" else f"the Ray cluster at {a.ray}"
    line = (f"{where}: {nodes} node(s), {cpus:g} CPUs, {gpus:g} GPUs, "
            f"{res.get('object_store_memory', 0) / 2**30:.1f} GiB object store; {n} worker(s) of {threads} "
            f"thread(s){', one GPU each' if on_gpu else ''}, batches of up to {a.batch} images")
    return n, options, (a.device if on_gpu else "cpu"), line


def project_on_ray(a, spec: RunSpec, problems: list[str]) -> list[dict]:
    """Project ``spec.jobs`` on Ray; the summary rows of the images projected (problems appended)."""
    import ray

    if not spec.jobs:
        return []
    started = _connect(a)
    try:
        return _drive(a, spec, problems)
    finally:
        if started:
            ray.shutdown()


def _drive(a, spec: RunSpec, problems: list[str]) -> list[dict]:
    import ray
    from tqdm import tqdm

    batches = [spec.jobs[i:i + a.batch] for i in range(0, len(spec.jobs), a.batch)]
    n, options, device, line = _plan(a, len(batches))
    if not a.quiet:
        print(line, file=sys.stderr)
    model_box = [ray.put(Path(a.model).read_bytes())]  # once: every actor (and restart) reads it from the store
    settings = {"params": spec.params, "omega": spec.omega, "compare": spec.compare, "threshold": spec.threshold,
                "min_area": spec.min_area, "threshold_source": spec.threshold_source,
                "project_batch": spec.project_batch}
    run_id = uuid.uuid4().hex[:8]
    actor_class = ray.remote(ProjectWorker)
    actors = [actor_class.options(name=f"inspector-project-{run_id}-{i}", **options)
              .remote(str(Path(a.model)), device, a.worker_threads, settings) for i in range(n)]
    try:
        ray.get([actor.load.remote(model_box) for actor in actors])
    except ray.exceptions.RayError as e:
        for actor in actors:
            ray.kill(actor)
        raise UsageError(f"--ray: a worker could not load {a.model} ({_first_line(e)})") from None
    bar = tqdm(total=spec.total, initial=spec.total - len(spec.jobs), unit="image", desc="projecting on Ray",
               disable=True if a.quiet else None, dynamic_ncols=True)
    rows: list[dict] = []
    load = [0] * n
    pending: dict = {}  # ObjectRef -> (batch, actor index)
    todo = iter(batches)
    try:
        while True:
            while len(pending) < IN_FLIGHT * n and _submit(next(todo, None), actors, model_box, load, pending, problems,
                                                           bar):
                pass
            if not pending:
                break
            ready, _ = ray.wait(list(pending), num_returns=1)
            batch, i = pending.pop(ready[0])
            load[i] -= 1
            _collect(ready[0], batch, spec.out_dir, rows, problems, bar)
    except KeyboardInterrupt:  # the results written so far get their summary.csv (cli.project)
        raise Interrupted(rows) from None
    finally:
        bar.close()
        for actor in actors:
            ray.kill(actor)
    return rows


def _submit(batch: list | None, actors: list, model_box: list, load: list[int], pending: dict, problems: list[str],
            bar) -> bool:
    """Send ``batch`` (its images' bytes read here) to the least busy actor; False when there is none left."""
    from ..core.data import ImageError, read_image_bytes

    if batch is None:
        return False
    blobs, ok = {}, []
    for job in batch:
        try:
            blobs[job.name] = read_image_bytes(job.source)  # the header checked before anything travels
            ok.append(job)
        except ImageError as e:
            problems.append(str(e))
            bar.update(1)
    if ok:
        i = min(range(len(actors)), key=load.__getitem__)
        pending[actors[i].project.remote(model_box, ok, blobs)] = (ok, i)
        load[i] += 1
    return True


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
