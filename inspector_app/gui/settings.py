"""Persistent settings (QSettings, INI format) and the recent-files lists.

The file is ``<user config>/<organisation>/inspector-app.ini``; the organisation is the
application's (``inspector-app`` by default). Tests point QSettings elsewhere with
``QSettings.setPath`` and a different organisation name, so they never touch the user's file.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QSettings

APP_NAME = "inspector-app"
ORGANIZATION = "inspector-app"
MAX_RECENT = 8


def app_settings() -> QSettings:
    org = QCoreApplication.organizationName() or ORGANIZATION
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, org, APP_NAME)


def _as_list(v) -> list[str]:
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return [v]
    return [str(x) for x in v]


def recent_files(kind: str) -> list[str]:
    """The recently opened files of ``kind`` (``models``, ``images``, or review mode's ``folders``), newest first."""
    return _as_list(app_settings().value(f"recent/{kind}", []))


def add_recent_file(kind: str, path: str) -> None:
    items = [p for p in recent_files(kind) if p != path]
    items.insert(0, path)
    app_settings().setValue(f"recent/{kind}", items[:MAX_RECENT])


def clear_recent_files() -> None:
    s = app_settings()
    s.remove("recent")


def last_dir(kind: str) -> str:
    return str(app_settings().value(f"dirs/{kind}", "") or "")


def set_last_dir(kind: str, folder: str) -> None:
    app_settings().setValue(f"dirs/{kind}", folder)


#: What "Restore Default Settings" forgets (recent files and last folders stay).
SAVED_GROUPS = ("params", "display", "window", "defaults")


def save_session(session) -> None:
    """The parameters, the display settings, the choice of defaults and the device, for the next start."""
    s = app_settings()
    for group, values in (("params", session.params.as_dict()), ("display", session.display.as_dict())):
        s.beginGroup(group)
        for k, v in values.items():
            s.setValue(k, v)
        s.endGroup()
    s.setValue("device", session.device)
    s.setValue("defaults/paper", bool(session.paper_defaults))


def clear_saved_settings() -> None:
    """Forget the saved parameters, display settings, device, window layout and choice of defaults."""
    s = app_settings()
    for g in SAVED_GROUPS:
        s.remove(g)
    s.remove("device")
    s.sync()


def restore_session_defaults(session) -> None:
    """Put the defaults into ``session``: the display's own, the model's calibration (not the
    paper's) and every parameter from it (α, λ included)."""
    from ..session.params import Display

    fresh = Display()
    for k in ("compare", "fill", "contour"):
        setattr(session.display, k, getattr(fresh, k))
    session.use_paper_defaults(False)
    session.apply_defaults()


def restore_session(session, devices: list[str]) -> None:
    """Put the saved values into ``session`` (bad or unknown values are clamped or ignored)."""
    s = app_settings()
    for group, model in (("params", session.params), ("display", session.display)):
        s.beginGroup(group)
        model.update_from({k: s.value(k) for k in s.childKeys()})
        s.endGroup()
    dev = str(s.value("device", session.device))
    if dev in devices:
        session.device = dev
    if str(s.value("defaults/paper", "false")).lower() in ("true", "1"):
        session.use_paper_defaults(True)
