"""Start-to-painted-window time of a command that opens the window, measured from outside the
process, the same way for the bundle and for a virtual environment.

    python packaging/startup_time.py [--runs 3] -- dist/inspector-app/inspector-app
    python packaging/startup_time.py [--runs 3] -- .venv/bin/inspector-app

Each run starts the command on a private Xvfb screen with a minimal environment (DISPLAY, a fresh
HOME so no saved settings, PATH=/usr/bin:/bin) and polls the screen: *mapped* is when the
window (WM_CLASS inspector-app) exists, *painted* when its content first holds 90 % of the distinct colours it
settles at (the demo model and the brick sample drawn); the process's CPU time by then is reported
too, as wall-clock times swing with the machine's load. Needs Xvfb, xwininfo (x11-utils), ImageMagick's
``import`` and Pillow. Prints one line per run and the medians.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

POLL_S = 0.1
SETTLE_S = 6.0  # the colour count unchanged this long ends a run (long: a loaded machine stalls)


def _window_id(display: str) -> str | None:
    out = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True,
                         env={"DISPLAY": display}).stdout
    for line in out.splitlines():
        m = re.match(r'\s*(0x[0-9a-f]+) ".*": \("inspector-app" "[^"]*"\)\s+(\d+)x(\d+)', line)  # by WM_CLASS
        if m and int(m.group(2)) > 200 and int(m.group(3)) > 150:
            return m.group(1)
    return None


def _colours(display: str, wid: str) -> int:
    png = subprocess.run(["import", "-window", wid, "png:-"], capture_output=True, env={"DISPLAY": display}).stdout
    if not png:
        return 0
    img = Image.open(io.BytesIO(png)).convert("RGB")
    return len(img.getcolors(maxcolors=1 << 24) or [])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(cmd: list[str], display: str, timeout: float) -> tuple[float, float, float, int]:
    home = tempfile.mkdtemp(prefix="startup-home-")
    env = {"DISPLAY": display, "HOME": home, "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "xcb"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mapped = None
    samples: list[tuple[float, int]] = []
    cpu: list[float] = []
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with status {proc.returncode} before painting")
            wid = _window_id(display)
            if wid is None:
                time.sleep(POLL_S)
                continue
            t = time.perf_counter() - t0
            if mapped is None:
                mapped = t
            cpu.append(_cpu_seconds(proc.pid))
            samples.append((t, _colours(display, wid)))
            final = samples[-1][1]
            stable_since = next((ts for ts, n in reversed(samples) if n != final), samples[0][0])
            if final > 100 and t - stable_since >= SETTLE_S:
                break
            time.sleep(POLL_S)
        else:
            raise RuntimeError(f"no settled window within {timeout:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(home, ignore_errors=True)
    final = samples[-1][1]
    i = next(i for i, (_ts, n) in enumerate(samples) if n >= 0.9 * final)
    return mapped, samples[i][0], cpu[i], final


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd or a.runs < 1:
        p.error("give a command after --, and --runs ≥ 1")
    for tool in ("Xvfb", "xwininfo", "import"):
        if shutil.which(tool) is None:
            p.error(f"{tool} is not installed")
    display = f":{random.randint(500, 900)}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        mapped, painted, cpus = [], [], []
        for i in range(a.runs):
            m, pt, c, n = one_run(cmd, display, a.timeout)
            mapped.append(m)
            painted.append(pt)
            cpus.append(c)
            print(f"run {i + 1}: window mapped {m:.2f} s, painted {pt:.2f} s, CPU time by then {c:.2f} s "
                  f"({n} colours)", flush=True)
        print(f"{' '.join(cmd)}: median mapped {statistics.median(mapped):.2f} s, "
              f"median start-to-painted {statistics.median(painted):.2f} s (CPU {statistics.median(cpus):.2f} s) "
              f"over {a.runs} runs")
    finally:
        xvfb.terminate()
        xvfb.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
