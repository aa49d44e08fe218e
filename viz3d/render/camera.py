"""Camera poses and the geometry of framing a box in a window (numpy only, no renderer).

:class:`Camera` is the pose a :class:`viz3d.render.Scene` stores; :func:`view_basis`,
:func:`box_corners` and :func:`fit_distance` are the framing math every default view and camera
path uses: the layer scenes' front-left view, the transformer views, the orbit movie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Default window size of screenshots and windows (16:9, fits the README).
WINDOW_SIZE = (1280, 720)
#: VTK's default vertical view angle, in degrees.
VIEW_ANGLE = 30.0


@dataclass(frozen=True)
class Camera:
    """A camera pose: where it is, what it looks at and which way is up.

    Examples
    --------
    >>> from viz3d.render.camera import Camera
    >>> Camera((0, -5, 0), (0, 0, 0)).as_pyvista()
    [(0, -5, 0), (0, 0, 0), (0.0, 0.0, 1.0)]
    """

    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    view_angle: float = VIEW_ANGLE

    def as_pyvista(self) -> list[tuple[float, float, float]]:
        """The ``[position, focal_point, up]`` list that ``plotter.camera_position`` takes."""
        return [self.position, self.focal_point, self.up]


def view_basis(
    direction: Sequence[float], up: Sequence[float] = (0.0, 0.0, 1.0)
) -> tuple[np.ndarray, np.ndarray]:
    """The screen's right and up axes for a camera looking along ``-direction``.

    Parameters
    ----------
    direction : sequence of 3 floats
        Unit vector from the focal point towards the camera.
    up : sequence of 3 floats, default: (0, 0, 1)
        The world's up direction (not parallel to ``direction``).

    Returns
    -------
    right, screen_up : numpy.ndarray
        Unit vectors in world coordinates.

    Examples
    --------
    >>> from viz3d.render.camera import view_basis
    >>> right, screen_up = view_basis((0.0, -1.0, 0.0))
    >>> float(right @ (1, 0, 0)), float(screen_up @ (0, 0, 1))
    (1.0, 1.0)
    """
    forward = -np.asarray(direction, dtype=float)
    right = np.cross(forward, np.asarray(up, dtype=float))
    right /= np.linalg.norm(right)
    return right, np.cross(right, forward)


def box_corners(lo: Sequence[float], hi: Sequence[float]) -> np.ndarray:
    """The 8 corners of the axis-aligned box ``lo..hi``, shape ``(8, 3)``.

    Examples
    --------
    >>> from viz3d.render.camera import box_corners
    >>> box_corners((0, 0, 0), (1, 2, 3)).max(axis=0).tolist()
    [1.0, 2.0, 3.0]
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    return np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )


def fit_distance(
    points: np.ndarray,
    direction: Sequence[float],
    *,
    view_angle: float = VIEW_ANGLE,
    aspect: float = WINDOW_SIZE[0] / WINDOW_SIZE[1],
    fill: float = 1.0,
    up: Sequence[float] = (0.0, 0.0, 1.0),
) -> float:
    """Nearest camera distance along ``direction`` that keeps every point inside the frame.

    The camera looks at the origin; a point ``q`` is in view when its sideways offset is at
    most ``fill * tan(view_angle / 2) * aspect`` times its depth, and likewise upwards.

    Parameters
    ----------
    points : numpy.ndarray of shape (n, 3)
        Points relative to the focal point.
    direction : sequence of 3 floats
        Unit vector from the focal point towards the camera.
    view_angle : float, default: 30
        Vertical view angle in degrees.
    aspect : float, default: 16/9
        Width over height of the window.
    fill : float, default: 1.0
        Share of the window's width and height the points may take.
    up : sequence of 3 floats, default: (0, 0, 1)
        The world's up direction.

    Returns
    -------
    float
        The distance (may be negative when every point lies behind the focal point).

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render.camera import box_corners, fit_distance
    >>> cube = box_corners((-1, -1, -1), (1, 1, 1))
    >>> round(fit_distance(cube, (0.0, -1.0, 0.0), aspect=1.0), 3)
    4.732
    """
    q = np.asarray(points, dtype=float).reshape(-1, 3)
    right, screen_up = view_basis(direction, up)
    tan_v = np.tan(np.radians(view_angle / 2)) * fill
    tan_h = tan_v * aspect
    # q is in view when |q.right| <= tan_h * (D - q.direction), and likewise upwards
    need = np.maximum(np.abs(q @ right) / tan_h, np.abs(q @ screen_up) / tan_v)
    return float(np.max(q @ np.asarray(direction, dtype=float) + need))
