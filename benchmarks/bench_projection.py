"""Cost of one projection iteration against one forward pass (128×128 grey l2ae, CPU by default).

An iteration is one forward pass (f(x), Lr, E and the eq. 8 mask) and one backward pass to the
input; so the ratio should stay near forward+backward / forward (≈ 2.2 on a CPU). Also compares
the per-image iteration time at batch 16 with batch 1. Everything is measured in this one run
(ratios, since shared machines are noisy). Last line: ``iteration/forward ratio: X.XX``.

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


def time_forward(model, x, n, dev) -> float:
    with torch.no_grad():
        for _ in range(5):
            model.forward_loss(x)
        ts = []
        for _ in range(n):
            _sync(dev)
            t = time.perf_counter()
            model.forward_loss(x)
            _sync(dev)
            ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def time_forward_backward(model, x, n, dev) -> float:
    ts = []
    for i in range(n + 5):
        xx = x.clone().requires_grad_(True)
        _sync(dev)
        t = time.perf_counter()
        lr, _ = model.forward_loss(xx)
        torch.autograd.grad(lr.sum(), xx)
        _sync(dev)
        if i >= 5:
            ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def time_iteration(model, x, n, dev, **kw) -> float:
    params = ProjectionParams(stop="none", max_iter=n + 5, **kw)
    ts = []
    gen = project(model, x, params)
    _sync(dev)
    t = time.perf_counter()
    for i, _rec in enumerate(gen):
        _sync(dev)
        now = time.perf_counter()
        if i > 5:
            ts.append(now - t)
        t = now
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--iters", type=int, default=60)
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
    fwd = time_forward(model, x1, a.iters, dev)
    fb = time_forward_backward(model, x1, a.iters, dev)
    it1 = time_iteration(model, x1, a.iters, dev)
    it1_adam = time_iteration(model, x1, a.iters, dev, optimizer="adam")
    it16 = time_iteration(model, x16, max(10, a.iters // 4), dev)
    print(f"forward, batch 1:                    {fwd * 1e3:7.2f} ms")
    print(f"forward + input backward, batch 1:   {fb * 1e3:7.2f} ms  ({fb / fwd:.2f} × forward)")
    print(f"projection iteration (eq. 8), batch 1: {it1 * 1e3:5.2f} ms")
    print(f"projection iteration, Adam, batch 1: {it1_adam * 1e3:7.2f} ms  ({it1_adam / fwd:.2f} × forward)")
    print(f"projection iteration, batch 16:      {it16 * 1e3:7.2f} ms  ({it16 / 16 * 1e3:.2f} ms per image)")
    print(f"batch 16 per image / batch 1: {it16 / 16 / it1:.2f}")
    print(f"iteration/forward ratio: {it1 / fwd:.2f}")


if __name__ == "__main__":
    main()
