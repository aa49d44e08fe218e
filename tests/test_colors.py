"""Colour ranges: finite values only, "no data" colour for non-finite ones, outliers clipped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pv = pytest.importorskip("pyvista")

import viz3d
from viz3d.layout import Layout, compute_layout
from viz3d.render import build_scene
from viz3d.render import colors as colormod
from viz3d.render.colors import NAN_COLOR, ValueColoring, color_range, color_spread, node_colors
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
    assert not clipped  # fewer than 26 values: the percentiles are the extremes
    assert clim == (float(finite[2:].min()), float(finite[2:].max()))


def test_one_outlier_does_not_squeeze_the_other_layers_and_the_bar_says_how(walled):
    layout, wall = walled
    plain = node_colors(layout)
    assert plain.title == "activation RMS"
    layout.values[wall] = 1000 * np.nanmax(layout.values)
    skewed = node_colors(layout)
    # a log scale (or clipping, with more layers) keeps the others spread; the title says which
    assert skewed.title.startswith("log10 ") or skewed.title.endswith("(2-98th pct)")
    others = skewed.values.copy()
    others[wall] = np.nan
    rest = colormod.NodeColors("x", "x", others, "viridis", skewed.clim)
    assert color_spread(rest) >= 0.2


def test_robust_range_runs_between_the_2nd_and_98th_percentiles():
    values = np.linspace(0.0, 1.0, 101)
    assert color_range(values) == ((0.02, 0.98), True)
    few = np.array([0.3, 0.1, 0.9, 0.5, 0.7])  # few, evenly spread: nothing is cut
    assert color_range(few) == ((0.1, 0.9), False)
    assert color_range(np.r_[values, 50.0])[0][1] < 1.0


def test_values_spanning_more_than_100x_are_coloured_on_a_log_scale():
    layout = Layout.empty()
    spread = 10.0 ** np.linspace(-4, 0, 30)  # 10^4 x: linear would crowd all but a few at 0
    coloring = colormod._scalar("activation", "activation RMS", spread, "viridis")
    assert coloring.title.startswith("log10 ")
    assert np.allclose(coloring.values, np.log10(spread))
    assert color_spread(coloring) >= 0.7
    linear = colormod._scalar("activation", "activation RMS", np.linspace(1, 3, 30), "viridis")
    assert not linear.title.startswith("log10")
    assert color_spread(coloring) > 0.4 and len(layout) == 0


def test_value_coloring_gives_inputs_and_outputs_no_data_not_the_model_total():
    coloring = ValueColoring("grad norm", {"fc1": 3.0, "fc2": 4.0, "output": 2.0}, log=False)
    assert np.isnan(coloring.value_of({"kind": "input", "name": "input", "module": ""}))
    assert coloring.value_of({"kind": "output", "name": "output", "module": ""}) == 2.0
    assert np.isnan(coloring.value_of({"kind": "op", "name": "add", "module": ""}))
    # a collapsed module still sums what is inside it
    assert coloring.value_of({"kind": "module", "name": "", "module": ""}) == pytest.approx(
        np.sqrt(3.0**2 + 4.0**2 + 2.0**2)
    )
    assert coloring.value_of({"kind": "module", "name": "fc1", "module": "fc1"}) == 3.0


def test_feature_map_colours_ignore_non_finite_pixels():
    rgb = _colourise(np.array([[0.0, 1.0], [np.inf, np.nan]]))
    assert np.isfinite(rgb).all()
    assert not np.allclose(rgb[0, 0], rgb[0, 1])  # the finite pixels span the whole map
