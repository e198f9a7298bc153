"""The application's look holds no module state that a test must reset."""

from __future__ import annotations

import pyqtgraph as pg

from inspector_app.gui import style


def test_configure_pyqtgraph_sets_its_options_each_time(qapp):  # qapp: the autouse thread check needs one
    style.configure_pyqtgraph()
    try:
        pg.setConfigOptions(imageAxisOrder="col-major", antialias=False)  # someone else changed them
        style.configure_pyqtgraph()
        for name, value in style.PYQTGRAPH_OPTIONS.items():
            assert pg.getConfigOption(name) == value, name
    finally:
        style.configure_pyqtgraph()
    assert not [k for k, v in vars(style).items() if k.startswith("_") and isinstance(v, bool)]


def _shown_characters() -> dict[str, str]:
    """Every non-ASCII character of the string literals (not docstrings) of the packages whose text
    the window shows, with one place it appears."""
    import ast
    from pathlib import Path

    root = Path(style.__file__).resolve().parents[1]
    found: dict[str, str] = {}
    for layer in ("gui", "session", "core"):
        for path in sorted((root / layer).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)
                          and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                    for ch in node.value:
                        if ord(ch) > 127:
                            found.setdefault(ch, f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_symbol_the_window_writes_is_in_dejavu_sans(qapp):
    """DejaVu Sans is the font a Linux desktop falls back to, and on many the only one: a character it
    lacks is drawn as an empty box (the note banner's "i" in a circle, U+24D8, was one, on every note)."""
    import pytest
    from PySide6.QtGui import QFont, QFontDatabase, QRawFont

    if "DejaVu Sans" not in QFontDatabase.families():
        pytest.skip("DejaVu Sans is not installed here")
    raw = QRawFont.fromFont(QFont("DejaVu Sans"))
    missing = {ch: where for ch, where in _shown_characters().items() if not raw.supportsCharacter(ord(ch))}
    assert not missing, f"characters DejaVu Sans lacks: {missing}"
