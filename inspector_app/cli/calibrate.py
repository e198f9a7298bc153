"""The ``calibrate`` command: fit a model's default threshold, minimum area and stop criterion on
normal images it was not trained on (its validation split), and store them in the model file."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import UsageError, check_ranged, warn

def run_calibration(model, val_images, device, stats, quiet: bool, max_iter: int = 100, deadline: float | None = None,
                    groups=None, defect_kinds=None, report=None):
    """:func:`~inspector_app.core.calibration.calibrate` with a progress line on stderr (images
    projected of the total, rate, ETA; also when stderr is a log file) and ``report(done, total)``
    called as images are projected (the progress protocol's ``calibration`` lines)."""
    from tqdm import tqdm

    from ..core.calibration import MAX_DIVERGED, calibrate, images_projected
    from ..core.defects import TEXTURE_DEFECTS
    from ..core.verdict import fmt_level

    kinds = tuple(defect_kinds or TEXTURE_DEFECTS)
    with tqdm(total=images_projected(len(val_images), len(kinds)), unit="image", disable=quiet, dynamic_ncols=True,
              desc="calibrating on validation", mininterval=1.0) as bar:
        count = [0, bar.total]  # images projected, to project (a disabled bar counts nothing)

        def progress(n: int) -> None:
            count[0] += n
            bar.update(n)
            if report is not None:
                report(*count)

        def step_down(alpha: float, n: int) -> None:  # every step size so far diverged too often
            count[1] += n
            bar.total = count[1]
            bar.refresh()
            bar.write(f"the projection diverged on over {MAX_DIVERGED:.0%} of the validation images at every step "
                      f"size tried: also trying α = {alpha:g}", file=sys.stderr)

        def time_up(n: int) -> None:  # the time limit leaves the remaining step sizes out
            count[1] -= n
            bar.total = count[1]
            bar.refresh()
            if report is not None:
                report(*count)

        if report is not None:
            report(*count)
        cal = calibrate(model, val_images, device, stats, max_iter=max_iter, progress=progress, step_down=step_down,
                        deadline=deadline, groups=groups, defect_kinds=kinds, defects_per_image=len(kinds),
                        time_up=time_up)
    f = cal.figures
    if f.get("skipped_for_time"):
        print(f"calibration: {f['skipped_for_time']}", file=sys.stderr)
    print(f"calibration: threshold {fmt_level(cal.threshold)}, min area {cal.min_area} px, stop {cal.stop} "
          f"(max {cal.max_iter} iterations); on validation: {f['good_passed']:.0%} of good images passed, "
          f"{f['defects_flagged']:.0%} of synthetic defects flagged", file=sys.stderr)
    if weak_calibration(f):
        warn(f"this calibration hardly separates good validation images from synthetic defects "
             f"(robust accuracy {f['robust_accuracy']:.2f}, {f['good_passed']:.0%} of good images passed): "
             "its verdicts are not to be trusted; use more validation images (--val-dir) or --paper-defaults")
    return cal


#: A calibration under these (robust accuracy, share of good validation images passed) is weak.
WEAK_ACCURACY, WEAK_GOOD_PASSED = 0.75, 0.5


def weak_calibration(figures) -> bool:
    """Whether a calibration's validation figures say its verdicts are little better than chance."""
    return (float(figures.get("robust_accuracy", 1.0)) < WEAK_ACCURACY
            or float(figures.get("good_passed", 1.0)) < WEAK_GOOD_PASSED)


def run_inpainting_tuning(model, val_images, device, quiet: bool, max_iter: int, masks: str) -> dict:
    from tqdm import tqdm

    from ..core.inpaint_tuning import tune_masked_inpainting

    from ..core.vocabulary import TuneMasks

    repeats = 3 if masks == TuneMasks.RECT else 2  # (2 masks of each of the 8 families per image)

    with tqdm(total=len(val_images), unit="image", disable=True if quiet else None, dynamic_ncols=True,
              desc="tuning masked inpainting") as bar:
        block = tune_masked_inpainting(model, val_images, device, repeats=repeats, max_iter=max_iter,
                                       masks=masks, progress=bar.update)
    f = block["figures"]
    both = (f"; over all {f['all_cases']} cases with both schedules {f['all_cases_gain']:+.2f} dB, better in "
            f"{f['all_cases_beats_telea']:.0%}" if "all_cases" in f else "")
    print(f"masked inpainting: {block['method']}; inside Ω {f['psnr_mask']:.2f} dB vs Telea "
          f"{f['telea_psnr_mask']:.2f} dB ({f['gain_over_telea']:+.2f} dB, better in {f['beats_telea']:.0%} of "
          f"{f['cases']} validation cases{both})", file=sys.stderr)
    return block


def add_parser(sub) -> None:
    from ..core.ranges import PAPER_MAX_ITER
    from ..core.vocabulary import TuneMasks

    p = sub.add_parser("calibrate", help="fit a model's default threshold, minimum area and stop on validation images")
    p.add_argument("--model", required=True, help="model file (.safetensors from inspector-app train)")
    p.add_argument("--data", required=True,
                   help="the training data folder (its validation images, listed in the model file, are used), "
                        "or with --val-dir a folder of normal images the model was not trained on")
    p.add_argument("--val-dir", action="store_true", help="--data is a folder of held-out normal images")
    p.add_argument("--out", default=None, help="model file to write (default: the model file itself, with --in-place)")
    p.add_argument("--in-place", action="store_true", help="rewrite --model with the calibration")
    p.add_argument("--max-iter", type=int, default=PAPER_MAX_ITER,
                   help="iterations of the validation runs (and of the inpainting ones)")
    p.add_argument("--inpainting", action="store_true",
                   help="also tune masked inpainting (where Ω starts, α, iterations) on the validation images, "
                        "each corrupted by noise inside masks (see --inpainting-masks); the inpaint command and "
                        "window use it")
    p.add_argument("--inpainting-masks", choices=[m.value for m in TuneMasks], default=TuneMasks.FAMILIES.value,
                   help="the masks of --inpainting's tuning: families (default: 2 of each shape a user paints, "
                        "discs, strokes, brush, rectangles, eyes, mouth) or rect (3 noise rectangles of 25-40 %%)")
    p.add_argument("--geometric", action="store_true",
                   help="also paint geometric synthetic defects (warp, fold, displaced and missing pieces) on the "
                        "validation images, so that the threshold is placed where they are caught too (twice the "
                        "defects to project; by default only changes of intensity: stain, scratch, hole, patch)")
    p.add_argument("--whole-images", action="store_true",
                   help="with --val-dir: --data holds whole photographs of good parts; keep the model's step size, "
                        "stop and iterations, and place only the threshold and minimum area on these photographs, "
                        "projected as project projects them (at the working scale, tiled), with synthetic defects "
                        "painted anywhere on them: a threshold that passes whole photographs, not only their tiles")
    p.add_argument("--minutes", type=float, default=None,
                   help="the time limit: the calibration is sized to fit it (fewer iterations, then fewer validation "
                        "images, as train --calibrate-minutes; said before it starts) and no step size starts that "
                        "would end after it; with --whole-images, its time is estimated up front (one "
                        "photograph's projection and scoring measured) and a run that cannot fit is refused at once, writing "
                        "nothing; one that overruns stops with a message, writing nothing (--inpainting's tuning is "
                        "not counted)")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(a) -> int:
    from ..core.data import check_writable, list_images, read_image, training_folder
    from ..core.modelio import load_model, save_model
    from ..core.models import ScriptedAutoEncoder
    from ..core.training import TrainConfig, model_sized_groups

    if a.out is None and not a.in_place:
        raise UsageError("give --out FILE, or --in-place to rewrite the model file")
    out = Path(a.model) if a.out is None else Path(a.out)
    if a.out is not None and out.exists() and out.resolve() != Path(a.model).resolve():
        raise UsageError(f"--out {out} exists; choose another name")
    check_ranged(a, ("max_iter",))  # against core.ranges.RANGES
    loaded = load_model(a.model, a.device)
    if isinstance(loaded.model, ScriptedAutoEncoder):
        raise UsageError(f"{a.model}: a TorchScript model cannot be rewritten; calibrate a .safetensors model")
    check_writable(out)
    if a.whole_images:
        return _run_whole(a, loaded, out)
    cfg = loaded.model.config
    training = loaded.meta.get("training") or {}
    crop = training.get("protocol", "texture crops") == "texture crops"
    tcfg = TrainConfig(cfg, crop=crop)
    if a.val_dir:
        files = list_images(a.data)
        if not files:
            raise UsageError(f"{a.data}: no images")
        val, groups = model_sized_groups([read_image(f, cfg.channels) for f in files], tcfg)
    else:
        names = training.get("val_names")
        if not names:
            raise UsageError(f"{a.model}: the file lists no validation images; use --val-dir with held-out normal images")
        folder = training_folder(a.data)
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise UsageError(f"{folder}: validation image {missing[0]} of this model is not there")
        val, groups = model_sized_groups([read_image(folder / n, cfg.channels) for n in names], tcfg)
    from ..core.geodefects import ALL_DEFECTS

    val, groups, iters, deadline, reduced = _within_minutes(a, loaded, val, groups)
    cal = run_calibration(loaded.model, val, loaded.device, loaded.training_stats, a.quiet, iters, groups=groups,
                          defect_kinds=ALL_DEFECTS if a.geometric else None, deadline=deadline)
    meta = _kept_meta(loaded)
    meta["calibration"] = cal.to_dict()
    if reduced:
        meta["calibration"]["figures"]["reduced_for_time"] = reduced
    if a.inpainting:
        meta["inpainting"] = run_inpainting_tuning(loaded.model, val, loaded.device, a.quiet, a.max_iter,
                                                   a.inpainting_masks)
    save_model(loaded.model, out, meta)
    print(f"wrote {out}: {cal.method}")
    return 0


def _within_minutes(a, loaded, val, groups):
    """``--minutes``: (the validation tiles and their groups, the iterations, the deadline, what the
    limit took away) of the largest calibration whose estimate (measured on the model) fits it."""
    import time

    from ..core import calibration_budget as cb
    from ..core.calibration import images_projected

    if a.minutes is None:
        return val, groups, a.max_iter, None, ""
    if not a.minutes > 0:
        raise UsageError(f"--minutes must be positive, got {a.minutes:g}")
    rates = cb.measure(loaded.model, val[0].shape, loaded.device, batch=min(32, images_projected(len(val))))
    plan = cb.plan(rates, len(val), a.max_iter, a.minutes)
    keep = cb.subset(list(range(len(val))), plan.n_images)
    if not a.quiet:
        print(f"calibrating for about {plan.seconds:.0f} s ({plan.n_images} validation images, {plan.max_iter} "
              f"iteration{'' if plan.max_iter == 1 else 's'}"
              + (f"; to fit --minutes {a.minutes:g}: {plan.reduced})" if plan.reduced else ")"), file=sys.stderr, flush=True)
    return ([val[i] for i in keep], None if groups is None else [groups[i] for i in keep], plan.max_iter,
            time.monotonic() + 60.0 * a.minutes, plan.reduced)


def _kept_meta(loaded) -> dict:
    """The model file's metadata that a rewrite keeps (what save_model writes again is left out)."""
    return {k: v for k, v in loaded.meta.items() if k not in ("format", "kind", "image_size", "channels", "latent",
                                                             "norm", "loss", "version")}


def _whole_fits(a, loaded, photos, per_photo: int, deadline: float) -> None:
    """``--whole-images --minutes``: the time estimated up front (one photograph's projection and
    scoring measured), said on stderr; :class:`UsageError` at once when it exceeds the time left."""
    import math
    import time

    from ..core.calibration_budget import MARGIN
    from ..core.calibration_whole import estimate_whole

    try:
        est = estimate_whole(loaded, photos, per_photo=per_photo)
    except ValueError as e:  # an image smaller than the model, a model that cannot tile it
        raise UsageError(f"calibrate --whole-images: {e}") from None
    left = deadline - time.monotonic()
    what = (f"{est.n_images} images to project and score; one photograph's projection took {est.measured:.2g} s for "
            f"{est.iterations} iteration{'' if est.iterations == 1 else 's'}, its scoring {est.scoring:.2g} s")
    if est.seconds > left:
        need = max(math.ceil(10 * est.seconds / (60 * MARGIN)) / 10, 0.1)
        raise UsageError(f"calibrate --whole-images: it would take about {est.seconds:.0f} s ({what}), "
                         f"more than the {max(left, 0):.0f} s left of --minutes {a.minutes:g}; nothing was written: "
                         f"give --minutes {need:g} or more, or fewer photographs")
    if not a.quiet:
        print(f"calibrating on whole photographs for about {est.seconds:.0f} s ({what})", file=sys.stderr, flush=True)


def _run_whole(a, loaded, out: Path) -> int:
    """``calibrate --whole-images``: :func:`~inspector_app.core.calibration_whole.calibrate_whole`."""
    import time

    from tqdm import tqdm

    from ..core.calibration_whole import CalibrationTimeout, calibrate_whole, images_projected
    from ..core.data import list_images, read_image
    from ..core.defects import TEXTURE_DEFECTS
    from ..core.geodefects import ALL_DEFECTS
    from ..core.modelio import save_model
    from ..core.verdict import fmt_level

    if not a.val_dir:
        raise UsageError("--whole-images needs --val-dir: --data must be a folder of whole good photographs "
                         "the model was not calibrated on")
    if a.inpainting:
        raise UsageError("--whole-images places the threshold only; calibrate --inpainting on its own")
    if a.minutes is not None and not a.minutes > 0:
        raise UsageError(f"--minutes must be positive, got {a.minutes:g}")
    files = list_images(a.data)
    if not files:
        raise UsageError(f"{a.data}: no images")
    photos = [read_image(f, loaded.model.config.channels) for f in files]
    deadline = None if a.minutes is None else time.monotonic() + 60.0 * a.minutes
    kinds = ALL_DEFECTS if a.geometric else TEXTURE_DEFECTS  # one of each kind on each photograph
    if deadline is not None:
        _whole_fits(a, loaded, photos, len(kinds), deadline)
    with tqdm(total=images_projected(len(photos), len(kinds)), unit="image", disable=True if a.quiet else None,
              dynamic_ncols=True, desc="calibrating on whole photographs") as bar:
        try:
            cal = calibrate_whole(loaded, photos, defect_kinds=kinds, per_photo=len(kinds), progress=bar.update,
                                  deadline=deadline)
        except CalibrationTimeout as e:
            raise UsageError(f"calibrate --whole-images: {e} (--minutes {a.minutes:g}); nothing was written") from None
        except ValueError as e:  # an image smaller than the model, a model that cannot tile it
            raise UsageError(f"calibrate --whole-images: {e}") from None
    f = cal.figures
    print(f"calibration on {len(photos)} whole photograph{'' if len(photos) == 1 else 's'}: threshold {fmt_level(cal.threshold)}, min area "
          f"{cal.min_area} px, margin {cal.margin} px (was {fmt_level(f['kept_from']['threshold'])}, "
          f"{f['kept_from']['min_area']} px); "
          f"{f['good_passed']:.0%} of the photographs passed, {f['defects_flagged']:.0%} of synthetic defects flagged",
          file=sys.stderr)
    if weak_calibration(f):  # as run_calibration says it for tiles
        warn(f"this calibration hardly separates good whole photographs from synthetic defects (robust "
             f"accuracy {f['robust_accuracy']:.2f}, {f['good_passed']:.0%} of the photographs passed): its verdicts "
             "are not to be trusted; calibrate on more photographs, or train the model longer or on more of them")
    meta = _kept_meta(loaded)
    meta["calibration"] = cal.to_dict()
    save_model(loaded.model, out, meta)
    print(f"wrote {out}: {cal.method}")
    return 0
