"""Boxes shaped like their output tensors (volume still the size metric); feature-map tiles."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

import viz3d
from viz3d.errors import InputError, RenderError
from viz3d.features.layer_maps import first_channels
from viz3d.graph import GraphInfo, LayerGraph
from viz3d.layout import compute_layout
from viz3d.render import build_scene


def _chain(*layers: tuple[str, list[int], int], shape_in: list[int]) -> LayerGraph:
    """input -> layers (name, output shape, params) -> output, in a line."""
    g = nx.DiGraph()
    g.add_node("in", kind="input", name="input", type="Input", order=0, out_shapes=[shape_in])
    previous = "in"
    for order, (name, shape, params) in enumerate(layers, start=1):
        kind = "Conv2d" if len(shape) == 4 else "Linear"
        g.add_node(
            name, kind="module", name=name, type=kind, order=order, params=params, flops=3 * params
        )
        g.nodes[name]["out_shapes"] = [shape]
        g.add_edge(previous, name)
        previous = name
    last = layers[-1][1]
    g.add_node("out", kind="output", name="output", type="Output", order=99, out_shapes=[last])
    g.add_edge(previous, "out")
    total = sum(p for _, _, p in layers)
    return LayerGraph(g, GraphInfo(model_name="shapes", total_params=total))


def _size(layout, name: str) -> np.ndarray:
    return layout.sizes[layout.node_ids.index(name)]


def _elongation(size: np.ndarray) -> float:
    """Length along the data flow (x) over the side of the square cross-section (y, z)."""
    return float(size[0] / np.sqrt(size[1] * size[2]))


def test_a_deep_conv_output_is_longer_along_the_flow_than_the_image_it_reads():
    layout = compute_layout(_chain(("conv", [1, 64, 8, 8], 1792), shape_in=[1, 3, 32, 32]))
    image, conv = _size(layout, "in"), _size(layout, "conv")
    assert _elongation(conv) > 3 * _elongation(image)
    assert _elongation(image) < 0.5  # 3 channels of 32 x 32: a thin plate
    assert conv[1] == pytest.approx(conv[2]) and image[1] == pytest.approx(image[2])  # H == W


def test_a_sequence_is_tokens_deep_and_features_high_and_a_vector_a_thin_plate():
    layout = compute_layout(
        _chain(("seq", [1, 16, 768], 590_592), ("head", [1, 10], 7690), shape_in=[1, 16])
    )
    seq, head = _size(layout, "seq"), _size(layout, "head")
    assert seq[2] > 4 * seq[1]  # 768 features >> 16 tokens
    assert seq[2] > 2 * seq[0]
    assert head[0] < 0.5 * head[1] and head[1] == pytest.approx(head[2])


@pytest.mark.parametrize("size_by", ["params", "flops"])
def test_box_volume_still_follows_the_size_metric(size_by):
    layers = (
        ("stem", [1, 3, 224, 224], 20_000),  # a plate
        ("conv", [1, 64, 8, 8], 36_928),
        ("deep", [1, 2048, 7, 7], 1_000_000),  # a bar along the flow
        ("seq", [1, 16, 768], 590_592),
        ("fc", [1, 10], 5_130),
    )
    layout = compute_layout(_chain(*layers, shape_in=[1, 3, 224, 224]), size_by=size_by)
    volumes = np.array([np.prod(_size(layout, name)) for name, _, _ in layers])
    metric = np.array([p * (3 if size_by == "flops" else 1) for _, _, p in layers], dtype=float)
    np.testing.assert_allclose(volumes / volumes[2], metric / metric[2], rtol=1e-6)
    # and the proportions really differ between them: shape is not a cube scaled
    elongations = [_elongation(_size(layout, name)) for name, _, _ in layers]
    assert max(elongations) / min(elongations) > 5
    assert np.max(layout.sizes) <= 10.0 + 1e-9  # nothing absurdly long


def test_the_legend_states_the_metric_and_where_the_proportions_come_from():
    layout = compute_layout(_chain(("conv", [1, 64, 8, 8], 1792), shape_in=[1, 3, 32, 32]))
    stated = layout.info["size_legend"]
    assert "box volume ~ params" in stated and "cube root" in stated
    assert "proportions = output tensor" in stated and "channels×H×W" in stated
    legend = next(t.text for t in build_scene(layout).texts if t.name == "legend")
    assert stated in legend
    assert (
        "log10(1 + flops)"
        in compute_layout(
            _chain(("conv", [1, 64, 8, 8], 1792), shape_in=[1, 3, 32, 32]),
            scale="log",
            size_by="flops",
        ).info["size_legend"]
    )


# ----------------------------------------------------------------- feature maps
def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 4),
    ).eval()


def _stripes() -> torch.Tensor:
    x = torch.zeros(1, 1, 16, 16)
    x[..., ::4] = 3.0
    return x


def _tile_pixels(scene, size=(480, 270)) -> tuple[np.ndarray, np.ndarray]:
    """The screenshot, and where the map tiles show (against the same scene without them)."""
    image = scene.screenshot(window_size=size).astype(int)
    tiles = [a for a in scene.actors if a.name.startswith("map-")]
    scene.actors = [a for a in scene.actors if not a.name.startswith("map-")]
    try:
        bare = scene.screenshot(window_size=size).astype(int)
    finally:
        scene.actors = scene.actors + tiles
    return image, np.abs(image - bare).sum(axis=2) > 40


def test_feature_map_tiles_show_the_traced_input():
    model = _cnn()
    noise = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    a = viz3d.enhanced_3d_visualization(model, noise, feature_maps=True, show=False)
    b = viz3d.enhanced_3d_visualization(model, _stripes(), feature_maps=True, show=False)
    assert a.metadata["feature_maps"] == {"0": 4, "2": 4}
    assert sum(x.name.startswith("map-") for x in a.actors) == 8
    assert "first 4 channels" in next(t.text for t in a.texts if t.name == "legend")
    image_a, tiles = _tile_pixels(a)
    image_b, _ = _tile_pixels(b)
    assert tiles.sum() > 400  # the tiles are visible in the default view
    assert len(np.unique(image_a[tiles], axis=0)) > 20  # textured, not one flat colour
    # the same pixels show other maps for another input
    assert np.abs(image_a - image_b).sum(axis=2)[tiles].mean() > 30


def test_without_feature_maps_nothing_is_recorded_or_drawn():
    model = _cnn()
    scene = viz3d.enhanced_3d_visualization(model, _stripes(), show=False)
    assert "feature_maps" not in scene.metadata
    assert not [a for a in scene.actors if a.name.startswith("map-")]
    assert "tiles:" not in next(t.text for t in scene.texts if t.name == "legend")
    assert all(not m._forward_hooks for m in model.modules())


def test_first_channels_keeps_k_channels_of_image_0_and_removes_its_hooks():
    model = _cnn()
    with first_channels(model, k=3) as maps:
        model(torch.rand(2, 1, 16, 16))
    assert {n: m.shape for n, m in maps.items()} == {"0": (3, 16, 16), "2": (3, 8, 8)}
    assert all(not m._forward_hooks for m in model.modules())


def test_feature_maps_refuse_what_has_no_maps():
    graph = viz3d.trace(_cnn(), _stripes())
    with pytest.raises(RenderError, match="LayerGraph keeps no activation maps"):
        viz3d.enhanced_3d_visualization(graph, feature_maps=True, show=False)
    with pytest.raises(InputError, match="no Conv2d"):
        viz3d.enhanced_3d_visualization(nn.Linear(4, 2), torch.rand(1, 4), feature_maps=True)
    with torch.device("meta"):
        meta = _cnn()
    with pytest.raises(InputError, match="meta"):
        viz3d.enhanced_3d_visualization(meta, input_shape=(1, 1, 16, 16), feature_maps=True)


def test_cli_render_feature_maps_draws_tiles_and_refuses_meta(tmp_path, capsys):
    from PIL import Image

    from viz3d.cli import main

    plain, tiled = tmp_path / "plain.png", tmp_path / "tiles.png"
    size = ["--window-size", "480x270"]
    assert main(["render", "sample:digits-cnn", "-o", str(plain), *size]) == 0
    assert main(["render", "sample:digits-cnn", "--feature-maps", "-o", str(tiled), *size]) == 0
    a, b = (np.asarray(Image.open(p).convert("RGB")).astype(int) for p in (plain, tiled))
    assert (np.abs(a - b).sum(axis=2) > 40).sum() > 400  # the tiles changed the picture
    out = tmp_path / "meta.png"
    assert main(["render", "sample:gpt2-medium", "--feature-maps", "-o", str(out)]) == 2
    assert "meta device" in capsys.readouterr().err and not out.exists()
