"""A :class:`~viz3d.render.Scene` drawn into a :class:`pyvista.Plotter`: the one replay of a recipe.

:func:`build_plotter` makes a fresh plotter holding a scene; :func:`draw` adds a scene's actors,
texts and labels to an existing plotter (a movie that swaps one frame's actors for the next
calls it with the names to replace). The window, screenshots, movies and the glTF/VTK/vtk.js
exports all start here, so a picture and its export always agree. Which actors each target
draws (``only="screen"``/``"export"``) is described in :mod:`viz3d.render.scene`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyvista as pv

from viz3d.errors import RenderError
from viz3d.render.camera import WINDOW_SIZE, Camera
from viz3d.render.jupyter import in_jupyter
from viz3d.render.labels import window_font_size
from viz3d.render.pyvista.mesh import add_mesh_kwargs, to_pyvista
from viz3d.render.pyvista.offscreen import default_off_screen

if TYPE_CHECKING:
    from viz3d.render.scene import Scene

log = logging.getLogger(__name__)

Target = Literal["screen", "export"]


def build_plotter(
    scene: Scene,
    off_screen: bool | None = None,
    window_size: tuple[int, int] = WINDOW_SIZE,
    *,
    target: Target = "screen",
    interactive: bool | None = None,
) -> pv.Plotter:
    """Build a fresh :class:`pyvista.Plotter` holding ``scene`` (what ``Scene.plotter`` returns).

    Parameters
    ----------
    scene : Scene
        The recipe.
    off_screen : bool, optional
        Render without a window; by default ``True`` when no display is available
        (see :func:`~viz3d.render.pyvista.offscreen.default_off_screen`).
    window_size : (int, int), default: (1280, 720)
        Width and height in pixels.
    target : {"screen", "export"}, default: "screen"
        ``"export"`` leaves out 2D actors and screen-only meshes and adds export-only ones.
    interactive : bool, optional
        Install the hover/click observer (default: when on screen with a window).

    Returns
    -------
    pyvista.Plotter
        Not yet shown; the caller owns it (call ``close()`` when done).

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render import MeshData, Scene
    >>> from viz3d.render.pyvista.plotter import build_plotter
    >>> triangle = MeshData(np.eye(3), faces=[3, 0, 1, 2])
    >>> scene = Scene(title="one triangle")
    >>> _ = scene.add_mesh(triangle, name="tri", color="teal")
    >>> pl = build_plotter(scene, off_screen=True, window_size=(200, 100))
    >>> list(pl.actors), pl.mesh.n_cells
    (['tri'], 1)
    >>> pl.close()
    """
    from viz3d.render.pyvista.picking import enable_hover

    if off_screen is None:
        off_screen = default_off_screen()
    try:
        pl = pv.Plotter(
            off_screen=off_screen, window_size=list(window_size), lighting=scene.lighting
        )
    except Exception as exc:  # VTK raises plain RuntimeErrors when no GL context can be made
        raise RenderError(
            f"could not open a render window ({exc}); on a headless machine install Mesa "
            "(libegl1/libosmesa6) or set VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow"
        ) from exc
    pl.set_background(scene.background)
    draw(pl, scene, target=target)
    if scene.camera is not None:
        set_camera(pl, scene.camera)
    else:
        pl.reset_camera()
    if interactive is None:
        interactive = not off_screen and target == "screen"
    if interactive and scene.node_info:
        enable_hover(pl, scene.node_info)
    return pl


def draw(
    plotter: pv.Plotter,
    scene: Scene,
    *,
    target: Target = "screen",
    names: Collection[str] | None = None,
) -> None:
    """Add ``scene``'s actors (and, on screen, its texts and point labels) to ``plotter``.

    Everything keeps its scene name, so drawing a second scene replaces the actors of the first
    that share a name: a movie changes what moves and leaves the camera and the rest alone.

    Parameters
    ----------
    plotter : pyvista.Plotter
        Where to draw.
    scene : Scene
        What to draw.
    target : {"screen", "export"}, default: "screen"
        As in :func:`build_plotter`.
    names : collection of str, optional
        Draw only the actors, texts and label sets with these names.

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render import Scene
    >>> from viz3d.render.pyvista.plotter import draw
    >>> pl = pv.Plotter(off_screen=True)
    >>> before, after = Scene(), Scene()
    >>> _ = before.add_mesh(pv.Cube(), name="box", color="red")
    >>> _ = after.add_mesh(pv.Sphere(), name="box", color="blue")
    >>> draw(pl, before)
    >>> draw(pl, after)  # replaces the cube: same name
    >>> list(pl.actors), pl.actors["box"].mapper.dataset.n_cells == pv.Sphere().n_cells
    (['box'], True)
    >>> pl.close()
    """
    from viz3d.render.pyvista.shaders import apply_shader

    def wanted(name: str) -> bool:
        return names is None or name in names

    # text sizes are set for a 1280x720 frame: a smaller frame gets smaller (still legible) text
    window = tuple(plotter.window_size)
    for spec in scene.actors:
        if spec.only not in (None, target) or not wanted(spec.name):
            continue
        # scalar bars are 2D actors: vtk.js draws them as overlapping raw text, so exports
        # carry the colour-bar geometry the scene adds for them instead
        kwargs = spec.kwargs if target == "screen" else {**spec.kwargs, "show_scalar_bar": False}
        if "scalar_bar_args" in kwargs:
            kwargs = {**kwargs, "scalar_bar_args": _scaled_fonts(kwargs["scalar_bar_args"], window)}
        actor = plotter.add_mesh(
            to_pyvista(spec.mesh), name=spec.name, pickable=spec.pickable, **add_mesh_kwargs(kwargs)
        )
        if spec.shader and target == "screen":
            apply_shader(actor, spec.shader)
    if target != "screen":
        return
    for text in scene.texts:
        if wanted(text.name):
            plotter.add_text(
                text.text,
                position=text.position,
                font_size=window_font_size(window, text.font_size),
                color=text.color,
                name=text.name,
            )
    for lab in scene.point_labels:
        if wanted(lab.name):
            kwargs = dict(lab.kwargs)
            if "font_size" in kwargs:
                kwargs["font_size"] = window_font_size(window, kwargs["font_size"])
            plotter.add_point_labels(lab.points, lab.labels, name=lab.name, **kwargs)


def _scaled_fonts(bar: dict[str, Any], window: tuple[int, int]) -> dict[str, Any]:
    """A colour bar's options with its font sizes fitted to the window (see ``draw``)."""
    keys = ("title_font_size", "label_font_size")
    return {k: window_font_size(window, v) if k in keys else v for k, v in bar.items()}


def set_camera(plotter: pv.Plotter, camera: Camera) -> None:
    """Pose ``plotter``'s camera (position, focal point, up, view angle); clipping follows."""
    # through pyvista's setter: it marks the camera as set, so showing does not reset it
    plotter.camera_position = camera.as_pyvista()
    plotter.camera.view_angle = camera.view_angle
    plotter.renderer.ResetCameraClippingRange()


def screenshot(
    scene: Scene,
    window_size: tuple[int, int] = WINDOW_SIZE,
    *,
    transparent_background: bool = False,
) -> np.ndarray:
    """Render ``scene`` off screen and return the ``(h, w, 3|4)`` uint8 image.

    See :meth:`viz3d.render.Scene.screenshot`.
    """
    pl = build_plotter(scene, off_screen=True, window_size=window_size, interactive=False)
    try:
        image = pl.screenshot(transparent_background=transparent_background, return_img=True)
    finally:
        pl.close()
    return image


def show(scene: Scene, *, window_size: tuple[int, int] = WINDOW_SIZE, **show_kwargs: Any) -> None:
    """Open ``scene`` in an interactive PyVista window (see :meth:`viz3d.render.Scene.show`)."""
    off_screen = default_off_screen()
    notebook = in_jupyter()
    if off_screen and not notebook:
        log.warning(
            "no display available: Scene.show() draws nothing; use screenshot(path) or "
            "export_html(path) instead"
        )
    pl = build_plotter(scene, off_screen=off_screen and not notebook, window_size=window_size)
    pl.show(title=scene.title or "viz3d", **show_kwargs)
