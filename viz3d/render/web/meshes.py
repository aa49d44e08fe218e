"""A scene's PyVista meshes for the web viewer: triangles, lines and points with their colours.

Layer scenes are drawn by the viewer from their layout; everything else a scene holds (loss
surfaces, contours and trajectories, gradient outlines) travels as plain geometry: vertex
positions, triangle and segment indices, one colour per vertex (computed here from the actor's
``scalars``/``cmap``/``clim`` or its solid ``color``, as PyVista would draw it) and the point
arrays shown on hover (the loss of a landscape surface, say). Textured actors keep their
geometry, drawn in their base colour (the page carries no textures).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyvista as pv

from viz3d.render.web.encode import f4, i4, map_colors, rgb_hex, to_rgb255, u1

log = logging.getLogger(__name__)

#: Actors of ``build_scene`` that the viewer draws itself from the layout.
LAYOUT_ACTORS = frozenset({"layers", "ops", "neurons", "edges", "skips"})
#: Point labels of ``build_scene`` that the viewer replaces by its own labels.
LAYOUT_LABELS = frozenset({"layer-labels", "badges"})
#: Most point arrays of one mesh offered on hover, and most points for hover at all.
HOVER_ARRAYS, HOVER_POINTS = 4, 200_000


def mesh_actors(scene: Any, has_layout: bool) -> list[dict[str, Any]]:
    """The scene's meshes (screen flavour) as viewer data; layout actors left out if drawn.

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render import Scene
    >>> scene = Scene()
    >>> _ = scene.add_mesh(pv.Cube(), name="cube", color="red")
    >>> [(m["name"], m["color"], m["triangles"]["dtype"]) for m in mesh_actors(scene, False)]
    [('cube', '#ff0000', 'i4')]
    """
    out = []
    for spec in scene.actors:
        if spec.only == "export" or (has_layout and spec.name in LAYOUT_ACTORS):
            continue
        mesh = spec.mesh if isinstance(spec.mesh, pv.PolyData) else spec.mesh.extract_surface()
        if not mesh.n_points:
            continue
        out.append(_actor(spec.name, mesh, spec.kwargs))
    return out


def point_labels(scene: Any, has_layout: bool) -> list[dict[str, Any]]:
    """The scene's 3D-anchored labels (``add_point_labels``) as ``{text, position}``."""
    return [
        {"text": text, "position": [float(v) for v in point]}
        for spec in scene.point_labels
        if not (has_layout and spec.name in LAYOUT_LABELS)
        for text, point in zip(spec.labels, spec.points)
    ]


def mesh_legend(scene: Any) -> dict[str, Any] | None:
    """The colour bar of the first actor coloured through a colour map, if any."""
    for spec in scene.actors:
        kw = spec.kwargs
        if spec.only == "export" or not isinstance(kw.get("scalars"), str) or kw.get("rgb"):
            continue
        if kw.get("show_scalar_bar") is False or not kw.get("cmap"):
            continue
        title = (kw.get("scalar_bar_args") or {}).get("title") or kw["scalars"]
        name = kw["scalars"]
        data = spec.mesh.point_data if name in spec.mesh.point_data else spec.mesh.cell_data
        lo, hi = _clim(np.asarray(data[name]) if name in data else np.empty(0), kw)
        return {
            "title": str(title),
            "clim": [lo, hi],
            "stops": [rgb_hex(c) for c in _stops(str(kw["cmap"]))],
        }
    return None


def _stops(cmap: str) -> np.ndarray:
    import matplotlib

    return matplotlib.colormaps[cmap](np.linspace(0, 1, 11))


def _actor(name: str, mesh: pv.PolyData, kwargs: dict[str, Any]) -> dict[str, Any]:
    tri = mesh.triangulate() if mesh.n_faces or mesh.n_strips else None
    triangles = tri.regular_faces if tri is not None else np.empty((0, 3), int)
    points = tri.points if tri is not None else mesh.points
    source = tri if tri is not None else mesh
    entry: dict[str, Any] = {
        "name": name,
        "points": f4(points),
        "triangles": i4(triangles),
        "segments": i4(_segments(source.lines)),
        "vertices": i4(_vertex_cells(source.verts)),
        "opacity": float(kwargs.get("opacity", 1.0)),
        "point_size": float(kwargs.get("point_size", 5.0)),
        "spheres": bool(kwargs.get("render_points_as_spheres", False)),
        "color": _solid(kwargs),
        "hover": {},
    }
    if "texture" in kwargs:
        log.info("web viewer: actor %r loses its texture (drawn in its base colour)", name)
    rgb = _vertex_colors(source, kwargs)
    if rgb is not None:
        entry["rgb"] = u1(rgb)
    if len(points) <= HOVER_POINTS:
        arrays = [
            (key, np.asarray(source.point_data[key], dtype=float))
            for key in source.point_data
            if np.asarray(source.point_data[key]).ndim == 1
            and np.asarray(source.point_data[key]).dtype.kind in "fiu"
        ]
        entry["hover"] = {key: f4(values) for key, values in arrays[:HOVER_ARRAYS]}
    return entry


def _segments(lines: np.ndarray) -> np.ndarray:
    """Line cells (``[n, i0, .., in-1, n, ...]``) as consecutive point pairs."""
    out, k = [], 0
    lines = np.asarray(lines, dtype=int)
    while k < len(lines):
        n = lines[k]
        ids = lines[k + 1 : k + 1 + n]
        out.append(np.column_stack([ids[:-1], ids[1:]]))
        k += n + 1
    return np.concatenate(out) if out else np.empty((0, 2), int)


def _vertex_cells(verts: np.ndarray) -> np.ndarray:
    verts = np.asarray(verts, dtype=int)
    out, k = [], 0
    while k < len(verts):
        n = verts[k]
        out.append(verts[k + 1 : k + 1 + n])
        k += n + 1
    return np.concatenate(out) if out else np.empty(0, int)


def _solid(kwargs: dict[str, Any]) -> str:
    color = kwargs.get("color")
    try:
        return rgb_hex(np.asarray(pv.Color(color if color is not None else "white").float_rgb))
    except ValueError:
        return "#ffffff"


def _vertex_colors(mesh: pv.PolyData, kwargs: dict[str, Any]) -> np.ndarray | None:
    """One RGB byte triple per point, or ``None`` for a solid colour."""
    scalars = kwargs.get("scalars")
    if scalars is None:
        return None
    if isinstance(scalars, str):
        if scalars in mesh.point_data:
            values = np.asarray(mesh.point_data[scalars])
        elif scalars in mesh.cell_data:
            values = np.asarray(mesh.cell_data_to_point_data().point_data[scalars])
        else:
            return None
    else:
        values = np.asarray(scalars)
        if len(values) != mesh.n_points:
            return None
    if kwargs.get("rgb") or (values.ndim == 2 and values.shape[1] in (3, 4)):
        values = values[:, :3].astype(float)
        return values if values.max(initial=0) > 1 else values * 255
    values = values.astype(float)
    cmap = str(kwargs.get("cmap") or "viridis")
    nan = to_rgb255(kwargs.get("nan_color", "#8a8f98"))
    return map_colors(values, cmap, _clim(values, kwargs), nan)


def _clim(values: np.ndarray, kwargs: dict[str, Any]) -> tuple[float, float]:
    """The actor's ``clim``, else the finite range of its scalars (as PyVista does)."""
    if kwargs.get("clim") is not None:
        lo, hi = kwargs["clim"]
        return float(lo), float(hi)
    values = np.asarray(values, dtype=float).reshape(-1)
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
