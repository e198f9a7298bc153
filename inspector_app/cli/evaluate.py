"""The ``evaluate`` command: table 1 and figure 5 of the paper on an MVTec AD category, and the
verdicts the model's defaults give on its test images."""

from __future__ import annotations

from .common import (MARGIN_HELP, UsageError, add_projection_flags, check_ranged, finite_float, params_from_args,
                     resolved_settings, warn, warn_not_learned)
from .ray_pool import add_ray_flags


def add_parser(sub) -> None:
    from ..core.ranges import PAPER_ALPHA, PAPER_MAX_ITER, PAPER_STOP, PAPER_THRESHOLD, default

    p = sub.add_parser("evaluate", help="pixel AUROC with and without the projection on an MVTec AD category")
    p.add_argument("--model", required=True, help="model file")
    p.add_argument("--data", required=True, help="MVTec AD category folder (test/, ground_truth/); images of any size are "
                   "scored at the model's working scale")
    add_projection_flags(p, defaults={"max_iter": None, "stop": None, "alpha": None, "margin": None}, helps={
        "alpha": f"step size α of eq. 5 (learning rate for Adam) (default: the model's calibration, else {PAPER_ALPHA:g})",
        "margin": MARGIN_HELP,
        "max_iter": f"maximum iterations of the main projection (default: the model's calibration, else {PAPER_MAX_ITER})",
        "stop": f"stop criterion of the main projection (default: the model's calibration, else {PAPER_STOP})"})
    p.add_argument("--threshold", type=finite_float, default=None,
                   help=f"DSSIM threshold of the verdicts (default: the model's calibration, else {PAPER_THRESHOLD:g})")
    p.add_argument("--min-area", type=int, default=None,
                   help="smallest defect region, in pixels at the model's working scale (default: calibration)")
    p.add_argument("--paper-defaults", action="store_true", help="the paper's threshold, area and stop, not the calibration")
    p.add_argument("--iterations", type=int, default=default("iterations"), help="length of the figure-5 curves")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--no-curve", action="store_true", help="skip the per-iteration (figure 5) runs")
    p.add_argument("--json", default=None, help="write all figures to this JSON file")
    p.add_argument("--plot", default=None, help="write the figure-5 curves to this PNG")
    p.add_argument("--overwrite", action="store_true", help="replace --json / --plot when they exist")
    p.add_argument("--quiet", action="store_true")
    add_ray_flags(p, "run the projections")
    p.set_defaults(func=run)


def run(a) -> int:
    import json
    import os

    from tqdm import tqdm

    from ..core.data import check_writable
    from ..core.evaluation import evaluate, load_category, run_passes
    from ..core.evaluation_report import diverged_note, markdown_table, plateau_iteration, plot_curve
    from ..core.modelio import json_safe, load_model
    from ..core.outputs import OutputGuard, data_files

    if a.ray is not None:
        from .ray_pool import check_ray_flags

        check_ray_flags(a)  # Ray installed, the address and worker counts: before anything else
    check_ranged(a, ("iterations", "batch", "threshold", "min_area"))  # against core.ranges.RANGES
    if a.plot and a.no_curve:
        raise UsageError("--plot needs the curve; drop --no-curve")
    params_from_args(a)
    # bundled=True: the model card's figures go to resources/models/eval (resources/models/evaluate.sh)
    guard = OutputGuard(inputs=[a.model, *data_files(a.data)], overwrite=a.overwrite, bundled=True,
                        hint="choose another file or add --overwrite")
    if a.json and a.plot and os.path.realpath(a.json) == os.path.realpath(a.plot):  # the plot replaced the JSON
        raise UsageError(f"--json and --plot name the same file ({a.json}); give each its own name")
    for target in (a.json, a.plot):
        if target:
            guard.check(target)  # never an input, a device or someone's file
            check_writable(target)  # before the computation, not after
    category = load_category(a.data)
    loaded = load_model(a.model, "cpu" if a.ray else a.device)  # with --ray, the workers load it where they run
    warn_not_learned(a.model, loaded.meta)
    params, threshold, min_area, source = resolved_settings(a, loaded.meta)
    passes = 1 if a.no_curve else 3
    bar = tqdm(total=passes * len(category.images), unit="image", disable=True if a.quiet else None, dynamic_ncols=True,
               desc=f"evaluating {loaded.kind} on {category.name}")
    if a.ray:
        from .evaluate_ray import RayPasses

        runner = RayPasses(a)  # the same passes, batch by batch on the workers
    res = evaluate(loaded, category, params, threshold=threshold, min_area=min_area, iterations=a.iterations,
                   batch=a.batch, curve=not a.no_curve, progress=bar.update, passes=runner if a.ray else run_passes)
    bar.close()
    if a.ray:
        res["device"] = runner.device  # the workers', not this process's copy of the model
    res["threshold_source"] = source
    diverged = _diverged(res)  # every run diverged: no figures; some: said after the table
    print(markdown_table([res]))
    if diverged:
        warn(diverged)
    if res["curve"]:
        def reached(key):
            t = plateau_iteration(res["curve"], f"pixel_auroc_{key}")
            return ("no gain" if t is None else f"iteration {t}") + diverged_note(res, key)

        print(f"figure 5: 95 % of the AUROC gain reached at: {reached('plain')} (plain step); "
              f"{reached('tuned')} (eq. 8)")
    if a.json:
        guard.write_bytes(a.json, json.dumps(json_safe(res), indent=1, allow_nan=False).encode())
        print(f"wrote {a.json}")
    if a.plot:
        plot_curve(res, guard.check(a.plot))
        print(f"wrote {a.plot}")
    return 0


def _diverged(res) -> str:
    """A warning when the main projection diverged on some images (their maps are an early
    iterate's); when it diverged on every one, a refusal without the figure-5 curves (the table
    would be that of x0), else a warning (the curves show where each update diverges)."""
    n, total = int(res["grad"]["stop_reasons"].get("diverged", 0)), int(res["n_images"])
    alpha = float(res["params"]["alpha"])
    hint = f"use a smaller --alpha (e.g. {alpha / 10:.3g}) or --optimizer adam"
    if n and n == total and not res.get("curve"):
        raise UsageError(f"the projection diverged with α = {alpha:g} on every image ({n} of {total}): the energy "
                         f"rose instead of falling, so there are no figures to give; {hint}")
    return (f"the projection diverged with α = {alpha:g} on {n} of {total} images: their maps are those of an "
            f"early iterate; {hint}") if n else ""
