"""Shapes, labels and camera poses shared by the transformer views' drawings (no model).

All views use the same conventions: tokens run along +x one unit apart, depth (layers, heads)
runs along +y, values rise along +z, and the camera looks from the front-left, above. Labels
are added twice: as 2D point labels on screen and as 3D text for the HTML/glTF exports, which
drop 2D actors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyvista as pv

from viz3d.render import labels as labelmod
from viz3d.render import meshes
from viz3d.render.builder import BACKGROUND, FOREGROUND
from viz3d.render.camera import box_corners, fit_distance, view_basis
from viz3d.render.scene import Scene

__all__ = [
    "BACKGROUND",
    "FLOOR",
    "FOREGROUND",
    "MUTED",
    "add_bars",
    "add_labels",
    "add_title",
    "bars",
    "bezier",
    "floor",
    "frame_camera",
    "scalar_bar",
    "spheres",
    "tubes",
]

#: A plate under bars, lighter than the background so dark bars stand out against it.
MUTED = "#3a4150"
#: A floor under points, only just lighter than the background.
FLOOR = "#222734"

_SPHERE = pv.Sphere(radius=0.5, theta_resolution=16, phi_resolution=12)


def bars(
    centers: np.ndarray, heights: np.ndarray, footprint: tuple[float, float], values: np.ndarray
) -> pv.PolyData:
    """Upright boxes standing on ``centers`` (their base), ``heights`` tall, one ``value`` each.

    Examples
    --------
    >>> import numpy as np
    >>> mesh = bars(np.zeros((2, 3)), np.array([1.0, 2.0]), (0.5, 0.5), np.array([3.0, 4.0]))
    >>> mesh.bounds[5], mesh.n_cells
    (2.0, 12)
    """
    centers = np.asarray(centers, dtype=float).reshape(-1, 3)
    heights = np.maximum(
        np.asarray(heights, dtype=float).reshape(-1), 1e-3
    )  # keep zero bars visible
    middle = centers + np.column_stack([np.zeros((len(centers), 2)), heights / 2])
    sizes = np.column_stack(
        [np.full(len(centers), footprint[0]), np.full(len(centers), footprint[1]), heights]
    )
    return meshes.boxes(
        middle, sizes, np.arange(len(centers)), {"value": np.asarray(values, dtype=float)}
    )


def add_bars(
    scene: Scene,
    bases: np.ndarray,
    heights: np.ndarray,
    values: np.ndarray,
    *,
    footprint: float,
    cmap: str,
    clim: tuple[float, float],
    bar_title: str,
) -> None:
    """Bars coloured by ``values`` (with a colour bar) on a muted plate under their bases.

    Examples
    --------
    >>> import numpy as np
    >>> scene = Scene()
    >>> add_bars(scene, np.zeros((1, 3)), np.ones(1), np.ones(1), footprint=0.7, cmap="viridis",
    ...          clim=(0.0, 1.0), bar_title="value")
    >>> [a.name for a in scene.actors]
    ['bars', 'floor']
    """
    scene.add_mesh(
        bars(bases, heights, (footprint, footprint), values),
        name="bars",
        scalars="value",
        cmap=cmap,
        clim=clim,
        scalar_bar_args=scalar_bar(bar_title + "\n"),
        ambient=0.3,
        diffuse=0.7,
        specular=0.2,
    )
    lo, hi = np.min(bases, axis=0), np.max(bases, axis=0)
    scene.add_mesh(floor(lo, hi, z=float(lo[2]) - 0.01), name="floor", color=MUTED, lighting=False)


def spheres(centers: np.ndarray, diameter: float, values: np.ndarray | None = None) -> pv.PolyData:
    """Balls of one ``diameter`` at ``centers`` in one mesh (with a per-ball ``value`` if given).

    Examples
    --------
    >>> import numpy as np
    >>> spheres(np.zeros((3, 3)), 0.2, np.arange(3.0)).cell_data["value"].max()
    np.float64(2.0)
    """
    centers = np.asarray(centers, dtype=float).reshape(-1, 3)
    arrays = None if values is None else {"value": np.asarray(values, dtype=float)}
    return meshes.template_glyphs(
        _SPHERE, centers, np.full((len(centers), 3), diameter), np.arange(len(centers)), arrays
    )


def bezier(start: np.ndarray, end: np.ndarray, bulge: np.ndarray, steps: int = 20) -> np.ndarray:
    """A quadratic Bezier curve from ``start`` to ``end`` pulled towards ``midpoint + bulge``.

    Examples
    --------
    >>> import numpy as np
    >>> curve = bezier(np.zeros(3), np.array([2.0, 0, 0]), np.array([0, 0, 1.0]), steps=3)
    >>> curve[1].tolist()
    [1.0, 0.0, 0.5]
    """
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    control = (start + end) / 2 + np.asarray(bulge, dtype=float)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end


def tubes(
    curves: Sequence[np.ndarray], weights: np.ndarray, radius: tuple[float, float]
) -> pv.PolyData:
    """Curves as one tube mesh whose radius grows with ``weight`` (``radius`` = thinnest, thickest).

    The tubes carry a point array ``weight`` for colouring.

    Examples
    --------
    >>> import numpy as np
    >>> line = np.array([[0.0, 0, 0], [1, 0, 0]])
    >>> mesh = tubes([line, line + 1], np.array([0.1, 0.9]), (0.01, 0.05))
    >>> mesh.n_points > 0
    True
    """
    weights = np.asarray(weights, dtype=float)
    lines = meshes.polylines(list(curves))
    lines.point_data["weight"] = np.repeat(weights, [len(c) for c in curves])
    thin, thick = radius
    width = thin + (thick - thin) * lines.point_data["weight"]
    if np.ptp(width) < 1e-9:
        return lines.tube(radius=float(width[0]), n_sides=8)
    # vtkTubeFilter maps the scalar range onto radius .. radius * factor: handing it absolute
    # widths with their own min and max reproduces them exactly, so a weight gets the same width
    # in every picture
    lines.point_data["width"] = width
    tube = lines.tube(
        radius=float(width.min()),
        scalars="width",
        radius_factor=float(width.max() / width.min()),
        n_sides=8,
    )
    del tube.point_data["width"]  # a means to the radius, not a fact to show on hover
    return tube


def floor(lo: Sequence[float], hi: Sequence[float], z: float, margin: float = 0.6) -> pv.PolyData:
    """A flat plate under the box ``lo..hi`` at height ``z``: a depth cue for the eye.

    Examples
    --------
    >>> floor((0, 0, 0), (4, 2, 1), z=0.0).bounds[4]
    0.0
    """
    (x0, y0), (x1, y1) = (
        np.asarray(lo, dtype=float)[:2] - margin,
        np.asarray(hi, dtype=float)[:2] + margin,
    )
    return pv.Plane(
        center=((x0 + x1) / 2, (y0 + y1) / 2, z),
        direction=(0, 0, 1),
        i_size=x1 - x0,
        j_size=y1 - y0,
        i_resolution=1,
        j_resolution=1,
    )


def scalar_bar(title: str) -> dict[str, Any]:
    """``scalar_bar_args`` for a vertical colour bar at the right edge, in the theme's colours."""
    return {
        "title": title,
        "vertical": True,
        "position_x": 0.9,
        "position_y": 0.2,
        "height": 0.6,
        "width": 0.035,
        "color": FOREGROUND,
        "title_font_size": 14,
        "label_font_size": 12,
        "n_labels": 5,
        "fmt": "%.3g",
    }


def add_title(scene: Scene, title: str, subtitle: str = "") -> None:
    """The title (and a smaller second line) at the top left, on screen."""
    scene.title = title
    scene.add_text(title, position="upper_left", font_size=14, color=FOREGROUND, name="title")
    if subtitle:
        scene.add_text(
            subtitle, position="lower_left", font_size=10, color=FOREGROUND, name="subtitle"
        )


def add_labels(
    scene: Scene,
    anchors: np.ndarray,
    texts: Sequence[str],
    *,
    name: str,
    font_size: int = 14,
    height: float = 0.3,
    color: str = FOREGROUND,
    facing: str = "-y",
) -> None:
    """Labels at ``anchors``: 2D on screen and 3D text (``height`` units tall) in exports."""
    anchors = np.asarray(anchors, dtype=float).reshape(-1, 3)
    scene.add_point_labels(
        anchors,
        list(texts),
        name=name,
        font_size=font_size,
        text_color=color,
        shape=None,
        show_points=False,
        always_visible=True,
        justification_horizontal="center",
        justification_vertical="center",
    )
    scene.add_mesh(
        labelmod.text3d(list(texts), anchors, height=height, facing=facing),
        name=f"{name}-3d",
        only="export",
        color=color,
    )


def frame_camera(
    scene: Scene,
    lo: Sequence[float],
    hi: Sequence[float],
    direction: Sequence[float] = (-0.35, -1.0, 0.6),
    up: Sequence[float] = (0, 0, 1),
    fill: float = 0.85,
) -> None:
    """Look at the box ``lo..hi`` along ``-direction`` from just far enough to see all of it.

    ``fill`` is the share of the window's width/height the box may take (labels sit around it).

    Examples
    --------
    >>> scene = Scene()
    >>> frame_camera(scene, (0, 0, 0), (10, 2, 1))
    >>> scene.camera.focal_point
    (5.0, 1.0, 0.5)
    """
    center = (np.asarray(lo, dtype=float) + np.asarray(hi, dtype=float)) / 2
    direction = np.asarray(direction, dtype=float) / np.linalg.norm(direction)
    distance = fit_distance(box_corners(lo, hi) - center, direction, fill=fill, up=up)
    _, screen_up = view_basis(direction, up)
    scene.set_camera(center + direction * max(distance, 1.0), center, tuple(screen_up))
