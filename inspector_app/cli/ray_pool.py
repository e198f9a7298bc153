"""Workers on a Ray cluster that hold the model, shared by ``project --ray`` and ``evaluate --ray``
(imported only with ``--ray``; Ray itself is imported on use).

Without an address a local Ray is started (one CPU per slot of this machine); with one, this process
joins that cluster as its driver. Each worker slot (one per GPU, or one per ``--worker-threads`` CPUs)
is an actor that loads the model once, from the model file's bytes put once in the object store (the
other machines need not have the file). :meth:`Pool.run` sends the command's batches to the least busy
actor, a few in flight each, and hands each result to the command as it finishes. A worker that dies is
started again and its batch retried (Ray's ``max_restarts`` / ``max_task_retries``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .common import UsageError

INSTALL_HINT = "pip install 'inspector-app[cluster]'"
#: The actors' namespace on the cluster (their names: ``inspector-COMMAND-RUN-I``).
NAMESPACE = "inspector-app"
#: Batches in flight per actor: one projecting, the next one already sent (its images on the way).
IN_FLIGHT = 2
#: How often a worker that died is started again, and its batch retried, before its batch is reported.
RETRIES = 3
_ADDRESS = re.compile(r"^(ray://)?([A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$")


def add_ray_flags(p, verb: str) -> None:
    """``--ray [ADDRESS] --workers N --worker-threads T`` on a sub-command's parser."""
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help=f"{verb} on a Ray cluster ({INSTALL_HINT} on every node): a local one "
                        "without ADDRESS, else the cluster at ADDRESS (host:port, ray://host:port or auto)")
    p.add_argument("--workers", type=int, default=None,
                   help="with --ray: actors that each hold the model (default: one per GPU of the cluster, else "
                        "one per --worker-threads CPUs)")
    p.add_argument("--worker-threads", type=int, default=1, help="with --ray: torch threads (CPUs) per actor")


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


class ModelWorker:
    """One worker slot's model, loaded once; a command's actor class adds the method its batches call."""

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


def first_line(e: BaseException) -> str:
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
        raise UsageError(f"--ray: could not {where} ({first_line(e)})") from None
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


@dataclass
class Pool:
    """The run's actors, each holding the model, and the model file's bytes in the object store."""

    actors: list
    model_box: list  # [ObjectRef of the model file's bytes]: passed to every call
    device: str  # where the workers' models are (str(torch.device))

    def run(self, batches: Iterable, send: Callable[[Any, Any], tuple[Any, Any] | None],
            receive: Callable[[Any, Any], None]) -> None:
        """Each batch to the least busy actor (``send(actor, batch)``: (ObjectRef, what was sent), or None
        when nothing was), at most :data:`IN_FLIGHT` per actor, the batches read as they are needed;
        ``receive(ref, sent)`` as each finishes, in the order they finish."""
        import ray

        n = len(self.actors)
        load = [0] * n
        pending: dict = {}  # ObjectRef -> (what was sent, actor index)
        todo = iter(batches)
        while True:
            while len(pending) < IN_FLIGHT * n and (batch := next(todo, None)) is not None:
                i = min(range(n), key=load.__getitem__)
                sent = send(self.actors[i], batch)
                if sent is not None:
                    pending[sent[0]] = (sent[1], i)
                    load[i] += 1
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1)
            what, i = pending.pop(ready[0])
            load[i] -= 1
            receive(ready[0], what)


@contextlib.contextmanager
def worker_pool(a, worker_class: type, n_batches: int, settings: dict, command: str) -> Iterator[Pool]:
    """The actors of one run of ``command`` (named ``inspector-COMMAND-RUN-I``), their model loaded,
    the line naming the cluster printed; killed when the run ends (and a Ray this started, shut down)."""
    import ray

    started = _connect(a)
    try:
        n, options, device, line = _plan(a, n_batches)
        if not a.quiet:
            print(line, file=sys.stderr)
        model_box = [ray.put(Path(a.model).read_bytes())]  # once: every actor (and restart) reads it from the store
        run_id = uuid.uuid4().hex[:8]
        actor_class = ray.remote(worker_class)
        actors = [actor_class.options(name=f"inspector-{command}-{run_id}-{i}", **options)
                  .remote(str(Path(a.model)), device, a.worker_threads, settings) for i in range(n)]
        try:
            try:
                devices = ray.get([actor.load.remote(model_box) for actor in actors])
            except ray.exceptions.RayError as e:
                raise UsageError(f"--ray: a worker could not load {a.model} ({first_line(e)})") from None
            yield Pool(actors, model_box, devices[0])
        finally:
            for actor in actors:
                ray.kill(actor)
    finally:
        if started:
            ray.shutdown()
