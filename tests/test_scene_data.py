"""The scene is plain data: no PyVista to describe it, exact MeshData round trips, one backend.

The recipe (``viz3d.render.scene``) and the layout import no renderer; PyVista meshes become
``MeshData`` and back without losing points, cells or per-cell node ids; what a backend draws
from ``MeshData`` is what PyVista would draw from the original mesh.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pv = pytest.importorskip("pyvista")

from viz3d.errors import RenderError  # noqa: E402
from viz3d.render import Scene  # noqa: E402
from viz3d.render.mesh_data import MeshData  # noqa: E402
from viz3d.render.pyvista.mesh import to_pyvista  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = (160, 120)


@pytest.mark.parametrize("module", ["viz3d.render.scene", "viz3d.layout"])
def test_describing_a_scene_loads_no_pyvista(module):
    code = f"import {module}, sys; assert 'pyvista' not in sys.modules, sorted(sys.modules)"
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-2000:]


def _imports(path: Path, *, nested: bool) -> set[str]:
    """Modules a file imports: when loaded, or (``nested``) anywhere, functions included.

    ``if TYPE_CHECKING:`` blocks never count: they do not run.
    """
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif nested or isinstance(node, ast.If | ast.Try | ast.With):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit([n for n in getattr(node, field, []) if isinstance(n, ast.AST)])

    visit(ast.parse(path.read_text()).body)
    return found


def test_the_scene_and_its_pyvista_backend_do_not_import_each_other_in_a_circle():
    backend = sorted((ROOT / "viz3d" / "render" / "pyvista").glob("*.py"))
    assert len(backend) >= 10
    # no backend module imports the scene, not even inside a function
    offenders = {
        p.name: sorted(m for m in _imports(p, nested=True) if m.startswith("viz3d.render.scene"))
        for p in backend
    }
    assert not {k: v for k, v in offenders.items() if v}, offenders
    # the scene loads no backend when imported; its drawing methods import it when called
    scene = ROOT / "viz3d" / "render" / "scene.py"
    assert not [m for m in _imports(scene, nested=False) if "pyvista" in m]
    assert "viz3d.render.pyvista.plotter" in _imports(scene, nested=True)
    # the checker sees what it must: plotter.py imports picking inside a function only
    plotter = ROOT / "viz3d" / "render" / "pyvista" / "plotter.py"
    assert "viz3d.render.pyvista.mesh" in _imports(plotter, nested=False)
    assert "viz3d.render.pyvista.picking" not in _imports(plotter, nested=False)
    assert "viz3d.render.pyvista.picking" in _imports(plotter, nested=True)
    assert "viz3d.render.scene" not in _imports(plotter, nested=True)  # TYPE_CHECKING only


def _mixed_mesh() -> pv.PolyData:
    """Vertices, lines and polygons of several sizes in one mesh, with per-cell node ids."""
    points = np.random.default_rng(0).normal(size=(12, 3))
    mesh = pv.PolyData(points, verts=[1, 0, 1, 11], lines=[3, 1, 2, 3, 2, 4, 5])
    mesh.faces = [3, 6, 7, 8, 4, 8, 9, 10, 11, 3, 0, 5, 9]
    mesh.cell_data["node_id"] = np.array([40, 41, 42, 43, 44, 45, 46])
    mesh.point_data["weight"] = np.arange(12.0)
    return mesh


def test_mesh_data_round_trip_keeps_points_cells_and_node_ids_exactly():
    mesh = _mixed_mesh()
    data = MeshData.from_pyvista(mesh)
    assert (data.n_points, data.n_cells) == (12, 7)
    back = to_pyvista(data)
    np.testing.assert_array_equal(back.points, mesh.points)
    for kind in ("verts", "lines", "faces"):
        np.testing.assert_array_equal(getattr(back, kind), getattr(mesh, kind))
    np.testing.assert_array_equal(back.cell_data["node_id"], mesh.cell_data["node_id"])
    np.testing.assert_array_equal(back.point_data["weight"], mesh.point_data["weight"])
    assert data.bounds == pytest.approx(mesh.bounds)
    # the MeshData owns its arrays: changing the source mesh afterwards changes nothing
    mesh.points[:] = 0
    assert np.abs(data.points).sum() > 0


def test_strips_become_triangles_that_keep_their_node_id_and_area():
    strips = pv.Sphere(theta_resolution=8, phi_resolution=6).strip()
    strips.cell_data["node_id"] = np.arange(strips.n_cells) + 100
    assert strips.n_strips > 1
    data = MeshData.from_pyvista(strips)
    back = to_pyvista(data)
    assert back.n_strips == 0 and back.is_all_triangles
    assert back.area == pytest.approx(strips.triangulate().area)
    # a strip of k points is k - 2 triangles, each carrying its strip's node id
    sizes = [len(ids) for ids in _cells(strips.strips)]
    expected = np.repeat(np.arange(len(sizes)) + 100, [k - 2 for k in sizes])
    np.testing.assert_array_equal(data.cell_data["node_id"], expected)
    # one winding throughout: the triangulated surface is closed and consistently oriented
    normals = back.compute_normals(auto_orient_normals=False, consistent_normals=False)
    outward = np.einsum("ij,ij->i", normals.cell_data["Normals"], back.cell_centers().points)
    assert (np.sign(outward) == np.sign(outward[0])).all()


def _cells(conn: np.ndarray) -> list[np.ndarray]:
    out, k = [], 0
    while k < len(conn):
        out.append(conn[k + 1 : k + 1 + conn[k]])
        k += conn[k] + 1
    return out


def test_bad_mesh_data_is_refused_with_the_array_named():
    with pytest.raises(RenderError, match="node_id.*2 rows.*1 cell"):
        MeshData(np.eye(3), faces=[3, 0, 1, 2], cell_data={"node_id": [1, 2]})
    with pytest.raises(RenderError, match="point 5"):
        MeshData(np.eye(3), lines=[2, 0, 5])
    with pytest.raises(RenderError, match="MeshData or a pyvista mesh"):
        Scene().add_mesh([[0, 0, 0]], name="list")
    with pytest.raises(RenderError, match="'flat'.*texture coordinates"):
        Scene().add_mesh(
            MeshData(np.eye(3), faces=[3, 0, 1, 2]), name="flat", texture=np.ones((2, 2, 3))
        )
    with pytest.raises(RenderError, match=r"\(h, w, 3\)"):
        Scene().add_mesh(pv.Plane(), name="plane", texture=np.ones((2, 2)))


def _red_green_picture() -> np.ndarray:
    """A 2x2 image: red on the left column, green on the right."""
    image = np.zeros((2, 2, 3), np.uint8)
    image[:, 0] = (255, 0, 0)
    image[:, 1] = (0, 255, 0)
    return image


def test_a_textured_mesh_keeps_its_image_and_draws_it():
    plane = pv.Plane(i_size=2, j_size=2, direction=(0, 0, 1))
    scene = Scene(background="black")
    spec = scene.add_mesh(plane, name="picture", texture=pv.Texture(_red_green_picture()))
    image = spec.kwargs["texture"]
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, _red_green_picture())
    assert spec.mesh.texture_coordinates.shape == (plane.n_points, 2)
    scene.set_camera((0, 0, 4), (0, 0, 0), (0, 1, 0))
    pixels = scene.screenshot(window_size=SIZE).reshape(-1, 3).astype(int)
    red = (pixels[:, 0] > 150) & (pixels[:, 1] < 80)
    green = (pixels[:, 1] > 150) & (pixels[:, 0] < 80)
    assert red.sum() > 500 and green.sum() > 500, (red.sum(), green.sum())


def test_a_scene_built_from_mesh_data_draws_its_colours():
    quad = MeshData(
        np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float),
        faces=np.array([4, 0, 1, 2, 3]),
        cell_data={"node_id": np.array([0])},
    )
    pictures = []
    for colour in ("red", "blue"):
        scene = Scene(background="white", node_info={0: {"name": "quad"}})
        scene.add_mesh(quad, name="quad", color=colour, pickable=True, lighting=False)
        scene.set_camera((0, 0, 5), (0, 0, 0), (0, 1, 0))
        pictures.append(scene.screenshot(window_size=SIZE).reshape(-1, 3).astype(int))
    red, blue = pictures
    assert ((red[:, 0] > 200) & (red[:, 1] < 60) & (red[:, 2] < 60)).sum() > 2000
    assert ((blue[:, 2] > 200) & (blue[:, 0] < 60) & (blue[:, 1] < 60)).sum() > 2000
    assert ((red[:, 2] > 200) & (red[:, 0] < 60)).sum() == 0


def test_mesh_coloured_by_its_active_scalars_looks_as_pyvista_draws_it():
    sphere = pv.Sphere()
    sphere["height"] = sphere.points[:, 2]  # becomes the active scalars
    scene = Scene()
    spec = scene.add_mesh(sphere, name="ball", cmap="viridis", show_scalar_bar=False)
    assert spec.kwargs["scalars"] == "height"
    scene.set_camera((3, 0, 0), (0, 0, 0), (0, 0, 1))
    ours = scene.screenshot(window_size=SIZE).astype(int)
    pl = pv.Plotter(off_screen=True, window_size=list(SIZE))
    pl.set_background("white")
    pl.add_mesh(sphere, cmap="viridis", show_scalar_bar=False)
    pl.camera_position = [(3, 0, 0), (0, 0, 0), (0, 0, 1)]
    direct = pl.screenshot(return_img=True).astype(int)
    pl.close()
    assert len(np.unique(ours.reshape(-1, 3), axis=0)) > 50  # a gradient, not one colour
    assert np.abs(ours - direct).mean() < 1.0
