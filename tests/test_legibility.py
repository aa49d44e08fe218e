"""Legibility of the default pictures, measured on gallery models (samples/gallery.py).

Content fill (the share of 32x32 cells of a 1280x720 frame holding part of the model), labels
(no two visible ones overlap, none under 12 px) and the shape of U-Nets and autoencoders.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import viz3d
from tests.legibility import content_fill
from viz3d.api import choose_view
from viz3d.layout import compute_layout
from viz3d.render import build_scene
from viz3d.render.builder import BACKGROUND
from viz3d.render.labels import label_rectangles, overlapping
from viz3d.zoo import SAMPLES, build_sample

_GALLERY = Path(__file__).resolve().parents[1] / "samples" / "gallery.py"


def _gallery():
    spec = importlib.util.spec_from_file_location("viz3d_gallery", _GALLERY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gallery():
    return _gallery()


def _layout(gallery, name: str):
    entry = gallery.GALLERY[name]
    torch.manual_seed(0)
    return compute_layout(choose_view(viz3d.trace(entry.build(), entry.inputs())))


def _mlp(depth: int) -> torch.nn.Module:
    layers = []
    for _ in range(depth):
        layers += [torch.nn.Linear(32, 32), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_default_view_fills_the_frame(gallery, name):
    image = build_scene(_layout(gallery, name)).screenshot()
    assert image.shape[:2] == (720, 1280)
    assert content_fill(image, BACKGROUND) >= 0.40


def test_a_deep_sequential_model_wraps_to_fill_the_frame():
    graph = choose_view(viz3d.trace(_mlp(60), torch.randn(1, 32)))
    layout = compute_layout(graph)
    lo, hi = layout.bounds
    assert (hi[0] - lo[0]) / (hi[2] - lo[2]) <= 2.2
    assert content_fill(build_scene(layout).screenshot(), BACKGROUND) >= 0.40


def test_content_fill_counts_only_cells_inside_the_margins():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:30, :400] = 255  # title area
    frame[:, 1100:] = 255  # colour bars
    assert content_fill(frame, (0, 0, 0)) == 0.0
    frame[300:340, 100:140] = 255
    assert 0.0 < content_fill(frame, (0, 0, 0)) < 0.02


@pytest.mark.parametrize("name", ["gpt2", "resnet", "unet"])
def test_visible_labels_never_overlap_and_are_at_least_12px(gallery, name):
    scene = build_scene(_layout(gallery, name))
    spec = next(p for p in scene.point_labels if p.name == "layer-labels")
    assert spec.kwargs["font_size"] >= 12
    assert len(spec.labels) >= 5
    rects = label_rectangles(
        spec.points, spec.labels, scene.camera, font_size=spec.kwargs["font_size"]
    )
    assert (rects[:, 3] - rects[:, 1] >= 12).all()
    for a, b in itertools.combinations(range(len(rects)), 2):
        assert not overlapping(rects[[a]], rects[b]).any(), (spec.labels[a], spec.labels[b])
    # unambiguous: no two visible layer labels say the same, and they name their class
    layers = [text for text in spec.labels if " \u00b7 " in text]
    assert layers and len(set(layers)) == len(layers)


def test_resnet_labels_are_unique_path_suffixes_with_their_class(gallery):
    from viz3d.render.labels import label_texts

    layout = _layout(gallery, "resnet")
    texts = label_texts(layout)
    modules = [t for t, n in zip(texts, layout.nodes) if n["kind"] == "module"]
    assert len(set(modules)) == len(modules)
    assert all(" \u00b7 " in t and not t.split(" ")[0].split(".")[0].isdigit() for t in modules)


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


def test_autoencoder_latent_is_the_waist_of_the_hourglass(gallery):
    layout = _layout(gallery, "autoencoder")
    z = dict(zip((n["name"] for n in layout.nodes), layout.positions[:, 2]))
    latent = z["encoder.5"]
    assert latent == min(z.values())
    assert z["encoder.0"] > z["encoder.2"] > latent < z["decoder.2"] < z["decoder.4"]


def test_bart_encoder_and_decoder_towers_do_not_overlap(gallery):
    layout = _layout(gallery, "bart")
    lo, hi = layout.positions - layout.sizes / 2, layout.positions + layout.sizes / 2
    names = [str(n["name"]) for n in layout.nodes]
    enc = [i for i, n in enumerate(names) if ".encoder." in f".{n}."]
    dec = [i for i, n in enumerate(names) if ".decoder." in f".{n}."]
    assert enc and dec
    assert hi[enc, 0].max() < lo[dec, 0].min()
