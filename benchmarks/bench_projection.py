"""Cost of one projection iteration against one forward pass (128×128 grey l2ae, CPU by default).

An iteration is one forward pass (f(x), Lr, E and the eq. 8 mask) and one backward pass to the
input; so the ratio should stay near forward+backward / forward (≈ 2.2 on a CPU). Also compares
the per-image iteration time at batch 16 with batch 1. Everything is measured in this one run
(ratios, since shared machines are noisy; the measurements are interleaved round by round, so a burst of load from elsewhere hits every figure alike). Last line: ``iteration/forward ratio: X.XX``.

    python benchmarks/bench_projection.py [--device auto] [--iters 60]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from inspector_app.core.modelio import resolve_device
from inspector_app.core.models import ModelConfig, count_parameters, create_model, freeze
from inspector_app.core.params import ProjectionParams
from inspector_app.core.projection import project


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


class Timer:
    """Interleaved timing: each measured thing runs a few repetitions per round, rounds alternate,
    so a burst of load from elsewhere hits every figure alike. Reports medians over rounds."""

    def __init__(self, dev):
        self.dev = dev
        self.samples: dict[str, list[float]] = {}

    def measure(self, name: str, fn, reps: int) -> None:
        _sync(self.dev)
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        _sync(self.dev)
        self.samples.setdefault(name, []).append((time.perf_counter() - t) / reps)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])


def forward_fn(model, x):
    def f():
        with torch.no_grad():
            model.forward_loss(x)
    return f


def forward_backward_fn(model, x):
    def f():
        xx = x.clone().requires_grad_(True)
        lr, _ = model.forward_loss(xx)
        torch.autograd.grad(lr.sum(), xx)
    return f


def iteration_fn(model, x, **kw):
    """One projection iteration per call, from a generator that never stops by itself."""
    gen = project(model, x, ProjectionParams(stop="none", max_iter=10**9, **kw))
    next(gen)
    return lambda: next(gen)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--iters", type=int, default=60, help="about this many samples of each figure")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    torch.manual_seed(0)
    model = freeze(create_model(ModelConfig("l2ae", 128, 1, 100))).to(dev)
    print(f"device: {dev}, torch threads: {torch.get_num_threads()}, l2ae 128×128 grey, "
          f"{count_parameters(model) / 1e6:.2f} M parameters")
    x1 = torch.rand(1, 1, 128, 128, device=dev)
    x16 = torch.rand(16, 1, 128, 128, device=dev)
    things = {
        "fwd": (forward_fn(model, x1), 5),
        "fb": (forward_backward_fn(model, x1), 5),
        "it1": (iteration_fn(model, x1), 5),
        "it1_adam": (iteration_fn(model, x1, optimizer="adam", alpha=0.01), 5),
        "it16": (iteration_fn(model, x16), 1),
    }
    timer = Timer(dev)
    for fn, reps in things.values():  # warm-up
        for _ in range(3):
            fn()
    for _ in range(max(3, a.iters // 5)):
        for name, (fn, reps) in things.items():
            timer.measure(name, fn, reps)
    fwd, fb, it1, it1_adam, it16 = (timer.median(k) for k in things)
    print(f"forward, batch 1:                    {fwd * 1e3:7.2f} ms")
    print(f"forward + input backward, batch 1:   {fb * 1e3:7.2f} ms  ({fb / fwd:.2f} × forward)")
    print(f"projection iteration (eq. 8), batch 1: {it1 * 1e3:5.2f} ms")
    print(f"projection iteration, Adam, batch 1: {it1_adam * 1e3:7.2f} ms  ({it1_adam / fwd:.2f} × forward)")
    print(f"projection iteration, batch 16:      {it16 * 1e3:7.2f} ms  ({it16 / 16 * 1e3:.2f} ms per image)")
    print(f"batch 16 per image / batch 1: {it16 / 16 / it1:.2f}")
    print(f"iteration/forward ratio: {it1 / fwd:.2f}")


if __name__ == "__main__":
    main()
