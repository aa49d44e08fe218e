"""Colour ranges: finite values only, "no data" colour for non-finite ones, outliers clipped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pv = pytest.importorskip("pyvista")

import viz3d
from viz3d.layout import compute_layout
from viz3d.render import build_scene
from viz3d.render.colors import NAN_COLOR, color_range, node_colors
from viz3d.render.gradients import _colourise

SIZE = (640, 360)


class _Walled(torch.nn.Module):
    """Layers, then an op whose output is all -inf (like a fully masked attention row)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack = torch.nn.Sequential(
            *(m for _ in range(6) for m in (torch.nn.Linear(8, 8), torch.nn.Tanh()))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stack(x)
        wall = torch.full_like(h, float("-inf"))
        return torch.maximum(h, wall).relu()


@pytest.fixture
def walled():
    torch.manual_seed(0)
    layout = compute_layout(viz3d.trace(_Walled(), torch.randn(4, 8)))
    wall = next(i for i, n in enumerate(layout.nodes) if n["type"] == "full_like")
    return layout, wall


def _pixel_at(scene, center: np.ndarray) -> np.ndarray:
    pl = scene.plotter(off_screen=True, window_size=SIZE)
    try:
        image = pl.screenshot(return_img=True)
        renderer = pl.renderer
        renderer.SetWorldPoint(*center, 1.0)
        renderer.WorldToDisplay()
        x, y, _ = renderer.GetDisplayPoint()
    finally:
        pl.close()
    row, col = SIZE[1] - 1 - round(y), round(x)
    patch = image[row - 1 : row + 2, col - 1 : col + 2, :3].reshape(-1, 3)
    return np.median(patch, axis=0)


def test_all_infinite_layer_has_no_value_after_tracing(walled):
    layout, wall = walled
    assert np.isnan(layout.values[wall])
    assert layout.nodes[wall]["stats"]["n_inf"] == 32


def test_infinite_value_is_drawn_in_the_no_data_colour_not_the_top(walled):
    layout, wall = walled
    layout.values[wall] = np.inf
    coloring = node_colors(layout)
    assert np.isnan(coloring.values[wall])
    assert np.isfinite(coloring.clim).all()
    pixel = _pixel_at(build_scene(layout, labels=False), layout.positions[wall])
    # shading darkens a colour but keeps its hue: the grey stays grey, viridis' top is yellow
    assert np.ptp(pixel) < 20, pixel
    assert pixel.mean() > 40, pixel  # lit, not the dark background
    grey = np.array([int(NAN_COLOR[i : i + 2], 16) for i in (1, 3, 5)])
    assert np.ptp(grey) < 20


def test_colour_range_ignores_non_finite_values(walled):
    layout, _ = walled
    values = layout.values.copy()
    finite = values[np.isfinite(values)]
    values[np.flatnonzero(np.isfinite(values))[:2]] = [np.inf, -np.inf]
    clim, clipped = color_range(values)
    assert not clipped
    assert clim == (float(finite[2:].min()), float(finite[2:].max()))


def test_one_outlier_is_clipped_and_the_colour_bar_says_so(walled):
    layout, wall = walled
    base = layout.values.copy()
    plain = node_colors(layout)
    assert plain.title == "activation RMS"
    assert plain.clim == (float(np.nanmin(base)), float(np.nanmax(base)))

    layout.values[wall] = 1000 * np.nanmax(base)
    clipped = node_colors(layout)
    assert clipped.title == "activation RMS (outliers clipped)"
    assert clipped.clim == plain.clim


def test_outlier_rule_keeps_the_full_range_of_spread_values():
    values = np.linspace(0.0, 1.0, 50) ** 3  # skewed, but no outlier
    assert color_range(values) == ((0.0, 1.0), False)
    assert color_range(np.r_[values, 50.0]) == ((0.0, 1.0), True)
    assert color_range(np.r_[-50.0, values]) == ((0.0, 1.0), True)


def test_feature_map_colours_ignore_non_finite_pixels():
    rgb = _colourise(np.array([[0.0, 1.0], [np.inf, np.nan]]))
    assert np.isfinite(rgb).all()
    assert not np.allclose(rgb[0, 0], rgb[0, 1])  # the finite pixels span the whole map
