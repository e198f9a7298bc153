"""Every range has one home (core/ranges.py): each widget's range, the settings' restore and each
command's check come from it, so none can drift from the table."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QAction

from inspector_app.core.ranges import RANGES


@pytest.fixture
def panel(qtbot):
    from inspector_app.gui.controls import ControlPanel
    from inspector_app.session import Session

    actions = {k: QAction(k) for k in ("run", "pause", "stop", "step", "reset")}
    p = ControlPanel(Session(), actions, [("CPU", "cpu")])
    qtbot.addWidget(p)
    return p


def _bounds(widget) -> tuple[float, float]:
    return widget.minimum(), widget.maximum()


def test_every_widget_of_the_panel_has_the_tables_range(panel):
    spins = {"alpha": panel.alpha.spin, "lam": panel.lam.spin, "threshold": panel.threshold.spin,
             "max_iter": panel.max_iter, "tol": panel.tol, "patience": panel.patience,
             "percentile": panel.percentile, "lr_value": panel.lr_value, "min_area": panel.min_area}
    for name, w in spins.items():
        r = RANGES[name]
        assert _bounds(w) == pytest.approx((r.minimum, r.maximum), rel=1e-12), name
    # the logarithmic sliders end at the table's maximum
    for name in ("alpha", "lam", "threshold"):
        assert 10 ** getattr(panel, name).slider.maximum() == pytest.approx(RANGES[name].maximum), name
    assert 10 ** panel.alpha.slider.minimum() == pytest.approx(RANGES["alpha"].minimum)


def test_the_review_panels_thresholds_and_rate_have_the_tables_range(qtbot):
    from inspector_app.gui.review.histogram import ScorePanel
    from inspector_app.session import Session
    from inspector_app.session.review import ReviewSession

    panel = ScorePanel(ReviewSession(Session()))
    qtbot.addWidget(panel)
    r = RANGES["threshold"]
    for spin in (panel.t1_spin, panel.t2_spin):
        assert _bounds(spin) == (r.minimum, r.maximum)
    frr = RANGES["frr_target"]
    assert _bounds(panel.frr_spin) == pytest.approx((100 * frr.minimum, 100 * frr.maximum))  # a percentage


def test_the_brush_radius_slider_lies_within_the_table(qtbot):
    from inspector_app.core.mask import MAX_RADIUS, MIN_RADIUS, MaskModel
    from inspector_app.gui.brush import BrushController
    from inspector_app.gui.brush_panel import BrushPanel

    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    vb = w.addViewBox()
    img = pg.ImageItem(np.zeros((8, 8), np.float32))
    vb.addItem(img)
    model = MaskModel((8, 8))
    panel = BrushPanel(BrushController(vb, img, model))
    qtbot.addWidget(panel)
    r = RANGES["brush_radius"]
    assert (MIN_RADIUS, MAX_RADIUS) == (r.minimum, r.maximum)
    assert panel.radius_slider.minimum() == r.minimum and panel.radius_slider.maximum() <= r.maximum
    assert model.radius == r.default
    model.radius = 1e9
    assert model.radius == r.maximum


def test_restored_settings_are_clamped_to_the_table():
    from inspector_app.session.params import Display, ParamsModel

    p, d = ParamsModel(), Display()
    numeric = ("alpha", "lam", "max_iter", "tol", "patience", "percentile", "lr_value")
    p.update_from({k: 1e12 for k in numeric})
    d.update_from({"threshold": 1e12, "min_area": 1e12})
    for model, names in ((p, numeric), (d, ("threshold", "min_area"))):
        for k in names:
            assert getattr(model, k) == RANGES[k].maximum, k
    p.update_from({k: -1e12 for k in numeric})
    d.update_from({"threshold": -1e12, "min_area": -1e12})
    for model, names in ((p, numeric), (d, ("threshold", "min_area"))):
        for k in names:
            assert getattr(model, k) == RANGES[k].minimum, k
    p.update_from({"percentile": "nan", "alpha": "inf"})  # not a finite number: the default
    assert (p.percentile, p.alpha) == (RANGES["percentile"].default, RANGES["alpha"].default)
    assert ParamsModel().percentile == RANGES["percentile"].default and Display().min_area == RANGES["min_area"].default


#: Each command and the ranged flags it checks, with the arguments it needs to reach the check.
COMMAND_FLAGS = {
    "project": (["--model", "M.safetensors", "IMG.png", "--out", "out"], ("batch", "threshold", "min_area", "alpha", "lam",
                                                         "max_iter", "tol", "patience")),
    "evaluate": (["--model", "M.safetensors", "--data", "D"], ("iterations", "batch", "threshold", "min_area",
                                                               "alpha", "lam", "max_iter", "tol", "patience")),
    "calibrate": (["--model", "M.safetensors", "--data", "D", "--in-place"], ("max_iter",)),
    "report": (["REVIEW", "--out", "out.html"], ("max_parts",)),
}


def _value(name: str, v: float) -> str:
    return str(int(v)) if RANGES[name].integer else repr(float(v))


@pytest.mark.parametrize("command", sorted(COMMAND_FLAGS))
def test_every_command_checks_its_flags_against_the_table(command, tmp_path, capsys, monkeypatch):
    from inspector_app.cli import main

    monkeypatch.chdir(tmp_path)
    base, names = COMMAND_FLAGS[command]
    for name in names:
        r = RANGES[name]
        flag = f"--{name.replace('_', '-')}"
        outside = [r.minimum - (1 if r.integer or r.minimum == 0 else r.minimum / 2), r.maximum * 2 + 1]
        for v in outside:
            code = main([command, *base, flag, _value(name, v)])
            err = capsys.readouterr().err
            assert code == 2 and err.count("\n") == 1, (command, name, v, err)
            assert f"{flag}: {name} = " in err and f"out of range [{r.minimum:g}, {r.maximum:g}]" in err, err
        # the bounds themselves pass the check (the command fails later, on its missing files)
        for v in (r.minimum, r.maximum):
            code = main([command, *base, flag, _value(name, v)])
            err = capsys.readouterr().err
            assert code == 2 and "out of range" not in err, (command, name, v, err)


def test_the_paper_value_is_named_once():
    """The paper's threshold 0.2 is spelled in core/ranges.py only (the package's sources)."""
    import re
    from pathlib import Path

    import inspector_app

    root = Path(inspector_app.__file__).parent
    literal = re.compile(r"(?<![\w.])0\.2(?![\d])")
    found = []
    for f in root.rglob("*.py"):
        if f.name == "ranges.py":
            continue
        for i, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if literal.search(code) and "threshold" in line.lower():
                found.append(f"{f.relative_to(root)}:{i}: {line.strip()}")
    assert not found, "\n".join(found)


def _type(spin, text: str) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    edit = spin.lineEdit()
    edit.selectAll()
    edit.del_()
    QTest.keyClicks(edit, text)
    QTest.keyClick(edit, Qt.Key.Key_Return)


def test_a_typo_in_a_typed_entry_never_sets_zero(panel):
    """Qt's correction of a text that is not a value in range bounds a zero: a typo, a comma or a
    value out of range typed in the threshold set it to 0 (every part defective), in α its minimum.
    A number out of range goes to the nearest end, anything else keeps the value; a decimal comma
    is a decimal point."""
    s = panel.session
    s.display.threshold = 0.05
    for text, expected in (("abc", 0.05), ("", 0.05), ("0,07", 0.07), ("7", 1.0), ("nan", 1.0), ("-1", 0.0),
                           ("0.03", 0.03)):
        _type(panel.threshold.spin, text)
        assert s.display.threshold == pytest.approx(expected), text
    s.params.alpha = 0.5
    for text, expected in (("x", 0.5), ("0,2", 0.2), ("1e9", RANGES["alpha"].maximum)):
        _type(panel.alpha.spin, text)
        assert s.params.alpha == pytest.approx(expected), text


def test_enter_on_an_untouched_entry_keeps_the_exact_value(panel):
    """The entry shows 4 digits: Enter (or leaving it) on a calibrated 0.0332784 made it 0.03328 and
    its origin "set by you"."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    s = panel.session
    s.display.threshold = 0.0332783646
    s.params.alpha = 0.123456789
    for spin in (panel.threshold.spin, panel.alpha.spin):
        QTest.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert s.display.threshold == 0.0332783646 and s.params.alpha == 0.123456789
