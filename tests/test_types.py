"""The type checker: mypy, strict, on the modules pyproject.toml's [tool.mypy] lists (``files``):
every module of ``core/`` and ``session/``.

It runs as a subprocess with the project's configuration; its cache lives in the system's
temporary folder, so a second run takes a few seconds."""

from __future__ import annotations

import subprocess
import sys
import re
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_passes_on_the_listed_modules():
    section = (ROOT / "pyproject.toml").read_text().split("\n[tool.mypy]\n", 1)[1].split("\n[", 1)[0]
    assert re.search(r"^strict = true$", section, re.M) and "files = [" in section
    cache = Path(tempfile.gettempdir()) / "inspector-app-mypy-cache"
    r = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    n = int(re.search(r"Success: no issues found in (\d+) source files", r.stdout).group(1))
    assert n == section.count(".py\"")  # every listed module was checked


def test_every_core_and_session_module_is_type_checked():
    section = (ROOT / "pyproject.toml").read_text().split("\n[tool.mypy]\n", 1)[1].split("\n[", 1)[0]
    listed = set(re.findall(r'"(inspector_app/[\w/]+\.py)"', section))
    modules = {p.relative_to(ROOT).as_posix() for layer in ("core", "session")
               for p in (ROOT / "inspector_app" / layer).rglob("*.py")}
    assert modules - listed == set(), "add these to [tool.mypy] files (strict)"
