"""Hover and click information: which layer is under the mouse, and what to say about it.

VTK has no built-in hover. A mouse-move observer, throttled so a fast mouse does not queue a
pick per event, asks a cell picker for the cell under the cursor; the picked mesh's ``node_id``
cell array names the node, and the scene's ``node_info`` says what to show. Only actors added
with ``pickable=True`` take part, so edges, labels and legends never steal the pick.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkCellPicker

from viz3d.graph import human, shape_text

#: Minimum seconds between two hover picks.
HOVER_INTERVAL = 0.08

_INFO_NAME = "viz3d-hover-info"


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
    >>> from viz3d.render.picking import pick_node
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

    Examples
    --------
    >>> from viz3d.render.picking import format_node_info
    >>> print(format_node_info({"name": "fc1", "type": "Linear", "params": 1234, "flops": 0}))
    fc1 (Linear)
    params: 1,234
    FLOPs: 0
    """
    head = f"{info.get('name', '?')} ({info.get('type', '?')})"
    if info.get("repeat", 1) > 1:
        head += f"  x{info['repeat']}"
    lines = [head]
    if info.get("in_shapes"):
        lines.append(f"in: {shape_text(info['in_shapes'])}")
    if info.get("out_shapes"):
        lines.append(f"out: {shape_text(info['out_shapes'])}")
    lines.append(f"params: {int(info.get('params', 0)):,}")
    lines.append(f"FLOPs: {human(int(info.get('flops', 0)))}")
    stats = info.get("stats")
    if stats:
        lines.append(
            "activation: mean {:.3g}  std {:.3g}  |max| {:.3g}".format(
                stats.get("mean", float("nan")),
                stats.get("std", float("nan")),
                stats.get("absmax", float("nan")),
            )
        )
    return "\n".join(lines)


def enable_hover(plotter: pv.Plotter, node_info: Mapping[int, Mapping[str, Any]]) -> None:
    """Show node facts in the upper-right corner when the mouse hovers or clicks a layer.

    Parameters
    ----------
    plotter : pyvista.Plotter
        An on-screen plotter with an interactor.
    node_info : mapping of int to dict
        ``node_id`` -> facts (see :func:`format_node_info`).
    """
    iren = plotter.iren
    if iren is None:
        return
    picker = _make_picker()
    state = {"last": 0.0, "node": None}

    def show(node: int | None) -> None:
        if node == state["node"]:
            return
        state["node"] = node
        text = format_node_info(node_info[node]) if node in node_info else ""
        plotter.add_text(text, position="upper_right", font_size=11, name=_INFO_NAME, color="black")
        plotter.render()

    def on_move(*_: Any) -> None:
        now = time.monotonic()
        if now - state["last"] < HOVER_INTERVAL:
            return
        state["last"] = now
        x, y = iren.interactor.GetEventPosition()
        show(pick_node(plotter, x, y, picker))

    def on_click(*_: Any) -> None:
        x, y = iren.interactor.GetEventPosition()
        show(pick_node(plotter, x, y, picker))

    iren.add_observer("MouseMoveEvent", on_move)
    iren.add_observer("LeftButtonPressEvent", on_click)


def _make_picker() -> vtkCellPicker:
    picker = vtkCellPicker()
    picker.SetTolerance(0.0005)
    return picker
