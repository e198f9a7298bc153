"""The ``make-dataset`` command: a synthetic MVTec-AD-layout category from images scikit-image bundles."""

from __future__ import annotations

from pathlib import Path

from .common import UsageError

def add_parser(sub) -> None:
    from ..core.datasets import SOURCES

    p = sub.add_parser("make-dataset", help="write a synthetic MVTec-AD-layout category from bundled images")
    p.add_argument("--source", choices=SOURCES, required=True,
                   help="scikit-image textures, a generated grid, or lfw_subset faces")
    p.add_argument("--out", required=True, help="category folder to write")
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-test", type=int, default=60)
    p.add_argument("--image-size", type=int, default=None, help="crop side (default 128; faces 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    p.set_defaults(func=run)


def run(a) -> int:
    from ..core.datasets import make_dataset

    try:
        summary = make_dataset(a.source, Path(a.out), a.n_train, a.n_test, a.seed, a.image_size, overwrite=a.overwrite)
    except FileExistsError as e:
        raise UsageError(str(e)) from None
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
    print(f"wrote {a.source} category to {a.out}: {counts}")
    return 0
