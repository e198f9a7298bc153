"""Brush mode: paint the inpainting mask Ω (eq. 7) on a pyqtgraph image view.

Thin Qt layer over the Qt-free :class:`inspector_app.core.mask.MaskModel` (stamps, capsule
segments, patch-based undo). :class:`BrushController` attaches to an existing ``ViewBox`` and the
``ImageItem`` that shows the image, and only maps mouse events to ``MaskModel`` calls:

* scene position → image pixel coordinates with ``ImageItem.mapFromScene``; the item's pixel
  ``(r, c)`` covers ``[c, c+1) × [r, r+1)``, the mask's pixel centre is ``(x=c, y=r)``, hence
  the ``- 0.5``;
* while the brush is active, a left drag paints (or erases) one stroke — one undo step — and a
  left click stamps once; right / middle drags and the wheel still zoom and pan the view;
  Ctrl + wheel changes the radius;
* the mask is shown as a translucent RGBA ``ImageItem`` at the image's own resolution, a child of
  the image item (so it follows any transform and zoom); only the region that ``MaskModel``
  reports changed is rewritten in its buffer;
* a circle of the brush's radius follows the mouse.

Entry points for the main window: ``BrushController(view_box, image_item, mask_model)`` and
``brush_panel.BrushPanel(controller)``; the controller's ``actions`` (undo, redo, radius ±, clear, invert,
toggle the mask) carry the keyboard shortcuts and can be put in a menu.
"""

from __future__ import annotations

import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QGraphicsEllipseItem, QWidget
from superqt.utils import signals_blocked

from ..core.inpainting import corrupt_with_noise
from ..core.mask import MAX_RADIUS, MIN_RADIUS, MaskModel, load_mask_png, save_mask_png

#: Overlay colour (RGB) and opacity of the painted mask: blue, never the segmentation's red
#: (views.SEGMENTATION_RGBA) nor the ground truth's green.
MASK_COLOR = (90, 90, 255)
MASK_OPACITY = 0.45
#: Largest radius the panel's slider offers (the model accepts up to MAX_RADIUS).
SLIDER_MAX_RADIUS = 64.0
#: Radius factor of one ``[`` / ``]`` press or one wheel notch.
RADIUS_STEP = 1.2


class _BrushInput(pg.GraphicsObject):
    """Invisible item over the image (expanded by the radius) that receives the brush's mouse events.

    A child of the image item, above it and above the overlay: pyqtgraph's scene offers a left drag
    to it first; it accepts only while the brush is active, so otherwise the ViewBox pans.
    """

    def __init__(self, controller: "BrushController", parent: pg.ImageItem):
        super().__init__(parent)
        self._c = controller
        self._rect = QRectF()
        self.setZValue(20)
        self.setAcceptHoverEvents(True)

    def set_rect(self, rect: QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = QRectF(rect)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, painter, option, widget=None) -> None:  # nothing to draw
        pass

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if not self._c.active or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            self._c._begin(ev.buttonDownScenePos())
        self._c._move(ev.scenePos())
        if ev.isFinish():
            self._c._end()

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if not self._c.active or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        self._c._begin(ev.scenePos())
        self._c._end()

    def hoverEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.isExit():  # off the image, or out of the view altogether: the ring goes
            self._c._on_leave()
        elif self._c.active:
            ev.acceptDrags(Qt.MouseButton.LeftButton)  # the left drag is ours, not the ViewBox's

    def wheelEvent(self, ev) -> None:  # noqa: N802 - Qt API
        if self._c.active and ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            ev.accept()
            self._c.grow() if ev.delta() > 0 else self._c.shrink()
        else:
            ev.ignore()


class BrushController(QObject):
    """Paint and erase Ω on ``image_item`` (shown in ``view_box``) into ``mask_model``.

    ``mask_model`` has the shape of the displayed image (H×W). ``shortcut_widget`` receives the
    keyboard shortcuts ([ ] radius, Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo, M show/hide the mask,
    B toggle the brush); by default the first view showing the ``view_box``'s scene.
    """

    mask_changed = Signal(object)  # the changed region (rows, cols) or None for the whole mask
    history_changed = Signal()
    radius_changed = Signal(float)
    mode_changed = Signal(str)
    active_changed = Signal(bool)
    visibility_changed = Signal(bool)
    model_replaced = Signal(object)  # the new MaskModel

    def __init__(self, view_box: pg.ViewBox, image_item: pg.ImageItem, mask_model: MaskModel,
                 parent: QObject | None = None, shortcut_widget: QWidget | None = None):
        super().__init__(parent)
        self.view_box = view_box
        self.image_item = image_item
        self._model: MaskModel | None = None
        self._active = False
        self._visible = True

        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setParentItem(image_item)
        self.overlay.setZValue(10)
        self.overlay.setOpacity(1.0)  # the translucency is in the RGBA alpha
        self._input = _BrushInput(self, image_item)
        # the brush circle: white on a dark outline, visible on bright and dark pixels alike
        self._cursor = QGraphicsEllipseItem(image_item)
        self._cursor.setZValue(30)
        self._cursor.setPen(pg.mkPen((0, 0, 0, 200), width=3, cosmetic=True))
        self._cursor_inner = QGraphicsEllipseItem(self._cursor)
        self._cursor_inner.setPen(pg.mkPen((255, 255, 255, 240), width=1.2, cosmetic=True))
        self._cursor.setVisible(False)
        self._cursor_pos: QPointF | None = None
        self._rgba = np.zeros((1, 1, 4), np.uint8)

        scene = view_box.scene()
        if scene is not None:
            scene.sigMouseMoved.connect(self._on_mouse_moved)
            # the ring goes when the mouse leaves the view: pyqtgraph's scene then sends every
            # hovered item an exit (_BrushInput.hoverEvent)
        self._make_actions()
        if shortcut_widget is None and scene is not None and scene.views():
            shortcut_widget = scene.views()[0]
        if shortcut_widget is not None:
            self.install_shortcuts(shortcut_widget)
        self.set_mask_model(mask_model)

    # ------------------------------------------------------------------ model
    @property
    def mask_model(self) -> MaskModel:
        assert self._model is not None
        return self._model

    @property
    def mask(self) -> np.ndarray:
        """A copy of Ω (bool H×W)."""
        return self.mask_model.mask.copy()

    def set_mask_model(self, model: MaskModel) -> None:
        """Paint into ``model`` from now on (e.g. for a new image); the overlay is rebuilt."""
        if self._model is not None:
            try:
                self._model.on_change.remove(self._on_model_change)
            except ValueError:
                pass
            self._model.end_stroke()
        self._model = model
        model.on_change.append(self._on_model_change)
        h, w = model.shape
        self._rgba = np.zeros((h, w, 4), np.uint8)
        self._rgba[..., :3] = MASK_COLOR
        self._on_model_change(None)
        self._update_input_rect()
        self._update_cursor()
        self.model_replaced.emit(model)
        self.radius_changed.emit(model.radius)
        self.mode_changed.emit(model.mode)
        self.history_changed.emit()

    def new_mask(self, shape: tuple[int, int]) -> MaskModel:
        """Start an empty mask of ``shape`` (height, width), keeping the radius and mode."""
        old = self._model
        model = MaskModel(shape)
        if old is not None:
            model.radius, model.mode = old.radius, old.mode
        self.set_mask_model(model)
        return model

    def _on_model_change(self, region) -> None:
        m = self.mask_model.mask
        alpha = np.uint8(round(255 * MASK_OPACITY))
        if region is None:
            self._rgba[..., 3] = np.where(m, alpha, 0)
        else:
            self._rgba[region + (3,)] = np.where(m[region], alpha, 0)
        self._show_overlay()
        self.mask_changed.emit(region)
        self.history_changed.emit()

    def _show_overlay(self) -> None:
        data = self._rgba
        if getattr(self.image_item, "axisOrder", "row-major") == "col-major":
            # the image item's first array axis is x: follow it, so both share one coordinate frame
            self.overlay.setOpts(axisOrder="col-major")
            data = np.ascontiguousarray(np.transpose(self._rgba, (1, 0, 2)))
        self.overlay.setImage(data, autoLevels=False, levels=None)

    @property
    def overlay_rgba(self) -> np.ndarray:
        """The overlay's RGBA buffer, H×W×4 uint8, at the image's resolution (for tests)."""
        return self._rgba

    # ------------------------------------------------------------------ coordinates
    def image_pos(self, scene_pos: QPointF) -> tuple[float, float]:
        """Scene position → mask coordinates ``(x, y)``: pixel (r, c) has its centre at (c, r)."""
        p = self.image_item.mapFromScene(scene_pos)
        if getattr(self.image_item, "axisOrder", "row-major") == "col-major":
            return p.y() - 0.5, p.x() - 0.5
        return p.x() - 0.5, p.y() - 0.5

    def _item_point(self, x: float, y: float) -> QPointF:
        if getattr(self.image_item, "axisOrder", "row-major") == "col-major":
            return QPointF(y + 0.5, x + 0.5)
        return QPointF(x + 0.5, y + 0.5)

    def _update_input_rect(self) -> None:
        h, w = self.mask_model.shape
        if getattr(self.image_item, "axisOrder", "row-major") == "col-major":
            h, w = w, h
        r = self.mask_model.radius
        self._input.set_rect(QRectF(-r, -r, w + 2 * r, h + 2 * r))

    # ------------------------------------------------------------------ painting (from _BrushInput)
    def _begin(self, scene_pos: QPointF) -> None:
        x, y = self.image_pos(scene_pos)
        self.mask_model.begin_stroke(x, y)

    def _move(self, scene_pos: QPointF) -> None:
        x, y = self.image_pos(scene_pos)
        self.mask_model.stroke_to(x, y)
        self._set_cursor_at(x, y)

    def _end(self) -> None:
        self.mask_model.end_stroke()
        self.history_changed.emit()

    # ------------------------------------------------------------------ state
    @property
    def active(self) -> bool:
        """While active, a left drag paints instead of panning."""
        return self._active

    def set_active(self, on: bool) -> None:
        on = bool(on)
        if on == self._active:
            return
        if not on:
            self.mask_model.end_stroke()
        self._active = on
        if on:
            self._input.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self._input.unsetCursor()
        self._update_cursor()
        self.actions["active"].setChecked(on)
        self.active_changed.emit(on)

    @property
    def radius(self) -> float:
        return self.mask_model.radius

    def set_radius(self, radius: float) -> None:
        old = self.mask_model.radius
        self.mask_model.radius = radius
        if self.mask_model.radius != old:
            self._update_input_rect()
            self._update_cursor()
            self.radius_changed.emit(self.mask_model.radius)

    def grow(self) -> None:
        self.set_radius(min(self.radius * RADIUS_STEP, MAX_RADIUS) if self.radius >= 1 else self.radius + 0.5)

    def shrink(self) -> None:
        self.set_radius(max(self.radius / RADIUS_STEP, MIN_RADIUS))

    @property
    def mode(self) -> str:
        return self.mask_model.mode

    def set_mode(self, mode: str) -> None:
        if mode != self.mask_model.mode:
            self.mask_model.mode = mode
            self.mode_changed.emit(mode)

    @property
    def mask_visible(self) -> bool:
        return self._visible

    def set_mask_visible(self, on: bool) -> None:
        on = bool(on)
        self.overlay.setVisible(on)
        if on != self._visible:
            self._visible = on
            self.actions["show"].setChecked(on)
            self.visibility_changed.emit(on)

    # ------------------------------------------------------------------ whole-mask edits
    def undo(self) -> bool:
        done = self.mask_model.undo()
        self.history_changed.emit()
        return done

    def redo(self) -> bool:
        done = self.mask_model.redo()
        self.history_changed.emit()
        return done

    def clear(self) -> bool:
        return self.mask_model.clear()

    def invert(self) -> bool:
        return self.mask_model.invert()

    def load(self, path: str | os.PathLike) -> None:
        """Load Ω from a PNG of the image's size (one undo step). Raises MaskFileError otherwise."""
        self.mask_model.set_mask(load_mask_png(path, self.mask_model.shape))

    def save(self, path: str | os.PathLike) -> None:
        save_mask_png(path, self.mask_model.mask)

    def corrupt(self, clean: np.ndarray, seed=None) -> tuple[np.ndarray, np.ndarray]:
        """``(corrupted, ground_truth)``: the painted region of ``clean`` replaced by uniform noise
        (section 4.2), and ``clean`` itself, kept as the ground truth."""
        clean = np.asarray(clean)
        if clean.dtype.kind != "f":
            clean = clean.astype(np.float32) / (255.0 if clean.dtype == np.uint8 else 1.0)
        return corrupt_with_noise(clean, self.mask_model.mask, seed), clean.copy()

    # ------------------------------------------------------------------ cursor
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if not self._active:
            return
        if not self._input.sceneBoundingRect().contains(scene_pos):  # off the image (and its rim)
            self._cursor_pos = None
        else:
            x, y = self.image_pos(scene_pos)
            self._cursor_pos = QPointF(x, y)
        self._update_cursor()

    def _on_leave(self) -> None:
        """The mouse left the image (or the view): no ring."""
        self._cursor_pos = None
        self._update_cursor()

    def _set_cursor_at(self, x: float, y: float) -> None:
        self._cursor_pos = QPointF(x, y)
        self._update_cursor()

    def _update_cursor(self) -> None:
        if not self._active or self._cursor_pos is None or self._model is None:
            self._cursor.setVisible(False)
            return
        r = self.mask_model.radius
        c = self._item_point(self._cursor_pos.x(), self._cursor_pos.y())
        rect = QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r)
        self._cursor.setRect(rect)
        self._cursor_inner.setRect(rect)
        self._cursor.setVisible(True)

    @property
    def cursor_item(self) -> QGraphicsEllipseItem:
        return self._cursor

    # ------------------------------------------------------------------ actions / shortcuts
    def _make_actions(self) -> None:
        def act(key, text, slot, shortcuts=(), checkable=False):
            a = QAction(text, self)
            if shortcuts:
                a.setShortcuts([QKeySequence(s) for s in shortcuts])
                a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.setCheckable(checkable)
            (a.toggled if checkable else a.triggered).connect(slot)
            self.actions[key] = a
            return a

        self.actions: dict[str, QAction] = {}
        act("active", "Brush", self.set_active, ("B",), checkable=True)
        act("undo", "Undo stroke", self.undo, (QKeySequence.StandardKey.Undo, "Ctrl+Z"))
        act("redo", "Redo stroke", self.redo, ("Ctrl+Shift+Z", "Ctrl+Y"))
        act("grow", "Larger brush", self.grow, ("]",))
        act("shrink", "Smaller brush", self.shrink, ("[",))
        act("clear", "Clear mask", self.clear)
        act("invert", "Invert mask", self.invert)
        act("show", "Show mask", self.set_mask_visible, ("M",), checkable=True)
        act("erase", "Erase", lambda on: self.set_mode("erase" if on else "paint"), ("E",), checkable=True)
        self.actions["show"].setChecked(True)
        # QKeySequence.StandardKey.Undo may already be Ctrl+Z: de-duplicate
        u = self.actions["undo"]
        seen, keys = set(), []
        for k in u.shortcuts():
            if k.toString() not in seen:
                seen.add(k.toString())
                keys.append(k)
        u.setShortcuts(keys)
        self.mode_changed.connect(lambda m: self._sync_check("erase", m == "erase"))

    def _sync_check(self, key: str, on: bool) -> None:
        with signals_blocked(self.actions[key]):
            self.actions[key].setChecked(on)

    def install_shortcuts(self, widget: QWidget) -> None:
        """Make the keyboard shortcuts work while ``widget`` (or a child) has the focus."""
        for a in self.actions.values():
            if a not in widget.actions():
                widget.addAction(a)

    # ------------------------------------------------------------------ teardown
    def detach(self) -> None:
        """Remove the overlay, cursor and input items and stop listening to the model and scene."""
        self.set_active(False)
        if self._model is not None:
            try:
                self._model.on_change.remove(self._on_model_change)
            except ValueError:
                pass
        scene = self.view_box.scene()
        if scene is not None:
            try:
                scene.sigMouseMoved.disconnect(self._on_mouse_moved)
            except (RuntimeError, TypeError):
                pass
            for item in (self._cursor, self._input, self.overlay):
                if item.scene() is not None:
                    item.scene().removeItem(item)
