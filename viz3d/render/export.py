"""Shareable files from a :class:`~viz3d.render.Scene`: PNG, self-contained HTML, glTF and VTK.

Every writer builds the scene's *export* flavour (``Scene.plotter(target="export")``): 2D actors
are left out because vtk.js, glTF and VTK files cannot hold them, and the export-only meshes
(3D title text, colour-bar geometry) are drawn instead. Files are written to a temporary name
and renamed, so an interrupted export never leaves a half-written file behind.

HTML
    The vtk.js "OfflineLocalView" page shipped by ``trame-vtk`` with the scene serialised into
    it (the same format ``pyvista``'s ``export_html`` produces, without needing a trame
    server). Model-supplied strings never reach the page as markup: the scene data is a
    base64 blob, and the page title and the embedded node table are HTML/JSON-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv

from viz3d.errors import RenderError
from viz3d.render.scene import Scene

#: Window size of the serialised scene; the browser page resizes it to the window.
EXPORT_WINDOW = (1280, 720)


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an ``(h, w, 3|4)`` uint8 image as PNG, atomically.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from viz3d.render.export import write_png
    >>> p = write_png(os.path.join(tempfile.mkdtemp(), "x.png"), np.zeros((4, 4, 3), np.uint8))
    >>> p.stat().st_size > 0
    True
    """
    import imageio.v3 as iio

    def write(tmp: Path) -> None:
        iio.imwrite(tmp, np.asarray(image, dtype=np.uint8), extension=".png")

    return _atomic(path, write, ".png")


def export_html(scene: Scene, path: str | os.PathLike) -> Path:
    """Write ``scene`` as one self-contained HTML file that renders with WebGL, no Python needed.

    Parameters
    ----------
    scene : Scene
        The scene; its export flavour is drawn (no 2D texts; 3D text and legend meshes kept).
    path : str or PathLike
        Output file, usually ``*.html``.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import os, tempfile, pyvista as pv
    >>> from viz3d.render import Scene
    >>> scene = Scene(title="</title><b>cube</b>")
    >>> _ = scene.add_mesh(pv.Cube(), name="cube", color="tomato")
    >>> out = scene.export_html(os.path.join(tempfile.mkdtemp(), "cube.html"))
    >>> "<b>cube</b>" in out.read_text()
    False
    """
    try:
        from trame_vtk.tools.vtksz2html import HTML_VIEWER_PATH
    except ImportError as exc:
        raise RenderError(
            "HTML export needs the vtk.js viewer from trame-vtk: pip install trame-vtk"
        ) from exc
    payload = base64.b64encode(_vtksz(scene)).decode("ascii")
    page = HTML_VIEWER_PATH.read_text(encoding="utf-8")
    if "</body>" not in page:
        raise RenderError(f"unexpected vtk.js viewer page {HTML_VIEWER_PATH}: no </body>")
    title = html.escape(scene.title or "viz3d scene")
    head = f"<title>{title}</title>\n"
    page = page.replace("<head>", "<head>\n" + head, 1) if "<head>" in page else head + page
    loader = (
        f'<script type="application/json" id="viz3d-metadata">{_script_json(_page_metadata(scene))}</script>\n'
        "<script>\n"
        "function loadDataSet() {\n"
        "  const container = document.querySelector('.content') || document.querySelector('body');\n"
        f'  OfflineLocalView.load(container, {{ base64Str: "{payload}" }});\n'
        "}\n"
        "</script>\n"
    )
    idx = page.rindex("</body>")
    page = page[:idx] + loader + page[idx:]
    return _atomic(path, lambda tmp: tmp.write_text(page, encoding="utf-8"), ".html")


def export_gltf(scene: Scene, path: str | os.PathLike) -> Path:
    """Write ``scene`` as a glTF 2.0 file with its buffers inlined (one file; no GLSL effects).

    Examples
    --------
    >>> import os, tempfile, pyvista as pv
    >>> from viz3d.render import Scene
    >>> scene = Scene()
    >>> _ = scene.add_mesh(pv.Cube(), name="cube")
    >>> out = scene.export_gltf(os.path.join(tempfile.mkdtemp(), "cube.gltf"))
    >>> out.suffix
    '.gltf'
    """
    pl = scene.plotter(
        off_screen=True, window_size=EXPORT_WINDOW, target="export", interactive=False
    )
    try:
        for actor in pl.renderer.actors.values():
            _bake_colors(actor)
        return _atomic(path, lambda tmp: pl.export_gltf(str(tmp), inline_data=True), ".gltf")
    finally:
        pl.close()


def _bake_colors(actor: Any) -> None:
    """Turn colour-mapped scalars into per-point RGBA on a polygon mesh.

    VTK's glTF exporter takes polygons only and writes colour-mapped scalars as a lookup
    texture that readers reject; baked per-point colours (``COLOR_0``) read back everywhere.
    """
    mapper = actor.GetMapper()
    data = mapper.GetInput() if mapper is not None else None
    if data is None:
        return
    mesh = pv.wrap(data)
    mesh = mesh.extract_surface() if not isinstance(mesh, pv.PolyData) else mesh.copy()
    if mapper.GetScalarVisibility() and mesh.n_points:
        name = mapper.GetArrayName()
        if name and name in mesh.cell_data and name not in mesh.point_data:
            # glyphs have their own points, so averaging a cell value onto them keeps it exact
            mesh = mesh.cell_data_to_point_data(pass_cell_data=True)
        mapper.SetInputData(mesh)
        mapper.SetScalarModeToUsePointFieldData()
        mapper.SelectColorArray(name)
        mapper.Update()
        rgba = mapper.MapScalars(mesh, 1.0)
        if rgba is not None and rgba.GetNumberOfTuples() == mesh.n_points:
            mesh.point_data["COLOR"] = pv.convert_array(rgba)
            mapper.SetColorModeToDirectScalars()
            mapper.SelectColorArray("COLOR")
    mapper.SetInputData(mesh)


def export_vtk(scene: Scene, path: str | os.PathLike) -> Path:
    """Write ``scene``'s meshes as a ``.vtm`` multiblock (one block per actor) for ParaView.

    Block names are the actor names; the scene's title and metadata go into the multiblock's
    field data as JSON (``viz3d_metadata``). The ``.vtm`` file has a sibling folder with the
    blocks; both are replaced together.

    Examples
    --------
    >>> import os, tempfile, pyvista as pv
    >>> from viz3d.render import Scene
    >>> scene = Scene()
    >>> _ = scene.add_mesh(pv.Cube(), name="cube")
    >>> _ = scene.add_mesh(pv.Sphere(), name="ball")
    >>> out = scene.export_vtk(os.path.join(tempfile.mkdtemp(), "scene.vtm"))
    >>> pv.read(out).keys()
    ['cube', 'ball']
    """
    path = Path(path)
    if path.suffix != ".vtm":
        raise RenderError(
            f"export_vtk writes a .vtm multiblock; got {path.name!r}, use a .vtm name"
        )
    blocks = pv.MultiBlock()
    for spec in scene.actors:
        if spec.only == "screen":
            continue
        blocks.append(spec.mesh.copy(), _safe_name(spec.name))
    blocks.field_data["viz3d_metadata"] = np.array([json.dumps(_page_metadata(scene), default=str)])
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.with_suffix("")
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.") as tmpdir:
        tmp = Path(tmpdir) / path.name
        try:
            blocks.save(tmp)
        except Exception as exc:
            raise RenderError(f"could not write VTK multiblock {path}: {exc}") from exc
        if folder.exists():
            import shutil

            shutil.rmtree(folder)
        os.replace(Path(tmpdir) / path.stem, folder)
        os.replace(tmp, path)
    return path


# ----------------------------------------------------------------- internals
def _vtksz(scene: Scene) -> bytes:
    """The scene serialised as a vtk.js synchronisable-scene zip (``index.json``)."""
    from trame_vtk.modules.vtk.serializers import (
        SynchronizationContext,
        extract_array_hash,
        initialize_serializers,
        reference_id,
        serialize,
    )

    pl = scene.plotter(
        off_screen=True, window_size=EXPORT_WINDOW, target="export", interactive=False
    )
    try:
        # actor names may come from the model; the page never shows them, keep them plain anyway
        for name, actor in list(pl.renderer.actors.items()):
            actor.SetObjectName(_safe_name(name))
        pl.render()
        initialize_serializers()
        context = SynchronizationContext()
        window = pl.render_window
        camera = pl.renderer.GetActiveCamera()
        state = serialize(None, window, "viz3d-window", context, 1)
        if state is None:
            raise RenderError("vtk.js serialisation of the scene returned nothing")
        state["extra"] = {
            "vtkRefId": reference_id(window),
            "centerOfRotation": camera.GetFocalPoint(),
            "camera": reference_id(camera),
        }
        hashes = {
            entry["hash"]: dict(
                **entry, content=context.get_cached_data_array(entry["hash"], False)
            )
            for entry in extract_array_hash(state)
        }
    finally:
        pl.close()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "index.json", json.dumps({"hashes": hashes, "scene": state}), zipfile.ZIP_DEFLATED
        )
    return buffer.getvalue()


def _page_metadata(scene: Scene) -> dict[str, Any]:
    return {"title": scene.title, "metadata": scene.metadata, "nodes": scene.node_info}


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` can close or open a tag."""
    text = json.dumps(_finite(data), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(data: Any) -> Any:
    """``data`` with NaN/inf replaced by ``None`` (browsers reject them in JSON)."""
    if isinstance(data, float):
        return data if np.isfinite(data) else None
    if isinstance(data, dict):
        return {str(k): _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def _safe_name(name: str) -> str:
    """An actor/block name with only ``[A-Za-z0-9._-]`` (everything else becomes ``_``)."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in str(name))
    return cleaned or "actor"


def _atomic(path: str | os.PathLike, write: Callable[[Path], Any], suffix: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o644)  # mkstemp makes it private; exports are meant to be shared
    try:
        write(tmp)
        os.replace(tmp, path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, RenderError):
            raise
        raise RenderError(f"could not write {path}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
