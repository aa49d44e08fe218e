"""Landscape pictures: a surface with contours, holes for NaN, a path, curves for 1D."""

from __future__ import annotations

import numpy as np
import pytest

from viz3d.errors import RenderError
from viz3d.landscape.landscape import Landscape, Trajectory
from viz3d.render.landscape import render_landscape, surface_geometry, surface_mesh
from viz3d.render.pyvista.mesh import to_pyvista

SIZE = (480, 320)


def _bowl(nan_block: bool = False, path: bool = False) -> Landscape:
    a, b = np.linspace(-1, 1, 25), np.linspace(-1, 1, 17)  # non-square on purpose
    losses = np.add.outer(a**2, 2 * b**2) + 0.3 * np.sin(3 * np.add.outer(a, b)) + 0.5
    if nan_block:
        losses[2:5, 2:5] = np.nan
    trajectory = None
    if path:
        coords = np.array([[0.9, 0.8], [0.5, 0.4], [0.2, 0.1], [0.0, 0.0]])
        trajectory = Trajectory(coords, np.arange(4.0), np.array([0.7, 0.2]))
    return Landscape(
        (a, b), losses, np.ones_like(losses, bool), {"kind": "filter"}, None, trajectory
    )


def _distinct_colours(image: np.ndarray) -> int:
    return len(np.unique(image.reshape(-1, 3) // 8, axis=0))


def test_surface_picture_is_not_blank_and_shows_the_colour_map():
    image = render_landscape(_bowl()).screenshot(window_size=SIZE)
    assert _distinct_colours(image) > 200
    background = np.array([0x12, 0x15, 0x1C])
    assert (np.abs(image.astype(int) - background).sum(axis=2) > 30).mean() > 0.1


def test_contour_lines_are_drawn_on_the_surface():
    with_lines = render_landscape(_bowl()).screenshot(window_size=SIZE)
    without = render_landscape(_bowl(), contours=0).screenshot(window_size=SIZE)

    def white(img):
        return int((img.min(axis=2) > 200).sum())

    assert white(with_lines) > white(without) + 300


def test_surface_axes_keep_their_order_on_a_non_square_grid():
    landscape = _bowl()
    mesh = surface_mesh(landscape.coords, landscape.losses, surface_geometry(landscape.losses, 2.0))
    # the point at (a=-1, b=+1) carries losses[0, -1]
    index = int(np.argmin(np.linalg.norm(mesh.points[:, :2] - [-1.0, 1.0], axis=1)))
    assert mesh["loss"][index] == pytest.approx(landscape.losses[0, -1])


def test_nan_points_become_holes_not_crashes():
    landscape = _bowl(nan_block=True)
    mesh = surface_mesh(landscape.coords, landscape.losses, surface_geometry(landscape.losses, 2.0))
    assert np.isfinite(mesh["loss"]).all() and mesh.n_cells < 2 * 24 * 16
    image = render_landscape(landscape).screenshot(window_size=SIZE)
    assert _distinct_colours(image) > 100


def test_trajectory_tube_changes_the_picture():
    plain = render_landscape(_bowl()).screenshot(window_size=SIZE)
    with_path = render_landscape(_bowl(path=True))
    assert "trajectory" in [a.name for a in with_path.actors]

    def orange(img):
        return int(((img[..., 0] > 200) & (img[..., 1] > 120) & (img[..., 2] < 80)).sum())

    assert orange(with_path.screenshot(window_size=SIZE)) > orange(plain) + 50


def test_log_scale_differs_from_linear():
    linear = render_landscape(_bowl()).screenshot(window_size=SIZE)
    log = render_landscape(_bowl(), scale="log").screenshot(window_size=SIZE)
    assert np.abs(linear.astype(int) - log.astype(int)).mean() > 2


def test_one_dimensional_curve_renders_and_splits_at_nan():
    x = np.linspace(-1, 1, 21)
    losses = x**2 + 0.1
    losses[10] = np.nan
    curve = Landscape((x,), losses, np.ones(21, bool), {"kind": "interpolation"})
    scene = render_landscape(curve)
    image = scene.screenshot(window_size=SIZE)
    assert _distinct_colours(image) > 30
    tube = to_pyvista(scene.actors[0].mesh)
    assert scene.actors[0].name == "curve"
    # two separate tubes, x in [-1, -0.1] and [0.1, 1]: nothing bridges the NaN at x = 0
    pieces = tube.connectivity().split_bodies()
    spans = sorted((body.bounds[0], body.bounds[1]) for body in pieces)
    assert len(spans) == 2
    assert spans[0][1] == pytest.approx(x[9], abs=0.02)
    assert spans[1][0] == pytest.approx(x[11], abs=0.02)
    assert not (np.abs(tube.points[:, 0]) < 0.05).any()


def test_all_nan_landscape_is_a_clear_error():
    a = np.linspace(-1, 1, 3)
    empty = Landscape((a, a), np.full((3, 3), np.nan), np.ones((3, 3), bool))
    with pytest.raises(RenderError, match="no finite loss"):
        render_landscape(empty)
