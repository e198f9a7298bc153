"""The ``inspector-app inpaint`` command: blind vs masked inpainting side by side (section 4.2).

Registered in :data:`inspector_app.cli.COMMANDS` through :func:`add_inpaint`. Writes, for an
image ``NAME.png``: ``NAME_corrupted.png``, ``NAME_reconstruction.png`` (f(x0)),
``NAME_blind.png`` (eq. 8, no mask), ``NAME_masked.png`` (eq. 7 with Ω, pixels outside Ω
bit-identical to the input), ``NAME_telea.png`` (OpenCV), ``NAME_ground_truth.png`` when given,
and ``NAME_inpaint.json`` with every parameter, the stop reasons and the PSNR/SSIM figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .common import UsageError, add_projection_flags, checked_projection_values, finite_float, warn


def add_parser(sub) -> None:
    """Add the ``inpaint`` sub-command to an argparse ``add_subparsers`` object."""
    from ..core.inpainting import INPAINT_MAX_ITER

    p = sub.add_parser(
        "inpaint",
        help="blind vs masked inpainting of a corrupted image, with OpenCV Telea and the plain reconstruction",
        description="Inpaint IMAGE with the model: blind (eq. 8, no mask) and masked (eq. 7, the pixels of "
        "--mask only); write every panel as PNG and the figures as JSON.",
    )
    p.add_argument("--model", required=True, help="model file (.safetensors or TorchScript)")
    p.add_argument("image", metavar="IMAGE", help="the corrupted image")
    p.add_argument("--mask", default=None, help="Ω: PNG of the image's size, non-zero = corrupted (may change)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--blind", action="store_true",
                   help="only the blind run (eq. 8); --mask is then optional (it still gives Telea and psnr_mask)")
    p.add_argument("--ground-truth", default=None, metavar="CLEAN", help="the clean image, for PSNR / SSIM")
    p.add_argument("--name", default=None, help="output file prefix (default: the image's file name)")
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    add_projection_flags(p, defaults={
        "alpha": None, "lam": None, "tol": None, "patience": None, "optimizer": None,
        "max_iter": None, "stop": None}, helps={
        "alpha": "step size α of both runs (default: the model's tuned schedule, else masked 0.5, blind 2, plain steps)",
        "max_iter": f"maximum number of iterations (default: the model's tuned schedule, else {INPAINT_MAX_ITER})",
        "lam": "λ of both runs (default: masked 0, blind 0.1)",
        "stop": "converge (energy convergence, the default without a tuned schedule), none, train-min, "
                "train-qNN or an Lr value"})
    p.add_argument("--init", choices=("input", "telea"), default=None,
                   help="where masked inpainting starts inside Ω: the corrupted pixels (the paper) or OpenCV's "
                        "Telea fill (default: the model's tuned schedule, else input)")
    p.add_argument("--blind-alpha", type=finite_float, default=None, help="α of the blind run only")
    p.add_argument("--blind-lam", type=finite_float, default=None, help="λ of the blind run only")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def _changes(a, mode: str) -> dict:
    """The command line's changes to ``mode``'s parameters (refused here when out of range: before
    the model loads); :func:`run_comparison` applies them to the model's schedule for Ω's shape."""
    from ..core.inpainting import inpaint_params
    from ..core.params import check_range

    given = checked_projection_values(a)
    alpha = a.blind_alpha if mode == "blind" and a.blind_alpha is not None else given.get("alpha")
    lam = a.blind_lam if mode == "blind" and a.blind_lam is not None else given.get("lam")
    try:
        for name, v in (("alpha", alpha), ("lam", lam)):
            if v is not None:
                check_range(name, v)
    except ValueError as e:
        raise UsageError(str(e)) from None
    changes = {"alpha": alpha, "lam": lam, "optimizer": given.get("optimizer"), "max_iter": given.get("max_iter"),
               "stop": given.get("stop"), "tol": given.get("tol"), "patience": given.get("patience")}
    inpaint_params(mode, **changes)  # (a ValueError: one line, exit 2)
    return {k: v for k, v in changes.items() if v is not None}


def _fmt(v: float) -> str:
    return "inf" if v == float("inf") else f"{v:.2f}"


def _planned(a, modes) -> list[str]:
    """The files this run writes in ``--out``, by name (the panels of ``run_comparison``)."""
    from ..core.inpainting import PANELS

    name = a.name or Path(a.image).stem
    wanted = {"corrupted", "reconstruction", *modes, *(["telea"] if a.mask else []),
              *(["ground_truth"] if a.ground_truth else [])}
    return [f"{name}_{k}.png" for k in PANELS if k in wanted] + [f"{name}_inpaint.json"]


def run(a) -> int:
    """Inpaint, holding ``--out`` for this run; nothing but this run's own files is written there."""
    from ..core.outputs import OutputGuard, folder_lock

    if a.name is not None and (not a.name.strip() or Path(a.name).name != a.name or a.name in (".", "..")):
        raise UsageError(f"--name {a.name!r}: a file name prefix, without folders")
    out = Path(a.out)
    guard = OutputGuard(inputs=[a.model, a.image, a.mask, a.ground_truth], overwrite=a.overwrite,
                        hint="choose another --out or --name, or add --overwrite")
    if not a.blind and not a.mask:
        raise UsageError("inpaint needs --mask (the corrupted region Ω), or --blind for the blind run only")
    modes = ("blind",) if a.blind else ("blind", "masked")
    if out.is_dir() or not out.exists():
        guard.check_all(out / f for f in _planned(a, modes))  # before the model loads
    with folder_lock(out):
        return _run(a, guard)


def _refuse_diverged(name: str, runs) -> None:
    """A run whose energy rose kept an early iterate (the corrupted image itself at t = 1): nothing
    to show for it, as ``project`` gives no verdict for a diverged projection."""
    from ..core.vocabulary import StopReason

    for mode, r in runs.items():
        if r.stop_reason == StopReason.DIVERGED:
            alpha = float(r.params["alpha"])
            flag = "--alpha or --blind-alpha" if mode == "blind" else "--alpha"
            raise UsageError(f"{name}: the {mode} inpainting diverged with α = {alpha:g} (the energy rose instead of "
                             f"falling; stopped at t = {r.iterations}), so nothing was written; use a smaller {flag} "
                             f"(e.g. {alpha / 10:.3g}) or --optimizer adam")


def _run(a, guard) -> int:
    from .. import __version__
    from ..core.checks import fit_warnings
    from ..core.data import read_image, read_image_as, write_image
    from ..core.inpainting import model_inpainting, run_comparison
    from ..core.mask import load_mask_png
    from ..core.modelio import load_model
    from ..core.pipeline import prepare

    modes = ("blind",) if a.blind else ("blind", "masked")
    changes = {m: _changes(a, m) for m in modes}  # bad flags are refused before the model loads
    loaded = load_model(a.model, a.device)
    channels = loaded.model.channels
    image, source_channels = read_image_as(a.image, channels)
    # as project says them (its Lr(x0) ones aside: a corrupted image's Lr is high by design)
    fits = fit_warnings(image.shape, source_channels, loaded.model.image_size, channels,
                        working_scale=loaded.working_scale, pixels=prepare(a.image, image, loaded).model_input)
    for w in fits:
        warn(f"{a.image}: {w['message']}")
    mask = load_mask_png(a.mask, image.shape[:2]) if a.mask else None  # wrong size: MaskFileError
    if mask is not None and not mask.any() and not a.blind:
        raise UsageError(f"the mask {a.mask} is empty: nothing to inpaint")
    gt = None
    if a.ground_truth:
        gt = read_image(a.ground_truth, channels)
        if gt.shape[:2] != image.shape[:2]:
            raise UsageError(
                f"the ground truth {a.ground_truth} is {gt.shape[1]}×{gt.shape[0]} "
                f"but the image is {image.shape[1]}×{image.shape[0]}"
            )
    t0 = time.perf_counter()
    res = run_comparison(loaded, image, mask, gt, modes=modes, masked_init=a.init, changes=changes)
    seconds = time.perf_counter() - t0
    name = a.name or Path(a.image).stem
    _refuse_diverged(name, res.runs)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    guard.check_all(out / f for f in _planned(a, modes))
    for panel, img in res.panels.items():
        files[panel] = write_image(guard.check(out / f"{name}_{panel}.png"), img).name
    info = {
        "version": __version__,
        "name": name,
        "image": str(a.image),
        "mask": a.mask,
        "ground_truth": a.ground_truth,
        "model": str(a.model),
        "model_kind": loaded.kind,
        "device": str(loaded.device),
        "image_size": list(res.image_size),
        "model_size": res.model_size,
        "masked_fraction": res.masked_fraction,
        "modes": list(modes),
        "masked_init": None if "masked" not in modes else (a.init or model_inpainting(loaded, res.thin).get("init")
                                                           or "input"),
        "omega_thin": res.thin,
        "warnings": fits,
        "schedule": model_inpainting(loaded).get("method") or "the defaults of inspector_app.core.inpainting",
        "runs": {k: r.to_dict() for k, r in res.runs.items()},
        "metrics": {k: {m: (None if v != v or v == float("inf") else v) for m, v in d.items()}
                    for k, d in res.metrics.items()},
        "seconds": round(seconds, 3),
        "files": files,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    guard.write_bytes(out / f"{name}_inpaint.json", json.dumps(info, indent=2).encode())
    if not a.quiet:
        for mode, r in res.runs.items():
            print(f"{name} {mode}: {r.iterations} iteration{'' if r.iterations == 1 else 's'} ({r.stop_reason})")
        for panel, m in res.metrics.items():
            extra = f", inside Ω {_fmt(m['psnr_mask'])} dB" if "psnr_mask" in m else ""
            print(f"  {panel:15s} PSNR {_fmt(m['psnr'])} dB, SSIM {m['ssim']:.3f}{extra}")
        print(f"wrote {len(files)} image(s) and {name}_inpaint.json to {out}")
    return 0
