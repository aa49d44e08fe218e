"""Drawing a :class:`viz3d.landscape.Landscape`: a loss surface (or curve) as a :class:`Scene`.

The surface is warped by the loss (linear or log scale) and coloured by it, with contour lines on
the surface and on the floor below it, the minimum and the unperturbed model marked, and a
training trajectory drawn as a tube lying on the surface. Points whose loss is not finite are
cut out of the surface (holes), never drawn at a made-up height.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyvista as pv

from viz3d.errors import RenderError
from viz3d.render.scene import Scene

Scale = Literal["linear", "log"]

BACKGROUND = "#12151c"
FOREGROUND = "#e8eaf0"
CMAP = "viridis"


@dataclass(frozen=True)
class SurfaceGeometry:
    """How loss values become heights: ``z = (f(loss) - offset) * factor`` with ``f`` the scale."""

    scale: Scale
    offset: float
    factor: float
    floor: float
    high: float

    @property
    def clim(self) -> tuple[float, float]:
        """Colour range in scaled units (loss, or log10 loss)."""
        return (self.offset, self.high)

    def height(self, loss: np.ndarray) -> np.ndarray:
        """Heights of ``loss`` values (NaN stays NaN)."""
        return (_scaled(np.asarray(loss, dtype=float), self.scale) - self.offset) * self.factor


def _scaled(loss: np.ndarray, scale: Scale) -> np.ndarray:
    if scale == "linear":
        return loss
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.where(loss > 0, loss, np.nan))


def surface_geometry(
    losses: np.ndarray, extent: float, scale: Scale = "linear", relief: float = 0.6
) -> SurfaceGeometry:
    """Heights for a surface ``extent`` wide: its relief is ``relief * extent`` whatever the losses.

    Examples
    --------
    >>> g = surface_geometry(np.array([[1.0, 3.0], [2.0, 5.0]]), extent=2.0)
    >>> float(g.height(np.array(5.0))), float(g.height(np.array(1.0)))
    (1.2, 0.0)
    """
    if scale not in ("linear", "log"):
        raise RenderError(f"scale must be 'linear' or 'log', got {scale!r}")
    values = _scaled(np.asarray(losses, dtype=float), scale)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise RenderError(
            "the landscape has no finite loss to draw"
            + (" (log scale needs positive losses: use scale='linear')" if scale == "log" else "")
        )
    low, high = float(finite.min()), float(finite.max())
    factor = relief * extent / (high - low) if high > low else 1.0
    return SurfaceGeometry(scale, low, factor, -0.35 * relief * extent, high)


def _interp2(
    axes: tuple[np.ndarray, np.ndarray], values: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Bilinear interpolation of a grid at (x, y) points (clamped to the grid; NaN-aware)."""
    xs, ys = axes
    out = np.empty(len(points))
    for k, (x, y) in enumerate(points):
        i = int(np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 2))
        j = int(np.clip(np.searchsorted(ys, y) - 1, 0, len(ys) - 2))
        tx = float(np.clip((x - xs[i]) / (xs[i + 1] - xs[i]), 0, 1))
        ty = float(np.clip((y - ys[j]) / (ys[j + 1] - ys[j]), 0, 1))
        corners = values[i : i + 2, j : j + 2]
        weights = np.array([[(1 - tx) * (1 - ty), (1 - tx) * ty], [tx * (1 - ty), tx * ty]])
        ok = np.isfinite(corners)
        out[k] = (
            float((corners[ok] * weights[ok]).sum() / weights[ok].sum()) if ok.any() else np.nan
        )
    return out


def surface_mesh(
    coords: tuple[np.ndarray, np.ndarray], losses: np.ndarray, geometry: SurfaceGeometry
) -> pv.PolyData:
    """The loss surface as triangles, with ``loss`` and ``height`` point arrays; NaN cells removed.

    Examples
    --------
    >>> axis = np.linspace(-1, 1, 5)
    >>> losses = np.add.outer(axis**2, axis**2)
    >>> losses[0, 0] = np.nan
    >>> mesh = surface_mesh((axis, axis), losses, surface_geometry(losses, 2.0))
    >>> mesh.n_cells < 2 * 4 * 4, bool(np.isfinite(mesh["loss"]).all())
    (True, True)
    """
    xs, ys = (np.asarray(a, dtype=float) for a in coords)
    x, y = np.meshgrid(xs, ys, indexing="ij")
    z = geometry.height(losses)
    finite = np.isfinite(z)
    grid = pv.StructuredGrid(x, y, np.where(finite, z, 0.0))
    # StructuredGrid orders points with the first axis fastest (Fortran order)
    grid["loss"] = np.asarray(losses, dtype=float).ravel(order="F")
    grid["height"] = z.ravel(order="F")
    grid["log10 loss"] = _scaled(np.asarray(losses, dtype=float), "log").ravel(order="F")
    kept = grid.extract_points(np.flatnonzero(finite.ravel(order="F")), adjacent_cells=False)
    return kept.extract_surface(algorithm="dataset_surface").triangulate()


def _contour_levels(mesh: pv.PolyData, count: int) -> np.ndarray:
    low, high = float(np.nanmin(mesh["height"])), float(np.nanmax(mesh["height"]))
    return np.linspace(low, high, count + 2)[1:-1] if high > low else np.array([])


def _lifted(mesh: pv.PolyData, dz: float) -> pv.PolyData:
    lifted = mesh.copy()
    lifted.points[:, 2] += dz
    return lifted


def _floor(mesh: pv.PolyData, z: float) -> pv.PolyData:
    flat = mesh.copy()
    flat.points[:, 2] = z
    return flat


def render_landscape(
    landscape: Any,
    *,
    scale: Scale = "linear",
    cmap: str = CMAP,
    contours: int = 14,
    trajectory: bool = True,
    title: str | None = None,
    relief: float = 0.6,
    geometry: SurfaceGeometry | None = None,
) -> Scene:
    """Draw a 1D or 2D landscape as a :class:`Scene` (see the module docstring).

    Parameters
    ----------
    landscape : viz3d.landscape.Landscape
        The computed grid.
    scale : {"linear", "log"}, default: "linear"
        Height and colour scale of the loss (log needs positive losses).
    cmap : str, default: "viridis"
        Colour map of the loss.
    contours : int, default: 14
        Number of contour levels (0 for none).
    trajectory : bool, default: True
        Draw the projected training path when the landscape has one.
    title : str, optional
        Title; by default the grid, directions and minimum.
    relief : float, default: 0.6
        Height of the surface relative to its width.
    geometry : SurfaceGeometry, optional
        Fixed heights and colour range (e.g. shared by the frames of an evolution movie);
        by default fitted to this landscape.

    Returns
    -------
    Scene

    Examples
    --------
    >>> from viz3d.landscape import Landscape
    >>> axis = np.linspace(-1, 1, 11)
    >>> bowl = Landscape((axis, axis), np.add.outer(axis**2, 2 * axis**2), np.ones((11, 11), bool))
    >>> scene = render_landscape(bowl)
    >>> [a.name for a in scene.actors][:3]
    ['surface', 'contours', 'floor-contours']
    """
    if landscape.dims == 2:
        scene = _render_surface(landscape, scale, cmap, contours, trajectory, relief, geometry)
    elif landscape.dims == 1:
        scene = _render_curve(landscape, scale, cmap, relief, geometry)
    else:
        raise RenderError(
            f"only 1D and 2D landscapes can be drawn, this one has {landscape.dims} dims"
        )
    scene.title = title if title is not None else _title(landscape, scale)
    scene.add_text(scene.title, position="upper_left", font_size=12, color=FOREGROUND, name="title")
    return scene


def _title(landscape: Any, scale: Scale) -> str:
    shape = "x".join(str(len(a)) for a in landscape.coords)
    kind = landscape.directions.get("kind", "")
    point, value = landscape.minimum
    where = ", ".join(f"{c:+.2f}" for c in point)
    text = f"Loss landscape {shape}" + (f" - {kind} directions" if kind else "")
    text += f"\ncentre {landscape.center_loss:.4g}   min {value:.4g} at ({where})"
    return text + ("   [log scale]" if scale == "log" else "")


def _scalar_bar(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "color": FOREGROUND,
        "vertical": True,
        "position_x": 0.88,
        "position_y": 0.12,
        "height": 0.7,
        "width": 0.06,
        "fmt": "%.3g",
    }


def _render_surface(
    landscape: Any,
    scale: Scale,
    cmap: str,
    contours: int,
    trajectory: bool,
    relief: float,
    geometry: SurfaceGeometry | None,
) -> Scene:
    xs, ys = (np.asarray(a, dtype=float) for a in landscape.coords)
    extent = float(max(np.ptp(xs), np.ptp(ys))) or 1.0
    losses = np.where(landscape.done, landscape.losses, np.nan)
    geometry = geometry or surface_geometry(losses, extent, scale, relief)
    surface = surface_mesh((xs, ys), losses, geometry)
    scene = Scene(
        background=BACKGROUND,
        metadata={"kind": "landscape", "scale": scale, "height_factor": geometry.factor},
    )
    colour_values = "loss" if scale == "linear" else "log10 loss"
    scene.add_mesh(
        surface,
        name="surface",
        scalars=colour_values,
        cmap=cmap,
        smooth_shading=True,
        specular=0.3,
        clim=geometry.clim,
        scalar_bar_args=_scalar_bar("loss" if scale == "linear" else "log10 loss"),
    )
    levels = _contour_levels(surface, contours)
    if len(levels):
        lines = surface.contour(isosurfaces=levels, scalars="height")
        if lines.n_points:
            scene.add_mesh(
                _lifted(lines, 0.004 * extent),
                name="contours",
                color="white",
                line_width=1.5,
                opacity=0.8,
            )
            scene.add_mesh(
                _floor(lines, geometry.floor),
                name="floor-contours",
                scalars=colour_values,
                cmap=cmap,
                clim=geometry.clim,
                line_width=3,
                show_scalar_bar=False,
            )
    plane = pv.Plane(
        center=(float(xs.mean()), float(ys.mean()), geometry.floor - 1e-3 * extent),
        i_size=float(np.ptp(xs)),
        j_size=float(np.ptp(ys)),
    )
    scene.add_mesh(plane, name="floor", color="#1c2130")

    marker = 0.025 * extent
    (mx, my), best = landscape.minimum
    min_z = float(geometry.height(np.array(best)))
    scene.add_mesh(
        pv.Sphere(radius=marker, center=(mx, my, min_z)), name="minimum", color="#ff4d4d"
    )
    centre_z = float(geometry.height(np.array(landscape.center_loss)))
    scene.add_mesh(
        pv.Sphere(radius=marker * 0.8, center=(0.0, 0.0, centre_z)), name="centre", color="white"
    )
    scene.add_point_labels(
        [[mx, my, min_z + 2 * marker]],
        [f"min {best:.3g}"],
        name="minimum-label",
        font_size=12,
        text_color=FOREGROUND,
        shape_opacity=0.0,
        show_points=False,
    )
    if trajectory and landscape.trajectory is not None and len(landscape.trajectory.coords) > 1:
        _add_path(scene, landscape, (xs, ys), geometry, marker)
    centre = (float(xs.mean()), float(ys.mean()), 0.0)
    height = relief * extent
    # high enough to look into a bowl-shaped minimum rather than at the outside of its near wall
    scene.set_camera(
        (centre[0] - 1.05 * extent, centre[1] - 1.5 * extent, height + 1.65 * extent),
        (centre[0], centre[1], 0.1 * height),
        (0, 0, 1),
    )
    return scene


def _add_path(
    scene: Scene,
    landscape: Any,
    axes: tuple[np.ndarray, np.ndarray],
    geometry: SurfaceGeometry,
    marker: float,
) -> None:
    path = np.asarray(landscape.trajectory.coords, dtype=float)[:, :2]
    heights = geometry.height(np.where(landscape.done, landscape.losses, np.nan))
    z = _interp2(axes, heights, path) + 1.5 * marker
    points = np.column_stack([path, np.nan_to_num(z, nan=float(np.nanmax(heights)))])
    line = pv.lines_from_points(points)
    scene.add_mesh(
        line.tube(radius=marker * 0.35), name="trajectory", color="#ffb000", smooth_shading=True
    )
    dots = pv.PolyData(points)
    scene.add_mesh(
        dots.glyph(geom=pv.Sphere(radius=marker * 0.6), scale=False, orient=False),
        name="checkpoints",
        color="#ffd36b",
    )
    scene.add_point_labels(
        [points[0], points[-1]],
        ["start", "end"],
        name="path-labels",
        font_size=11,
        text_color="#ffd36b",
        shape_opacity=0.0,
        show_points=False,
    )


def _render_curve(
    landscape: Any, scale: Scale, cmap: str, relief: float, geometry: SurfaceGeometry | None
) -> Scene:
    xs = np.asarray(landscape.coords[0], dtype=float)
    extent = float(np.ptp(xs)) or 1.0
    losses = np.where(landscape.done, landscape.losses, np.nan)
    geometry = geometry or surface_geometry(losses, extent, scale, relief)
    z = geometry.height(losses)
    scene = Scene(background=BACKGROUND, metadata={"kind": "landscape-1d", "scale": scale})
    finite = np.isfinite(z)
    # one polyline per run of finite points: a NaN splits the curve instead of bridging it
    runs = np.split(np.flatnonzero(finite), np.flatnonzero(np.diff(np.flatnonzero(finite)) > 1) + 1)
    pieces = []
    for run in runs:
        if len(run) >= 2:
            piece = pv.lines_from_points(np.column_stack([xs[run], np.zeros(len(run)), z[run]]))
            piece["loss"] = losses[run]
            pieces.append(piece.tube(radius=0.006 * extent))
    if not pieces:
        raise RenderError("the 1D landscape has fewer than two consecutive finite points to draw")
    curve = pieces[0].merge(pieces[1:]) if len(pieces) > 1 else pieces[0]
    scene.add_mesh(
        curve,
        name="curve",
        scalars="loss",
        cmap=cmap,
        smooth_shading=True,
        scalar_bar_args=_scalar_bar("loss"),
    )
    axis_line = pv.Line((xs.min(), 0, geometry.floor), (xs.max(), 0, geometry.floor))
    scene.add_mesh(axis_line, name="axis", color="#6b7280", line_width=2)
    ticks = np.column_stack([xs[finite], np.zeros(finite.sum()), z[finite]])
    scene.add_mesh(
        pv.PolyData(ticks).glyph(geom=pv.Sphere(radius=0.012 * extent), scale=False, orient=False),
        name="points",
        color="white",
    )
    (mx,), best = landscape.minimum
    scene.add_mesh(
        pv.Sphere(radius=0.025 * extent, center=(mx, 0, float(geometry.height(np.array(best))))),
        name="minimum",
        color="#ff4d4d",
    )
    scene.add_point_labels(
        [[xs.min(), 0, geometry.floor], [xs.max(), 0, geometry.floor]],
        [f"{xs.min():+.2f}", f"{xs.max():+.2f}"],
        name="axis-labels",
        font_size=11,
        text_color=FOREGROUND,
        shape_opacity=0.0,
        show_points=False,
    )
    mid = float(xs.mean())
    top = relief * extent
    scene.set_camera((mid, -2.2 * extent, 0.5 * top), (mid, 0.0, 0.45 * top), (0, 0, 1))
    return scene
