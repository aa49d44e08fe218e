"""Camera paths for movies: a seamless orbit and a fly-through along the forward path.

Both work from a :class:`~viz3d.render.Scene` alone (no layout, no model): node boxes are read
from the pickable meshes' ``node_id`` cells, and the execution order is the order of
``scene.node_info`` (a ``build_scene`` scene keeps the traced graph's execution order; a node
fact ``order`` overrides it). Every function returns one :class:`~viz3d.render.Camera` per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from viz3d.errors import RenderError
from viz3d.render.camera import WINDOW_SIZE, Camera, box_corners, fit_distance

#: Share of the frame the model may fill (the rest is margin).
FILL = 0.86
#: Vertical view angle of the fly-through camera (wide, to see the layers ahead).
FLY_VIEW_ANGLE = 60.0


@dataclass(frozen=True)
class ForwardPath:
    """The boxes of a scene's nodes in execution order.

    Attributes
    ----------
    nodes : numpy.ndarray of int
        ``node_info`` keys, in execution order.
    names : list of str
        Node names (``node_info[...]["name"]``).
    lo, hi : numpy.ndarray of shape (n, 3)
        Corners of each node's axis-aligned box.
    """

    nodes: np.ndarray
    names: list[str]
    lo: np.ndarray
    hi: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        """Box centres, shape ``(n, 3)``."""
        return (self.lo + self.hi) / 2

    @property
    def sizes(self) -> np.ndarray:
        """Box extents, shape ``(n, 3)``."""
        return self.hi - self.lo


def forward_path(scene: Any) -> ForwardPath:
    """Node boxes of ``scene`` in execution order, read from its pickable ``node_id`` meshes.

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render import Scene
    >>> from viz3d.render.pyvista.camera_paths import forward_path
    >>> scene = Scene(node_info={0: {"name": "in"}, 1: {"name": "fc"}})
    >>> mesh = pv.Cube(center=(4, 0, 0)).merge(pv.Cube(center=(0, 0, 0)))
    >>> mesh.cell_data["node_id"] = [1] * 6 + [0] * 6
    >>> _ = scene.add_mesh(mesh, name="layers", pickable=True)
    >>> path = forward_path(scene)
    >>> path.names, path.centers[:, 0].tolist()
    (['in', 'fc'], [0.0, 4.0])
    """
    lo: dict[int, np.ndarray] = {}
    hi: dict[int, np.ndarray] = {}
    for spec in scene.actors:
        if not spec.pickable or spec.only == "export":
            continue
        ids, points = _cell_points(spec.mesh)
        for node in np.unique(ids):
            pts = points[ids == node]
            key = int(node)
            lo[key] = np.minimum(lo.get(key, pts.min(axis=0)), pts.min(axis=0))
            hi[key] = np.maximum(hi.get(key, pts.max(axis=0)), pts.max(axis=0))
    info = scene.node_info
    nodes = sorted(lo, key=lambda k: (info.get(k, {}).get("order", k), k))
    return ForwardPath(
        nodes=np.array(nodes, dtype=int),
        names=[str(info.get(k, {}).get("name", k)) for k in nodes],
        lo=np.array([lo[k] for k in nodes]).reshape(-1, 3),
        hi=np.array([hi[k] for k in nodes]).reshape(-1, 3),
    )


def orbit_cameras(
    scene: Any,
    n_frames: int,
    *,
    elevation: float | None = None,
    turns: float = 1.0,
    aspect: float = 16 / 9,
) -> list[Camera]:
    """A circle around the scene at constant speed; frame ``k`` at azimuth ``2*pi*turns*k/n``.

    With a scene camera (every scene ``build_scene`` makes has one) the movie keeps the still's
    framing: it turns about the still's focal point, at its elevation, and every frame stands as
    far off as the still would from that side (the same share of the frame filled); at the
    still's 16:9 shape frame 0 is the still itself. Without one, the circle has the smallest
    radius that keeps the whole scene in view from every azimuth. With whole ``turns`` the movie
    loops seamlessly: the frame after the last is the first.

    Parameters
    ----------
    scene : Scene
        Its on-screen meshes are framed.
    n_frames : int
        Number of cameras.
    elevation : float, optional
        Height angle above the horizontal plane, in degrees; by default the scene camera's
        (20 without one).
    turns : float, default: 1.0
        Full turns over the ``n_frames``.
    aspect : float, default: 16/9
        Width over height of the frames.

    Returns
    -------
    list of Camera

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render import Scene
    >>> from viz3d.render.pyvista.camera_paths import orbit_cameras
    >>> scene = Scene()
    >>> _ = scene.add_mesh(pv.Cube(), name="cube")
    >>> cams = orbit_cameras(scene, 4, elevation=0.0)
    >>> [round(c.position[2], 6) for c in cams]
    [0.0, 0.0, 0.0, 0.0]
    >>> scene.set_camera((3, -4, 5), (0, 0, 0))
    >>> orbit_cameras(scene, 4)[0].position == scene.camera.position
    True
    """
    lo, hi, center = _scene_box(scene)
    still = scene.camera
    view_angle = still.view_angle if still else 30.0
    if still is not None:
        center = np.asarray(still.focal_point, dtype=float)
    start_dir = _start_direction(scene, center)
    start = np.arctan2(start_dir[1], start_dir[0])
    still_elev = np.arcsin(np.clip(start_dir[2] / max(np.linalg.norm(start_dir), 1e-12), -1, 1))
    elev = (
        np.radians(elevation)
        if elevation is not None
        else (still_elev if still else np.radians(20.0))
    )
    azimuths = start + 2 * np.pi * turns * np.arange(n_frames) / max(n_frames, 1)
    corners = box_corners(lo, hi) - center

    def fit(azimuth: float, height: float, frame: float = aspect) -> float:
        return fit_distance(
            corners, _direction(azimuth, height), view_angle=view_angle, aspect=frame, fill=FILL
        )

    if still is not None:
        # as far off from every side as the still (framed for WINDOW_SIZE) is from its own
        still_aspect = WINDOW_SIZE[0] / WINDOW_SIZE[1]
        scale = np.linalg.norm(start_dir) / max(fit(start, still_elev, still_aspect), 1e-9)
        radii = [max(scale * fit(a, elev), 1e-3) for a in azimuths]
    else:
        # the radius must fit the scene from every azimuth the circle passes (sampled densely)
        probe = start + np.linspace(0.0, 2 * np.pi * min(turns, 1.0), 73)
        radii = [max(max(fit(a, elev) for a in probe), 1e-3)] * len(azimuths)
    eyes = [center + r * _direction(a, elev) for r, a in zip(radii, azimuths)]
    if (
        still is not None
        and len(eyes)
        and abs(elev - still_elev) < 1e-9
        and np.isclose(aspect, WINDOW_SIZE[0] / WINDOW_SIZE[1])
    ):
        eyes[0] = np.asarray(still.position, dtype=float)  # exactly the still, no rounding
    return [_camera(eye, center, view_angle) for eye in eyes]


def flythrough_cameras(
    scene: Any,
    n_frames: int,
    *,
    slow_down: float = 3.0,
) -> tuple[list[Camera], list[str]]:
    """Fly along the forward path, above the layers, looking ahead; slower past big layers.

    The path runs through the node centres in execution order, smoothed (a moving average
    irons out jumps between parallel branches, then a centripetal Catmull-Rom spline makes it
    round). The camera rides above it, high enough to clear the local layers, and looks at the
    point a few layers ahead. Its speed is inversely proportional to
    ``1 + slow_down * side / largest side`` of the nearby boxes (box side grows with the
    parameter count), so big layers stay in view longer.

    Parameters
    ----------
    scene : Scene
        A scene with at least two nodes (see :func:`forward_path`).
    n_frames : int
        Number of cameras (the first shows the input ahead, the last the output).
    slow_down : float, default: 3.0
        How much the largest layer slows the camera (0: constant speed).

    Returns
    -------
    cameras : list of Camera
    captions : list of str
        Name of the layer ahead of the camera in each frame.

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render import Scene
    >>> from viz3d.render.pyvista.camera_paths import flythrough_cameras
    >>> scene = Scene(node_info={i: {"name": f"layer{i}"} for i in range(3)})
    >>> mesh = pv.merge([pv.Cube(center=(2 * i, 0, 0)) for i in range(3)])
    >>> mesh.cell_data["node_id"] = [i for i in range(3) for _ in range(6)]
    >>> _ = scene.add_mesh(mesh, name="layers", pickable=True)
    >>> cams, names = flythrough_cameras(scene, 5)
    >>> cams[0].position[0] < cams[-1].position[0], names[0], names[-1]
    (True, 'layer0', 'layer2')
    """
    path = forward_path(scene)
    if len(path.nodes) < 2:
        raise RenderError(
            f"a fly-through needs at least 2 nodes with boxes (pickable meshes with a "
            f"'node_id' cell "
            f"array); this scene has {len(path.nodes)}: use orbit_movie instead"
        )
    extent = path.sizes.max(axis=1)
    main = _forward_only(path.centers)
    control = _moving_average(path.centers[main], 3)
    dense, owner = _catmull_rom(control, samples=48)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    total = float(arc[-1])
    if total <= 0:
        raise RenderError("every node of this scene sits at the same place: nothing to fly along")
    # node j of the path sits at fractional control index `place[j]` (branch nodes between)
    place = np.interp(_progress(path.centers), _progress(path.centers)[main], np.arange(len(main)))
    node_arc = np.interp(place, owner, arc)
    big = float(extent.max())
    gap = total / max(len(main) - 1, 1)

    # per dense sample: the size of the boxes around it and the height to clear them
    probe_arc = arc[:: max(len(arc) // 400, 1)]
    near = np.abs(node_arc[None, :] - probe_arc[:, None]) <= 1.5 * gap
    volume_side = np.cbrt(np.prod(path.sizes, axis=1))
    tops = np.where(near, path.hi[None, :, 2], -np.inf).max(axis=1)
    tops = np.where(np.isfinite(tops), tops, path.hi[:, 2].min())
    sides = np.where(near, volume_side[None, :], 0.0).max(axis=1)
    clearance = _smooth(np.interp(arc, probe_arc, tops) - dense[:, 2], 24)
    side = _smooth(np.interp(arc, probe_arc, sides), 24)
    weight = 1.0 + slow_down * side / max(float(side.max()), 1e-12)

    ahead = 4.0 * gap
    start, end = -0.8 * ahead, total - 0.5 * ahead
    grid = np.linspace(start, end, 2048)
    dwell = np.interp(np.clip(grid, 0, total), arc, weight)
    elapsed = np.concatenate([[0.0], np.cumsum(0.5 * (dwell[1:] + dwell[:-1]) * np.diff(grid))])
    s = np.interp(np.linspace(0.0, elapsed[-1], n_frames), elapsed, grid)

    cameras, captions = [], []
    for si in s:
        lift = np.interp(np.clip(si, 0, total), arc, clearance) + 0.5 * big
        # a little to the side the overview camera looks from, so box faces are seen at an angle
        eye = _along(dense, arc, si) + np.array([0.0, -0.35 * lift, lift])
        focus = _along(dense, arc, si + ahead)
        cameras.append(_camera(eye, focus, FLY_VIEW_ANGLE))
        captions.append(path.names[int(np.argmin(np.abs(node_arc - (si + 0.5 * ahead))))])
    return cameras, captions


# ----------------------------------------------------------------- helpers
def _camera(eye: np.ndarray, focus: np.ndarray, view_angle: float) -> Camera:
    """A z-up camera with plain float coordinates (they end up in JSON and reprs)."""
    return Camera(
        tuple(float(v) for v in eye),
        tuple(float(v) for v in focus),
        (0.0, 0.0, 1.0),
        float(view_angle),
    )


def _cell_points(mesh: Any) -> tuple[np.ndarray, np.ndarray]:
    """(node id, point) for every point of every cell of a ``MeshData``, in VTK's cell order."""
    node_of_cell = np.asarray(mesh.cell_data["node_id"]).astype(int)
    cells = [ids for kind in ("verts", "lines", "faces") for ids in mesh.cells(kind)]
    if not cells:
        return np.empty(0, dtype=int), np.empty((0, 3))
    ids = np.repeat(node_of_cell, [len(c) for c in cells])
    return ids, mesh.points[np.concatenate(cells)]


def _scene_box(scene: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = np.asarray(scene.bounds, dtype=float)
    lo, hi = b[0::2], b[1::2]
    if not np.any(hi > lo):
        raise RenderError(
            "the scene draws nothing on screen (empty bounds): add meshes before making a movie"
        )
    return lo, hi, (lo + hi) / 2


def _start_direction(scene: Any, center: np.ndarray) -> np.ndarray:
    if scene.camera is not None:
        d = np.asarray(scene.camera.position) - np.asarray(scene.camera.focal_point)
        if np.linalg.norm(d[:2]) > 1e-9:
            return d
    return np.array([-0.4, -1.0, 0.0])  # no camera, or one looking straight down


def _direction(azimuth: float, elevation: float) -> np.ndarray:
    return np.array(
        [
            np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
        ]
    )


def _progress(points: np.ndarray) -> np.ndarray:
    """Position of each point along the input-to-output direction."""
    axis = points[-1] - points[0]
    norm = np.linalg.norm(axis)
    return points @ (axis / norm) if norm > 0 else np.arange(len(points), dtype=float)


def _forward_only(points: np.ndarray) -> np.ndarray:
    """Indices of the points that move the path forward (execution order visits parallel
    branches one after the other, which would make the camera fly back and forth)."""
    progress = _progress(points)
    keep = [0]
    for i in range(1, len(points) - 1):
        if progress[i] > progress[keep[-1]] + 1e-9 and progress[i] < progress[-1]:
            keep.append(i)
    keep.append(len(points) - 1)
    return np.array(keep)


def _moving_average(points: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average with the ends kept in place (the path still starts at the input)."""
    if len(points) <= 2:
        return points.copy()
    half = window // 2
    padded = np.concatenate(
        [np.repeat(points[:1], half, axis=0), points, np.repeat(points[-1:], half, axis=0)]
    )
    kernel = np.ones(window) / window
    out = np.column_stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(3)])
    out[0], out[-1] = points[0], points[-1]
    return out


def _catmull_rom(points: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Centripetal Catmull-Rom spline through ``points``; returns the samples and, for each, its
    fractional control-point index (segment ``j`` runs from ``j`` to ``j + 1``)."""
    p = np.concatenate([[2 * points[0] - points[1]], points, [2 * points[-1] - points[-2]]])
    out, owner = [], []
    for j in range(len(points) - 1):
        p0, p1, p2, p3 = p[j], p[j + 1], p[j + 2], p[j + 3]
        # centripetal knots (alpha = 0.5) never overshoot into loops or cusps
        t1 = np.linalg.norm(p1 - p0) ** 0.5 + 1e-9
        t2 = t1 + np.linalg.norm(p2 - p1) ** 0.5 + 1e-9
        t3 = t2 + np.linalg.norm(p3 - p2) ** 0.5 + 1e-9
        last = j == len(points) - 2
        t = np.linspace(t1, t2, samples + int(last), endpoint=last)[:, None]
        a1 = (t1 - t) / t1 * p0 + t / t1 * p1
        a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
        a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
        b1 = (t2 - t) / t2 * a1 + t / t2 * a2
        b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
        out.append((t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2)
        owner.append(j + (t[:, 0] - t1) / (t2 - t1))
    return np.concatenate(out), np.concatenate(owner)


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Gaussian smoothing over ``width`` samples (edges repeated), for gentle height changes."""
    x = np.arange(-2 * width, 2 * width + 1)
    kernel = np.exp(-0.5 * (x / width) ** 2)
    padded = np.concatenate([np.full(2 * width, values[0]), values, np.full(2 * width, values[-1])])
    return np.convolve(padded, kernel / kernel.sum(), mode="valid")


def _along(points: np.ndarray, arc: np.ndarray, s: float) -> np.ndarray:
    """The point at arc length ``s``, continuing straight past either end."""
    if s < 0:
        tangent = points[1] - points[0]
        return points[0] + s * tangent / max(np.linalg.norm(tangent), 1e-12)
    if s > arc[-1]:
        tangent = points[-1] - points[-2]
        return points[-1] + (s - arc[-1]) * tangent / max(np.linalg.norm(tangent), 1e-12)
    return np.array([np.interp(s, arc, points[:, k]) for k in range(3)])
