"""``evaluate --ray [ADDRESS]``: the evaluation's projections run by actors on a Ray cluster (imported
only with ``--ray``).

The actors, the cluster and the model's one trip through the object store: :mod:`.ray_pool` (shared with
``project --ray``). The driver reads each test image's and mask's bytes where the category is, in the
batches a plain run makes (:func:`inspector_app.core.evaluation_batches.plan_batches`), and sends them;
an actor decodes them and runs the plain run's passes on its batch (the main projection, and the two
figure-5 runs unless ``--no-curve``) and returns its maps, histograms and counts; the driver puts them
back in the category's order (:class:`~inspector_app.core.evaluation_batches.Merger`) and computes the
figures exactly as a plain run does (:func:`inspector_app.core.evaluation.evaluate`): the same table and
JSON, figure for figure. A worker that dies is started again and its batch retried; a batch that cannot
be scored even so ends the run with one line (the figures need every image).
"""

from __future__ import annotations

from typing import Any, Callable

from .common import UsageError
from .ray_pool import RETRIES, ModelWorker, first_line, worker_pool


class EvaluateWorker(ModelWorker):
    """One worker slot: the model loaded once (:class:`.ray_pool.ModelWorker`), then batches scored."""

    def score(self, model_box: list, batch: Any) -> Any:
        """One :class:`~inspector_app.core.evaluation_batches.Batch` scored: its passes (maps, histograms, counts)."""
        from ..core.evaluation_batches import score_batch

        self.load(model_box)  # a restarted actor loads it again
        s = self.settings
        return score_batch(self.loaded, batch, s["params"], s["iterations"], s["curve"])


class RayPasses:
    """:func:`~inspector_app.core.evaluation.evaluate`'s ``passes``, run on Ray (``a``: the command's
    flags); ``device`` says afterwards where the workers projected."""

    def __init__(self, a):
        self.a = a
        self.device: str | None = None

    def __call__(self, loaded, category, params, iterations: int, batch: int, curve: bool,
                 progress: Callable[[int], None] | None) -> Any:
        from ..core.evaluation_batches import Merger, batch_count, plan_batches

        merger = Merger(len(category.images), iterations, curve)
        settings = {"params": params, "iterations": iterations, "curve": curve}

        def receive(ref, sent) -> None:
            merger.add(sent.start, _result(ref))
            if progress:
                progress((3 if curve else 1) * len(sent.images))  # the plain run's passes, all of this batch's

        with worker_pool(self.a, EvaluateWorker, batch_count(category, batch), settings, "evaluate") as pool:
            self.device = pool.device
            pool.run(plan_batches(category, loaded, batch),
                     lambda actor, sent: (actor.score.remote(pool.model_box, sent), sent), receive)
        return merger.result()


def _result(ref) -> Any:
    """A batch's passes; a bad image or mask found on the worker is the plain run's one line, and a batch
    whose worker failed after its retries ends the run (the figures need every image)."""
    import ray

    from ..core.data import DataError

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, (ValueError, OSError)):  # DataError, ImageError… raised by the plain run's code
            raise DataError(str(e.cause)) from None
        raise UsageError(f"--ray: a worker failed ({first_line(e)})") from None
    except ray.exceptions.RayError as e:
        raise UsageError(f"--ray: a worker failed after {RETRIES} restarts ({first_line(e)}); the figures need "
                         "every image: run again") from None

