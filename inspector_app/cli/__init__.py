"""The ``inspector-app`` command: the window by default, and headless sub-commands, one module each.

Bad input ends with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from . import calibrate, evaluate, gui, inpaint, make_dataset, project, report, selftest, train
from .common import EXIT_BAD_INPUT, Parser, UsageError, fail

__all__ = ["main", "build_parser", "UsageError", "EXIT_BAD_INPUT"]

#: The sub-commands, in the order ``--help`` lists them; each module has ``add_parser`` and ``run``.
COMMANDS = (gui, train, calibrate, project, evaluate, make_dataset, inpaint, report, selftest)


def build_parser(commands: Sequence = COMMANDS) -> Parser:
    from .. import __version__

    parser = Parser(prog="inspector-app", description=(
        "Anomaly localization by iterative energy-based projection on a normal data manifold "
        "(Dehaene et al., ICLR 2020). With no command, opens the inspection window."))
    parser.add_argument("--version", action="version", version=f"inspector-app {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for command in commands:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    rc = _main(argv)
    # a user's model still looping in a thread (core.watchdog, imported only when a TorchScript model
    # ran) would make the interpreter's exit abort: the process ends here, with the status already said
    watchdog = sys.modules.get("inspector_app.core.watchdog")
    if argv is None and watchdog is not None and watchdog.stuck_calls():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


def _main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # the window's start parses with the gui command alone: the others' parsers import torch for their
    # defaults (about a second, before anything is drawn)
    parser = build_parser((gui,) if not argv or argv[0] == "gui" else COMMANDS)
    try:
        a = parser.parse_args(argv)
        if a.command is None:
            return gui.run(a)
        return int(a.func(a) or 0)
    except UsageError as e:
        return fail(str(e))
    except KeyboardInterrupt:
        print("inspector-app: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:  # ModelFileError, ImageError, DataError, ProjectionError ...
        return fail(str(e) or type(e).__name__)
    except ImportError as e:  # a dependency missing or broken in this installation
        return fail(f"a component is missing from this installation ({e}); reinstall inspector-app")
    except MemoryError:  # an image or a batch too large for this machine: say so, never a traceback
        return fail("out of memory (a smaller image, --batch or INSPECTOR_MAX_PIXELS would fit)")
    except RuntimeError as e:  # e.g. CUDA out of memory
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return fail(msg)
