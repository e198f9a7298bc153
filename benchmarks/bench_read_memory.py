"""Peak memory of one large image, in two parts, each measured in one run on the same file.

1. Reading one colour image: the previous ``read_image`` (float conversion, then scaling, then the
   colour swap, each a full float copy) against the current one (the colour swap on the decoded
   integers, one float array scaled in place), measured with ``tracemalloc`` (numpy and OpenCV's
   arrays are traced).
2. The whole ``inspector-app project --model resources/models/brick_l2ae.safetensors BIG.png --out
   OUT`` on a ``--project-side``² RGB PNG (a smooth gradient), run as a child process twice: with the
   code of commit ``--previous`` (``git archive`` of ``inspector_app/`` into a temporary folder, put
   first on ``PYTHONPATH``) and with this checkout's. The peak is the child's own peak resident set
   (``VmHWM``), so it counts Python, torch and OpenCV alike; the outputs of the two runs are
   compared (pictures, maps and summary byte for byte, each JSON on the fields both write, not the
   clock). Also printed: the current code's peak at each step of one image in this process (Linux:
   ``/proc/self/clear_refs`` resets the peak).

    python benchmarks/bench_read_memory.py [--side 3000] [--project-side 6000] [--copies 1] [--previous f7b4672]

``--copies N`` projects N copies of the image in one ``project`` call (one ``--batch``): the previous
code held every image of a batch at full size.

Prints each peak in MB, the reading's peak as a multiple of the returned float image, and the
ratios (previous / current: above 1 means the current one needs less). Issue 26: a 6,000×6,000 RGB
PNG took 2.8 GB end to end (the brick model is grey and works at 512 px; the big buffers are the
full-size image and what is written back at full size).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

from inspector_app.core.data import read_image, read_image_bytes

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "resources" / "models" / "brick_l2ae.safetensors"
#: The code before issue 26's memory work on ``project`` (overlay, maps and reading in bands of rows).
PREVIOUS = "f7b4672"


def previous_read(path: Path) -> np.ndarray:
    """The reading as it was at commit a5abea3 (the colour path of a uint8 image)."""
    img = cv2.imdecode(read_image_bytes(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    img = img.astype(np.float32) / 255.0
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def peak(fn, path: Path) -> tuple[float, int]:
    tracemalloc.start()
    out = fn(path)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 1e6, out.nbytes


def gradient_png(path: Path, side: int) -> None:
    """A smooth RGB gradient (a PNG of a few MB that decodes to side² × 3 bytes), made a row at a time."""
    ramp = np.arange(side, dtype=np.int64)
    img = np.empty((side, side, 3), np.uint8)
    img[:, :, 0] = (ramp * 255 // side).astype(np.uint8)[None, :]
    img[:, :, 1] = (ramp * 255 // side).astype(np.uint8)[:, None]
    for y in range(side):
        img[y, :, 2] = (ramp + y) * 255 // (2 * side)
    cv2.imwrite(str(path), img)


#: Run in the child: the command, then its own peak (VmHWM belongs to the process's memory since its exec;
#: ``ru_maxrss`` would also count the parent's peak, which the child inherits through the fork).
CHILD = """
import json, sys
import inspector_app
from inspector_app.cli import main
try:
    rc = main(sys.argv[2:])
finally:
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    with open(sys.argv[1], "w") as f:
        json.dump({"kb": hwm, "code": inspector_app.__file__}, f)
sys.exit(rc)
"""


def project_peak(code: Path, images: list[Path], out: Path) -> float:
    """The peak resident memory (MB) of ``project`` on ``image`` run with the package under ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    peak_file = out.with_suffix(".peak")
    cmd = [sys.executable, "-c", CHILD, str(peak_file), "project", "--model", str(MODEL), *map(str, images),
           "--out", str(out), "--quiet", "--max-iter", "3"]  # the iterations work at 512 px: not the peak
    done = subprocess.run(cmd, env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)  # not run from the checkout: its inspector_app/ would come first
    if done.returncode != 0:
        raise SystemExit(f"project failed with the code in {code}: {done.stderr.strip().splitlines()[-1:]}")
    peak = json.loads(peak_file.read_text())
    if not Path(peak["code"]).resolve().is_relative_to(code.resolve()):
        raise SystemExit(f"the child ran {peak['code']}, not the code in {code}")
    return float(peak["kb"]) / 1024


def _common(x, y):
    """Whether two JSON values agree on everything both hold (a key only one side writes — a field
    added since the previous commit — is left out)."""
    if isinstance(x, dict) and isinstance(y, dict):
        return all(_common(x[k], y[k]) for k in x.keys() & y.keys())
    return x == y


def same_outputs(a: Path, b: Path) -> bool:
    """Whether two ``project`` output folders hold the same files: pictures, maps and summary byte for
    byte; each result's JSON the same on every field both write (not the clock, the source's path)."""
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    if names != sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()):
        return False
    for n in names:
        if n.suffix == ".json":
            x, y = (json.loads((r / n).read_text()) for r in (a, b))
            for k in ("written", "seconds", "source"):
                x.pop(k, None), y.pop(k, None)
            if not _common(x, y):
                return False
        elif not filecmp.cmp(a / n, b / n, shallow=False):
            return False
    return True


def step_peaks(image: Path) -> list[tuple[str, float]]:
    """The current code's peak resident memory (MB) during each step of one image, in this process."""
    from inspector_app.core import pipeline
    from inspector_app.core.data import read_image_as
    from inspector_app.core.modelio import load_model
    from inspector_app.core.params import ProjectionParams
    from inspector_app.core.projection import run_to_end

    def peak_since_last() -> float:
        with open("/proc/self/status") as f:
            hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return hwm / 1024

    peak_since_last()
    loaded = load_model(MODEL, "cpu")
    steps = [("model loaded", peak_since_last())]
    img, _ = read_image_as(image, loaded.model.channels)
    steps.append(("image read (model's channels)", peak_since_last()))
    prep = pipeline.prepare("big", img, loaded)
    del img
    steps.append(("prepared (working scale)", peak_since_last()))
    _, last, _ = run_to_end(loaded.model, pipeline.batch_tensors([prep])[0], ProjectionParams(max_iter=3))
    steps.append(("projected", peak_since_last()))
    out = pipeline.finish(prep, last, 0, threshold=0.02, min_area=20)
    steps.append(("outputs at full size", peak_since_last()))
    with tempfile.TemporaryDirectory() as d:
        pipeline.write_outputs(out, d, original=prep.original)
        steps.append(("outputs written", peak_since_last()))
    return steps


def bench_project(side: int, previous: str, copies: int = 1) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        big = tmp / "big.png"
        gradient_png(big, side)
        images = [big] + [tmp / f"big_{k}.png" for k in range(1, copies)]
        for extra in images[1:]:
            extra.write_bytes(big.read_bytes())
        old_code = tmp / "previous"
        old_code.mkdir()
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", previous, "inspector_app"], capture_output=True,
                             check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_code)], input=tar, check=True)
        old = project_peak(old_code, images, tmp / "out_previous")
        new = project_peak(ROOT, images, tmp / "out_current")
        same = same_outputs(tmp / "out_previous", tmp / "out_current")
        print(f"\nproject on {copies} × a {side}×{side} RGB PNG ({big.stat().st_size / 1e6:.1f} MB file; the grey float "
              f"image {side * side * 4 / 1e6:.0f} MB), peak resident memory of the whole process:")
        print(f"previous (commit {previous}) {old:.0f} MB")
        print(f"current                  {new:.0f} MB")
        print(f"ratio previous / current: {old / new:.2f}; the same outputs (files byte for byte, JSON on the "
              f"fields both write): {'yes' if same else 'NO'}")
        if copies == 1 and os.access("/proc/self/clear_refs", os.W_OK):
            print("current code, peak during each step of one image (this process):")
            for name, mb in step_peaks(big):
                print(f"  {name:32s} {mb:6.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=3000, help="the reading part's image side")
    ap.add_argument("--project-side", type=int, default=6000, help="the project part's image side (0: skip it)")
    ap.add_argument("--copies", type=int, default=1, help="the project part's images (copies of one, one --batch)")
    ap.add_argument("--previous", default=PREVIOUS, help="the commit whose code the project part compares with")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "rgb.png"
        img = np.zeros((a.side, a.side, 3), np.uint8)
        img[::7] = 200
        img[:, ::5, 1] = 90
        cv2.imwrite(str(p), img)
        np.testing.assert_array_equal(previous_read(p), read_image(p))
        (old, n), (new, _) = peak(previous_read, p), peak(read_image, p)
    print(f"{a.side}×{a.side} RGB: float image {n / 1e6:.0f} MB")
    print(f"previous read_image peak {old:.0f} MB ({old * 1e6 / n:.2f}× the image)")
    print(f"current  read_image peak {new:.0f} MB ({new * 1e6 / n:.2f}× the image)")
    print(f"ratio previous / current: {old / new:.2f}")
    if a.project_side > 0:
        bench_project(a.project_side, a.previous, a.copies)


if __name__ == "__main__":
    main()
