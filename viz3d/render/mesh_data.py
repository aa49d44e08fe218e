"""``MeshData``: a mesh as plain numpy arrays, readable by every backend without PyVista.

A :class:`viz3d.render.Scene` stores its geometry in this form, so describing a picture never
loads VTK: the PyVista backend turns it into a ``pyvista.PolyData`` when it draws
(:func:`viz3d.render.pyvista.mesh.to_pyvista`), the web viewer reads the arrays directly.

Cells use VTK's flat connectivity (``[k, i0, .., ik-1, k, ...]``) in VTK's order - vertices,
then lines, then polygons - so a ``cell_data`` row ``c`` belongs to the same cell here and in
the ``PolyData`` the backend makes. Triangle strips are stored as the triangles they stand for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viz3d.errors import RenderError


@dataclass(eq=False)
class MeshData:
    """Points, cells and their arrays of one mesh (VTK layout, numpy only).

    Attributes
    ----------
    points : numpy.ndarray
        ``(n, 3)`` float point coordinates.
    faces : numpy.ndarray
        Flat polygon connectivity ``[k, i0, .., ik-1, k, ...]`` (int64); may be empty.
    lines : numpy.ndarray
        Flat polyline connectivity, as ``faces``; may be empty.
    verts : numpy.ndarray
        Flat vertex-cell connectivity, as ``faces``; may be empty.
    cell_data : dict of str to numpy.ndarray
        One row per cell, cells ordered vertices, lines, faces (as VTK numbers them).
    point_data : dict of str to numpy.ndarray
        One row per point.
    texture_coordinates : numpy.ndarray or None
        ``(n, 2)`` texture coordinates, or ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render.mesh_data import MeshData
    >>> tri = MeshData(np.eye(3), faces=np.array([3, 0, 1, 2]),
    ...                cell_data={"node_id": np.array([7])})
    >>> tri.n_points, tri.n_cells, tri.bounds
    (3, 1, (0.0, 1.0, 0.0, 1.0, 0.0, 1.0))
    """

    points: np.ndarray
    faces: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    lines: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    verts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    cell_data: dict[str, np.ndarray] = field(default_factory=dict)
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    texture_coordinates: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=float).reshape(-1, 3)
        self.faces = _connectivity(self.faces, "faces")
        self.lines = _connectivity(self.lines, "lines")
        self.verts = _connectivity(self.verts, "verts")
        self.cell_data = {str(k): np.asarray(v) for k, v in self.cell_data.items()}
        self.point_data = {str(k): np.asarray(v) for k, v in self.point_data.items()}
        n_points, n_cells = self.n_points, self.n_cells
        for kind, arrays, rows in (
            ("cell", self.cell_data, n_cells),
            ("point", self.point_data, n_points),
        ):
            for key, values in arrays.items():
                if len(values) != rows:
                    raise RenderError(
                        f"MeshData {kind}_data[{key!r}] has {len(values)} rows but the mesh has "
                        f"{rows} {kind}s; give one row per {kind}"
                    )
        for name, conn in (("faces", self.faces), ("lines", self.lines), ("verts", self.verts)):
            ids = conn[_index_positions(conn)]
            if ids.size and (ids.min() < 0 or ids.max() >= n_points):
                raise RenderError(
                    f"MeshData {name} refer to point {int(ids.max())} but there are only "
                    f"{n_points} points"
                )
        if self.texture_coordinates is not None:
            tc = np.asarray(self.texture_coordinates, dtype=float)
            if tc.shape != (n_points, 2):
                raise RenderError(
                    f"MeshData texture_coordinates have shape {tc.shape}; expected ({n_points}, 2)"
                )
            self.texture_coordinates = tc

    def __repr__(self) -> str:
        return (
            f"MeshData({self.n_points} points, {self.n_cells} cells, "
            f"cell arrays {sorted(self.cell_data)}, point arrays {sorted(self.point_data)})"
        )

    @property
    def n_points(self) -> int:
        """Number of points."""
        return len(self.points)

    @property
    def n_cells(self) -> int:
        """Number of cells: vertices + lines + faces."""
        return sum(_cell_count(c) for c in (self.verts, self.lines, self.faces))

    @property
    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """``(xmin, xmax, ymin, ymax, zmin, zmax)`` of the points (all zeros when empty)."""
        if not self.n_points:
            return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        lo, hi = self.points.min(axis=0), self.points.max(axis=0)
        return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]), float(lo[2]), float(hi[2]))

    def cells(self, kind: str) -> list[np.ndarray]:
        """The point indices of each cell of one kind: ``"verts"``, ``"lines"`` or ``"faces"``.

        Examples
        --------
        >>> import numpy as np
        >>> from viz3d.render.mesh_data import MeshData
        >>> MeshData(np.zeros((3, 3)), lines=[2, 0, 1, 3, 0, 1, 2]).cells("lines")
        [array([0, 1]), array([0, 1, 2])]
        """
        if kind not in ("verts", "lines", "faces"):
            raise RenderError(f"MeshData has verts, lines and faces; got {kind!r}")
        conn = getattr(self, kind)
        return [conn[start + 1 : start + 1 + conn[start]] for start in _cell_starts(conn)]

    def copy(self) -> MeshData:
        """A deep copy (the arrays are copied too)."""
        return MeshData(
            self.points.copy(),
            self.faces.copy(),
            self.lines.copy(),
            self.verts.copy(),
            {k: v.copy() for k, v in self.cell_data.items()},
            {k: v.copy() for k, v in self.point_data.items()},
            None if self.texture_coordinates is None else self.texture_coordinates.copy(),
        )

    @classmethod
    def from_pyvista(cls, mesh: Any) -> MeshData:
        """Copy a PyVista mesh (any ``pyvista.DataSet``) into plain arrays.

        Datasets that are not ``PolyData`` are reduced to their outer surface first; triangle
        strips become triangles (each strip's cell arrays repeated onto its triangles). The
        active texture coordinates go to :attr:`texture_coordinates`, not to ``point_data``.

        Parameters
        ----------
        mesh : pyvista.DataSet
            The mesh; only its attributes are read (no PyVista import here).

        Returns
        -------
        MeshData

        Examples
        --------
        >>> import pyvista as pv
        >>> from viz3d.render.mesh_data import MeshData
        >>> cube = pv.Cube()
        >>> cube.cell_data["node_id"] = range(6)
        >>> data = MeshData.from_pyvista(cube)
        >>> data.n_cells, data.cell_data["node_id"].tolist()
        (6, [0, 1, 2, 3, 4, 5])
        """
        if not hasattr(mesh, "points") or not hasattr(mesh, "cell_data"):
            raise RenderError(
                f"MeshData.from_pyvista needs a pyvista mesh, got {type(mesh).__name__}; "
                "wrap VTK data with pyvista.wrap(...)"
            )
        if not hasattr(mesh, "faces"):
            mesh = _surface(mesh)
        strips = np.asarray(getattr(mesh, "strips", np.empty(0)), dtype=np.int64)
        n_plain = _cell_count(mesh.verts) + _cell_count(mesh.lines) + _cell_count(mesh.faces)
        strip_faces, strip_rows = _triangulate_strips(strips, n_plain)
        rows = np.concatenate([np.arange(n_plain), strip_rows])
        tc_name = getattr(mesh.point_data, "active_texture_coordinates_name", None)
        tc = mesh.point_data[tc_name] if tc_name else None
        return cls(
            points=np.array(mesh.points, dtype=float),
            faces=np.concatenate([np.asarray(mesh.faces, dtype=np.int64), strip_faces]),
            lines=np.array(mesh.lines, dtype=np.int64),
            verts=np.array(mesh.verts, dtype=np.int64),
            cell_data={k: np.array(mesh.cell_data[k])[rows] for k in mesh.cell_data},
            point_data={k: np.array(mesh.point_data[k]) for k in mesh.point_data if k != tc_name},
            texture_coordinates=None if tc is None else np.array(tc, dtype=float),
        )


def texture_image(texture: Any) -> np.ndarray:
    """A texture as an ``(h, w, 3|4)`` uint8 image (a ``pyvista.Texture`` is read back).

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render.mesh_data import texture_image
    >>> texture_image(np.ones((2, 3, 3)) * 255).dtype
    dtype('uint8')
    """
    if hasattr(texture, "to_array"):  # a pyvista.Texture
        texture = texture.to_array()
    image = np.asarray(texture)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.size == 0:
        raise RenderError(
            f"a texture must be an (h, w, 3) or (h, w, 4) image, got shape {image.shape}"
        )
    if image.dtype != np.uint8:
        if not np.all(np.isfinite(image)) or image.min() < 0 or image.max() > 255:
            raise RenderError("a texture's values must be finite and within 0..255 (uint8)")
        image = image.astype(np.uint8)
    return np.ascontiguousarray(image)


def _surface(mesh: Any) -> Any:
    """The outer surface of a non-polygonal dataset as ``PolyData``."""
    try:  # pyvista >= 0.47 warns unless the algorithm is named
        return mesh.extract_surface(
            pass_pointid=False, pass_cellid=False, algorithm="dataset_surface"
        )
    except TypeError:
        return mesh.extract_surface(pass_pointid=False, pass_cellid=False)


def _connectivity(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values if values is not None else [], dtype=np.int64).reshape(-1)
    _cell_count(arr, name)
    return arr


def _cell_starts(conn: np.ndarray, name: str = "cells") -> np.ndarray:
    """Positions of the size entries of a flat connectivity array."""
    if not conn.size:
        return np.empty(0, np.int64)
    k = int(conn[0])
    if k > 0 and conn.size % (k + 1) == 0 and np.all(conn[:: k + 1] == k):
        return np.arange(0, conn.size, k + 1)  # the common case: cells of one size
    starts, pos = [], 0
    while pos < conn.size:
        size = int(conn[pos])
        if size < 0 or pos + size >= conn.size:
            raise RenderError(
                f"MeshData {name} connectivity is malformed at entry {pos} (cell size {size}, "
                f"{conn.size} entries); use [k, i0, .., ik-1, k, ...]"
            )
        starts.append(pos)
        pos += size + 1
    return np.asarray(starts, np.int64)


def _cell_count(conn: Any, name: str = "cells") -> int:
    return len(_cell_starts(np.asarray(conn, dtype=np.int64).reshape(-1), name))


def _index_positions(conn: np.ndarray) -> np.ndarray:
    """A mask of the point-index entries (not the size entries) of a connectivity array."""
    mask = np.ones(conn.size, bool)
    mask[_cell_starts(conn)] = False
    return mask


def _triangulate_strips(strips: np.ndarray, first_row: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangles of VTK triangle strips (winding kept) and the strip row each came from."""
    faces, rows = [], []
    for row, start in enumerate(_cell_starts(strips, "strips")):
        ids = strips[start + 1 : start + 1 + strips[start]]
        n = len(ids) - 2
        if n < 1:
            continue
        j = np.arange(n)
        odd = j % 2 == 1
        a = np.where(odd, ids[j + 1], ids[j])  # odd triangles flip to keep one winding
        b = np.where(odd, ids[j], ids[j + 1])
        faces.append(np.column_stack([np.full(n, 3), a, b, ids[j + 2]]).reshape(-1))
        rows.append(np.full(n, first_row + row))
    if not faces:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(faces).astype(np.int64), np.concatenate(rows)
