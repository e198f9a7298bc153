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
    p.add_argument("--full-size", type=int, default=0, metavar="N",
                   help="textures: also write N whole 512-px test images per defect type (defects anywhere, at tile "
                        "borders and in corners), and good ones, under OUT/full/ in the same layout")
    p.add_argument("--full-good", type=int, default=None, metavar="M",
                   help="good full-size images (default: as many as the defective ones)")
    p.add_argument("--geometric", action="store_true",
                   help="textures: also paint defects that move the texture without changing its brightness "
                        "(warp, fold, displaced, missing), after the intensity ones")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    p.set_defaults(func=run)


def run(a) -> int:
    from ..core.datasets import make_dataset

    if a.full_size < 0:
        raise UsageError("--full-size must be 0 or more")
    if a.full_good is not None and not a.full_size:
        raise UsageError("--full-good needs --full-size")
    if a.full_size and a.source == "faces":
        raise UsageError("--full-size is for textures; a face is already whole")
    if a.geometric and a.source == "faces":
        raise UsageError("--geometric is for textures; the faces' defect is the noise rectangle")
    if a.full_good is not None and a.full_good < 1:
        raise UsageError("--full-good must be at least 1")
    from ..core.outputs import folder_lock

    if Path(a.out).exists() and not Path(a.out).is_dir():
        raise UsageError(f"{a.out} exists and is not a directory")
    try:
        with folder_lock(a.out):  # one run at a time writes a data set
            summary = make_dataset(a.source, Path(a.out), a.n_train, a.n_test, a.seed, a.image_size,
                                   overwrite=a.overwrite, full_size=a.full_size, full_good=a.full_good,
                                   geometric=a.geometric)
    except FileExistsError as e:
        raise UsageError(str(e)) from None
    counts = ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
    print(f"wrote {a.source} category to {a.out}: {counts}")
    return 0
