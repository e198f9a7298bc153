"""Is there a screen for the window? Checked before Qt is asked for a platform.

Without this, ``inspector-app`` with no display (over ssh, in a container) or without the X11
libraries Qt's ``xcb`` platform links against prints Qt's own "Could not load the Qt platform plugin
"xcb" … Reinstalling the application may fix this problem" and aborts. :func:`screen_problem` says
what is missing instead, in one line that names the commands that need no screen and the system
packages the window needs; the caller exits with status 2.

Only Linux (and the BSDs) need the check: Windows and macOS always have their platform plugin. A
``QT_QPA_PLATFORM`` other than ``xcb`` or ``wayland`` (``offscreen``, ``vnc``, ``eglfs`` …) is the
user's explicit choice and is not second-guessed.
"""

from __future__ import annotations

import ctypes
import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

#: The commands that work without a screen (``--help`` lists them).
HEADLESS = "train, calibrate, project, evaluate, report, make-dataset, inpaint"

#: The system packages the window's ``xcb`` platform needs (Qt ≥ 6.5: libxcb-cursor among them).
DEBIAN_PACKAGES = ("libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 "
                   "libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libegl1 libgl1 libfontconfig1")
FEDORA_PACKAGES = ("xcb-util-cursor xcb-util-wm xcb-util-image xcb-util-keysyms xcb-util-renderutil "
                   "libxkbcommon-x11 mesa-libEGL mesa-libGL fontconfig")

_INSTALL = (f"the window's system packages: sudo apt install {DEBIAN_PACKAGES} (Debian/Ubuntu), "
            f"sudo dnf install {FEDORA_PACKAGES} (Fedora)")
_HEADLESS = f"the commands {HEADLESS} need no screen"
_SONAME = re.compile(r"(lib[\w.+-]+?\.so(?:\.\d+)*)")


def screen_problem(environ: Mapping[str, str] | None = None, platform: str | None = None,
                   xcb_plugin: Path | None = None) -> str | None:
    """``None`` when the window can open, else the one line to print (see the module docstring).

    ``environ`` and ``platform`` default to the process's; ``xcb_plugin`` to the installed
    ``libqxcb.so`` (tests pass others)."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if plat.startswith(("win", "darwin", "cygwin")):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if qpa not in ("", "xcb", "wayland"):
        return None  # offscreen, vnc, eglfs, …: the user chose it
    wayland, x11 = env.get("WAYLAND_DISPLAY", ""), env.get("DISPLAY", "")
    if qpa == "wayland" or (qpa == "" and wayland and not x11):
        if wayland:
            return None
        return f"no screen for the window (WAYLAND_DISPLAY is not set); {_HEADLESS}; {_INSTALL}"
    if qpa == "" and wayland:
        return None  # a Wayland session with Xwayland: Qt picks whichever works
    if not x11:
        return f"no screen for the window (DISPLAY is not set; over ssh use ssh -X); {_HEADLESS}; {_INSTALL}"
    if not x_server_reachable(x11):
        return f"no screen for the window (no X server answers at DISPLAY={x11}); {_HEADLESS}; {_INSTALL}"
    missing = missing_xcb_library(xcb_plugin if xcb_plugin is not None else _installed_xcb_plugin())
    if missing:
        return f"the window cannot start: the system library {missing} is missing; {_INSTALL}; {_HEADLESS}"
    return None


def x_server_reachable(display: str, timeout: float = 2.0) -> bool:
    """Whether the X server named by ``display`` (``:0``, ``:1.0``, ``unix:0``, ``host:10.0``)
    accepts a connection; a form this does not know is given the benefit of the doubt."""
    m = re.fullmatch(r"(?:([\w.\-]*)/)?([\w.\-]*):(\d+)(?:\.\d+)?", display)
    if m is None:
        return True  # e.g. macOS's launchd path: let Xlib decide
    host, number = m.group(2), int(m.group(3))
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        for address in ("\0" + path, path):  # Linux's abstract socket first, then the file
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(timeout)
                    s.connect(address)
                return True
            except OSError:
                continue
        if host == "unix":
            return False
        host = "localhost"
    try:
        with socket.create_connection((host, 6000 + number), timeout=timeout):
            return True
    except OSError:
        return False


def missing_xcb_library(plugin: Path | None) -> str | None:
    """The first shared library ``plugin`` (Qt's xcb platform plugin) links against that the
    dynamic loader cannot find, or None (also when there is no such plugin to check)."""
    if plugin is None or not plugin.is_file():
        return None
    try:
        ctypes.CDLL(str(plugin), mode=os.RTLD_LAZY | os.RTLD_LOCAL)
    except OSError as e:
        return missing_library_name(str(e))
    return None


def missing_library_name(loader_message: str) -> str:
    """The library a dynamic loader's message names ("libxcb-cursor.so.0: cannot open shared
    object file …"), else the message itself."""
    m = _SONAME.search(loader_message.split(": cannot open")[0])
    return m.group(1) if m else loader_message.strip()


def _installed_xcb_plugin() -> Path | None:
    try:
        from PySide6.QtCore import QLibraryInfo
    except ImportError:
        return None
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    return plugins / "platforms" / "libqxcb.so"
