"""Shareable files from a :class:`~viz3d.render.Scene`: PNG, self-contained HTML, glTF and VTK.

The glTF and VTK writers build the scene's *export* flavour (``Scene.plotter(target="export")``):
2D actors are left out because glTF and VTK files cannot hold them, and the export-only meshes
(3D title text, colour-bar geometry) are drawn instead. HTML is the web viewer
(:mod:`viz3d.render.web`), which carries labels, texts, hover facts and textures itself. Files
are written to a temporary name and renamed, so an interrupted export never leaves a
half-written file behind.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import numpy as np
import pyvista as pv

from viz3d.errors import RenderError
from viz3d.files import atomic_write, finite_json
from viz3d.render.pyvista.mesh import to_pyvista
from viz3d.render.pyvista.plotter import build_plotter

if TYPE_CHECKING:
    from viz3d.render.scene import Scene

log = logging.getLogger(__name__)

#: Window size of the scene drawn for the glTF export.
EXPORT_WINDOW = (1280, 720)


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an ``(h, w, 3|4)`` uint8 image as PNG, atomically.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from viz3d.render.pyvista.export import write_png
    >>> p = write_png(os.path.join(tempfile.mkdtemp(), "x.png"), np.zeros((4, 4, 3), np.uint8))
    >>> p.stat().st_size > 0
    True
    """
    import imageio.v3 as iio

    def write(tmp: Path) -> None:
        iio.imwrite(tmp, np.asarray(image, dtype=np.uint8), extension=".png")

    return _atomic(path, write, ".png")


def export_html(scene: Scene, path: str | os.PathLike) -> Path:
    """Write ``scene`` as one self-contained HTML file that opens with no Python or network.

    Every scene becomes the three.js viewer (:func:`viz3d.render.web.write_viewer`): a layer
    scene with hover facts, module tree, search, overlays and expand/collapse; a loss landscape
    with alpha, beta and the loss on hover; transformer views with their token labels, texts and
    hover values; textured slices (feature maps, Grad-CAM) with their pictures.

    Examples
    --------
    >>> import os, tempfile, torch, viz3d
    >>> scene = viz3d.enhanced_3d_visualization(torch.nn.Linear(2, 3), input_shape=(1, 2),
    ...                                         show=False)
    >>> out = export_html(scene, os.path.join(tempfile.mkdtemp(), "linear.html"))
    >>> 'id="viz3d-data"' in out.read_text()
    True
    """
    from viz3d.render.web import write_viewer

    return write_viewer(scene, path)


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
    pl = build_plotter(scene, True, EXPORT_WINDOW, target="export", interactive=False)
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
    field data as JSON (``viz3d_metadata``). The blocks live in the sibling folder named like the
    file without ``.vtm`` (``out/scene.vtm`` -> ``out/scene/viz3d-<id>/``).

    Exporting again replaces the pair as one: the new blocks are written under a new name, then
    the ``.vtm`` is renamed over the old one, and only then are the old blocks deleted. An
    interruption at any point leaves the old file with its blocks or the new file with its
    blocks. The folder may hold only what an earlier export wrote; anything else is refused.

    Raises
    ------
    RenderError
        If ``path`` is not a ``.vtm`` name, if its folder holds files this exporter did not
        write (they are named; nothing is changed), or if writing fails (the old pair is kept).

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
        blocks.append(to_pyvista(spec.mesh), _safe_name(spec.name))
    blocks.field_data["viz3d_metadata"] = np.array([strict_json(_page_metadata(scene))])
    folder = path.with_suffix("")
    old_blocks = _vtm_blocks(path, folder)
    _refuse_foreign_files(folder, old_blocks)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=_STAGING))
    data = folder / f"{_VERSION}{staging.name[len(_STAGING) :]}"
    try:
        blocks.save(staging / path.name)
        (staging / path.stem).mkdir(exist_ok=True)  # VTK makes none for a scene without blocks
        # the blocks get their final name before the .vtm that points at them is swapped in
        os.replace(staging / path.stem, data)
        vtm = _rebase_vtm(staging / path.name, f"{path.stem}/{data.name}")
        _atomic(path, lambda tmp: tmp.write_bytes(vtm), ".vtm")
    except BaseException as exc:
        shutil.rmtree(data, ignore_errors=True)
        if not isinstance(exc, Exception) or isinstance(exc, RenderError):
            raise
        raise RenderError(f"could not write VTK multiblock {path}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_old_blocks(folder, old_blocks, keep=data)
    return path


# ----------------------------------------------------------------- internals
def _page_metadata(scene: Scene) -> dict[str, Any]:
    return {"title": scene.title, "metadata": scene.metadata, "nodes": scene.node_info}


def strict_json(data: Any) -> str:
    """``data`` as strict JSON: NaN and infinities become ``null``, unknown objects strings.

    Examples
    --------
    >>> strict_json({"max": float("inf"), "mean": [1.5, float("nan")]})
    '{"max": null, "mean": [1.5, null]}'
    """
    return json.dumps(finite_json(data), allow_nan=False, default=str)


#: Export folders: blocks being written, and the blocks of one finished export.
_STAGING, _VERSION = ".viz3d-partial-", "viz3d-"
_OURS = re.compile(rf"^({re.escape(_STAGING)}|{_VERSION})[a-z0-9_]{{8}}$")


def _vtm_blocks(vtm: Path, folder: Path) -> set[Path]:
    """The files inside ``folder`` that an existing ``vtm`` file points at."""
    try:
        root = ElementTree.parse(vtm).getroot()
    except (OSError, ElementTree.ParseError):
        return set()
    inside = folder.resolve()
    found = set()
    for element in root.iter():
        name = element.get("file")
        target = (vtm.parent / name).resolve() if name else None
        if target is not None and target.is_relative_to(inside) and target != inside:
            found.add(target)
    return found


def _refuse_foreign_files(folder: Path, ours: set[Path]) -> None:
    """Raise unless every file under ``folder`` was written by an earlier export."""
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_symlink() or not folder.is_dir():
        raise RenderError(
            f"export_vtk keeps the blocks of {folder}.vtm in the folder {folder}, but that is a "
            "file or a link; move it away or export to another name"
        )
    foreign = []
    for top, dirs, files in os.walk(folder):
        here = Path(top)
        if here == folder:
            dirs[:] = [d for d in dirs if not _OURS.match(d)]
        # links to folders are not followed: they count as files
        for name in files + [d for d in dirs if (here / d).is_symlink()]:
            entry = here / name
            if entry.is_symlink() or entry.resolve() not in ours:
                foreign.append(entry.relative_to(folder).as_posix())
    if foreign:
        shown = ", ".join(sorted(foreign)[:10]) + (", ..." if len(foreign) > 10 else "")
        raise RenderError(
            f"export_vtk will not replace {folder}/: it holds {len(foreign)} file(s) that no "
            f"earlier export wrote ({shown}); move them elsewhere or export to another .vtm name"
        )


def _rebase_vtm(vtm: Path, prefix: str) -> bytes:
    """The ``vtm`` file's text with its block paths (``<stem>/<file>``) moved under ``prefix``."""
    tree = ElementTree.parse(vtm)
    for element in tree.getroot().iter():
        name = element.get("file")
        if name:
            element.set("file", f"{prefix}/{PurePosixPath(name).name}")
    buffer = io.BytesIO()
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue()


def _remove_old_blocks(folder: Path, old: set[Path], keep: Path) -> None:
    """Delete the blocks of the replaced export (and unfinished ones), never ``keep``."""
    try:
        for file in old:
            file.unlink(missing_ok=True)
            parent = file.parent
            while parent != folder.resolve() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        for entry in folder.iterdir():
            if _OURS.match(entry.name) and entry != keep:
                shutil.rmtree(entry)
    except OSError as exc:
        log.warning("could not remove the replaced VTK blocks in %s: %s", folder, exc)


def _safe_name(name: str) -> str:
    """An actor/block name with only ``[A-Za-z0-9._-]`` (everything else becomes ``_``)."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in str(name))
    return cleaned or "actor"


def _atomic(path: str | os.PathLike, write: Callable[[Path], Any], suffix: str) -> Path:
    try:
        return atomic_write(path, write, suffix=suffix)
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError(f"could not write {path}: {exc}") from exc
