"""Issue 24 item 0, end to end: is the New Model dialog's recipe usable in minutes on a CPU?

1. ``inspector-app make-dataset --source brick`` writes brick crops: train/good from the left of
   the photograph, test/good and test/<defect> from a strip on the right that no training crop
   touches (unseen good crops, and the same with painted defects).
2. The training the dialog would start on that folder, with its defaults (the kind, protocol,
   size, channels, batch, evaluations and calibration limit that
   :func:`inspector_app.session.new_model.propose` gives) and a budget of ``--minutes`` — the
   very command line of :func:`~inspector_app.session.new_model.train_command`, in its own process,
   its progress protocol kept in ``train.jsonl``.
3. ``inspector-app evaluate --no-curve`` at the model's calibrated defaults: the share of variance
   f(x) explains on the unseen good crops (median), the share of good crops passed and of
   defective crops caught.

Prints each figure against the issue's floor (FVE ≥ 0.60, good passed ≥ 0.80, defects caught ≥
0.80), the budget that bound, and the time the training and its calibration took. On the 2-core
machine, with nothing else running:

    python benchmarks/recipe_floor.py --minutes 8 --workdir /tmp/recipe_floor

``--minutes 0.2`` checks that it runs (the figures mean nothing then). The work folder is created
(it must not exist, or be empty) and kept, with the model, the protocol and evaluate's JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

FLOORS = {"fve": 0.60, "good_passed": 0.80, "defects_caught": 0.80}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "inspector_app", *args]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr or ''}")
    return r


def train(data: Path, work: Path, minutes: float) -> tuple[Path, float, list[dict]]:
    """The dialog's training on ``data`` with its defaults and ``minutes``: (model, wall seconds, protocol)."""
    from inspector_app.core.progress_protocol import parse_line
    from inspector_app.session.new_model import propose, scan_folder, train_command

    s = replace(propose(scan_folder(data), work / "models"), minutes=minutes)
    cmd = train_command(s, work / "pause")
    print("settings (the dialog's defaults):", f"{s.kind}, {'crops' if s.crop else 'whole images'}, {s.image_size} px, "
          f"{s.channels} channel(s), batch {s.batch}, {s.minutes:g} min or {s.max_steps} steps, calibration ≤ "
          f"{s.calibrate_minutes:g} min", flush=True)
    t = time.monotonic()
    r = run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.monotonic() - t
    (work / "train.jsonl").write_text(r.stdout)
    (work / "train.stderr").write_text(r.stderr)
    lines = [o for o in map(parse_line, r.stdout.splitlines()) if o is not None]
    return s.out, wall, lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=8.0, help="the training budget (default 8)")
    ap.add_argument("--workdir", default=None, help="folder for the dataset, the model and the figures (default: a new temporary one)")
    ap.add_argument("--n-train", type=int, default=500, help="train/good crops (make-dataset's default)")
    ap.add_argument("--n-test", type=int, default=60, help="test crops (make-dataset's default)")
    a = ap.parse_args()
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="recipe-floor-"))
    if work.exists() and any(work.iterdir()):
        sys.exit(f"{work} is not empty: name a new folder")
    work.mkdir(parents=True, exist_ok=True)
    data = work / "brick"
    run(cli("make-dataset", "--source", "brick", "--out", str(data), "--n-train", str(a.n_train),
            "--n-test", str(a.n_test)), stdout=subprocess.DEVNULL)
    model, wall, lines = train(data, work, a.minutes)  # the category: its train/good is found as the dialog finds it
    done = next(o for o in reversed(lines) if o["event"] == "phase" and o["phase"] == "done")
    last = next(o for o in reversed(lines) if o["event"] in ("step", "eval"))
    cal_phase = next((o for o in lines if o["event"] == "phase" and o["phase"] == "calibrating"), None)
    cal_lines = [o for o in lines if o["event"] == "calibration"]
    run(cli("evaluate", "--model", str(model), "--data", str(data), "--no-curve", "--quiet",
            "--json", str(work / "evaluate.json")), stdout=subprocess.DEVNULL)
    ev = json.loads((work / "evaluate.json").read_text())
    got = {"fve": ev["variance_explained_good"]["median"], "good_passed": ev["verdicts"]["good_passed"],
           "defects_caught": ev["verdicts"]["defective_flagged"]}
    print(f"training: {done['steps']} steps, the budget that bound: {last['binding']} "
          f"({last['seconds']:.0f} s of training), validation FVE {done['val_fve']:.3f}")
    if cal_phase is not None and cal_lines:
        c = cal_lines[-1]
        print(f"calibration: {c['done']} of {c['total']} images projected in {c['seconds']:.0f} s "
              f"(estimated {cal_phase['estimate_s']:.0f} s, limit {cal_phase['limit_s']:.0f} s)")
    print(f"train command, start to model file: {wall:.0f} s; test set: {ev['n_images']} crops, "
          f"{ev['n_defective']} defective")
    names = {"fve": "FVE on unseen good crops (median)", "good_passed": "good crops passed",
             "defects_caught": "defective crops caught"}
    ok = True
    for k, v in got.items():
        met = v >= FLOORS[k]
        ok &= met
        print(f"{names[k]}: {v:.3f} (floor {FLOORS[k]:.2f}: {'met' if met else 'NOT met'})")
    print(f"item 0 floor at {a.minutes:g} min: {'met' if ok else 'NOT met'}; files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
