"""A scene's meshes for the web viewer: triangles, lines, points, colours and textures.

Layer scenes are drawn by the viewer from their layout; everything else a scene holds (loss
surfaces, contours and trajectories, gradient outlines, transformer views, textured feature-map
and Grad-CAM slices) travels as plain geometry: vertex positions, triangle and segment indices,
one colour per vertex (computed here from the actor's ``scalars``/``cmap``/``clim`` or its solid
``color``, as PyVista would draw it), the point arrays shown on hover (the loss of a landscape
surface, the weight of an attention arc) and, for textured actors, texture coordinates and the
picture as a PNG ``data:`` URI.

Meshes are read as :class:`~viz3d.render.mesh_data.MeshData` (a PyVista mesh is copied into
one first), so nothing here needs PyVista.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

import numpy as np

from viz3d.render.mesh_data import MeshData
from viz3d.render.web.encode import f4, i4, map_colors, rgb_hex, to_rgb255, u1

log = logging.getLogger(__name__)

#: Actors of ``build_scene`` that the viewer draws itself from the layout.
LAYOUT_ACTORS = frozenset({"layers", "ops", "neurons", "edges", "skips"})
#: Point labels of ``build_scene`` that the viewer replaces by its own labels.
LAYOUT_LABELS = frozenset({"layer-labels", "badges"})
#: Most point arrays of one mesh offered on hover, and most points for hover at all.
HOVER_ARRAYS, HOVER_POINTS = 4, 200_000
#: Cell arrays that index nodes for picking: no fact worth a tooltip row.
INTERNAL_ARRAYS = frozenset({"node_id"})
#: Longest side of a texture sent to the page (larger pictures are scaled down).
MAX_TEXTURE = 1024


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
        mesh = spec.mesh  # a MeshData: Scene.add_mesh converts every mesh
        if not mesh.n_points:
            continue
        out.append(_actor(spec.name, mesh, spec.kwargs))
    return out


def point_labels(scene: Any, has_layout: bool) -> list[dict[str, Any]]:
    """The scene's 3D-anchored labels (``add_point_labels``) as ``{text, position}``."""
    return [
        {"text": str(text), "position": [float(v) for v in point]}
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
        values = _named_array(spec.mesh, kw["scalars"])
        lo, hi = _clim(values if values is not None else np.empty(0), kw)
        return {
            "title": str(title).strip(),
            "clim": [lo, hi],
            "stops": [rgb_hex(c) for c in _stops(str(kw["cmap"]))],
        }
    return None


def texture_uri(image: Any) -> str:
    """A picture (``pyvista.Texture`` or ``(h, w[, 3|4])`` array) as a PNG ``data:`` URI.

    Row 0 of the array is the top of the picture (``pyvista.Texture.to_array`` order), as in
    the PNG; sides longer than :data:`MAX_TEXTURE` pixels are scaled down.

    Examples
    --------
    >>> import numpy as np
    >>> texture_uri(np.zeros((2, 3, 3), np.uint8)).startswith("data:image/png;base64,")
    True
    """
    from PIL import Image

    rgb = np.asarray(image.to_array() if hasattr(image, "to_array") else image)
    if rgb.dtype != np.uint8:
        scale = 255.0 if rgb.dtype.kind == "f" and rgb.max(initial=0) <= 1 else 1.0
        rgb = np.clip(np.nan_to_num(rgb.astype(float) * scale), 0, 255).astype(np.uint8)
    if rgb.ndim == 3 and rgb.shape[2] == 1:
        rgb = rgb[..., 0]
    picture = Image.fromarray(np.ascontiguousarray(rgb))
    if max(picture.size) > MAX_TEXTURE:
        picture.thumbnail((MAX_TEXTURE, MAX_TEXTURE), Image.Resampling.BOX)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _stops(cmap: str) -> np.ndarray:
    import matplotlib

    return matplotlib.colormaps[cmap](np.linspace(0, 1, 11))


def _actor(name: str, mesh: MeshData, kwargs: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "points": f4(mesh.points),
        "triangles": i4(_triangles(mesh.faces)),
        "segments": i4(_segments(mesh.lines)),
        "vertices": i4(_cells(mesh.verts)[1]),
        "opacity": float(kwargs.get("opacity", 1.0)),
        "point_size": float(kwargs.get("point_size", 5.0)),
        "spheres": bool(kwargs.get("render_points_as_spheres", False)),
        "lit": kwargs.get("lighting", True) is not False,
        "color": _solid(kwargs),
        "hover": {},
    }
    if kwargs.get("texture") is not None:
        if mesh.texture_coordinates is None:
            log.info("web viewer: actor %r has a texture but no texture coordinates", name)
        else:
            entry["uv"] = f4(mesh.texture_coordinates)
            entry["texture"] = texture_uri(kwargs["texture"])
    rgb = _vertex_colors(mesh, kwargs)
    if rgb is not None:
        entry["rgb"] = u1(rgb)
    if mesh.n_points <= HOVER_POINTS:
        entry["hover"] = {key: f4(values) for key, values in _hover_arrays(mesh, kwargs)}
    return entry


def _hover_arrays(mesh: MeshData, kwargs: dict[str, Any]) -> list[tuple[str, np.ndarray]]:
    """Numeric 1D arrays per point: the coloured one first, then the others (cell arrays
    averaged onto points, exact for glyphs and bars, whose cells own their points)."""
    names = [*mesh.point_data, *(k for k in mesh.cell_data if k not in mesh.point_data)]
    coloured = kwargs.get("scalars")
    if isinstance(coloured, str) and coloured in names:
        names.remove(coloured)
        names.insert(0, coloured)
    out = []
    for key in names:
        if key in INTERNAL_ARRAYS or key.startswith("vtk"):
            continue
        values = _named_array(mesh, key)
        if values is not None and values.ndim == 1 and values.dtype.kind in "fiu":
            out.append((key, values.astype(float)))
    return out[:HOVER_ARRAYS]


def _named_array(mesh: MeshData, key: str) -> np.ndarray | None:
    """Point array ``key``, or cell array ``key`` averaged onto the points (as VTK does)."""
    if key in mesh.point_data:
        return np.asarray(mesh.point_data[key])
    if key in mesh.cell_data:
        return _cell_to_points(mesh, np.asarray(mesh.cell_data[key]))
    return None


def _cell_to_points(mesh: MeshData, values: np.ndarray) -> np.ndarray:
    """Each point gets the mean of its cells' values (cells ordered verts, lines, faces)."""
    owner_parts, id_parts, offset = [], [], 0
    for conn in (mesh.verts, mesh.lines, mesh.faces):
        sizes, ids = _cells(conn)
        owner_parts.append(np.repeat(np.arange(offset, offset + len(sizes)), sizes))
        id_parts.append(ids)
        offset += len(sizes)
    owners, ids = np.concatenate(owner_parts), np.concatenate(id_parts)
    values = np.asarray(values, dtype=float)
    shape = (mesh.n_points, *values.shape[1:])
    total, count = np.zeros(shape), np.zeros(mesh.n_points)
    np.add.at(total, ids, values[owners])
    np.add.at(count, ids, 1)
    count = np.maximum(count, 1).reshape(-1, *([1] * (values.ndim - 1)))
    return total / count


def _cells(conn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sizes of the cells of a flat ``[k, i0, .., ik-1, k, ...]`` array, and their point
    ids concatenated."""
    conn = np.asarray(conn, dtype=np.int64).reshape(-1)
    if not conn.size:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    k = int(conn[0])
    if k > 0 and conn.size % (k + 1) == 0 and np.all(conn[:: k + 1] == k):
        cells = conn.reshape(-1, k + 1)  # the common case: cells of one size
        return cells[:, 0], cells[:, 1:].reshape(-1)
    sizes, starts, pos = [], [], 0
    while pos < conn.size:
        sizes.append(int(conn[pos]))
        starts.append(pos + 1)
        pos += sizes[-1] + 1
    ids = np.concatenate([conn[s : s + n] for s, n in zip(starts, sizes)])
    return np.asarray(sizes, np.int64), ids


def _triangles(faces: np.ndarray) -> np.ndarray:
    """Polygons as ``(t, 3)`` triangle fans (VTK's own split of a convex polygon)."""
    sizes, ids = _cells(faces)
    starts = np.cumsum(sizes) - sizes
    fans = np.maximum(sizes - 2, 0)
    first = np.repeat(starts, fans)
    # j-th triangle of a polygon: (i0, i_{j+1}, i_{j+2})
    j = np.arange(fans.sum()) - np.repeat(np.cumsum(fans) - fans, fans)
    tris = np.column_stack([ids[first], ids[first + j + 1], ids[first + j + 2]])
    return tris.reshape(-1, 3)


def _segments(lines: np.ndarray) -> np.ndarray:
    """Polylines as ``(s, 2)`` consecutive point pairs."""
    sizes, ids = _cells(lines)
    ends = np.cumsum(sizes)
    pairs = np.column_stack([ids[:-1], ids[1:]]) if len(ids) else np.empty((0, 2), np.int64)
    keep = np.ones(len(pairs), bool)
    keep[(ends - 1)[:-1]] = False  # no pair across the end of one polyline and the next
    return pairs[keep]


def _solid(kwargs: dict[str, Any]) -> str:
    from matplotlib.colors import to_rgb

    color = kwargs.get("color")
    if color is None:
        return "#ffffff"
    if not isinstance(color, str):
        values = np.asarray(color, dtype=float).reshape(-1)[:3]
        return rgb_hex(values / 255 if values.max(initial=0) > 1 else values)
    try:
        return rgb_hex(to_rgb(color))
    except ValueError:
        return "#ffffff"


def _vertex_colors(mesh: MeshData, kwargs: dict[str, Any]) -> np.ndarray | None:
    """One RGB byte triple per point, or ``None`` for a solid colour."""
    scalars = kwargs.get("scalars")
    if scalars is None:
        return None
    if isinstance(scalars, str):
        values = _named_array(mesh, scalars)
        if values is None:
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
