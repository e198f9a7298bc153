"""The evaluation's reports: the table shaped like the paper's table 1, where the figure-5 curve
reaches its plateau, the divergence note and the curve's plot (from :func:`inspector_app.core.evaluation.evaluate`'s
JSON-ready result; moved from :mod:`inspector_app.core.evaluation`, which re-exports them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data import atomic_write


def plateau_iteration(curve: list[dict[str, float]], key: str, fraction: float = 0.95) -> int | None:
    """First iteration at which the curve has made ``fraction`` of its total gain over iteration 0."""
    if not curve:
        return None
    v = np.array([c[key] for c in curve])
    gain = v.max() - v[0]
    if not np.isfinite(gain) or gain <= 0:
        return None
    return int(np.argmax(v >= v[0] + fraction * gain))


def markdown_table(results: list[dict[str, Any]]) -> str:
    """A table shaped like the paper's table 1, one row per (category, model) result. Two image
    AUROCs: of the map's maximum (as the paper's peers rank images), and of the image score the
    verdicts, ``report`` and the window use (a ``min_area`` over 1 makes them differ)."""
    def f(v: float) -> str:
        return "  —  " if v is None or not np.isfinite(v) else f"{v:.3f}".lstrip("0") if v < 1 else f"{v:.3f}"

    def share(v: float | None) -> str:  # a folder without good (or defective) parts has no such share
        return "—" if v is None or not np.isfinite(v) else f"{v:.0%}"

    lines = [
        "| category | model | FVE good | baseline | grad (x_T) | grad (f(x_T)) | image AUROC, max DSSIM: base / grad "
        "| image AUROC, score | AUPRO base / grad | iterations | defective flagged | good passed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b, g, v = r["baseline"], r["grad"], r["verdicts"]
        lines.append(
            f"| {r['category']} | {r['kind']} | {f(r['variance_explained_good']['median'])} | {f(b['pixel_auroc'])} | "
            f"{f(g['pixel_auroc'])} | {f(g['pixel_auroc_recon'])} | {f(b['image_auroc'])} / {f(g['image_auroc'])} | "
            f"{f(g.get('image_auroc_score', float('nan')))} | {f(b['aupro'])} / {f(g['aupro'])} | "
            f"{g['iterations']:.1f} | {share(v['defective_flagged'])} | {share(v['good_passed'])} |"
        )
    return "\n".join(lines)


def diverged_note(result: dict[str, Any], key: str) -> str:
    """", diverged on N of M images" when the ``key`` update ("plain" or "tuned") of the figure-5
    curve diverged on any image (its AUROC then reads those images' fallback maps), else ""."""
    c = result.get("curve") or []
    n = c[-1].get(f"diverged_{key}", 0) if c else 0
    return f", diverged on {n} of {result['n_images']} images" if n else ""


def plot_curve(result: dict[str, Any], path: str | Path) -> Path:
    """The figure-5 curves (pixel AUROC vs iteration, plain vs eq. 8 update) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = result["curve"]
    it = [r["iteration"] for r in c]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for key, label in (("plain", "plain gradient step (eq. 5)"), ("tuned", "reconstruction-error mask (eq. 8)")):
        ax.plot(it, [r[f"pixel_auroc_{key}"] for r in c], label=label + diverged_note(result, key))
    ax.axhline(result["baseline"]["pixel_auroc"], color="grey", ls="--", lw=1, label="baseline DSSIM(x0, f(x0))")
    ax.set_xlabel("iteration")
    ax.set_ylabel("pixel AUROC")
    ax.set_title(f"{result['category']} — {result['kind']} (α={result['params']['alpha']:g}, λ={result['params']['lam']:g})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return Path(path)
