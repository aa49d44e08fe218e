"""``MeshData`` to PyVista: the one place a scene's plain arrays become VTK objects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvista as pv

from viz3d.render.mesh_data import MeshData


def to_pyvista(mesh: MeshData) -> pv.PolyData:
    """A ``pyvista.PolyData`` with ``mesh``'s points, cells and arrays (cell order kept).

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render.mesh_data import MeshData
    >>> from viz3d.render.pyvista.mesh import to_pyvista
    >>> cube = pv.Cube()
    >>> cube.cell_data["node_id"] = range(6)
    >>> back = to_pyvista(MeshData.from_pyvista(cube))
    >>> back.n_cells, back.cell_data["node_id"].tolist() == list(range(6))
    (6, True)
    """
    out = pv.PolyData()
    out.points = mesh.points
    if mesh.verts.size:
        out.verts = mesh.verts
    if mesh.lines.size:
        out.lines = mesh.lines
    if mesh.faces.size:
        out.faces = mesh.faces
    # set_array makes no array the active scalars: an actor is coloured only by what its
    # add_mesh options name (Scene.add_mesh turns a pyvista mesh's active scalars into one)
    for key, values in mesh.point_data.items():
        out.point_data.set_array(values, key)
    for key, values in mesh.cell_data.items():
        out.cell_data.set_array(values, key)
    # VTK's normals filter names its output "Normals": keep them shading the surface
    for data in (out.point_data, out.cell_data):
        if "Normals" in data and np.shape(data["Normals"])[1:] == (3,):
            data.active_normals_name = "Normals"
    if mesh.texture_coordinates is not None:
        out.active_texture_coordinates = mesh.texture_coordinates
    return out


def add_mesh_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A scene actor's options for ``Plotter.add_mesh``: a ``texture`` image becomes a texture.

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render.pyvista.mesh import add_mesh_kwargs
    >>> type(add_mesh_kwargs({"texture": np.zeros((2, 2, 3), np.uint8)})["texture"]).__name__
    'Texture'
    """
    if not isinstance(kwargs.get("texture"), np.ndarray):
        return kwargs
    return {**kwargs, "texture": pv.Texture(kwargs["texture"])}
