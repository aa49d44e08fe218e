"""Picture regression: the README's pictures and key scenes against stored images.

The stored images live in ``tests/image_cache/`` (``image_cache_dir`` in pyproject.toml) and are
compared with pytest-pyvista's ``verify_image_cache`` fixture. They are small (320x180, a few
tens of KB each) so the cache stays under 1 MB.

Tolerance: pyvista's image error (``pyvista.compare_images``) at this size is about 70 for the
whole picture shifted by a third of a pixel (a 0.3 degree camera turn, more than Mesa versions
move a rasterised edge) and about 80 for +-4 grey levels of noise on every pixel; it is about
150 without the skip arcs, 350 without the neurons and 1300 for another colouring. Failing
above 120 keeps the picture honest without failing on a new Mesa.

After an intended change of the pictures, rewrite the cache and look at the new images::

    python -m pytest tests/test_image_cache.py --reset_image_cache
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pv = pytest.importorskip("pyvista")
pytest.importorskip("pytest_pyvista")

import viz3d
from viz3d.landscape.landscape import Landscape
from viz3d.render.pyvista.mesh import to_pyvista
from viz3d.render.pyvista.picking import enable_hover, pick_node
from viz3d.render.pyvista.pulse import Pulse
from viz3d.zoo import SAMPLES, build_sample

SIZE = (320, 180)
ERROR, WARNING = 120.0, 40.0


@pytest.fixture
def verify(verify_image_cache):
    verify_image_cache.error_value = ERROR
    verify_image_cache.warning_value = WARNING
    return verify_image_cache


def _sample_scene(name: str):
    """The scene samples/render_models.py draws for the README."""
    torch.manual_seed(0)
    graph = viz3d.trace(build_sample(name), input_shape=SAMPLES[name].input_shape)
    return viz3d.enhanced_3d_visualization(graph, show=False)


@pytest.fixture(scope="module")
def resnet():
    return _sample_scene("resnet")


def _check(verify, plotter) -> None:
    try:
        verify(plotter)
    finally:
        plotter.close()


@pytest.mark.parametrize("name", ["cnn", "unet", "gpt2"])
def test_readme_picture(verify, name):
    scene = _sample_scene(name)
    _check(verify, scene.plotter(off_screen=True, window_size=SIZE, interactive=False))


@pytest.mark.parametrize("name", ["autoencoder", "clip"])
def test_gallery_picture(verify, name):
    from tests.legibility import gallery_graph
    from viz3d.layout import compute_layout
    from viz3d.render import build_scene

    scene = build_scene(compute_layout(gallery_graph(name)))
    _check(verify, scene.plotter(off_screen=True, window_size=SIZE, interactive=False))


def test_readme_picture_resnet(verify, resnet):
    _check(verify, resnet.plotter(off_screen=True, window_size=SIZE, interactive=False))


def test_forward_pass_halfway(verify, resnet):
    pl = resnet.plotter(off_screen=True, window_size=SIZE, interactive=False)
    pulse = Pulse(resnet, pl, mode="shader")
    assert pulse.mode == "shader"
    pulse.set_time(0.5)
    _check(verify, pl)


def test_hover_panel_pinned_on_a_layer(verify, resnet):
    pl = resnet.plotter(off_screen=True, window_size=(480, 270), interactive=False)
    panel = enable_hover(pl, resnet.node_info)
    pl.render()
    layers = to_pyvista(next(a for a in resnet.actors if a.name == "layers").mesh)
    node = int(np.unique(layers.cell_data["node_id"])[3])
    cells = layers.extract_cells(np.flatnonzero(layers.cell_data["node_id"] == node))
    pl.renderer.SetWorldPoint(*cells.center, 1.0)
    pl.renderer.WorldToDisplay()
    x, y, _ = pl.renderer.GetDisplayPoint()
    assert pick_node(pl, x, y) == node
    panel.click(x, y)
    assert panel.pinned
    _check(verify, pl)


def test_loss_surface(verify):
    axis = np.linspace(-1, 1, 21)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    losses = 0.5 + xx**2 + 0.4 * yy**2 + 0.1 * np.sin(6 * xx)
    landscape = Landscape((axis, axis), losses, np.ones_like(losses, bool))
    scene = landscape.render()
    _check(verify, scene.plotter(off_screen=True, window_size=SIZE, interactive=False))
