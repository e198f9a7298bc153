"""The ``gui`` command (the default): the inspection window."""

from __future__ import annotations

def add_parser(sub) -> None:
    p = sub.add_parser("gui", help="open the inspection window (the default)")
    p.add_argument("--model", default=None, help="model file to open")
    p.add_argument("image", nargs="?", default=None, metavar="IMAGE_OR_FOLDER",
                   help="image to open, or a folder of parts to review (review mode)")
    p.set_defaults(func=run)


def run(a) -> int:
    from .common import fail
    from .display import screen_problem

    problem = screen_problem()  # before Qt is asked for a platform (it would abort with its own text)
    if problem is not None:
        return fail(problem)
    from ..gui.app import run_app

    return run_app(model=getattr(a, "model", None), image=getattr(a, "image", None))
