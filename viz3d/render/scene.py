"""``Scene``: a renderer-independent recipe for a 3D picture, drawn by a backend on demand.

A :class:`Scene` stores *what* to draw as plain data - meshes (:class:`MeshData`) with their
``add_mesh`` options, texts, point labels, a camera, a background, a title, metadata, per-node
hover information, the layout and overlays - and imports no renderer. Two backends read it: the
PyVista backend (:mod:`viz3d.render.pyvista`: window, PNG, movies, glTF, VTK) and the web viewer
(:mod:`viz3d.render.web`). The drawing methods here (:meth:`Scene.plotter`,
:meth:`Scene.screenshot`, the movies and exports) load their backend when called.

The recipe is the stable surface other parts of viz3d build on:

* the layer renderer (:func:`viz3d.render.build_scene`) fills it from a
  :class:`viz3d.layout.Layout`,
* the landscape renderer adds surface meshes with :meth:`Scene.add_mesh` / :meth:`Scene.add_text`,
* the PyVista backend replays it into a plotter (:mod:`viz3d.render.pyvista.plotter`); its
  movies then move the camera frame by frame, starting from :attr:`Scene.camera`,
* the web viewer (:mod:`viz3d.render.web`) writes it, with its layout, as one HTML page.

Where an actor is drawn
-----------------------
2D actors (texts, point labels, scalar bars) exist only on screen: glTF and VTK files cannot
carry them. A mesh added with ``only="export"`` is drawn in the exports instead (for
example the title as 3D text geometry), and one added with ``only="screen"`` only on screen.
``Scene.plotter(target="export")`` builds the export flavour.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from viz3d.errors import RenderError
from viz3d.render.camera import WINDOW_SIZE, Camera
from viz3d.render.jupyter import cell_number, in_jupyter
from viz3d.render.mesh_data import MeshData, texture_image

if TYPE_CHECKING:
    import pyvista as pv

__all__ = ["WINDOW_SIZE", "ActorSpec", "Camera", "PointLabelSpec", "Scene", "TextSpec"]

Target = Literal["screen", "export"]


@dataclass
class ActorSpec:
    """One mesh of a scene and how to draw it.

    Attributes
    ----------
    name : str
        Unique actor name (also the block name in exports; sanitised there).
    mesh : MeshData
        The geometry; for pickable actors a ``node_id`` cell array maps each cell to a node.
    kwargs : dict
        Keyword arguments for :meth:`pyvista.Plotter.add_mesh` (a ``texture`` is an
        ``(h, w, 3|4)`` uint8 image).
    pickable : bool
        Whether hovering/clicking the actor reports the node under the mouse.
    shader : str or None
        Name of a GLSL effect in ``shaders/`` applied to this actor only
        (see :mod:`viz3d.render.pyvista.shaders`); ignored by exports.
    only : {"screen", "export"} or None
        Draw the actor only on screen or only in exports; ``None`` draws it everywhere.
    """

    name: str
    mesh: MeshData
    kwargs: dict[str, Any] = field(default_factory=dict)
    pickable: bool = False
    shader: str | None = None
    only: Target | None = None


@dataclass
class TextSpec:
    """A 2D text drawn on screen (dropped by exports: add 3D text geometry for those)."""

    name: str
    text: str
    position: str | tuple[float, float] = "upper_left"
    font_size: int = 14
    color: str = "black"


@dataclass
class PointLabelSpec:
    """2D labels anchored to 3D points (on screen only)."""

    name: str
    points: np.ndarray
    labels: list[str]
    kwargs: dict[str, Any] = field(default_factory=dict)


class Scene:
    """A 3D picture as data: actors, labels, camera, title, metadata and hover information.

    Parameters
    ----------
    title : str
        Title shown on screen (and, as 3D text, in exports built by the layer renderer).
    background : str or tuple
        Background colour (any PyVista colour).
    metadata : dict, optional
        Free-form facts about the scene (totals, colour/size scales); kept in exports.
    node_info : mapping of int to dict, optional
        For pickable actors: the ``node_id`` cell value -> the facts shown on hover/click
        (``name``, ``type``, shapes, params, FLOPs, activation statistics).

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render import Scene
    >>> scene = Scene(title="a cube")
    >>> _ = scene.add_mesh(pv.Cube(), name="cube", color="tomato")
    >>> scene.set_camera((4, 3, 2), (0, 0, 0), (0, 0, 1))
    >>> image = scene.screenshot(window_size=(320, 240))
    >>> image.shape
    (240, 320, 3)
    """

    def __init__(
        self,
        *,
        title: str = "",
        background: str | Sequence[float] = "white",
        metadata: Mapping[str, Any] | None = None,
        node_info: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        self.title = title
        self.background = background
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.node_info: dict[int, dict[str, Any]] = {
            int(k): dict(v) for k, v in (node_info or {}).items()
        }
        self.actors: list[ActorSpec] = []
        self.texts: list[TextSpec] = []
        self.point_labels: list[PointLabelSpec] = []
        self.camera: Camera | None = None
        self.lighting: str = "light kit"
        #: The layout a layer scene was drawn from (set by ``build_scene``); the web viewer
        #: draws it.
        self.layout: Any = None
        #: Extra colourings of the layers for the web viewer's overlay switcher (by name).
        self.overlays: dict[str, Any] = {}
        self._shown_in_cell: int | None = None

    def __repr__(self) -> str:
        return (
            f"Scene({self.title!r}: {len(self.actors)} actors, {len(self.texts)} texts, "
            f"{len(self.point_labels)} label sets, {len(self.node_info)} nodes)"
        )

    # ----------------------------------------------------------------- building
    def add_mesh(
        self,
        mesh: MeshData | pv.DataSet,
        *,
        name: str,
        pickable: bool = False,
        shader: str | None = None,
        only: Target | None = None,
        **add_mesh_kwargs: Any,
    ) -> ActorSpec:
        """Add a mesh drawn with ``pyvista.Plotter.add_mesh(mesh, **add_mesh_kwargs)``.

        Parameters
        ----------
        mesh : MeshData or pyvista.DataSet
            The geometry; a PyVista mesh is copied into a :class:`MeshData` (its active scalars,
            if it has some and no colour is given, become ``scalars``). Merge many small shapes
            into one mesh: VTK slows down with thousands of actors.
        name : str
            Unique name; adding a mesh with an existing name replaces it.
        pickable : bool, default: False
            Report the node under the mouse; the mesh needs a ``node_id`` cell array whose
            values are keys of :attr:`node_info`.
        shader : str, optional
            A GLSL effect from ``shaders/`` (e.g. ``"glow"``) for this actor only.
        only : {"screen", "export"}, optional
            Draw only on screen or only in exports (see the module docstring).
        **add_mesh_kwargs
            Passed to :meth:`pyvista.Plotter.add_mesh` (``color``, ``scalars``, ``cmap``,
            ``clim``, ``opacity``, ``show_scalar_bar`` ...); ``texture`` (a ``pyvista.Texture``
            or an image array) is stored as an ``(h, w, 3|4)`` uint8 image.

        Returns
        -------
        ActorSpec
            The stored spec (mutable until the next :meth:`plotter` call).

        Examples
        --------
        >>> import pyvista as pv
        >>> from viz3d.render import Scene
        >>> spec = Scene().add_mesh(pv.Sphere(), name="ball", color="gold", smooth_shading=True)
        >>> spec.kwargs["color"]
        'gold'
        """
        kwargs = dict(add_mesh_kwargs)
        if not isinstance(mesh, MeshData):
            if not hasattr(mesh, "points") or not hasattr(mesh, "cell_data"):
                raise RenderError(
                    f"Scene.add_mesh({name!r}) needs a MeshData or a pyvista mesh, got "
                    f"{type(mesh).__name__}; wrap VTK data with pyvista.wrap(...)"
                )
            kwargs = _active_scalars(mesh, kwargs)
            mesh = MeshData.from_pyvista(mesh)
        if kwargs.get("texture") is not None:
            kwargs["texture"] = texture_image(kwargs["texture"])
            if mesh.texture_coordinates is None:
                raise RenderError(
                    f"textured mesh {name!r} has no texture coordinates; give MeshData "
                    "texture_coordinates (or a pyvista mesh with active texture coordinates)"
                )
        if pickable and "node_id" not in mesh.cell_data:
            raise RenderError(
                f"pickable mesh {name!r} has no 'node_id' cell array; add "
                "mesh.cell_data['node_id'] = <node index per cell> so picks can be looked up"
            )
        if only not in (None, "screen", "export"):
            raise RenderError(f"only must be None, 'screen' or 'export', got {only!r}")
        spec = ActorSpec(name, mesh, kwargs, pickable, shader, only)
        self.actors = [a for a in self.actors if a.name != name] + [spec]
        return spec

    def add_text(
        self,
        text: str,
        *,
        position: str | tuple[float, float] = "upper_left",
        font_size: int = 14,
        color: str = "black",
        name: str | None = None,
    ) -> TextSpec:
        """Add a 2D text (on screen only; exports need 3D text geometry instead).

        Parameters
        ----------
        text : str
            The text; newlines start new lines.
        position : str or (float, float), default: "upper_left"
            A corner name understood by :meth:`pyvista.Plotter.add_text` or a pixel position.
        font_size : int, default: 14
            Font size in points.
        color : str, default: "black"
            Text colour.
        name : str, optional
            Unique name (defaults to ``"text-<n>"``).

        Examples
        --------
        >>> from viz3d.render import Scene
        >>> Scene().add_text("hello", position="lower_right").position
        'lower_right'
        """
        spec = TextSpec(name or f"text-{len(self.texts)}", str(text), position, font_size, color)
        self.texts = [t for t in self.texts if t.name != spec.name] + [spec]
        return spec

    def add_point_labels(
        self,
        points: np.ndarray | Sequence[Sequence[float]],
        labels: Sequence[str],
        *,
        name: str = "labels",
        **kwargs: Any,
    ) -> PointLabelSpec:
        """Add labels anchored to 3D points (``pyvista.Plotter.add_point_labels``; screen only).

        Examples
        --------
        >>> from viz3d.render import Scene
        >>> spec = Scene().add_point_labels([[0, 0, 0]], ["origin"], font_size=12)
        >>> spec.labels
        ['origin']
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        if len(pts) != len(labels):
            raise RenderError(f"{len(pts)} label points but {len(labels)} labels in {name!r}")
        spec = PointLabelSpec(name, pts, [str(s) for s in labels], dict(kwargs))
        self.point_labels = [p for p in self.point_labels if p.name != name] + [spec]
        return spec

    def set_camera(
        self,
        position: Sequence[float],
        focal_point: Sequence[float],
        up: Sequence[float] = (0.0, 0.0, 1.0),
        *,
        view_angle: float = 30.0,
    ) -> None:
        """Set the camera pose used by every plotter built from this scene.

        Examples
        --------
        >>> from viz3d.render import Scene
        >>> scene = Scene()
        >>> scene.set_camera((10, 0, 0), (0, 0, 0), (0, 0, 1))
        >>> scene.camera.position
        (10.0, 0.0, 0.0)
        """
        self.camera = Camera(_vec3(position), _vec3(focal_point), _vec3(up), float(view_angle))

    @property
    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """``(xmin, xmax, ymin, ymax, zmin, zmax)`` of every mesh drawn on screen."""
        boxes = [
            np.asarray(a.mesh.bounds, dtype=float)
            for a in self.actors
            if a.mesh.n_points and a.only != "export"
        ]
        if not boxes:
            return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        arr = np.stack(boxes)
        lo, hi = arr[:, 0::2].min(axis=0), arr[:, 1::2].max(axis=0)
        return (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])

    def add_overlay(
        self,
        name: str,
        values: Mapping[str, float],
        *,
        log: bool = False,
        cmap: str = "magma",
    ) -> None:
        """Add a colouring of the layers to the web viewer's overlay switcher.

        Parameters
        ----------
        name : str
            Shown in the switcher and on the colour bar.
        values : mapping of str to float
            A value per module qualified name (``{"layer1.0.conv1": 0.3, ...}``); a collapsed
            or folded node takes the root-sum-square of the modules inside it; layers without
            a value are drawn in the "no data" colour.
        log : bool, default: False
            Colour by ``log10(value)``.
        cmap : str, default: "magma"
            A matplotlib colour map name.

        Examples
        --------
        >>> from viz3d.render import Scene
        >>> scene = Scene()
        >>> scene.add_overlay("my metric", {"layer1.0.conv1": 0.3})
        >>> list(scene.overlays)
        ['my metric']
        """
        from viz3d.render.colors import ValueColoring

        clean = {str(k): float(v) for k, v in values.items()}
        self.overlays[str(name)] = ValueColoring(str(name), clean, cmap=cmap, log=log)

    @property
    def _drawable(self) -> bool:
        """Whether the web viewer has something to show (layers or any mesh)."""
        return self.layout is not None or any(a.mesh.n_points for a in self.actors)

    def _repr_html_(self) -> str | None:
        """The web viewer inline in Jupyter (an ``<iframe srcdoc>``: no server, no extension)."""
        shown = getattr(self, "_shown_in_cell", None)
        if not self._drawable or (shown is not None and shown == cell_number()):
            return None  # show() already put the viewer in this cell's output: not twice
        from viz3d.render.web import iframe_html

        return iframe_html(self)

    # ----------------------------------------------------------------- drawing (backends)
    def plotter(
        self,
        off_screen: bool | None = None,
        window_size: tuple[int, int] = WINDOW_SIZE,
        *,
        target: Target = "screen",
        interactive: bool | None = None,
    ) -> pv.Plotter:
        """Build a fresh :class:`pyvista.Plotter` holding this scene.

        See :func:`viz3d.render.pyvista.plotter.build_plotter` for the parameters.

        Returns
        -------
        pyvista.Plotter
            A new plotter for the caller to show and close.

        Examples
        --------
        >>> from viz3d.render import Scene
        >>> pl = Scene(background="navy").plotter(off_screen=True, window_size=(200, 100))
        >>> pl.window_size
        [200, 100]
        >>> pl.close()
        """
        from viz3d.render.pyvista.plotter import build_plotter

        return build_plotter(self, off_screen, window_size, target=target, interactive=interactive)

    def show(self, *, window_size: tuple[int, int] = WINDOW_SIZE, **show_kwargs: Any) -> None:
        """Open an interactive window (in Jupyter: the web viewer inline).

        Hovering or clicking a layer shows its name, type, shapes, params, FLOPs and
        activation statistics. Without a display the scene is rendered off screen and nothing
        is shown; use :meth:`screenshot` or the exports there.

        Parameters
        ----------
        window_size : (int, int), default: (1280, 720)
            Window size in pixels.
        **show_kwargs
            Passed to :meth:`pyvista.Plotter.show` (e.g. ``jupyter_backend="static"``).
        """
        if in_jupyter() and self._drawable:
            from IPython.display import HTML, display

            from viz3d.render.web import iframe_html

            # the web viewer inline: hover, search and overlays, no kernel needed
            display(HTML(iframe_html(self)))
            self._shown_in_cell = cell_number()
            return
        from viz3d.render.pyvista.plotter import show

        show(self, window_size=window_size, **show_kwargs)

    def screenshot(
        self,
        path: str | os.PathLike | None = None,
        window_size: tuple[int, int] = WINDOW_SIZE,
        *,
        transparent_background: bool = False,
    ) -> np.ndarray:
        """Render off screen and return the image (also written as PNG when ``path`` is given).

        Parameters
        ----------
        path : str or PathLike, optional
            Where to write a PNG.
        window_size : (int, int), default: (1280, 720)
            Width and height in pixels.
        transparent_background : bool, default: False
            Return RGBA with a transparent background.

        Returns
        -------
        numpy.ndarray
            ``(height, width, 3)`` (or 4) ``uint8`` image.

        Examples
        --------
        >>> import pyvista as pv
        >>> from viz3d.render import Scene
        >>> scene = Scene(background="black")
        >>> _ = scene.add_mesh(pv.Sphere(), name="s", color="white")
        >>> img = scene.screenshot(window_size=(64, 48))
        >>> img.shape, bool(img.max() > 200)
        ((48, 64, 3), True)
        """
        from viz3d.render.pyvista.plotter import screenshot

        image = screenshot(self, window_size, transparent_background=transparent_background)
        if path is not None:
            from viz3d.render.pyvista.export import write_png

            write_png(path, image)
        return image

    def orbit_movie(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """Write a seamless orbit MP4/GIF (see :func:`viz3d.render.pyvista.movie.orbit_movie`)."""
        from viz3d.render.pyvista.movie import orbit_movie

        return orbit_movie(self, path, **kwargs)

    def flythrough_movie(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """Fly along the forward path (see :func:`viz3d.render.pyvista.movie.flythrough_movie`)."""
        from viz3d.render.pyvista.movie import flythrough_movie

        return flythrough_movie(self, path, **kwargs)

    def forward_pass_movie(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """Animate a forward pass (see :func:`viz3d.render.pyvista.movie.forward_pass_movie`)."""
        from viz3d.render.pyvista.movie import forward_pass_movie

        return forward_pass_movie(self, path, **kwargs)

    def export_html(self, path: str | os.PathLike) -> Path:
        """Write one self-contained HTML file that opens in a browser without Python or network.

        Layer scenes get the three.js viewer (hover facts, module tree, search, overlays);
        other scenes the vtk.js page.

        See :func:`viz3d.render.pyvista.export.export_html`.
        """
        from viz3d.render.pyvista.export import export_html

        return export_html(self, path)

    def export_gltf(self, path: str | os.PathLike) -> Path:
        """Write a binary-inlined glTF 2.0 file (see :mod:`viz3d.render.pyvista.export`)."""
        from viz3d.render.pyvista.export import export_gltf

        return export_gltf(self, path)

    def export_vtk(self, path: str | os.PathLike) -> Path:
        """Write a ``.vtm`` multiblock for ParaView (see :mod:`viz3d.render.pyvista.export`)."""
        from viz3d.render.pyvista.export import export_vtk

        return export_vtk(self, path)


def _active_scalars(mesh: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` naming the mesh's active scalars when PyVista would colour by them.

    ``MeshData`` has no active array: without this, a mesh coloured implicitly (no ``color``,
    ``scalars`` or ``texture``) would be drawn in a solid colour once converted.
    """
    name = getattr(mesh, "active_scalars_name", None)
    implicit = kwargs.get("rgb") or (kwargs.get("color") is None and kwargs.get("texture") is None)
    if name is None or kwargs.get("scalars") is not None or not implicit:
        return kwargs
    out = {**kwargs, "scalars": name}
    association = str(getattr(mesh.active_scalars_info, "association", "")).lower()
    if "cell" in association and name in mesh.point_data:
        out.setdefault("preference", "cell")
    return out


def _vec3(v: Sequence[float]) -> tuple[float, float, float]:
    arr = np.asarray(v, dtype=float).reshape(-1)
    if arr.shape != (3,):
        raise RenderError(f"a camera vector needs 3 numbers, got {list(arr)}")
    return (float(arr[0]), float(arr[1]), float(arr[2]))
