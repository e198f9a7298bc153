"""``project --ray``: how much does the engine cost? Images per second through a local Ray with 2 workers
of one torch thread each, against the plain ``project`` with 2 torch threads, on the same images (and, for reference, the plain ``project`` with one thread: on
a machine whose cores other processes keep busy, two torch threads that wait for each other can be
far slower than one).

The folder holds 128-px crops of scikit-image's brick photograph, projected by the bundled brick_l2ae
at ``--iters`` iterations (stop 'none': every image costs the same), in batches of ``--batch``. Both
arms run the command's own code in this process (``inspector_app.cli.main``: reading, projecting,
writing every result file and summary.csv); the Ray arm joins one local Ray started once
(``ray.init(num_cpus=2)``), so its start (seconds) is not counted, but each run's actors, their model
loading and every transfer are.

The rate is the marginal one: each arm projects ``--small`` and ``--large`` images, and
rate = (large - small) / (t_large - t_small), which cancels the fixed costs of a run (the plain run's
model loading, the actors' start) and leaves what each further image costs; the one-run rates
(large / t_large) are printed too. The arms alternate within each of ``--repeats`` rounds (a shared
machine's load drifts alike for both). Floor (issue 28): Ray/plain ≥ 0.9.

    nice -n 5 .venv/bin/python benchmarks/bench_ray.py [--small 32] [--large 96] [--iters 50] [--batch 16]
        [--repeats 1] [--command evaluate]

``--command evaluate`` measures ``evaluate --ray`` the same way: categories of ``--small`` and ``--large``
128-px brick test images (``make-dataset``'s synthetic defects, masks beside them), scored with
``--no-curve`` (the main projection only; the figure-5 runs are two more passes of the same kind), the
rate in test images per second.

The last line reads ``ray/plain images per second: X.XX``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = ROOT / "resources" / "models" / "brick_l2ae.safetensors"


def make_folder(folder: Path, n: int, seed: int = 0) -> Path:
    from skimage import data

    brick = data.brick()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        y, x = rng.integers(0, brick.shape[0] - 128, 2)
        cv2.imwrite(str(folder / f"b{i:04d}.png"), brick[y:y + 128, x:x + 128])
    return folder


def make_category(folder: Path, n: int, seed: int = 0) -> Path:
    """An MVTec-layout brick category of ``n`` 128-px test images (good ones and synthetic defects)."""
    from inspector_app.core.datasets import make_dataset

    make_dataset("brick", folder, n_train=1, n_test=n, seed=seed, image_size=128)
    return folder


def timed_run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one ``project`` or ``evaluate`` run."""
    from inspector_app.cli import main

    out = Path(tempfile.mkdtemp(prefix="bench-ray-out-"))
    shutil.rmtree(out)
    target = ["--out", str(out)] if args[0] == "project" else ["--json", str(out / "r.json")]
    if args[0] == "evaluate":
        out.mkdir()  # for its --json
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        rc = main([*args, *target, "--quiet"])
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if rc != 0:
        raise SystemExit(f"the run failed ({rc}): {err.getvalue()[-500:]}")
    n = len(list(out.glob("*.json")))
    shutil.rmtree(out)
    return (dt, cpu) if n else (float("nan"), float("nan"))


def driver_write_rate(n: int = 300) -> tuple[float, int]:
    """(results per second, bytes per result) at which the driver writes results it received: the files
    of one 128-px result written ``n`` times under new names (each file atomically, the JSON last)."""
    from inspector_app.cli import main as cli
    from inspector_app.cli.project_ray import write_result
    from inspector_app.core.pipeline import output_paths

    work = Path(tempfile.mkdtemp(prefix="bench-ray-write-"))
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli(["project", "--model", str(MODEL), str(make_folder(work / "in", 1)), "--out", str(work / "one"), "--quiet"])
        files = {k: p.read_bytes() for k, p in output_paths(work / "one", "b0000").items()}
        t0 = time.perf_counter()
        for i in range(n):
            write_result(work / "many", f"r{i:05d}", files)
        return n / (time.perf_counter() - t0), sum(len(b) for b in files.values())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=32)
    ap.add_argument("--large", type=int, default=96)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--arms", default="plain,ray,plain-1", help="which arms to run (comma-separated)")
    ap.add_argument("--command", choices=("project", "evaluate"), default="project")
    a = ap.parse_args()

    import ray

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    if a.command == "project":
        folders = {n: [str(make_folder(work / f"n{n}", n))] for n in (a.small, a.large)}
    else:
        folders = {n: ["--data", str(make_category(work / f"n{n}", n)), "--no-curve"] for n in (a.small, a.large)}
    common = [a.command, "--model", str(MODEL), "--max-iter", str(a.iters), "--stop", "none", "--batch", str(a.batch)]
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    arms: dict[str, list[float]] = {"plain": [], "ray": [], "plain-1": []}
    try:
        for r in range(a.repeats):
            order = [k for k in ("plain", "ray", "plain-1") if k in a.arms.split(",")]
            for arm in (order if r % 2 == 0 else order[::-1]):
                torch.set_num_threads(1 if arm == "plain-1" else 2)  # the plain run's (the actors set their own: 1)
                extra = ["--ray", "--workers", "2", "--worker-threads", "1"] if arm == "ray" else []
                both = {n: timed_run([*common, *folders[n], *extra]) for n in (a.small, a.large)}
                t = {n: v[0] for n, v in both.items()}
                marginal = (a.large - a.small) / (t[a.large] - t[a.small])
                cpu = (both[a.large][1] - both[a.small][1]) / (a.large - a.small)  # the Ray arm's is in its actors
                arms[arm].append(marginal)
                print(f"round {r + 1} {arm:7s}: {a.small} images {t[a.small]:6.1f} s, {a.large} images "
                      f"{t[a.large]:6.1f} s; marginal {marginal:.2f} images/s, one run {a.large / t[a.large]:.2f} "
                      f"images/s ({1 / marginal:.3f} s per image" + ("" if arm == "ray" else
                      f", {cpu:.3f} CPU s per image in this process") + ")", flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{a.command}: 128-px images, brick_l2ae, {a.iters} iterations, batches of {a.batch}; CPU: "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    rate = {k: statistics.median(v) for k, v in arms.items() if v}
    for k, what in (("plain", f"plain {a.command} (2 threads)"), ("plain-1", f"plain {a.command} (1 thread, for reference)"),
                    ("ray", "Ray, 2 workers of 1 thread")):
        if k in rate:
            print(f"{what}: {rate[k]:.2f} images/s ({1 / rate[k]:.3f} s per image)")
    if a.command == "project":
        w, size = driver_write_rate()
        print(f"the driver writes {w:.0f} results/s ({size / 1e3:.0f} kB each, 7 files) to this disk")
    if "plain" in rate and "ray" in rate:
        print(f"ray/plain images per second: {rate['ray'] / rate['plain']:.2f}")


if __name__ == "__main__":
    main()
