"""The ``self-test`` command: what a user runs when something seems wrong, and what the packaging
checks run (the wheel test, the standalone bundle's build script).

One line per check, then ``self-test ok`` and exit status 0; or ``self-test FAILED: NAMES`` and
exit status 1. The checks, each a few seconds at most:

* ``resources`` — the bundled models, samples and icon are found, and where (an installed wheel's
  data files, a bundle, a source checkout or ``$INSPECTOR_APP_RESOURCES``);
* ``models`` — every ``models/*.safetensors`` loads (on the CPU) and reconstructs an image;
* ``projection-cpu`` — the demo model projects the demo sample headless, a few iterations: the
  energy goes down, the DSSIM map is finite, in [0, 1] and at the image's size;
* ``projection-cuda`` — the same on CUDA, compared with the CPU's (skipped, saying why, without
  a CUDA device or with a CPU build of torch);
* ``dssim`` — the DSSIM map of that projection against scikit-image's SSIM (11×11 windows) away
  from the borders: the engine's formula in float64, and the float32 map the application shows;
* ``window`` — the inspection window opens offscreen, paints, and closes.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .common import UsageError

#: Iterations of the self-test's projections (enough for the energy to move, fast on any CPU).
ITERATIONS = 8
#: |engine − scikit-image| allowed on the DSSIM map: the engine's formula in float64, and the map the
#: application computes in float32 (where the variances' cancellation costs up to ~1e-4 on smooth areas).
DSSIM_EXACT_TOLERANCE = 1e-8
DSSIM_TOLERANCE = 1e-3
#: Pixels left out at each border for that comparison (the two pad the borders differently).
DSSIM_BORDER = 5
#: |CPU − CUDA| allowed on the DSSIM map after the same projection (TF32 convolutions, other kernels).
DEVICE_TOLERANCE = 0.02

CHECKS = ("resources", "models", "projection-cpu", "projection-cuda", "dssim", "window")


class CheckFailed(Exception):
    """A check's finding, reported as its one line."""


class Skipped(Exception):
    """A check that does not apply here (e.g. no CUDA device), with the reason."""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "self-test", help="check this installation: models, headless projection (CPU/CUDA), DSSIM, window",
        description="Check this installation: the bundled models load, a sample projects headless on the CPU "
        "(and on CUDA when present), the DSSIM map agrees with scikit-image, the window opens offscreen. "
        "Prints one line per check and 'self-test ok' (exit 0), or names the failed checks (exit 1).")
    p.add_argument("--only", default=None, metavar="CHECK[,CHECK]",
                   help="run only these checks: " + ", ".join(CHECKS))
    p.add_argument("--traceback", action="store_true", help="print the traceback of a failed check")
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------ checks

@dataclass
class DemoRun:
    """The demo projection on one device (shared by the projection and DSSIM checks)."""

    device: str
    x0: "object"  # numpy, model size
    x_t: "object"
    dssim: "object"  # the engine's DSSIM(x0, x_T), model size
    out: "object"  # ProjectionOutput at the image's size
    e0: float
    e_t: float
    iterations: int
    seconds: float
    model: str
    image: str


class SelfTest:
    def __init__(self) -> None:
        self.runs: dict[str, DemoRun] = {}

    # -------------------------------------------------------------- resources
    def resources(self) -> str:
        from ..resources import REQUIRED, locate, model_files

        found = locate()
        if found is None:
            raise CheckFailed("no bundled resources found (models/ under $INSPECTOR_APP_RESOURCES, the bundle, "
                              "the source checkout or <prefix>/share/inspector-app/resources)")
        root, origin = found
        missing = [r for r in REQUIRED if not (root / r).is_file()]
        if missing:
            raise CheckFailed(f"{root} ({origin}) lacks {', '.join(missing)}")
        n_models = len(model_files())
        n_samples = sum(1 for _ in (root / "samples").rglob("*.png"))
        return f"{root} ({origin}): {n_models} models, {n_samples} sample images"

    # -------------------------------------------------------------- models
    def models(self) -> str:
        import torch

        from ..core.modelio import load_model
        from ..resources import model_files

        files = model_files()
        if not files:
            raise CheckFailed("no models/*.safetensors in the resources folder")
        bad = []
        for f in files:
            try:
                loaded = load_model(f, "cpu")
                cfg = loaded.model.config
                x = torch.full((1, cfg.channels, cfg.image_size, cfg.image_size), 0.5)
                with torch.no_grad():
                    lr, recon = loaded.model.forward_loss(x)
                if recon.shape != x.shape or not bool(torch.isfinite(recon).all()) or not bool(torch.isfinite(lr).all()):
                    raise ValueError("its reconstruction is not finite or has the wrong shape")
            except Exception as e:  # noqa: BLE001 - each file's problem is reported, the others still load
                bad.append(f"{f.name}: {_one_line(e)}")
        if bad:
            raise CheckFailed(f"{len(bad)} of {len(files)} failed: " + "; ".join(bad))
        return f"{len(files)} loaded and ran: " + ", ".join(f.stem for f in files)

    # -------------------------------------------------------------- projection
    def _demo(self, device: str) -> DemoRun:
        if device in self.runs:
            return self.runs[device]
        import numpy as np

        from ..core.data import read_image
        from ..core.modelio import load_model
        from ..core.params import ProjectionParams
        from ..core.pipeline import FinalState, batch_tensors, finish, prepare
        from ..core.projection import run_to_end, to_numpy_image
        from ..resources import DEMO_IMAGE, DEMO_MODEL, resource

        model_path, image_path = resource(DEMO_MODEL), resource(DEMO_IMAGE)
        if model_path is None or image_path is None:
            raise CheckFailed(f"the demo files {DEMO_MODEL} and {DEMO_IMAGE} are not installed")
        loaded = load_model(model_path, device)
        img = read_image(image_path)
        prep = prepare(image_path.stem, img, loaded)
        x0, _ = batch_tensors([prep])
        params = ProjectionParams(max_iter=ITERATIONS, stop="none")
        t0 = time.perf_counter()
        first, last, _curves = run_to_end(loaded.model, x0, params)
        if loaded.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        state = FinalState.from_record(last, 0)
        out = finish(prep, state)
        run = DemoRun(str(loaded.device), to_numpy_image(first.x[0]), state.x, state.dssim, out,
                      float(first.energy[0]), float(last.energy[0]), int(last.steps[0]), seconds,
                      model_path.name, image_path.name)
        problems = []
        if run.iterations != ITERATIONS:
            problems.append(f"stopped after {run.iterations} of {ITERATIONS} iterations ({last.stop_reasons[0]})")
        if not (np.isfinite(run.e0) and np.isfinite(run.e_t)) or not run.e_t < run.e0:
            problems.append(f"the energy did not go down: E(x0) {run.e0:.6g}, E(x_T) {run.e_t:.6g}")
        d = out.dssim
        if d.shape != tuple(img.shape[:2]):
            problems.append(f"the DSSIM map is {d.shape}, the image {img.shape[:2]}")
        if not np.isfinite(d).all() or d.min() < -1e-3 or d.max() > 1 + 1e-3:  # float32 rounding: ±4e-5 seen
            problems.append(f"the DSSIM map is not finite or leaves [0, 1] ({d.min():.3g} … {d.max():.3g})")
        if np.array_equal(run.x_t, run.x0):
            problems.append("x did not move")
        if problems:
            raise CheckFailed(f"{run.model} on {run.image} ({run.device}): " + "; ".join(problems))
        self.runs[device] = run
        return run

    @staticmethod
    def _describe(run: DemoRun) -> str:
        return (f"on {run.device}: {run.model} on {run.image}, {run.iterations} iterations, "
                f"E {run.e0:.4g} → {run.e_t:.4g}, score {run.out.score:.3f} ({run.out.verdict}), "
                f"{1000 * run.seconds / max(run.iterations, 1):.0f} ms/iteration (1 torch thread)")

    def projection_cpu(self) -> str:
        return self._describe(self._demo("cpu"))

    def projection_cuda(self) -> str:
        import numpy as np
        import torch

        if not torch.cuda.is_available():
            if torch.version.cuda is None:
                raise Skipped(f"torch {torch.__version__} is a CPU build (see packaging/README.md for a CUDA build)")
            raise Skipped(f"no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda})")
        run = self._demo("cuda")
        cpu = self._demo("cpu")
        diff = float(np.abs(run.dssim - cpu.dssim).max())
        if diff > DEVICE_TOLERANCE:
            raise CheckFailed(f"the DSSIM maps on CUDA and on the CPU differ by {diff:.3g} (> {DEVICE_TOLERANCE})")
        name = torch.cuda.get_device_name(torch.device(run.device))
        return self._describe(run).replace(f"on {run.device}:", f"on {run.device} ({name}):", 1) + \
            f", |DSSIM − CPU's| ≤ {diff:.1e}"

    # -------------------------------------------------------------- DSSIM against scikit-image
    def dssim(self) -> str:
        import numpy as np
        from skimage.metrics import structural_similarity

        from ..core.data import to_tensor
        from ..core.losses import dssim_map

        run = self._demo("cpu")
        x0, xt = np.asarray(run.x0, np.float64), np.asarray(run.x_t, np.float64)
        kw = {"channel_axis": -1} if x0.ndim == 3 else {}
        _, s = structural_similarity(x0, xt, win_size=11, data_range=1.0, full=True, **kw)
        ref = (1.0 - s) / 2.0
        if ref.ndim == 3:
            ref = ref.mean(axis=-1)
        b = DSSIM_BORDER
        # the formula, in float64 on the same two images: equal up to rounding
        ours64 = dssim_map(to_tensor([x0]).double(), to_tensor([xt]).double())[0].numpy()
        exact = float(np.abs(ours64 - ref)[b:-b, b:-b].max())
        # the map the application shows (float32: cancellation in the variances costs ~1e-4)
        shown = float(np.abs(np.asarray(run.dssim, np.float64) - ref)[b:-b, b:-b].max())
        if not np.isfinite(exact) or exact > DSSIM_EXACT_TOLERANCE:
            raise CheckFailed(f"the DSSIM formula differs from scikit-image's by {exact:.3g} in float64 "
                              f"(> {DSSIM_EXACT_TOLERANCE:g})")
        if not np.isfinite(shown) or shown > DSSIM_TOLERANCE:
            raise CheckFailed(f"the projection's DSSIM map differs from scikit-image's by {shown:.3g} "
                              f"(> {DSSIM_TOLERANCE:g})")
        return (f"{ref.shape[1]}×{ref.shape[0]} map of the CPU projection (max {float(ref.max()):.3f}) against "
                f"scikit-image, borders of {b} px aside: ≤ {exact:.1e} in float64, ≤ {shown:.1e} as shown (float32)")

    # -------------------------------------------------------------- the window
    def window(self) -> str:
        created = False
        try:
            from PySide6.QtWidgets import QApplication
        except ImportError as e:
            raise CheckFailed(f"PySide6 does not import: {_one_line(e)}") from e
        app = QApplication.instance()
        if app is None:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before the application exists
            if _c_locale():  # Qt would switch to C.UTF-8 itself, with a four-line warning (env -i)
                os.environ["LC_ALL"] = "C.UTF-8"
            _check_platform_plugin("offscreen")
            app = QApplication([sys.argv[0] if sys.argv else "inspector-app"])
            created = True
        platform_name = app.platformName()
        from PySide6.QtCore import QCoreApplication, QSettings, qInstallMessageHandler

        def quiet(mode, context, message) -> None:  # the offscreen plugin's notice is not a problem
            if "propagateSizeHints" not in message:
                print(message, file=sys.stderr)

        previous = qInstallMessageHandler(quiet)

        old_org = QCoreApplication.organizationName()
        with tempfile.TemporaryDirectory(prefix="inspector-selftest-") as tmp:
            # the window saves its settings on close: into a throw-away folder, never the user's file
            if created:
                for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
                    QSettings.setPath(fmt, QSettings.Scope.UserScope, tmp)
                QCoreApplication.setOrganizationName("inspector-app-selftest")
            try:
                return self._window(app, platform_name)
            finally:
                qInstallMessageHandler(previous)
                if created:
                    QCoreApplication.setOrganizationName(old_org)

    @staticmethod
    def _window(app, platform_name: str) -> str:
        from ..gui.main_window import MainWindow
        from ..gui.style import configure_pyqtgraph

        configure_pyqtgraph()
        t0 = time.perf_counter()
        win = MainWindow(restore=False)
        try:
            win.resize(1100, 720)
            win.show()
            deadline = time.perf_counter() + 10
            while not win.isVisible() and time.perf_counter() < deadline:
                app.processEvents()
            for _ in range(5):
                app.processEvents()
            if not win.isVisible():
                raise CheckFailed("the window did not become visible")
            img = win.grab().toImage()
            if img.isNull() or img.width() < 200 or img.height() < 150:
                raise CheckFailed(f"the window painted a {img.width()}×{img.height()} image")
            colours = {img.pixel(x, y) for x in range(0, img.width(), max(1, img.width() // 40))
                       for y in range(0, img.height(), max(1, img.height() // 30))}
            if len(colours) < 3:
                raise CheckFailed(f"the painted window has {len(colours)} colour(s): nothing was drawn")
            painted = time.perf_counter() - t0
            title = win.windowTitle() or app.applicationDisplayName()  # Qt shows the display name beside it
        finally:
            win.close()
            app.processEvents()
            win.deleteLater()
            app.processEvents()
        if win.isVisible():
            raise CheckFailed("the window did not close")
        return (f"{title!r} opened on the {platform_name} platform, painted {img.width()}×{img.height()} "
                f"({len(colours)} colours sampled) in {painted:.2f} s, closed")


def _check_platform_plugin(name: str) -> None:
    """Qt aborts the process when a platform plugin is missing: look for it first."""
    from PySide6.QtCore import QLibraryInfo

    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    if not any(folder.glob(f"libq{name}*")) and not any(folder.glob(f"q{name}*")):
        raise CheckFailed(f"Qt's {name} platform plugin is not in {folder}")


def _c_locale() -> bool:
    for var in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = os.environ.get(var)
        if value:
            return value in ("C", "POSIX")
    return True


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _versions() -> str:
    parts = [f"inspector-app {__import__('inspector_app').__version__}", f"Python {platform.python_version()}"]
    try:
        import torch

        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
        parts.append(f"torch {torch.__version__} ({build}, CUDA device: "
                     f"{'yes' if torch.cuda.is_available() else 'none'})")
    except Exception as e:  # noqa: BLE001 - the models check says what is wrong
        parts.append(f"torch not importable ({_one_line(e)})")
    if getattr(sys, "frozen", False):
        parts.append("standalone bundle")
    return ", ".join(parts)


def run(a) -> int:
    if a.only:
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in CHECKS]
        if unknown or not names:
            raise UsageError(f"--only: unknown check {unknown[0] if unknown else repr(a.only)} "
                             f"(choose from {', '.join(CHECKS)})")
    else:
        names = list(CHECKS)
    t = SelfTest()
    funcs: dict[str, Callable[[], str]] = {
        "resources": t.resources, "models": t.models, "projection-cpu": t.projection_cpu,
        "projection-cuda": t.projection_cuda, "dssim": t.dssim, "window": t.window}
    print(_versions(), flush=True)
    with _one_torch_thread():
        failed = _run_checks(names, funcs, a.traceback)
    if failed:
        print(f"self-test FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("self-test ok", flush=True)
    return 0


@contextmanager
def _one_torch_thread():
    """The checks on one torch thread: as fast for their tiny work, and on a busy machine far faster
    than threads that spin waiting for each other (seen: 0.12 s per iteration against 1.9 s)."""
    try:
        import torch
    except Exception:  # noqa: BLE001 - the models check reports it
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _run_checks(names: list[str], funcs: dict[str, Callable[[], str]], show_traceback: bool) -> list[str]:
    failed = []
    for name in CHECKS:
        if name not in names:
            continue
        t0 = time.perf_counter()
        try:
            detail = funcs[name]()
            status = "ok"
        except Skipped as e:
            status, detail = "skipped", str(e)
        except CheckFailed as e:
            status, detail = "FAILED", str(e)
            failed.append(name)
            if show_traceback:
                traceback.print_exc()
        except Exception as e:  # noqa: BLE001 - any error is this check's failure, the others still run
            status, detail = "FAILED", _one_line(e)
            failed.append(name)
            if show_traceback:
                traceback.print_exc()
        print(f"{name}: {status} ({time.perf_counter() - t0:.1f} s) — {detail}", flush=True)
    return failed
