"""Legibility of the default pictures, measured on gallery models (samples/gallery.py).

Content fill (the share of 32x32 cells of a 1280x720 frame holding part of the model), labels
(no two visible ones overlap, none under 12 px, their rectangles bound the rendered text),
colour spread, and the shape of U-Nets, autoencoders, encoder-decoders and two-tower models.
Every number is measured on the scene as built, so the tests hold whatever the boxes look like.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch

import viz3d
from tests.legibility import content_fill, gallery_graph
from viz3d.api import choose_view
from viz3d.layout import compute_layout, wrap
from viz3d.render import Scene, build_scene
from viz3d.render.builder import BACKGROUND
from viz3d.render.colors import color_spread, node_colors
from viz3d.render.labels import (
    label_rectangles,
    legend_rectangle,
    overlapping,
    text_extent,
    window_font_size,
)
from viz3d.render.scene import Camera
from viz3d.zoo import SAMPLES, build_sample


@functools.cache
def _layout(name: str):
    return compute_layout(gallery_graph(name))


@functools.cache
def _scene(name: str) -> Scene:
    return build_scene(_layout(name))


def _mlp(depth: int) -> torch.nn.Module:
    layers = []
    for _ in range(depth):
        layers += [torch.nn.Linear(32, 32), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("name", ["bert", "mamba", "unet", "autoencoder", "t5", "bart"])
def test_default_view_fills_the_frame(name):
    image = _scene(name).screenshot()
    assert image.shape[:2] == (720, 1280)
    assert content_fill(image, BACKGROUND) >= 0.40


def test_a_deep_sequential_model_wraps_to_fill_the_frame():
    graph = choose_view(viz3d.trace(_mlp(60), torch.randn(1, 32)))
    layout = compute_layout(graph)
    lo, hi = layout.bounds
    assert (hi[0] - lo[0]) / (hi[2] - lo[2]) <= 2.2
    assert content_fill(build_scene(layout).screenshot(), BACKGROUND) >= 0.40


def test_a_short_model_with_tall_blocks_stays_one_row():
    # GPT-2's straight layout: 26 long, 10 high (its tall embedding and head), 4.4 deep. Two
    # rows would be 23 high for 14 wide and show every block smaller than one row does.
    assert wrap.count_rows(26.35, 10.0, 4.4) == 1
    assert wrap.count_rows(260.0, 4.0, 4.0) > 2


def test_content_fill_counts_only_cells_inside_the_margins():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:30, :400] = 255  # title area
    frame[:, 1100:] = 255  # colour bars
    assert content_fill(frame, (0, 0, 0)) == 0.0
    frame[300:340, 100:140] = 255
    assert 0.0 < content_fill(frame, (0, 0, 0)) < 0.02


@pytest.mark.parametrize("name", ["resnet", "unet"])
def test_visible_labels_never_overlap_and_are_at_least_12px(name):
    scene = _scene(name)
    spec = next(p for p in scene.point_labels if p.name == "layer-labels")
    assert len(spec.labels) >= 5
    font = spec.kwargs["font_size"]
    rects = label_rectangles(spec.points, spec.labels, scene.camera, font_size=font)
    assert min(text_extent(t, font)[1] for t in spec.labels) >= 12
    # apart at 1280x720 and in a 640x360 window with its smaller font
    small = label_rectangles(
        spec.points, spec.labels, scene.camera, (640, 360), window_font_size((640, 360), font)
    )
    for a, b in itertools.combinations(range(len(rects)), 2):
        assert not overlapping(rects[[a]], rects[b]).any(), (spec.labels[a], spec.labels[b])
        assert not overlapping(small[[a]], small[b]).any(), (spec.labels[a], spec.labels[b])
    # inside the frame: clear of the title (top), legend (bottom) and colour bars (right)
    assert rects[:, 1].min() >= 0.05 * 720 and rects[:, 3].max() <= 0.905 * 720
    assert rects[:, 2].max() <= 0.85 * 1280
    # unambiguous: no two visible layer labels say the same, and they name their class
    layers = [text for text in spec.labels if " \u00b7 " in text]
    assert layers and len(set(layers)) == len(layers)


def test_label_rectangles_bound_the_rendered_text():
    texts = ["layer2.0.conv1 \u00b7 Conv2d", "input", "h.0..11 \u00b7 GPT2Block"]
    anchors = np.array([[-3.0, 0, 1], [0, 0, -1], [3, 0, 2]])
    camera = Camera((0, -20, 0), (0, 0, 0), (0, 0, 1), 30.0)
    scene = Scene(background="#000000")
    scene.camera = camera
    scene.add_point_labels(
        anchors,
        texts,
        name="labels",
        font_size=13,
        text_color="white",
        shape=None,
        show_points=False,
        always_visible=True,
        justification_horizontal="center",
    )
    ink = scene.screenshot().max(axis=-1) > 40
    rects = label_rectangles(anchors, texts, camera, font_size=13)
    inside = np.zeros_like(ink)
    for x0, y0, x1, y1 in np.round(rects).astype(int):
        box = ink[y0 : y1 + 1, x0 : x1 + 1]
        assert box.any()
        # the text fills its rectangle: at most a few pixels of margin on each side
        ys, xs = np.nonzero(box)
        assert xs.min() <= 8 and xs.max() >= box.shape[1] - 9
        inside[y0 : y1 + 1, x0 : x1 + 1] = True
    assert not (ink & ~inside).any()  # no text outside its rectangle


def test_labels_keep_clear_of_a_long_legend():
    scene = build_scene(_layout("resnet"), color_by="type")  # a legend line per layer class
    legend = next(t for t in scene.texts if t.name == "legend")
    assert legend.text.count("\n") >= 6
    box = legend_rectangle(legend.text)
    # the rectangle bounds the legend as drawn
    alone = Scene(background="#000000")
    alone.add_text(legend.text, position="lower_left", font_size=legend.font_size, color="white")
    ys, xs = np.nonzero(alone.screenshot().max(axis=-1) > 40)
    assert xs.max() <= box[2] and ys.min() >= box[1]
    assert xs.max() >= box[2] - 16 and ys.min() <= box[1] + 16
    spec = next(p for p in scene.point_labels if p.name == "layer-labels")
    rects = label_rectangles(spec.points, spec.labels, scene.camera, font_size=13)
    assert not overlapping(rects, box).any()


def test_labels_are_smaller_in_a_smaller_window_but_legible():
    small, default, large = (window_font_size(w) for w in [(640, 360), (1280, 720), (1920, 1080)])
    assert 9 <= small < default < large
    assert text_extent("fc \u00b7 Linear", default)[1] >= 12


@pytest.mark.parametrize("name", ["bert", "mamba", "t5", "autoencoder", "unet", "resnet"])
def test_layer_colours_spread_over_the_colour_map(name):
    coloring = node_colors(_layout(name))
    assert color_spread(coloring) >= 0.40, (coloring.title, coloring.clim)


def test_u_net_bottleneck_sits_below_its_input_and_output():
    shape = SAMPLES["unet"].input_shape
    graph = choose_view(viz3d.trace(build_sample("unet"), torch.randn(*shape)))
    layout = compute_layout(graph)
    z = layout.positions[:, 2]
    kinds = [n["kind"] for n in layout.nodes]
    bottleneck = [i for i, n in enumerate(layout.nodes) if str(n["name"]).startswith("bottleneck")]
    assert bottleneck
    assert z[bottleneck].max() < z[kinds.index("input")]
    assert z[bottleneck].max() < z[kinds.index("output")]


def test_u_net_skip_connections_are_low_bridges_not_high_arcs():
    layout = _layout("unet")
    top = float((layout.positions[:, 2] + layout.sizes[:, 2] / 2).max())
    skips = [p for p, s in zip(layout.edge_points, layout.edge_skip) if s]
    assert len(skips) >= 3
    # no bridge rises more than a label's height over the highest block
    assert max(float(p[:, 2].max()) for p in skips) <= top + 0.5


def test_autoencoder_latent_is_the_waist_of_the_hourglass():
    layout = _layout("autoencoder")
    z = dict(zip((n["name"] for n in layout.nodes), layout.positions[:, 2]))
    latent = z["encoder.5"]
    assert latent == min(z.values())
    assert z["encoder.0"] > z["encoder.2"] > latent < z["decoder.2"] < z["decoder.4"]


def _extent_x(layout, members):
    lo = layout.positions[members, 0] - layout.sizes[members, 0] / 2
    hi = layout.positions[members, 0] + layout.sizes[members, 0] / 2
    return lo.min(), hi.max()


def test_bart_encoder_and_decoder_towers_do_not_overlap():
    layout = _layout("bart")
    names = [str(n["name"]) for n in layout.nodes]
    enc = [i for i, n in enumerate(names) if ".encoder." in f".{n}."]
    dec = [i for i, n in enumerate(names) if ".decoder." in f".{n}."]
    assert enc and dec
    assert _extent_x(layout, enc)[1] < _extent_x(layout, dec)[0]


def test_clip_towers_stand_side_by_side_and_meet_at_the_head():
    layout = _layout("clip")
    names = [str(n["name"] or "") for n in layout.nodes]
    text = [i for i, n in enumerate(names) if n.startswith("text_model.")]
    vision = [i for i, n in enumerate(names) if n.startswith("vision_model.")]
    assert len(text) >= 5 and len(vision) >= 5
    assert _extent_x(layout, text)[1] < _extent_x(layout, vision)[0]
    # each tower wraps on its own (half the frame's width): rows stacked, not one long line
    for tower in (text, vision):
        assert np.ptp(layout.positions[tower, 2]) > 0
    # the head (the image-text logits) is fed by both towers
    head = names.index("output.logits_per_image")
    feeders = {int(i) for i in np.asarray(layout.edge_index)[:, 0]}
    assert feeders & set(text) and feeders & set(vision)
    assert head in set(np.asarray(layout.edge_index)[:, 1].tolist())
