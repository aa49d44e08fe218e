"""enhanced_3d_visualization: trace + layout + render in one call."""

from __future__ import annotations

import pytest
import torch

import viz3d
from viz3d.api import MAX_AUTO_NODES, choose_view, enhanced_3d_visualization
from viz3d.errors import RenderError
from viz3d.render import Scene


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def test_returns_a_scene_without_opening_a_window():
    scene = enhanced_3d_visualization(_model(), input_shape=(4, 8), show=False)
    assert isinstance(scene, Scene)
    assert scene.metadata["nodes"] == 5 and scene.metadata["color_by"] == "activation"


def test_accepts_a_traced_layer_graph():
    graph = viz3d.trace(_model(), torch.randn(4, 8))
    scene = enhanced_3d_visualization(graph, show=False, color_by="flops", size_by="flops")
    assert scene.metadata["color_by"] == "flops"
    with pytest.raises(RenderError, match="already traced"):
        enhanced_3d_visualization(graph, torch.randn(4, 8), show=False)


def test_depth_collapses_and_repeats_fold():
    blocks = [torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()) for _ in range(6)]
    graph = viz3d.trace(torch.nn.Sequential(*blocks), torch.randn(1, 4))
    folded = enhanced_3d_visualization(graph, show=False)
    assert any(n.get("repeat", 1) == 6 for n in folded.node_info.values())
    expanded = enhanced_3d_visualization(graph, show=False, fold=False, depth=1)
    assert expanded.metadata["nodes"] == 8


def test_meta_model_falls_back_to_params_colouring():
    with torch.device("meta"):
        model = _model()
    scene = enhanced_3d_visualization(model, input_shape=(4, 8), show=False)
    assert scene.metadata["color_by"] == "params"


def test_big_graphs_are_collapsed_to_fit():
    layers = [
        torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4))
        for _ in range(120)
    ]
    # distinct widths defeat folding, so only collapsing can shrink the graph
    graph = viz3d.trace(torch.nn.Sequential(*layers), torch.randn(1, 4))
    assert len(graph) >= MAX_AUTO_NODES
    assert len(choose_view(graph, fold=False)) < MAX_AUTO_NODES
