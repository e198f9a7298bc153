"""No screen, or no X11 library: one line that says so, names the headless commands and the system
packages, exit status 2 (never Qt's "Could not load the Qt platform plugin" abort)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from inspector_app.cli.display import missing_library_name, screen_problem, x_server_reachable

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X11 checks are Linux's")
_DISPLAY_VARS = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_SESSION_TYPE")


def _headless_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _DISPLAY_VARS}


@linux
@pytest.mark.parametrize("argv", [[], ["gui", "--model", "m.safetensors"]])
def test_no_display_one_line_and_exit_2(argv, tmp_path):
    out = subprocess.run([sys.executable, "-m", "inspector_app", *argv], env=_headless_env(), cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert line.startswith("inspector-app: error: no screen for the window (DISPLAY is not set"), line
    for word in ("project", "evaluate", "report", "train", "libxcb-cursor0", "xcb-util-cursor"):
        assert word in line, word
    assert "Qt platform plugin" not in out.stderr and "Traceback" not in out.stderr


@linux
def test_unreachable_x_server(tmp_path):
    env = {**_headless_env(), "DISPLAY": f":{_free_display_number()}"}
    out = subprocess.run([sys.executable, "-m", "inspector_app", "gui"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out
    assert "no X server answers at DISPLAY=:" in out.stderr


def test_an_explicit_platform_is_trusted():
    # the tests themselves run with QT_QPA_PLATFORM=offscreen and no display
    assert screen_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert screen_problem({"QT_QPA_PLATFORM": "vnc"}, "linux") is None
    assert screen_problem({}, "win32") is None and screen_problem({}, "darwin") is None
    assert screen_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert "WAYLAND_DISPLAY is not set" in screen_problem({"QT_QPA_PLATFORM": "wayland"}, "linux")
    assert "DISPLAY is not set" in screen_problem({"QT_QPA_PLATFORM": "xcb"}, "linux")


@linux
def test_a_missing_xcb_library_is_named(tmp_path):
    """A copy of a real shared object whose libc dependency is renamed stands for Qt's xcb plugin
    on a machine without libxcb-cursor: the loader's refusal becomes the library's name."""
    import numpy

    lib = next(p for p in sorted(Path(numpy.__file__).parent.rglob("*.so")) if b"libc.so.6" in p.read_bytes())
    fake = tmp_path / "libqxcb.so"
    fake.write_bytes(lib.read_bytes().replace(b"libc.so.6", b"libZ.so.6"))
    with _fake_x_server() as number:
        env = {"DISPLAY": f":{number}"}
        assert screen_problem(env, "linux", xcb_plugin=tmp_path / "absent.so") is None  # nothing to check
        line = screen_problem(env, "linux", xcb_plugin=fake)
    assert line is not None and "the system library libZ.so.6 is missing" in line, line
    assert "sudo apt install libxcb-cursor0" in line and "sudo dnf install xcb-util-cursor" in line
    assert "project" in line


def test_loader_messages():
    assert missing_library_name("libxcb-cursor.so.0: cannot open shared object file: No such file or "
                                "directory") == "libxcb-cursor.so.0"
    assert missing_library_name("weird") == "weird"


@linux
def test_x_server_reachable():
    with _fake_x_server() as number:
        assert x_server_reachable(f":{number}") and x_server_reachable(f":{number}.0")
    assert not x_server_reachable(f"unix:{_free_display_number()}")


def _free_display_number() -> int:
    while True:
        n = random.randint(600, 5000)
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not x_server_reachable(f"unix:{n}", 0.2):
            return n


class _fake_x_server:
    """A listening socket where an X server's would be (Linux's abstract namespace: no file)."""

    def __enter__(self) -> int:
        self.number = _free_display_number()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(f"\0/tmp/.X11-unix/X{self.number}")
        self.sock.listen(4)
        return self.number

    def __exit__(self, *exc) -> None:
        self.sock.close()


