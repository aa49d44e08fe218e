"""Projected token embeddings as labelled balls on a floor (2D) or on stems (3D)."""

from __future__ import annotations

import numpy as np

from viz3d.render import meshes
from viz3d.render.scene import Scene
from viz3d.render.transformer import geometry

#: Side of the cube (or square) the projected points are scaled into.
EXTENT = 10.0


def draw_token_embeddings(
    coords: np.ndarray,
    labels: list[str],
    positions: np.ndarray,
    *,
    cmap: str = "turbo",
    connect: bool = False,
    title: str = "",
    subtitle: str = "",
) -> Scene:
    """Points at ``coords`` (``(n, 2)``: a plane seen from above; ``(n, 3)``: space), coloured
    by their token ``positions``, joined in reading order if ``connect``.

    Examples
    --------
    >>> import numpy as np
    >>> scene = draw_token_embeddings(np.eye(3), ["a", "b", "c"], np.arange(3.0))
    >>> "stems" in [a.name for a in scene.actors]
    True
    """
    coords = np.asarray(coords, dtype=float)
    positions = np.asarray(positions, dtype=float)
    flat = coords.shape[1] == 2
    points = np.column_stack([coords, np.zeros(len(coords))]) if flat else coords.copy()
    span = np.ptp(points, axis=0)
    points = (points - points.min(axis=0)) * (EXTENT / max(float(span.max()), 1e-12))
    lo, hi = points.min(axis=0), points.max(axis=0)
    scene = Scene(background=geometry.BACKGROUND)
    scene.add_mesh(
        geometry.spheres(points, 0.32, positions),
        name="points",
        scalars="value",
        cmap=cmap,
        clim=(0.0, max(float(positions.max()), 1.0)),
        smooth_shading=True,
        scalar_bar_args=geometry.scalar_bar("token position\n"),
    )
    if connect:
        scene.add_mesh(
            meshes.polylines([points]),
            name="reading-order",
            color="#8a93a6",
            line_width=2,
            opacity=0.7,
        )
    floor_z = -0.3 if flat else lo[2] - 0.5
    if not flat:
        # drop lines to the floor give each point a readable height
        base = points.copy()
        base[:, 2] = floor_z
        scene.add_mesh(
            meshes.polylines([np.stack([p, b]) for p, b in zip(points, base, strict=True)]),
            name="stems",
            color="#59617a",
            line_width=1,
        )
    scene.add_mesh(
        geometry.floor(lo, hi, z=floor_z, margin=1.0),
        name="floor",
        color=geometry.FLOOR,
        lighting=False,
    )
    # above each point: on the plane "above" is +y (seen from the top), in space it is +z
    lift = [0.0, 0.6, 0.0] if flat else [0.0, 0.0, 0.55]
    geometry.add_labels(
        scene,
        points + lift,
        labels,
        name="token-labels",
        font_size=14,
        height=0.35,
        facing="+z" if flat else "-y",
    )
    if flat:
        geometry.frame_camera(
            scene, lo - [0.5, 0.5, 0], hi + [0.5, 0.5, 0.6], direction=(0, 0, 1), up=(0, 1, 0)
        )
    else:
        geometry.frame_camera(
            scene, lo - [0, 0, 0.5], hi + [0, 0, 0.6], direction=(-0.8, -1.0, 0.7)
        )
    if title:
        geometry.add_title(scene, title, subtitle)
    return scene
