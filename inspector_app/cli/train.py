"""The ``train`` command: an autoencoder on normal images, its statistics and its calibration."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from . import train_progress as tp
from .common import UsageError, finite_float, warn

def add_parser(sub) -> None:
    from ..core.models import KINDS, NORMS
    from ..core.training import AUGMENTATIONS, TrainConfig

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
    p.add_argument("--max-minutes", type=finite_float, default=None, help="cap on training minutes (wall clock, counted over resumed runs too)")
    p.add_argument("--calibrate-minutes", type=finite_float, default=None,
                   help="cap on the calibration after training: fewer iterations, then fewer validation images, "
                        "so that its estimate fits (the time both will take is printed before training starts)")
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--lr", type=finite_float, default=d.lr, help="Adam learning rate after warm-up (default %(default)s)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="linear warm-up steps")
    p.add_argument("--crop", action="store_true", help="texture protocol: random crops (else rotation/translation)")
    p.add_argument("--augment", default=",".join(d.augment),
                   help=f"comma-separated, from {', '.join(AUGMENTATIONS)}, or none (default %(default)s; noise: a denoising autoencoder, for inpainting; masks: the same on masks of every shape; warp: f learns to straighten a locally bent texture, for geometric defects)")
    p.add_argument("--kl-weight", type=finite_float, default=d.kl_weight,
                   help="β: weight of the VAEs' KL term in training (default %(default)s, the plain ELBO)")
    p.add_argument("--kl-warmup", type=int, default=d.kl_warmup,
                   help="steps over which β rises linearly from 0 (default %(default)s: no warm-up)")
    p.add_argument("--val-fraction", type=finite_float, default=d.val_fraction,
                   help="share of the images held out for validation and calibration")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between validation evaluations")
    p.add_argument("--eval-seconds", type=finite_float, default=None,
                   help="also evaluate when this many seconds passed since the last evaluation (a slow machine "
                        "whose --max-minutes binds still shows a validation loss)")
    p.add_argument("--patience", type=int, default=d.patience,
                   help="evaluations without improvement before the rate is cut (or training stops)")
    p.add_argument("--checkpoint-minutes", type=finite_float, default=d.checkpoint_minutes)
    p.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue from OUT.checkpoint")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start from this model file's weights (an L2AE may start a DSAE, a VAE a GVAE)")
    p.add_argument("--no-calibrate", action="store_true", help="skip the calibration on the validation split")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--description", default=None, help="training-data description stored in the file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--progress-jsonl", default=None, metavar="FILE",
                   help="write the progress protocol (JSON lines, README 'Training progress protocol') to FILE "
                        "(- for standard output)")
    p.add_argument("--skip-unreadable", action="store_true",
                   help="skip the images that cannot be read (named on stderr and in the progress protocol) "
                        "instead of refusing the folder")
    p.add_argument("--pause-file", default=None, metavar="FILE",
                   help="when FILE appears, stop after the current step, keep the checkpoint and exit with "
                        "status 3 without a model file (--resume continues)")
    p.set_defaults(func=run)


def _train_config(a):
    from ..core.models import ModelConfig
    from ..core.training import TrainConfig

    augment = () if a.augment.strip().lower() in ("", "none") else tuple(s.strip() for s in a.augment.split(","))
    try:
        mcfg = ModelConfig(a.arch, a.image_size, a.channels, a.latent, a.norm).validate()
        return TrainConfig(
            mcfg, max_steps=a.max_steps, max_minutes=a.max_minutes, batch=a.batch, lr=a.lr, warmup=a.warmup,
            crop=a.crop, augment=augment, kl_weight=a.kl_weight, kl_warmup=a.kl_warmup, val_fraction=a.val_fraction, eval_every=a.eval_every,
            eval_seconds=a.eval_seconds,
            patience=a.patience, checkpoint_minutes=a.checkpoint_minutes, seed=a.seed,
            init=None if a.init is None else str(Path(a.init).resolve()),
        ).validate()
    except ValueError as e:
        raise UsageError(str(e)) from None


class _GracefulInterrupt:
    """The first Ctrl-C asks training to stop after the current step (so the checkpoint is
    consistent); a second one interrupts at once."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __call__(self) -> bool:
        return self.requested

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupt: stopping after this step (Ctrl-C again to stop at once)", file=sys.stderr)

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: no handler, Ctrl-C raises as usual
            self._old = None
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


#: Iterations of the calibration's validation runs (the ``calibrate`` command's default).
CALIBRATION_ITERATIONS = 100


def _plan_after_training(a, tcfg, device, names, images):
    """Say, before training starts, how long the statistics and the calibration after it will take
    (measured on a fresh model of the same kind), and size the calibration to --calibrate-minutes.
    Textures (``--crop``) count the working-scale tiles of each photograph: what both go through."""
    from ..core import calibration_budget as cb
    from ..core.calibration import images_projected
    from ..core.data import eval_image_count, split_validation
    from ..core.models import create_model

    if a.calibrate_minutes is not None and not a.calibrate_minutes > 0:
        raise UsageError(f"--calibrate-minutes must be a positive number, got {a.calibrate_minutes:g}")
    tr_idx, val_idx = split_validation(names, tcfg.val_fraction, tcfg.seed)
    calibrating = not a.no_calibrate and bool(val_idx)
    m, size = tcfg.model, tcfg.model.image_size
    n_tr, n_val = (eval_image_count([images[i].shape for i in idx], size, tcfg.crop) for idx in (tr_idx, val_idx))
    shape = (size, size) if m.channels == 1 else (size, size, m.channels)
    rates = cb.measure(create_model(m).to(device), shape, device,
                       batch=min(32, images_projected(n_val) if calibrating else n_tr))
    plan = (cb.plan(rates, n_val, CALIBRATION_ITERATIONS, a.calibrate_minutes,
                    unit="validation tiles" if tcfg.crop else "validation images") if calibrating else None)
    if not a.quiet:
        cap = f"{tcfg.max_steps} steps" + (f" or {a.max_minutes:g} min" if a.max_minutes is not None else "")
        after = f"about {_duration(cb.statistics_seconds(rates, n_tr))} for the training-loss statistics"
        if plan is not None:
            after += (f" and {_duration(plan.seconds)} for the calibration ({_calibrated(plan, len(val_idx), tcfg)}, "
                      f"{plan.max_iter} iteration{'' if plan.max_iter == 1 else 's'}"
                      + (f"; to fit --calibrate-minutes {a.calibrate_minutes:g}: {plan.reduced}" if plan.reduced else "")
                      + (")" if a.calibrate_minutes is not None else "; --calibrate-minutes bounds it)"))
        print(f"training for up to {cap}, then {after}", file=sys.stderr, flush=True)
    return plan


def _calibrated(plan, n_photos: int, tcfg) -> str:
    """What the calibration of ``plan`` projects, in words: its validation images, or for textures
    its tiles of the ``n_photos`` validation photographs."""
    n = plan.n_images
    if not tcfg.crop:
        return f"{n} validation image{'' if n == 1 else 's'}"
    return f"{n} tile{'' if n == 1 else 's'} of the {n_photos} validation image{'' if n_photos == 1 else 's'}"


def _calibrate_within(a, res, tcfg, device, stats, plan, val_images, writer=None) -> dict:
    """The calibration of ``plan`` (a subset and fewer iterations when a budget asked for them), its
    progress also written as the protocol's ``calibration`` lines when ``writer``. The plan counts
    what is projected: a texture's tiles, which are taken evenly over every validation photograph."""
    import time

    from ..core.calibration_budget import subset
    from ..core.training import model_sized_groups
    from .calibrate import run_calibration

    t = time.monotonic()
    deadline = None if a.calibrate_minutes is None else t + 60.0 * a.calibrate_minutes
    tiles, groups = model_sized_groups(val_images, tcfg)
    n, iters = (plan.n_images, plan.max_iter) if plan is not None else (len(tiles), CALIBRATION_ITERATIONS)
    keep = subset(list(range(len(tiles))), n)
    tiles, groups = [tiles[i] for i in keep], None if groups is None else [groups[i] for i in keep]
    limit_s = None if a.calibrate_minutes is None else 60.0 * a.calibrate_minutes
    report = None if writer is None else (lambda done, total: writer.calibration(done, total, limit_s))
    cal = run_calibration(res.model, tiles, device, stats, a.quiet, iters, deadline=deadline, groups=groups,
                          report=report).to_dict()
    if plan is not None and plan.reduced:
        cal["figures"]["reduced_for_time"] = plan.reduced
    if not a.quiet:
        print(f"calibrated in {_duration(time.monotonic() - t)}"
              + (f" (estimated {_duration(plan.seconds)})" if plan is not None else ""), file=sys.stderr)
    return cal


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def run(a) -> int:
    from ..core.data import check_writable
    from ..core.progress_protocol import ProgressWriter

    out = Path(a.out)
    if out.suffix != ".safetensors":
        raise UsageError(f"--out {out}: the model file must end in .safetensors")
    if out.exists() and not a.overwrite:
        raise UsageError(f"--out {out} exists; choose another name or add --overwrite")
    from ..core.outputs import OutputGuard

    OutputGuard(inputs=[a.init], overwrite=True, bundled=True).check(out)  # never --init's model, nor a device
    tcfg = _train_config(a)
    checkpoint = out.with_suffix(".checkpoint")
    if checkpoint.exists() and (a.resume is None or Path(a.resume).resolve() != checkpoint.resolve()):
        # the run writes its checkpoints there and removes the file when it ends: never someone's file
        raise UsageError(f"{checkpoint} exists (this run would keep its checkpoint there); --resume {checkpoint} "
                         "continues the run that wrote it, else move it away or choose another --out")
    check_writable(out)  # before any computation: a training run must not be lost at the end
    stream = tp.open_stream(a.progress_jsonl, out)
    writer = None if stream is None else ProgressWriter(stream, tcfg.max_steps, tcfg.max_minutes)
    try:
        if writer is not None:
            writer.phase("loading", data=str(a.data))
        return _run(a, out, tcfg, checkpoint, writer)
    except Exception as e:  # the protocol says why, then the command's one line does
        if writer is not None:
            writer.phase("failed", message=str(e))
        raise
    finally:
        if stream is not None and stream is not sys.stdout:
            stream.close()


def _run(a, out: Path, tcfg, checkpoint: Path, writer) -> int:
    from ..core.data import load_training_images
    from ..core.model_fit import not_learned_warning
    from ..core.modelio import resolve_device
    from ..core.training import train

    device = resolve_device(a.device)
    if a.skip_unreadable:
        images, folder, names = tp.load_skipping(a.data, a.channels, rep_phase=writer)
    else:
        images, folder, names = load_training_images(a.data, a.channels, with_names=True)
    plan = _plan_after_training(a, tcfg, device, names, images)
    rep = tp.Reporter(a, tcfg, len(images), writer)
    rep.device = device
    rep.phase("training", n_images=len(images), checkpoint=str(checkpoint))
    stop, pause = _GracefulInterrupt(), tp.PauseFile(a.pause_file)
    with stop:
        res = train(images, names, tcfg, device, rep.progress, should_stop=lambda: stop() or pause(),
                    checkpoint=checkpoint, resume=a.resume, on_evaluate=rep.evaluated)
    rep.close()
    st = res.state
    if pause.requested and not stop.requested:
        rep.phase("paused", step=st.step, checkpoint=str(checkpoint))
        print(f"paused after {st.step} steps: --resume {checkpoint} continues", file=sys.stderr)
        return tp.PAUSED_STATUS
    res.interrupted = res.interrupted or stop.requested
    if res.interrupted:
        print(f"interrupted after {st.step} steps: saving the best model so far; "
              f"--resume {checkpoint} continues", file=sys.stderr)
    calibrating = not a.no_calibrate and bool(res.val_names)
    if not a.quiet:  # the steps' bar stops here; without this line a log would look stuck for minutes
        print(f"training ended after {st.step} steps ({st.stop_reason}); computing the training-loss statistics"
              + ((f" and calibrating on {_calibrated(plan, len(res.val_names), tcfg)}" if plan else
                  f" and calibrating on {len(res.val_names)} validation images") if calibrating else "")
              + " before saving", file=sys.stderr, flush=True)
    try:
        meta = _save(a, rep, res, tcfg, device, plan, images, names, folder)
    except OSError as e:  # a full disk: the trained weights are in the checkpoint, which a resume saves
        from ..core.outputs import WriteFailed

        if not isinstance(e, WriteFailed) or not checkpoint.exists():
            raise
        raise UsageError(f"{e}; the training is kept in {checkpoint}: free some space, then resume from it "
                         f"(train … --resume {checkpoint}, or Resume in the window)") from None
    if not res.interrupted and checkpoint.exists():
        checkpoint.unlink()
    fve = meta["training"]["best_val_fve"]
    _say_saved(a, out, tcfg, res, meta)
    unlearned = not_learned_warning(meta)
    if unlearned:
        warn(unlearned)
    cal = meta.get("calibration", {}).get("figures", {})
    rep.phase("done", out=str(out), steps=st.step, val_fve=fve, good_passed=cal.get("good_passed"),
              defects_flagged=cal.get("defects_flagged"), warning=unlearned)
    return 0


def _say_saved(a, out: Path, tcfg, res, meta: dict) -> None:
    """The run's line on standard output; with no image held out for validation (one image, or
    ``--val-fraction 0``), a warning that nothing checked or calibrated the model."""
    st, fve, stats = res.state, meta["training"]["best_val_fve"], meta["training_stats"]
    print(
        f"saved {out}: {a.arch} ({tcfg.model.norm} norm), {st.step} steps in {st.seconds / 60:.1f} min "
        f"(stopped: {st.stop_reason}), " + (f"validation Lr {st.best_val:.4g}" if res.val_names else "no validation images")
        + (f", variance explained {fve:.2f}" if fve is not None else "")
        + f", training Lr min {stats['min']:.4g} mean {stats['mean']:.4g} over {stats['n']} images"
    )
    if not res.val_names:
        warn(f"no validation images (all {len(res.train_names)} used for training): the model is not "
             "calibrated (the paper's defaults apply) and nothing checked that it learned its images; train on more "
             "images, or calibrate --val-dir with good images it was not trained on")


def _save(a, rep, res, tcfg, device, plan, images, names, folder) -> dict:
    """The training-loss statistics, the calibration and the model file (Ctrl-C ignored meanwhile:
    it must not leave a half file); the file's metadata."""
    from ..core.modelio import save_model
    from ..core.training_record import training_metadata, training_statistics, working_scale

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        rep.phase("statistics")
        stats = training_statistics(res.model, [images[names.index(n)] for n in res.train_names], tcfg, device)
        meta = {
            "training_stats": stats,
            "training": training_metadata(res, device, a.description or str(Path(a.data)), str(folder)),
            "working_scale": working_scale(tcfg),
        }
        res.model.training_stats = stats
        if not a.no_calibrate and res.val_names:
            rep.phase("calibrating", n_images=plan.n_images if plan else len(res.val_names),
                      n_photographs=len(res.val_names) if tcfg.crop else None,  # the tiles' photographs
                      estimate_s=round(plan.seconds, 1) if plan else None,
                      limit_s=None if a.calibrate_minutes is None else 60.0 * a.calibrate_minutes)
            meta["calibration"] = _calibrate_within(a, res, tcfg, device, stats, plan,
                                                    [images[names.index(n)] for n in res.val_names], rep.writer)
        rep.phase("saving")
        save_model(res.model, Path(a.out), meta)
    finally:
        signal.signal(signal.SIGINT, old)
    return meta
