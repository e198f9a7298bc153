"""Layering: import-linter's contracts, bare imports without Qt, and no import circle (grimp)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "pyqtgraph", "superqt", "qdarkstyle")
CONTRACTS = (
    "The core never imports Qt",
    "The session model never imports Qt",
    "Layers: the command line above the window above the session above the core",
    "The window does not import torch (only numpy crosses from its workers)",
)


def test_import_linter_contracts():
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in CONTRACTS:
        assert f"{name} KEPT" in r.stdout, name


@pytest.mark.parametrize("package", ["core", "session"])
def test_imports_without_qt(package):
    code = (
        f"import sys, importlib, pkgutil, inspector_app.{package} as c\n"
        f"for m in pkgutil.iter_modules(c.__path__): importlib.import_module('inspector_app.{package}.' + m.name)\n"
        "import inspector_app.cli\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT!r}]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def import_circles(package: str = "inspector_app") -> list[list[str]]:
    """The import circles of ``package``: the strongly connected components (more than one module, or
    a module importing itself) of grimp's graph of direct imports, each sorted."""
    import grimp

    g = grimp.build_graph(package)
    mods = sorted(g.modules)
    edges = {m: sorted(g.find_modules_directly_imported_by(m) & set(mods)) for m in mods}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(mods) + 100))
    for m in mods:
        if m not in index:
            visit(m)
    return out


#: Circles owned by the core and the command line, being removed there (not by the window's work).
KNOWN = ("inspector_app.core.", "inspector_app.cli")


def test_no_import_circle_outside_core_and_cli():
    circles = import_circles()
    bad = [c for c in circles if not all(m.startswith(KNOWN) for m in c)]
    assert not bad, bad


def test_no_import_circle_anywhere():
    assert not import_circles()


def test_the_window_talks_to_the_review_package_only():
    """The window's review part goes through :class:`ReviewSession` and the names of the
    ``session.review`` package, never into its modules (issue 23, item 4)."""
    import grimp

    g = grimp.build_graph("inspector_app")
    window = [m for m in g.modules if m.startswith("inspector_app.gui")]
    inner = {m for m in g.modules if m.startswith("inspector_app.session.review.")}
    bad = sorted((m, t) for m in window for t in g.find_modules_directly_imported_by(m) & inner)
    assert not bad, bad
    assert "inspector_app.session.review" in g.find_modules_directly_imported_by("inspector_app.gui.review.mode")
