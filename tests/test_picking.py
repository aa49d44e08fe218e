"""The hover/click panel, driven by synthetic mouse events on an off-screen plotter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pv = pytest.importorskip("pyvista")
from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation

import viz3d
from viz3d.layout import compute_layout
from viz3d.render import build_scene
from viz3d.render.pyvista import picking
from viz3d.render.pyvista.mesh import to_pyvista
from viz3d.render.pyvista.picking import PANEL_NAME, contrast_ratio, format_node_info, pick_node

SIZE = (640, 360)  # narrow: the title and the colour bars' titles leave little room


@pytest.fixture(scope="module")
def scene():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.Linear(32, 4)
    )
    return build_scene(compute_layout(viz3d.trace(model, torch.randn(8, 16))))


@pytest.fixture
def plotter(scene):
    pl = scene.plotter(off_screen=True, window_size=SIZE, interactive=True)
    pl.show(auto_close=False, interactive=False)  # as a window is: shown once, then redrawn
    yield pl
    pl.close()


def _box_centres(scene, pl) -> dict[int, tuple[int, int]]:
    """Display position of the centre of every layer box, by node id."""
    layers = to_pyvista(next(a for a in scene.actors if a.name == "layers").mesh)
    out = {}
    for node in np.unique(layers.cell_data["node_id"]):
        cells = layers.extract_cells(np.flatnonzero(layers.cell_data["node_id"] == node))
        pl.renderer.SetWorldPoint(*cells.center, 1.0)
        pl.renderer.WorldToDisplay()
        x, y, _ = pl.renderer.GetDisplayPoint()
        if pick_node(pl, x, y) == node:
            out[int(node)] = (round(x), round(y))
    assert len(out) >= 2
    return out


def _event(pl, name: str, x: int, y: int) -> None:
    pl.iren.interactor.SetEventInformation(int(x), int(y))
    pl.iren.interactor.InvokeEvent(name)


def _move(pl, x, y) -> None:
    _event(pl, "MouseMoveEvent", x, y)


def _click(pl, x, y) -> None:
    _event(pl, "LeftButtonPressEvent", x, y)
    _event(pl, "LeftButtonReleaseEvent", x, y)


def _empty_point(pl) -> tuple[int, int]:
    for x, y in [(4, 4), (SIZE[0] // 2, 4), (4, SIZE[1] // 2)]:
        if pick_node(pl, x, y) is None:
            return x, y
    raise AssertionError("no empty spot found")


def _panel_box(pl) -> tuple[int, int, int, int]:
    box = [0.0] * 4
    actor = pl.actors[PANEL_NAME]
    actor.GetBoundingBox(pl.renderer, box)  # relative to the actor's anchor
    x, y = actor.GetPosition()
    return tuple(int(round(v)) for v in (x + box[0], y + box[2], x + box[1], y + box[3]))


@pytest.fixture(autouse=True)
def _no_throttle(monkeypatch):
    monkeypatch.setattr(picking, "HOVER_INTERVAL", 0.0)


def test_hover_text_contrasts_with_its_panel(scene, plotter):
    (node, (x, y)), *_ = _box_centres(scene, plotter).items()
    _move(plotter, x, y)
    actor = plotter.actors[PANEL_NAME]
    assert actor.GetVisibility() and scene.node_info[node]["name"] in actor.GetInput()
    image = plotter.screenshot(return_img=True).astype(float) / 255
    x0, y0, x1, y1 = _panel_box(plotter)
    assert x1 - x0 > 60 and y1 - y0 > 40
    # display y runs up, image rows run down; stay one pixel inside the frame
    region = image[SIZE[1] - y1 + 2 : SIZE[1] - y0 - 2, x0 + 2 : x1 - 2].reshape(-1, 3)
    colours, counts = np.unique(region.round(3), axis=0, return_counts=True)
    panel = colours[np.argmax(counts)]
    assert counts.max() > 0.5 * len(region), "the panel is one flat colour"
    distance = np.abs(region - panel).sum(axis=1)
    glyphs = region[distance >= 0.8 * distance.max()]
    assert len(glyphs) > 50, "the text is drawn"
    assert contrast_ratio(glyphs.mean(axis=0), panel) >= 4.5
    theme_text = plotter.theme.font.color.float_rgb
    assert np.abs(glyphs.mean(axis=0) - theme_text).max() < 0.2, "the theme's text colour"


def _overlay_pixels(pl) -> np.ndarray:
    """Mask of the pixels the colour bars (with titles and labels) and corner texts cover."""
    bars = {id(bar) for bar in pl.scalar_bars.values()}
    assert bars, "the scene has colour bars"
    hidden = [
        a
        for a in pl.renderer.GetViewProps()
        if id(a) not in bars and not isinstance(a, vtkCornerAnnotation) and a.GetVisibility()
    ]
    for actor in hidden:
        actor.SetVisibility(False)
    pl.render()
    image = pl.screenshot(return_img=True).astype(int)
    for actor in hidden:
        actor.SetVisibility(True)
    pl.render()
    return np.abs(image - np.median(image.reshape(-1, 3), axis=0)).sum(axis=2) > 0


def test_panel_stays_clear_of_the_colour_bars_and_the_title(scene, plotter):
    overlay = _overlay_pixels(plotter)
    before = plotter.screenshot(return_img=True).astype(int)
    (_, (x, y)), *_ = _box_centres(scene, plotter).items()
    _move(plotter, x, y)
    after = plotter.screenshot(return_img=True).astype(int)
    changed = np.abs(after - before).sum(axis=2) > 0
    assert changed.sum() > 1000, "hovering draws the panel"
    assert not (changed & overlay).any(), "the panel covers a colour bar, its title or a text"
    rows, cols = np.nonzero(changed)
    x0, y0, x1, y1 = _panel_box(plotter)
    ys = SIZE[1] - 1 - rows
    assert cols.min() >= x0 - 1 and cols.max() <= x1 + 1, "only the panel changed"
    assert ys.min() >= y0 - 1 and ys.max() <= y1 + 1


def test_click_pins_the_panel_and_a_second_click_releases_it(scene, plotter):
    centres = _box_centres(scene, plotter)
    (first, p1), (second, p2) = list(centres.items())[:2]
    actor = plotter.actors[PANEL_NAME]
    _click(plotter, *p1)
    assert "pinned" in actor.GetInput() and scene.node_info[first]["name"] in actor.GetInput()
    _move(plotter, *p2)
    _move(plotter, *_empty_point(plotter))
    assert actor.GetVisibility() and scene.node_info[first]["name"] in actor.GetInput()
    _click(plotter, *p1)  # the same layer again: released, hover works again
    assert "pinned" not in actor.GetInput()
    _move(plotter, *p2)
    assert scene.node_info[second]["name"] in actor.GetInput()
    _click(plotter, *p2)
    _click(plotter, *_empty_point(plotter))  # empty space releases and hides
    assert not actor.GetVisibility()
    _move(plotter, *p1)
    assert scene.node_info[first]["name"] in actor.GetInput()


def test_a_camera_drag_does_not_pin(scene, plotter):
    (_, (x, y)), *_ = _box_centres(scene, plotter).items()
    _event(plotter, "LeftButtonPressEvent", x, y)
    _event(plotter, "LeftButtonReleaseEvent", x + 40, y)
    assert "pinned" not in (plotter.actors[PANEL_NAME].GetInput() or "")


def test_moving_within_a_layer_redraws_only_when_the_text_changes(scene, plotter, monkeypatch):
    centres = list(_box_centres(scene, plotter).values())
    renders = []
    plotter.render_window.AddObserver("StartEvent", lambda *_: renders.append(1))
    actors_before = set(plotter.actors)
    for dx in range(-3, 4):  # seven moves inside one box
        _move(plotter, centres[0][0] + dx, centres[0][1])
    assert len(renders) == 1
    _move(plotter, *centres[1])
    assert len(renders) == 2
    assert set(plotter.actors) == actors_before, "the text actor is reused, not re-added"
    # moves closer together than HOVER_INTERVAL are not even picked
    monkeypatch.setattr(picking, "HOVER_INTERVAL", 60.0)
    _move(plotter, *centres[0])
    _move(plotter, *centres[1])
    assert len(renders) <= 3


def test_facts_read_back_from_json_show_as_n_a():
    text = format_node_info({"name": "fc", "type": "Linear", "stats": {"mean": None, "std": 2}})
    assert "mean n/a" in text and "std 2" in text


@pytest.mark.parametrize("text_colour", ["black", "white", "#e8eaf0"])
def test_panel_contrasts_with_any_theme_text_colour(monkeypatch, text_colour):
    monkeypatch.setattr(pv.global_theme.font, "color", text_colour)
    cube = pv.Cube().triangulate()
    cube.cell_data["node_id"] = np.full(cube.n_cells, 3)
    pl = pv.Plotter(off_screen=True, window_size=(320, 200))
    try:
        pl.set_background("gray")  # mid grey: neither black nor white text would read on it
        pl.add_mesh(cube, pickable=True)
        panel = picking.HoverPanel(pl, {3: {"name": "fc", "type": "Linear", "params": 12}})
        pl.show(auto_close=False, interactive=False)
        assert panel.hover(160, 100) and panel.node == 3
        text = pv.Color(text_colour).float_rgb
        assert contrast_ratio(text, panel.panel_color) >= 7.0
        x0, y0, x1, y1 = (int(round(v)) for v in panel.bounding_box())
        image = pl.screenshot(return_img=True).astype(float) / 255
        region = image[200 - y1 + 2 : 200 - y0 - 2, x0 + 2 : x1 - 2].reshape(-1, 3)
        assert np.abs(np.median(region, axis=0) - panel.panel_color).max() < 0.02
        assert np.abs(region - text).sum(axis=1).min() < 0.3, "text pixels in the theme colour"
    finally:
        pl.close()
