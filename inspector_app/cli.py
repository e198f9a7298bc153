"""The ``inspector-app`` command: the window by default, and headless sub-commands.

Bad input ends with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage + message)
        raise UsageError(f"{self.prog}: {message}")


def _fail(msg: str) -> int:
    print(f"inspector-app: error: {msg}", file=sys.stderr)
    return EXIT_BAD_INPUT


# --------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    from .core.models import KINDS

    p = sub.add_parser("train", help="train an autoencoder on normal images")
    p.add_argument("--arch", choices=KINDS, required=True, help="model kind (section 4.1)")
    p.add_argument("--data", required=True, help="folder of normal images, or an MVTec category (train/good is used)")
    p.add_argument("--out", required=True, help="model file to write (.safetensors)")
    p.add_argument("--image-size", type=int, default=128, help="multiple of 32 (default 128)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=1)
    p.add_argument("--latent", type=int, default=100)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=int, help="number of epochs")
    g.add_argument("--max-minutes", type=float, help="train for this long (wall clock)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches-per-epoch", type=int, default=None, help="default: one pass over the images, at least 8")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (paper: 1e-4)")
    p.add_argument("--crop", action="store_true", help="texture protocol: random crops (else rotation/translation)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--description", default=None, help="training-data description stored in the file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def cmd_train(a) -> int:
    import torch
    from tqdm import tqdm

    from .core.data import load_training_images
    from .core.modelio import resolve_device, save_model
    from .core.models import ModelConfig
    from .core.training import TrainConfig, train, training_statistics

    out = Path(a.out)
    if out.suffix != ".safetensors":
        raise UsageError(f"--out {out}: the model file must end in .safetensors")
    if a.epochs is None and a.max_minutes is None:
        a.epochs = 10
    if (a.epochs is not None and a.epochs < 1) or (a.max_minutes is not None and a.max_minutes <= 0):
        raise UsageError("--epochs / --max-minutes must be positive")
    if a.batch < 1 or a.lr <= 0:
        raise UsageError("--batch and --lr must be positive")
    mcfg = ModelConfig(a.arch, a.image_size, a.channels, a.latent).validate()
    device = resolve_device(a.device)
    images, folder = load_training_images(a.data, a.channels)
    tcfg = TrainConfig(mcfg, a.epochs, a.max_minutes, a.batch, a.lr, a.crop, a.seed, a.batches_per_epoch)
    per_epoch = tcfg.batches_per_epoch or max(8, -(-len(images) // a.batch))
    total = per_epoch * a.epochs if a.epochs else None
    bar = tqdm(total=total, unit="batch", disable=a.quiet, dynamic_ncols=True,
               desc=f"{a.arch} on {len(images)} images")

    def progress(epoch: int, step: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.4g}")

    res = train(images, tcfg, device, progress)
    bar.close()
    if res.interrupted:
        print(f"interrupted after {res.steps} steps: saving what was trained so far", file=sys.stderr)
    # Ctrl-C during the statistics or the save must not leave a half file
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        stats = training_statistics(res.model, images, tcfg, device)
        meta = {
            "training_stats": stats,
            "training": {
                "data": a.description or str(Path(a.data)),
                "folder": str(folder),
                "n_images": len(images),
                "protocol": "texture crops" if a.crop else "object (rotation/translation)",
                "epochs": res.epochs,
                "steps": res.steps,
                "batch": a.batch,
                "lr": a.lr,
                "seed": a.seed,
                "seconds": round(res.seconds, 1),
                "device": str(device) + ("" if device.type != "cpu" else f" ({torch.get_num_threads()} threads)"),
                "final_loss": res.last_loss,
                "interrupted": res.interrupted,
            },
        }
        save_model(res.model, out, meta)
    finally:
        signal.signal(signal.SIGINT, old)
    print(
        f"saved {out}: {a.arch}, {res.steps} steps in {res.seconds / 60:.1f} min, "
        f"training Lr min {stats['min']:.4g} mean {stats['mean']:.4g} over {stats['n']} images"
    )
    return 0


# --------------------------------------------------------------------------- project
def _add_projection_args(p: argparse.ArgumentParser) -> None:
    from .core.params import GRAD_MASKS, OPTIMIZERS, RANGES

    p.add_argument("--alpha", type=float, default=RANGES["alpha"].default, help=RANGES["alpha"].help)
    p.add_argument("--lam", type=float, default=RANGES["lam"].default, help=RANGES["lam"].help)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="plain step (eq. 5) or Adam")
    p.add_argument("--grad-mask", choices=GRAD_MASKS, default="recon",
                   help="recon: weight the gradient by (x − f(x))² (eq. 8); none: plain gradient")
    p.add_argument("--max-iter", type=int, default=int(RANGES["max_iter"].default), help=RANGES["max_iter"].help)
    p.add_argument("--stop", default="train-min",
                   help="train-min (paper), train-qNN (e.g. train-q05), converge, none, or an Lr value")
    p.add_argument("--tol", type=float, default=RANGES["tol"].default, help=RANGES["tol"].help)
    p.add_argument("--patience", type=int, default=int(RANGES["patience"].default), help=RANGES["patience"].help)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda ...")


def _params_from_args(a):
    from .core.params import ProjectionParams, check_range

    check_range("alpha", a.alpha)
    check_range("lam", a.lam)
    if a.max_iter < 0:
        raise UsageError("--max-iter must be >= 0")
    return ProjectionParams(alpha=a.alpha, lam=a.lam, optimizer=a.optimizer, grad_mask=a.grad_mask,
                            max_iter=a.max_iter, stop=a.stop, tol=a.tol, patience=a.patience).validated()


def _add_project(sub) -> None:
    from .core.params import COMPARE, RANGES

    p = sub.add_parser("project", help="project images onto the normal manifold and write anomaly maps")
    p.add_argument("--model", required=True, help="model file (.safetensors or TorchScript)")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--out", required=True, help="output folder")
    _add_projection_args(p)
    p.add_argument("--mask", default=None, help="Ω for masked inpainting (eq. 7): PNG, non-zero = may change")
    p.add_argument("--threshold", type=float, default=RANGES["threshold"].default, help=RANGES["threshold"].help)
    p.add_argument("--compare", choices=COMPARE, default="projection",
                   help="DSSIM between x0 and x_T (projection) or f(x_T) (reconstruction)")
    p.add_argument("--batch", type=int, default=8, help="images projected together")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_project)


def _collect_inputs(inputs: Sequence[str]) -> tuple[list[Path], list[str]]:
    from .core.data import list_images

    files: list[Path] = []
    problems: list[str] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            found = list_images(p)
            if not found:
                problems.append(f"{p}: no images in this folder")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            problems.append(f"{p}: no such file")
    return files, problems


def cmd_project(a) -> int:
    from tqdm import tqdm

    from .core.data import ImageError, read_image
    from .core.mask import load_mask_png
    from .core.modelio import load_model
    from .core.pipeline import batch_tensors, finish, prepare, write_outputs
    from .core.projection import run_to_end

    params = _params_from_args(a)
    if a.batch < 1:
        raise UsageError("--batch must be at least 1")
    if not 0 <= a.threshold <= 1:
        raise UsageError("--threshold must be in [0, 1]")
    loaded = load_model(a.model, a.device)
    files, problems = _collect_inputs(a.inputs)
    for msg in problems:
        print(f"inspector-app: skipped {msg}", file=sys.stderr)
    if not files:
        raise UsageError("no input images")
    channels = loaded.model.channels
    prepared = []
    for f in files:
        try:
            img = read_image(f, channels)
            mask = load_mask_png(a.mask, img.shape[:2]) if a.mask else None
            prepared.append((prepare(f.stem, img, loaded, mask), img))
        except ImageError as e:
            problems.append(str(e))
            print(f"inspector-app: skipped {e}", file=sys.stderr)
        except ValueError as e:  # the mask: wrong size or unreadable, the same for every image
            if a.mask and not prepared:
                raise
            problems.append(f"{f}: {e}")
            print(f"inspector-app: skipped {f}: {e}", file=sys.stderr)
    if not prepared:
        raise UsageError(problems[-1] if problems else "no usable input images")
    names = {}
    for prep, _ in prepared:  # two inputs named alike must not overwrite each other
        k = names.get(prep.name, 0)
        names[prep.name] = k + 1
        if k:
            prep.name = f"{prep.name}_{k}"
    out_dir = Path(a.out)
    bar = tqdm(total=len(prepared), unit="image", disable=a.quiet, dynamic_ncols=True, desc="projecting")
    summary = []
    for i in range(0, len(prepared), a.batch):
        chunk = prepared[i:i + a.batch]
        x0, mask = batch_tensors([c[0] for c in chunk])
        t0 = time.perf_counter()
        _, last, curves = run_to_end(loaded.model, x0, params, mask=mask)
        dt = time.perf_counter() - t0
        for j, (prep, img) in enumerate(chunk):
            out = finish(prep, last, j, compare=a.compare, threshold=a.threshold, energy_curve=curves[j],
                         params=params, extra={"model": str(a.model), "device": str(loaded.device),
                                               "seconds": round(dt / len(chunk), 4)})
            write_outputs(out, out_dir, original=prep.original)
            summary.append((prep.name, out.info["iterations"], out.info["stop_reason"], out.score))
            bar.update(1)
    bar.close()
    for name, it, reason, score in summary:
        print(f"{name}: {it} iterations ({reason}), score {score:.3f}")
    print(f"wrote {len(summary)} result(s) to {out_dir}")
    if problems:
        print(f"inspector-app: error: {len(problems)} input(s) could not be used", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


# --------------------------------------------------------------------------- evaluate
def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="pixel AUROC with and without the projection on an MVTec AD category")
    p.add_argument("--model", required=True, help="model file")
    p.add_argument("--data", required=True, help="MVTec AD category folder (test/, ground_truth/)")
    p.add_argument("--iterations", type=int, default=100, help="maximum iterations, and the figure-5 curve length")
    _add_projection_args(p)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--no-curve", action="store_true", help="skip the per-iteration (figure 5) runs")
    p.add_argument("--json", default=None, help="write all figures to this JSON file")
    p.add_argument("--plot", default=None, help="write the figure-5 curves to this PNG")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(a) -> int:
    import json

    from tqdm import tqdm

    from .core.data import atomic_write_bytes
    from .core.evaluation import evaluate, load_category, markdown_table, plateau_iteration, plot_curve
    from .core.modelio import load_model

    if a.iterations < 1:
        raise UsageError("--iterations must be at least 1")
    if a.batch < 1:
        raise UsageError("--batch must be at least 1")
    a.max_iter = a.iterations
    params = _params_from_args(a)
    if a.plot and a.no_curve:
        raise UsageError("--plot needs the curve; drop --no-curve")
    category = load_category(a.data)
    loaded = load_model(a.model, a.device)
    passes = 1 if a.no_curve else 3
    bar = tqdm(total=passes * len(category.images), unit="image", disable=a.quiet, dynamic_ncols=True,
               desc=f"evaluating {loaded.kind} on {category.name}")
    res = evaluate(loaded, category, params, iterations=a.iterations, batch=a.batch, curve=not a.no_curve,
                   progress=bar.update)
    bar.close()
    print(markdown_table([res]))
    if res["curve"]:
        pp = plateau_iteration(res["curve"], "pixel_auroc_plain")
        pt = plateau_iteration(res["curve"], "pixel_auroc_tuned")
        print(f"figure 5: 95 % of the AUROC gain reached at iteration {pp} (plain step) vs {pt} (eq. 8)")
    if a.json:
        atomic_write_bytes(a.json, json.dumps(res, indent=1).encode())
        print(f"wrote {a.json}")
    if a.plot:
        plot_curve(res, a.plot)
        print(f"wrote {a.plot}")
    return 0


# --------------------------------------------------------------------------- make-dataset
def _add_make_dataset(sub) -> None:
    from .core.datasets import SOURCES

    p = sub.add_parser("make-dataset", help="write a synthetic MVTec-AD-layout category from bundled images")
    p.add_argument("--source", choices=SOURCES, required=True,
                   help="scikit-image textures, a generated grid, or lfw_subset faces")
    p.add_argument("--out", required=True, help="category folder to write")
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-test", type=int, default=60)
    p.add_argument("--image-size", type=int, default=None, help="crop side (default 128; faces 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    p.set_defaults(func=cmd_make_dataset)


def cmd_make_dataset(a) -> int:
    from .core.datasets import make_dataset

    try:
        summary = make_dataset(a.source, Path(a.out), a.n_train, a.n_test, a.seed, a.image_size, overwrite=a.overwrite)
    except FileExistsError as e:
        raise UsageError(str(e)) from None
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
    print(f"wrote {a.source} category to {a.out}: {counts}")
    return 0


# --------------------------------------------------------------------------- gui
def _add_gui(sub) -> None:
    p = sub.add_parser("gui", help="open the inspection window (the default)")
    p.add_argument("--model", default=None, help="model file to open")
    p.add_argument("image", nargs="?", default=None, help="image to open")
    p.set_defaults(func=cmd_gui)


def cmd_gui(a) -> int:
    from .gui.app import run_app

    return run_app(model=getattr(a, "model", None), image=getattr(a, "image", None))


# --------------------------------------------------------------------------- inpaint
def _add_inpaint(sub) -> None:
    from .cli_inpaint import add_inpaint

    add_inpaint(sub)


# --------------------------------------------------------------------------- main
COMMANDS: list[Callable] = [_add_gui, _add_train, _add_project, _add_evaluate, _add_make_dataset, _add_inpaint]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="inspector-app", description=(
        "Anomaly localization by iterative energy-based projection on a normal data manifold "
        "(Dehaene et al., ICLR 2020). With no command, opens the inspection window."))
    parser.add_argument("--version", action="version", version=f"inspector-app {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        a = parser.parse_args(argv)
        if a.command is None:
            return cmd_gui(a)
        return int(a.func(a) or 0)
    except UsageError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        print("inspector-app: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:  # ModelFileError, ImageError, DataError, ProjectionError ...
        return _fail(str(e))
    except RuntimeError as e:  # e.g. CUDA out of memory
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return _fail(msg)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
