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
    """The recently opened files of ``kind`` (``models`` or ``images``), newest first."""
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
