"""The wheel as a user gets it, and where an installation finds its bundled resources.

The wheel is built once (from a copy of the source tree, without build isolation: no download),
installed with ``--no-deps`` into a fresh virtual environment that borrows this environment's
third-party packages through a ``.pth`` file (which lists the folders only: the editable install's
import hook in them is not run), and its ``inspector-app self-test`` runs from another folder. The
tests check that the installed copy and its installed data files are the ones used.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import inspector_app
from inspector_app import resources

ROOT = Path(__file__).resolve().parent.parent
DATA = "share/inspector-app/resources"


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", 300)
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def _clean_env(extra_path: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "INSPECTOR_APP_RESOURCES", "PYTHONSTARTUP")}
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{os.defpath}"
    return env


# ------------------------------------------------------------------------------------------ the wheel

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel`` of a copy of the tree (only what the build reads): nothing is written into the checkout."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "inspector_app", src / "inspector_app", ignore=skip)
    shutil.copytree(ROOT / "resources", src / "resources", ignore=shutil.ignore_patterns("eval", "__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
              "-q", "-w", out, src], cwd=src)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = list(out.glob("inspector_app-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_carries_the_package_and_every_bundled_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    version = inspector_app.__version__
    assert wheel.name == f"inspector_app-{version}-py3-none-any.whl"
    data = f"inspector_app-{version}.data/data/{DATA}/"
    expected = [p for p in (ROOT / "resources").rglob("*")
                if p.is_file() and p.parent.name != "eval" and (p.suffix in (".safetensors", ".png", ".svg")
                                                                or p.name == "README.md")]
    assert any(p.suffix == ".safetensors" for p in expected)
    missing = [str(p.relative_to(ROOT)) for p in expected
               if data + p.relative_to(ROOT / "resources").as_posix() not in names]
    assert not missing, f"not in the wheel (add them to [tool.setuptools.data-files]): {missing}"
    for module in ("inspector_app/cli/selftest.py", "inspector_app/resources.py", "inspector_app/py.typed",
                   "inspector_app/gui/main_window.py", "inspector_app/core/projection.py"):
        assert module in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "resources/"))]
    meta = zipfile.ZipFile(wheel).read(f"inspector_app-{version}.dist-info/METADATA").decode()
    assert f"\nVersion: {version}\n" in meta


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict[str, Path]:
    """The wheel installed into a fresh venv (no pip of its own, no source tree on its path)."""
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    r = _run([sys.executable, "-m", "venv", "--without-pip", venv])
    assert r.returncode == 0, r.stderr
    py = venv / "bin" / "python"
    purelib = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # this environment's third-party packages (torch, PySide6 …), after the venv's own site-packages
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    (purelib / "_inspector_test_deps.pth").write_text("\n".join(sorted(p for p in ours if Path(p).is_dir())) + "\n")
    r = _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel])
    assert r.returncode == 0, r.stdout + r.stderr
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return {"venv": venv, "python": py, "purelib": purelib, "cwd": elsewhere}


def test_installed_copy_and_its_data_files_are_used(installed):
    r = _run([installed["python"], "-c",
              "import inspector_app, inspector_app.resources as r; print(inspector_app.__file__); "
              "print(*r.locate(), sep='\\n'); print(len(r.model_files()))"],
             cwd=installed["cwd"], env=_clean_env(installed["venv"] / "bin"))
    assert r.returncode == 0, r.stderr
    module, where, origin, n_models = r.stdout.strip().splitlines()
    assert Path(module).is_relative_to(installed["purelib"]), module  # not the editable checkout
    assert Path(where) == installed["venv"] / DATA
    assert origin == resources.INSTALLED
    assert int(n_models) == len(list((ROOT / "resources" / "models").glob("*.safetensors"))) > 0


def test_installed_self_test_passes_from_another_folder(installed):
    env = _clean_env(installed["venv"] / "bin")
    exe = installed["venv"] / "bin" / "inspector-app"
    r = _run([exe, "self-test"], cwd=installed["cwd"], env=env)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and lines[-1] == "self-test ok", r.stdout + r.stderr
    assert lines[0].startswith(f"inspector-app {inspector_app.__version__}, ")  # the version the wheel carries
    checks = {line.split(":", 1)[0]: line for line in lines[1:-1]}
    assert set(checks) == {"resources", "models", "projection-cpu", "projection-cuda", "dssim", "window"}
    assert f"{installed['venv'] / DATA} ({resources.INSTALLED})" in checks["resources"]
    assert checks["projection-cpu"].startswith("projection-cpu: ok") and "on cpu:" in checks["projection-cpu"]
    assert checks["window"].startswith("window: ok")


# ------------------------------------------------------------------------------------------ where resources are found

def _tree(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    return root


def test_environment_variable_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_APP_RESOURCES", str(_tree(tmp_path / "mine")))
    assert resources.locate() == (tmp_path / "mine", resources.ENV)


def test_a_bundle_uses_its_own_resources(tmp_path, monkeypatch):
    monkeypatch.delenv("INSPECTOR_APP_RESOURCES", raising=False)
    _tree(tmp_path / "resources")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.locate() == (tmp_path / "resources", resources.BUNDLE)


def test_a_checkout_uses_the_resources_beside_the_package(monkeypatch):
    monkeypatch.delenv("INSPECTOR_APP_RESOURCES", raising=False)
    assert resources.locate() == (ROOT / "resources", resources.CHECKOUT)


def test_an_installed_package_uses_the_prefix_then_the_user_base(tmp_path, monkeypatch):
    monkeypatch.delenv("INSPECTOR_APP_RESOURCES", raising=False)
    # the package as if in site-packages: no pyproject.toml above it
    monkeypatch.setattr(resources, "__file__", str(tmp_path / "site-packages" / "inspector_app" / "resources.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    monkeypatch.setattr(site, "USER_BASE", str(tmp_path / "user"))
    assert resources.locate() is None  # the editable install's RECORD lists no data files either
    assert resources.model_files() == [] and resources.resource(resources.DEMO_MODEL) is None
    _tree(tmp_path / "user" / DATA)
    assert resources.locate() == (tmp_path / "user" / DATA, resources.INSTALLED)
    _tree(tmp_path / "prefix" / DATA)
    (tmp_path / "prefix" / DATA / "models" / "b.safetensors").write_bytes(b"")
    (tmp_path / "prefix" / DATA / "models" / "a.safetensors").write_bytes(b"")
    assert resources.locate() == (tmp_path / "prefix" / DATA, resources.INSTALLED)
    assert [p.name for p in resources.model_files()] == ["a.safetensors", "b.safetensors"]
