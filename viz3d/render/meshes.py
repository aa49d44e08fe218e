"""Merged meshes for many glyphs at once, built with numpy (no per-glyph VTK objects).

Thousands of small meshes merged one by one with VTK take seconds; a template shape repeated
with numpy broadcasting takes milliseconds. Every builder returns one :class:`pyvista.PolyData`
whose cell arrays ``node_id`` (which node a cell belongs to) and ``value`` (its colour value)
make picking and colouring a lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyvista as pv

# unit cube corners and its 6 quads (outward winding)
_CUBE_POINTS = (
    np.array(
        [
            [-1, -1, -1],
            [1, -1, -1],
            [1, 1, -1],
            [-1, 1, -1],
            [-1, -1, 1],
            [1, -1, 1],
            [1, 1, 1],
            [-1, 1, 1],
        ],
        dtype=float,
    )
    / 2
)
_CUBE_QUADS = np.array(
    [[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [2, 3, 7, 6], [0, 4, 7, 3], [1, 2, 6, 5]]
)


def boxes(
    centers: np.ndarray,
    sizes: np.ndarray,
    node_ids: np.ndarray,
    cell_arrays: dict[str, np.ndarray] | None = None,
) -> pv.PolyData:
    """Axis-aligned boxes, one per row, merged into one mesh (6 quads each).

    Parameters
    ----------
    centers, sizes : array of shape (n, 3)
    node_ids : array of shape (n,)
        Stored per cell as ``node_id``.
    cell_arrays : dict, optional
        Extra per-box arrays (shape ``(n,)`` or ``(n, k)``) repeated onto each box's cells.

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render.meshes import boxes
    >>> mesh = boxes(np.zeros((2, 3)), np.ones((2, 3)), np.array([4, 9]))
    >>> mesh.n_cells, sorted(set(mesh.cell_data["node_id"].tolist()))
    (12, [4, 9])
    """
    return _repeat(_CUBE_POINTS, _CUBE_QUADS, centers, sizes, node_ids, cell_arrays)


def template_glyphs(
    template: pv.PolyData,
    centers: np.ndarray,
    sizes: np.ndarray,
    node_ids: np.ndarray,
    cell_arrays: dict[str, np.ndarray] | None = None,
) -> pv.PolyData:
    """Copies of a triangulated ``template`` (fitting the unit cube) scaled to ``sizes``.

    Examples
    --------
    >>> import numpy as np, pyvista as pv
    >>> from viz3d.render.meshes import template_glyphs
    >>> ball = pv.Sphere(radius=0.5, theta_resolution=8, phi_resolution=6)
    >>> glyphs = template_glyphs(ball, np.zeros((3, 3)), np.ones((3, 3)), np.arange(3))
    >>> glyphs.n_cells == 3 * ball.n_cells
    True
    """
    tri = template.triangulate()
    faces = tri.faces.reshape(-1, 4)[:, 1:]
    return _repeat(
        np.asarray(tri.points, dtype=float), faces, centers, sizes, node_ids, cell_arrays
    )


def polylines(
    lines: Sequence[np.ndarray], cell_arrays: dict[str, np.ndarray] | None = None
) -> pv.PolyData:
    """Many polylines (each ``(k, 3)``) in one mesh, one line cell each.

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render.meshes import polylines
    >>> polylines([np.zeros((2, 3)), np.ones((5, 3))]).n_lines
    2
    """
    if not lines:
        return pv.PolyData()
    counts = np.array([len(p) for p in lines])
    points = np.concatenate(lines)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cells = np.empty(counts.sum() + len(counts), dtype=np.int64)
    heads = starts + np.arange(len(counts))
    cells[heads] = counts
    mask = np.ones(cells.size, dtype=bool)
    mask[heads] = False
    cells[mask] = np.arange(counts.sum())
    mesh = pv.PolyData(points, lines=cells)
    for key, values in (cell_arrays or {}).items():
        mesh.cell_data[key] = np.asarray(values)
    return mesh


def points(coords: np.ndarray, point_arrays: dict[str, np.ndarray] | None = None) -> pv.PolyData:
    """A point cloud (vertex cells) with point arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render.meshes import points
    >>> points(np.zeros((4, 3)), {"value": np.arange(4.0)}).n_points
    4
    """
    mesh = pv.PolyData(np.asarray(coords, dtype=float).reshape(-1, 3))
    for key, values in (point_arrays or {}).items():
        mesh.point_data[key] = np.asarray(values)
    return mesh


def _repeat(
    template_points: np.ndarray,
    template_faces: np.ndarray,
    centers: np.ndarray,
    sizes: np.ndarray,
    node_ids: np.ndarray,
    cell_arrays: dict[str, np.ndarray] | None,
) -> pv.PolyData:
    n = len(centers)
    if n == 0:
        return pv.PolyData()
    p, (f, k) = len(template_points), template_faces.shape
    pts = (
        template_points[None, :, :] * np.asarray(sizes)[:, None, :]
        + np.asarray(centers)[:, None, :]
    )
    idx = template_faces[None, :, :] + (np.arange(n) * p)[:, None, None]
    cells = np.concatenate([np.full((n * f, 1), k), idx.reshape(-1, k)], axis=1).ravel()
    mesh = pv.PolyData(pts.reshape(-1, 3), faces=cells)
    mesh.cell_data["node_id"] = np.repeat(np.asarray(node_ids), f)
    for key, values in (cell_arrays or {}).items():
        mesh.cell_data[key] = np.repeat(np.asarray(values), f, axis=0)
    return mesh
