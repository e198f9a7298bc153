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
    from .core.models import KINDS, NORMS
    from .core.training import AUGMENTATIONS, TrainConfig

    d = TrainConfig(model=None)  # type: ignore[arg-type]  # defaults only
    p = sub.add_parser("train", help="train an autoencoder on normal images")
    p.add_argument("--arch", choices=KINDS, required=True, help="model kind (section 4.1)")
    p.add_argument("--data", required=True, help="folder of normal images, or an MVTec category (train/good is used)")
    p.add_argument("--out", required=True, help="model file to write (.safetensors)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--image-size", type=int, default=128, help="multiple of 32 (default 128)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=1)
    p.add_argument("--latent", type=int, default=100)
    p.add_argument("--norm", choices=NORMS, default="batch",
                   help="normalisation after each convolution but the last (default batch; none: Bergmann's exact net)")
    p.add_argument("--max-steps", type=int, default=d.max_steps, help="cap on training steps (default %(default)s)")
    p.add_argument("--max-minutes", type=float, default=None, help="cap on wall-clock minutes")
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate after warm-up (default %(default)s)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="linear warm-up steps")
    p.add_argument("--crop", action="store_true", help="texture protocol: random crops (else rotation/translation)")
    p.add_argument("--augment", default=",".join(d.augment),
                   help=f"comma-separated, from {', '.join(AUGMENTATIONS)}, or none (default %(default)s)")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="share of the images held out for validation and calibration")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between validation evaluations")
    p.add_argument("--patience", type=int, default=d.patience,
                   help="evaluations without improvement before the rate is cut (or training stops)")
    p.add_argument("--checkpoint-minutes", type=float, default=d.checkpoint_minutes)
    p.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue from OUT.checkpoint")
    p.add_argument("--no-calibrate", action="store_true", help="skip the calibration on the validation split")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--description", default=None, help="training-data description stored in the file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def _train_config(a):
    from .core.models import ModelConfig
    from .core.training import TrainConfig

    augment = () if a.augment.strip().lower() in ("", "none") else tuple(s.strip() for s in a.augment.split(","))
    try:
        mcfg = ModelConfig(a.arch, a.image_size, a.channels, a.latent, a.norm).validate()
        return TrainConfig(
            mcfg, max_steps=a.max_steps, max_minutes=a.max_minutes, batch=a.batch, lr=a.lr, warmup=a.warmup,
            crop=a.crop, augment=augment, val_fraction=a.val_fraction, eval_every=a.eval_every,
            patience=a.patience, checkpoint_minutes=a.checkpoint_minutes, seed=a.seed,
        ).validate()
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_train(a) -> int:
    from tqdm import tqdm

    from .core.data import check_writable, load_training_images
    from .core.modelio import resolve_device, save_model
    from .core.training import train, training_metadata, training_statistics

    out = Path(a.out)
    if out.suffix != ".safetensors":
        raise UsageError(f"--out {out}: the model file must end in .safetensors")
    if out.exists() and not a.overwrite:
        raise UsageError(f"--out {out} exists; choose another name or add --overwrite")
    tcfg = _train_config(a)
    checkpoint = out.with_suffix(".checkpoint")
    check_writable(out)  # before any computation: a training run must not be lost at the end
    device = resolve_device(a.device)
    images, folder, names = load_training_images(a.data, a.channels, with_names=True)
    bar = tqdm(total=tcfg.max_steps, unit="step", disable=a.quiet, dynamic_ncols=True,
               desc=f"{a.arch} on {len(images)} images", initial=0)

    def progress(state, running: float) -> None:
        bar.n = state.step
        val = state.val_curve[-1][1] if state.val_curve else float("nan")
        bar.set_postfix(loss=f"{running:.4g}", val=f"{val:.4g}", refresh=False)
        bar.refresh() if state.step % 10 == 0 else None

    res = train(images, names, tcfg, device, progress, checkpoint=checkpoint, resume=a.resume)
    bar.close()
    st = res.state
    if res.interrupted:
        print(f"interrupted after {st.step} steps: saving the best model so far; "
              f"--resume {checkpoint} continues", file=sys.stderr)
    # Ctrl-C during the statistics, the calibration or the save must not leave a half file
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        stats = training_statistics(res.model, [images[names.index(n)] for n in res.train_names], tcfg, device)
        meta = {
            "training_stats": stats,
            "training": training_metadata(res, device, a.description or str(Path(a.data)), str(folder)),
        }
        res.model.training_stats = stats
        if not a.no_calibrate and res.val_names:
            from .core.training import model_sized

            val = model_sized([images[names.index(n)] for n in res.val_names], tcfg)
            meta["calibration"] = _run_calibration(res.model, val, device, stats, a.quiet).to_dict()
        save_model(res.model, out, meta)
    finally:
        signal.signal(signal.SIGINT, old)
    if not res.interrupted and checkpoint.exists():
        checkpoint.unlink()
    fve = meta["training"]["best_val_fve"]
    print(
        f"saved {out}: {a.arch} ({tcfg.model.norm} norm), {st.step} steps in {st.seconds / 60:.1f} min "
        f"(stopped: {st.stop_reason}), validation Lr {st.best_val:.4g}"
        + (f", variance explained {fve:.2f}" if fve is not None else "")
        + f", training Lr min {stats['min']:.4g} mean {stats['mean']:.4g} over {stats['n']} images"
    )
    return 0


# --------------------------------------------------------------------------- calibrate
def _run_calibration(model, val_images, device, stats, quiet: bool, max_iter: int = 100):
    from tqdm import tqdm

    from .core.calibration import calibrate

    with tqdm(total=len(val_images) * 3, unit="image", disable=quiet, dynamic_ncols=True,
              desc="calibrating on validation") as bar:
        cal = calibrate(model, val_images, device, stats, max_iter=max_iter, progress=bar.update)
    f = cal.figures
    print(f"calibration: threshold {cal.threshold:.3f}, min area {cal.min_area} px, stop {cal.stop} "
          f"(max {cal.max_iter} iterations); on validation: {f['good_passed']:.0%} of good images passed, "
          f"{f['defects_flagged']:.0%} of synthetic defects flagged", file=sys.stderr)
    return cal


def _add_calibrate(sub) -> None:
    p = sub.add_parser("calibrate", help="fit a model's default threshold, minimum area and stop on validation images")
    p.add_argument("--model", required=True, help="model file (.safetensors from inspector-app train)")
    p.add_argument("--data", required=True,
                   help="the training data folder (its validation images, listed in the model file, are used), "
                        "or with --val-dir a folder of normal images the model was not trained on")
    p.add_argument("--val-dir", action="store_true", help="--data is a folder of held-out normal images")
    p.add_argument("--out", default=None, help="model file to write (default: the model file itself, with --in-place)")
    p.add_argument("--in-place", action="store_true", help="rewrite --model with the calibration")
    p.add_argument("--max-iter", type=int, default=100, help="iterations of the validation runs")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(a) -> int:
    from .core.data import check_writable, load_training_images, list_images, read_image
    from .core.modelio import load_model, save_model
    from .core.models import ScriptedAutoEncoder
    from .core.training import TrainConfig, model_sized

    if a.out is None and not a.in_place:
        raise UsageError("give --out FILE, or --in-place to rewrite the model file")
    out = Path(a.model) if a.out is None else Path(a.out)
    if a.out is not None and out.exists() and out.resolve() != Path(a.model).resolve():
        raise UsageError(f"--out {out} exists; choose another name")
    if a.max_iter < 1:
        raise UsageError("--max-iter must be at least 1")
    loaded = load_model(a.model, a.device)
    if isinstance(loaded.model, ScriptedAutoEncoder):
        raise UsageError(f"{a.model}: a TorchScript model cannot be rewritten; calibrate a .safetensors model")
    check_writable(out)
    cfg = loaded.model.config
    training = loaded.meta.get("training") or {}
    crop = training.get("protocol", "texture crops") == "texture crops"
    tcfg = TrainConfig(cfg, crop=crop)
    if a.val_dir:
        files = list_images(a.data)
        if not files:
            raise UsageError(f"{a.data}: no images")
        val = model_sized([read_image(f, cfg.channels) for f in files], tcfg)
    else:
        names = training.get("val_names")
        if not names:
            raise UsageError(f"{a.model}: the file lists no validation images; use --val-dir with held-out normal images")
        images, _, all_names = load_training_images(a.data, cfg.channels, with_names=True)
        missing = [n for n in names if n not in all_names]
        if missing:
            raise UsageError(f"{a.data}: validation image {missing[0]} of this model is not there")
        val = model_sized([images[all_names.index(n)] for n in names], tcfg)
    cal = _run_calibration(loaded.model, val, loaded.device, loaded.training_stats, a.quiet, a.max_iter)
    meta = {k: v for k, v in loaded.meta.items() if k not in ("format", "kind", "image_size", "channels", "latent",
                                                             "norm", "loss", "version")}
    meta["calibration"] = cal.to_dict()
    save_model(loaded.model, out, meta)
    print(f"wrote {out}: {cal.method}")
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
COMMANDS: list[Callable] = [_add_gui, _add_train, _add_calibrate, _add_project, _add_evaluate, _add_make_dataset, _add_inpaint]


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
