"""Hover and click information: which layer is under the mouse, and what to say about it.

VTK has no built-in hover. A mouse-move observer, throttled so a fast mouse does not queue a
pick per event, asks a cell picker for the cell under the cursor; the picked mesh's ``node_id``
cell array names the node, and the scene's ``node_info`` says what to show. Only actors added
with ``pickable=True`` take part, so edges, labels and legends never steal the pick.

The facts appear in a :class:`HoverPanel`: one text actor in the plotter theme's text colour on
an opaque panel chosen to contrast with it (light text on a dark panel or the reverse), placed in
the upper right corner clear of the colour bars. Only that actor changes, and the window is
redrawn only when the text does, never on a mouse move that stays on the same layer. A click on
a layer pins the panel to it; clicking the pinned layer again or empty space releases it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyvista as pv
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (registers the text renderer)
from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation
from vtkmodules.vtkRenderingCore import (
    vtkCellPicker,
    vtkTextActor,
    vtkTextProperty,
    vtkTextRenderer,
)

from viz3d.graph import human, shape_text

#: Minimum seconds between two hover picks.
HOVER_INTERVAL = 0.08
#: Name of the panel's actor in ``plotter.actors``.
PANEL_NAME = "viz3d-hover-info"
#: Panel colours for light and for dark text (sRGB, 0-1).
DARK_PANEL = (0.07, 0.08, 0.11)
LIGHT_PANEL = (0.97, 0.97, 0.98)
#: Gap in pixels between the panel and the window edge or a colour bar.
MARGIN = 10
#: A press and release closer than this many pixels is a click, not a camera drag.
CLICK_SLOP = 4

_TEXT = vtkTextRenderer.GetInstance()  # measures text as VTK will draw it
#: vtkCornerAnnotation slots at the top: upper left, upper right, upper edge.
_UPPER_CORNERS = (2, 3, 7)


def pick_node(
    plotter: pv.Plotter, x: float, y: float, picker: vtkCellPicker | None = None
) -> int | None:
    """The ``node_id`` of the pickable cell at display position ``(x, y)``, or ``None``.

    Parameters
    ----------
    plotter : pyvista.Plotter
        A plotter built by :meth:`viz3d.render.Scene.plotter` (rendered at least once).
    x, y : float
        Display coordinates in pixels, origin at the lower left (VTK's convention).
    picker : vtkCellPicker, optional
        Reuse a picker across calls.

    Examples
    --------
    >>> import numpy as np, pyvista as pv
    >>> from viz3d.render.pyvista.picking import pick_node
    >>> cube = pv.Cube().triangulate()
    >>> cube.cell_data["node_id"] = np.full(cube.n_cells, 7)
    >>> pl = pv.Plotter(off_screen=True, window_size=(100, 100))
    >>> _ = pl.add_mesh(cube, pickable=True)
    >>> _ = pl.render()
    >>> pick_node(pl, 50, 50)
    7
    >>> pl.close()
    """
    picker = picker or _make_picker()
    if not picker.Pick(x, y, 0, plotter.renderer):
        return None
    dataset, cell = picker.GetDataSet(), picker.GetCellId()
    if dataset is None or cell < 0:
        return None
    ids = dataset.GetCellData().GetArray("node_id")
    if ids is None:
        return None
    return int(ids.GetTuple1(cell))


def format_node_info(info: Mapping[str, Any]) -> str:
    """The multi-line text shown for a hovered node.

    Statistics that are missing or not finite (``None`` after a JSON round trip) read ``n/a``.

    Examples
    --------
    >>> from viz3d.render.pyvista.picking import format_node_info
    >>> print(format_node_info({"name": "fc1", "type": "Linear", "params": 1234, "flops": 0}))
    fc1 (Linear)
    params: 1,234
    FLOPs: 0
    >>> format_node_info({"name": "m", "stats": {"mean": 0.5, "std": None, "n_inf": 3}})
    'm (?)\\nparams: 0\\nFLOPs: 0\\nactivation: mean 0.5  std n/a  abs max n/a  (3 inf)'
    >>> format_node_info({"name": "fc", "type": "Linear", "notes": ["weight changed: rank 4"]})
    'fc (Linear)\\nparams: 0\\nFLOPs: 0\\nweight changed: rank 4'
    """
    head = f"{info.get('name', '?')} ({info.get('type', '?')})"
    if (info.get("repeat") or 1) > 1:
        head += f"  x{info['repeat']}"
    lines = [head]
    if info.get("in_shapes"):
        lines.append(f"in: {shape_text(info['in_shapes'])}")
    if info.get("out_shapes"):
        lines.append(f"out: {shape_text(info['out_shapes'])}")
    lines.append(f"params: {int(info.get('params') or 0):,}")
    lines.append(f"FLOPs: {human(int(info.get('flops') or 0))}")
    stats = info.get("stats")
    if stats:
        line = "activation: mean {}  std {}  abs max {}".format(
            *(_number(stats.get(key)) for key in ("mean", "std", "absmax"))
        )
        odd = [f"{stats[k]:,} {k[2:]}" for k in ("n_inf", "n_nan") if stats.get(k)]
        lines.append(line + (f"  ({', '.join(odd)})" if odd else ""))
    lines.extend(str(note) for note in info.get("notes") or ())
    return "\n".join(lines)


def contrast_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours given as 0-1 floats (1 to 21).

    Examples
    --------
    >>> from viz3d.render.pyvista.picking import contrast_ratio
    >>> round(contrast_ratio((0, 0, 0), (1, 1, 1)), 1)
    21.0
    """
    la, lb = sorted((_luminance(a), _luminance(b)))
    return (lb + 0.05) / (la + 0.05)


class HoverPanel:
    """The hover/click panel of one plotter: a single text actor that only changes its text.

    Parameters
    ----------
    plotter : pyvista.Plotter
        A plotter built by :meth:`viz3d.render.Scene.plotter`.
    node_info : mapping of int to dict
        ``node_id`` -> facts (see :func:`format_node_info`).
    font_size : int, default: 11
        Font size in points.

    Attributes
    ----------
    node : int or None
        The node shown (``None``: the panel is hidden).
    pinned : bool
        Whether a click holds the panel on :attr:`node` while the mouse moves.
    actor : vtkTextActor
        The panel (``plotter.actors[PANEL_NAME]``).

    Examples
    --------
    >>> import numpy as np, pyvista as pv
    >>> from viz3d.render.pyvista.picking import HoverPanel
    >>> cube = pv.Cube().triangulate()
    >>> cube.cell_data["node_id"] = np.full(cube.n_cells, 3)
    >>> pl = pv.Plotter(off_screen=True, window_size=(200, 150))
    >>> _ = pl.add_mesh(cube, pickable=True)
    >>> panel = HoverPanel(pl, {3: {"name": "fc", "type": "Linear", "params": 12}})
    >>> _ = pl.render()
    >>> panel.click(100, 75), panel.pinned, panel.text.splitlines()[0]
    (True, True, 'fc (Linear)')
    >>> panel.hover(2, 2), panel.node
    (False, 3)
    >>> pl.close()
    """

    def __init__(
        self,
        plotter: pv.Plotter,
        node_info: Mapping[int, Mapping[str, Any]],
        *,
        font_size: int = 11,
    ) -> None:
        self.plotter = plotter
        self.node_info = node_info
        self.node: int | None = None
        self.pinned = False
        self._text = ""
        self._picker = _make_picker()
        text_color = tuple(plotter.theme.font.color.float_rgb)
        self.panel_color = DARK_PANEL if _luminance(text_color) > 0.4 else LIGHT_PANEL
        self.actor = vtkTextActor()
        self.actor.SetTextScaleModeToNone()
        self.actor.GetPositionCoordinate().SetCoordinateSystemToDisplay()
        prop = self.actor.GetTextProperty()
        prop.SetFontSize(font_size)
        prop.SetColor(*text_color)
        prop.SetBackgroundColor(*self.panel_color)
        prop.SetBackgroundOpacity(1.0)  # opaque: the contrast must not depend on what is behind
        prop.SetFrame(True)
        prop.SetFrameColor(*text_color)
        prop.SetFrameWidth(1)
        prop.SetJustificationToRight()
        prop.SetVerticalJustificationToTop()
        prop.SetLineSpacing(1.15)
        self.actor.SetVisibility(False)
        plotter.add_actor(self.actor, name=PANEL_NAME, reset_camera=False, pickable=False)

    @property
    def text(self) -> str:
        """The text on the panel (empty while hidden)."""
        return self._text if self.actor.GetVisibility() else ""

    def hover(self, x: float, y: float) -> bool:
        """The mouse is at display ``(x, y)``: show that node unless pinned; ``True`` if redrawn."""
        if self.pinned:
            return False
        return self.show(pick_node(self.plotter, x, y, self._picker))

    def click(self, x: float, y: float) -> bool:
        """A click at ``(x, y)``: pin the layer there, or release the pin (same layer or empty)."""
        node = pick_node(self.plotter, x, y, self._picker)
        self.pinned = node is not None and not (self.pinned and node == self.node)
        return self.show(node, force=True)

    def show(self, node: int | None, *, force: bool = False) -> bool:
        """Put ``node``'s facts on the panel (hide it for ``None``); redraw only on a change."""
        if node == self.node and not force:
            return False
        self.node = node
        facts = self.node_info.get(node) if node is not None else None
        if facts is None:
            self.actor.SetVisibility(False)
        else:
            self._text = format_node_info(facts)
            if self.pinned:
                self._text += "\n[pinned: click it again or empty space to release]"
            # a space each side keeps the letters off the frame
            self.actor.SetInput("\n".join(f" {line} " for line in self._text.splitlines()))
            self.actor.SetVisibility(True)
            self.place()
        self.plotter.render()
        return True

    def place(self) -> None:
        """Put the panel in the upper right, left of the colour bars and below the title."""
        width, height = self.plotter.window_size
        panel_w = self._measure(self.actor.GetTextProperty(), self.actor.GetInput())[0]
        right, top = width - MARGIN, height - MARGIN
        for x0, _, _, y1 in self._bar_boxes():
            if y1 > height / 2:  # a bar reaching into the upper half: keep the panel left of it
                right = min(right, x0 - MARGIN)
        for x0, y0, x1, _ in self._text_boxes():
            if x0 < right and x1 > right - panel_w:
                top = min(top, y0 - MARGIN)
        self.actor.SetDisplayPosition(int(right), int(top))

    def _bar_boxes(self) -> list[tuple[float, float, float, float]]:
        """Display rectangles ``(x0, y0, x1, y1)`` of the colour bars, titles included.

        A bar's title is centred over it and may be wider than the bar's own rectangle.
        """
        width, height = self.plotter.window_size
        boxes = []
        for bar in self.plotter.scalar_bars.values():
            (x0, y0), (w, h) = bar.GetPosition(), bar.GetPosition2()
            x0, x1, y0, y1 = x0 * width, (x0 + w) * width, y0 * height, (y0 + h) * height
            if bar.GetTitle():
                title_w, title_h = self._measure(bar.GetTitleTextProperty(), bar.GetTitle())
                middle = (x0 + x1) / 2
                x0, x1 = min(x0, middle - title_w / 2), max(x1, middle + title_w / 2)
                y1 += title_h
            boxes.append((x0, y0, x1, y1))
        return boxes

    def _text_boxes(self) -> list[tuple[float, float, float, float]]:
        """Display rectangles of the texts in the upper corners and along the top edge."""
        width, height = self.plotter.window_size
        boxes = []
        for actor in self.plotter.renderer.GetViewProps():
            if not isinstance(actor, vtkCornerAnnotation) or not actor.GetVisibility():
                continue
            prop = vtkTextProperty()
            prop.ShallowCopy(actor.GetTextProperty())
            texts = {k: actor.GetText(k) for k in range(8) if actor.GetText(k)}
            # VTK picks the largest font size f at which the texts fit the window, then draws
            # at linear * f**nonlinear: an upper bound of that, as VTK's fit is a little tighter
            prop.SetFontSize(100)
            fit = min(
                100 * min(width / max(w, 1), height / max(h, 1))
                for w, h in (self._measure(prop, t) for t in texts.values())
            )
            size = actor.GetLinearFontScaleFactor() * fit ** actor.GetNonlinearFontScaleFactor()
            size = min(max(size, actor.GetMinimumFontSize()), actor.GetMaximumFontSize())
            prop.SetFontSize(int(np.ceil(size)))
            for corner in _UPPER_CORNERS:
                if corner in texts:
                    w, h = self._measure(prop, texts[corner])
                    x0 = {2: 0.0, 3: width - w}.get(corner, (width - w) / 2)
                    boxes.append((x0, height - h, x0 + w, height))
        return boxes

    def _measure(self, prop: vtkTextProperty, text: str) -> tuple[float, float]:
        """Width and height in pixels of ``text`` drawn with ``prop``."""
        box = [0, 0, 0, 0]
        if not _TEXT.GetBoundingBox(prop, text, box, self.plotter.render_window.GetDPI()):
            return 0.0, 0.0
        return float(box[1] - box[0]), float(box[3] - box[2])

    def bounding_box(self) -> tuple[float, float, float, float]:
        """Display rectangle ``(x0, y0, x1, y1)`` the panel covers (after a render)."""
        box = [0.0] * 4
        self.actor.GetBoundingBox(self.plotter.renderer, box)  # relative to the anchor
        x, y = self.actor.GetPosition()
        return (x + box[0], y + box[2], x + box[1], y + box[3])


def enable_hover(
    plotter: pv.Plotter, node_info: Mapping[int, Mapping[str, Any]]
) -> HoverPanel | None:
    """Show node facts in the upper right when the mouse hovers a layer; a click pins them.

    Parameters
    ----------
    plotter : pyvista.Plotter
        A plotter with an interactor (on screen, or off screen with PyVista's generic one).
    node_info : mapping of int to dict
        ``node_id`` -> facts (see :func:`format_node_info`).

    Returns
    -------
    HoverPanel or None
        The panel (``None`` when the plotter has no interactor).
    """
    iren = plotter.iren
    if iren is None:
        return None
    panel = HoverPanel(plotter, node_info)
    state: dict[str, Any] = {"last": 0.0, "press": None, "timer": None, "where": (0, 0)}

    def pick_latest() -> None:
        state["last"] = time.monotonic()
        panel.hover(*state["where"])

    def on_move(*_: Any) -> None:
        # while a button is down the camera moves: picking then would only slow the drag
        if state["press"] is not None:
            return
        state["where"] = iren.interactor.GetEventPosition()
        wait = HOVER_INTERVAL - (time.monotonic() - state["last"])
        if wait <= 0:
            pick_latest()
        elif state["timer"] is None:
            # the mouse may stop inside the interval: pick where it stopped once it is over
            state["timer"] = iren.interactor.CreateOneShotTimer(max(1, round(wait * 1000))) or None

    def on_timer(*_: Any) -> None:
        if state["timer"] is not None and iren.interactor.GetTimerEventId() == state["timer"]:
            state["timer"] = None
            if state["press"] is None:
                pick_latest()

    def on_press(*_: Any) -> None:
        state["press"] = iren.interactor.GetEventPosition()

    def on_release(*_: Any) -> None:
        press, state["press"] = state["press"], None
        x, y = iren.interactor.GetEventPosition()
        if press is not None and max(abs(x - press[0]), abs(y - press[1])) <= CLICK_SLOP:
            panel.click(x, y)

    iren.add_observer("MouseMoveEvent", on_move)
    iren.add_observer("TimerEvent", on_timer)
    iren.add_observer("LeftButtonPressEvent", on_press)
    iren.add_observer("LeftButtonReleaseEvent", on_release)
    return panel


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) and np.isfinite(value) else "n/a"


def _luminance(rgb: Sequence[float]) -> float:
    """WCAG relative luminance of an sRGB colour (0-1 floats)."""
    c = np.asarray(rgb[:3], dtype=float)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def _make_picker() -> vtkCellPicker:
    picker = vtkCellPicker()
    picker.SetTolerance(0.0005)
    return picker
