"""Cost of one training step of the real loop against three forward passes at the same batch.

A training step is a forward pass, a backward pass with weight gradients (about twice a forward)
and an Adam update, plus the augmented batch; so it should cost about 3 × forward. The step
time is taken from the real :func:`inspector_app.core.training.train` loop (between two calls of
its ``should_stop`` hook, validation steps excluded); forward passes are timed in between, round
by round, so that load from elsewhere hits both alike. Prints medians, the images per second,
and last ``training step / 3 × forward: X.XX``.

    python benchmarks/bench_train.py [--device auto] [--rounds 6] [--threads N] [--norm batch]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from inspector_app.core.modelio import resolve_device
from inspector_app.core.models import ModelConfig, count_parameters, create_model
from inspector_app.core.training import TrainConfig, train


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def step_times(images, names, cfg, dev, steps: int) -> list[float]:
    """Durations of the loop's steps (from one ``should_stop`` call to the next)."""
    marks: list[float] = []

    def hook() -> bool:
        _sync(dev)
        marks.append(time.perf_counter())
        return False

    train(images, names, cfg, dev, should_stop=hook)
    d = np.diff(marks)
    skip = 3  # the first steps warm the allocator up
    return [float(v) for i, v in enumerate(d) if i >= skip and (i + 1) % cfg.eval_every != 0]


def forward_time(model, x, dev, reps: int) -> float:
    model.train()
    with torch.no_grad():
        model(x)
        _sync(dev)
        t = time.perf_counter()
        for _ in range(reps):
            model(x)
        _sync(dev)
    return (time.perf_counter() - t) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=20, help="training steps per round")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--norm", default="batch")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    mcfg = ModelConfig("l2ae", 128, 1, 100, a.norm)
    rng = np.random.default_rng(0)
    images = [rng.random((128, 128), dtype=np.float32) for _ in range(32)]
    names = [f"{i:03d}.png" for i in range(len(images))]
    cfg = TrainConfig(mcfg, max_steps=a.steps, batch=a.batch, crop=True, eval_every=10**6, val_fraction=0.1)
    torch.manual_seed(0)
    model = create_model(mcfg).to(dev)
    x = torch.rand(a.batch, 1, 128, 128, device=dev)
    print(f"device: {dev}, torch threads: {torch.get_num_threads()}, l2ae 128×128 grey, norm {a.norm}, "
          f"{count_parameters(model) / 1e6:.2f} M parameters, batch {a.batch}")
    steps, fwds = [], []
    for _ in range(a.rounds):
        fwds.append(forward_time(model, x, dev, 5))
        steps += step_times(images, names, cfg, dev, a.steps)
    step, fwd = statistics.median(steps), statistics.median(fwds)
    print(f"forward, batch {a.batch} (train mode, no grad): {fwd * 1e3:7.1f} ms")
    print(f"training step, batch {a.batch} (real loop):     {step * 1e3:7.1f} ms  ({len(steps)} steps)")
    print(f"images per second: {a.batch / step:.1f}")
    print(f"training step / 3 × forward: {step / (3 * fwd):.2f}")


if __name__ == "__main__":
    main()
