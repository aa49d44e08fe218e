"""fold_repeats folds repeated segments (members plus what runs between them) or nothing."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import viz3d
from tests import idiom_models as zoo
from viz3d.api import enhanced_3d_visualization
from viz3d.layout import compute_layout


def _folded_rows(graph):
    return [(graph.nodes[n]["name"], graph.nodes[n]["repeat"]) for n in graph.node_ids("module")]


def _is_dag(graph) -> bool:
    return nx.is_directed_acyclic_graph(graph.to_networkx())


def test_functional_relu_between_modulelist_members_folds_as_one_segment():
    graph = viz3d.trace(zoo.ReluMLP(), torch.randn(2, 16))
    folded = graph.fold_repeats()
    assert _is_dag(folded)
    assert [folded.nodes[n]["name"] for n in folded.nodes] == ["input", "layers.0..3", "output"]
    node = folded.node_ids("module")[0]
    assert folded.nodes[node]["repeat"] == 4 and folded.nodes[node]["params"] == 4 * 272
    assert folded.nodes[node]["type"] == "Linear+relu"  # what one segment runs
    assert folded.nodes[node]["flops"] == graph.total_flops
    assert folded.nodes[node]["out_shapes"] == [[2, 16]]


def test_the_classic_mlp_renders_through_the_main_entry_point():
    scene = enhanced_3d_visualization(zoo.ReluMLP(), torch.randn(2, 16), show=False)
    # the fold shows member 0 (Linear, then the parent's relu) in a box standing for all 4
    names = [node["name"] for node in scene.layout.nodes]
    assert names == ["input", "layers.0", "relu", "output"]
    (box,) = scene.layout.containers
    assert (box["name"], box["repeat"], box["nodes"]) == ("layers.0..3", 4, [1, 2])
    assert any(info.get("repeat") == 4 for info in scene.node_info.values())


def test_loop_body_starting_before_the_member_folds_with_a_shared_norm_counted_once():
    # x = x + gelu(layer(norm(x))): each segment is norm, layer, gelu, add
    graph = viz3d.trace(zoo.ResidualList(), torch.randn(2, 16))
    folded = graph.fold_repeats()
    assert _folded_rows(folded) == [("layers.0..2", 3)]
    node = folded.node_ids("module")[0]
    assert folded.nodes[node]["type"] == "LayerNorm+Linear+gelu+add"
    assert folded.nodes[node]["params"] == graph.total_params == 3 * 272 + 32
    assert _is_dag(folded)


def test_a_last_member_without_the_activation_stays_apart():
    folded = viz3d.trace(zoo.LastWithoutActivation(), torch.randn(2, 16)).fold_repeats()
    assert _folded_rows(folded) == [("layers.0..2", 3), ("layers.3", 1)]
    assert _is_dag(folded)


class _MixedGaps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(8, 8) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.layers[0](x))
        x = torch.tanh(self.layers[1](x))
        x = torch.tanh(self.layers[2](x))
        return torch.sigmoid(self.layers[3](x))


def test_segments_that_differ_fold_only_where_alike():
    graph = viz3d.trace(_MixedGaps(), torch.randn(1, 8))
    folded = graph.fold_repeats()
    assert _folded_rows(folded) == [("layers.0", 1), ("layers.1..2", 2), ("layers.3", 1)]
    names = [folded.nodes[n]["name"] for n in folded.nodes]
    assert names == ["input", "layers.0", "relu", "layers.1..2", "layers.3", "sigmoid", "output"]
    assert _is_dag(folded)


class _Shapes(nn.Module):
    """Identical members, but the op between them changes the shape once."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers[0](x).unsqueeze(0)
        x = self.layers[1](x).squeeze(0)
        return self.layers[2](x)


def test_members_whose_in_between_ops_differ_are_not_folded():
    folded = viz3d.trace(_Shapes(), torch.randn(2, 8)).fold_repeats()
    assert all(repeat == 1 for _, repeat in _folded_rows(folded))
    assert _is_dag(folded)


def test_another_modulelist_between_the_members_is_part_of_the_segment():
    graph = viz3d.trace(zoo.Interleaved(), torch.randn(2, 16))
    folded = graph.fold_repeats()
    assert _folded_rows(folded) == [("attn.0..2", 3)]
    node = folded.node_ids("module")[0]
    assert folded.nodes[node]["params"] == graph.total_params
    assert _is_dag(folded)


def test_early_exit_fold_hands_on_the_hidden_state_not_the_exit_test():
    folded = viz3d.trace(zoo.EarlyExit(), torch.randn(2, 16)).fold_repeats()
    node = folded.node_ids("module")[0]
    assert folded.nodes[node]["repeat"] == 6 and _is_dag(folded)
    assert folded.nodes[node]["out_shapes"] == [[2, 16]]


def test_fold_after_collapse_and_collapse_after_fold_stay_acyclic():
    graph = viz3d.trace(zoo.MiniGPT(), torch.randint(0, 40, (1, 6)))
    for depth in range(4):
        once = graph.collapse(depth).fold_repeats()
        twice = graph.fold_repeats().collapse(depth)
        assert _is_dag(once) and _is_dag(twice)
        assert sum(once.nodes[n]["flops"] for n in once.nodes) == graph.total_flops
        compute_layout(twice)
    rows = _folded_rows(graph.collapse(2).fold_repeats())
    assert ("blocks.0..2", 3) in rows


def test_merge_refuses_to_return_a_cycle():
    graph = viz3d.trace(zoo.ReluMLP(), torch.randn(2, 16))
    # merging the first and the last layer but not what lies between them would make a cycle;
    # fold_repeats and collapse never ask for that, and _merge says so if they ever did
    ends = {graph.node_ids("module")[0], graph.node_ids("module")[-1]}
    with pytest.raises(viz3d.GraphError, match="internal error.*cycle"):
        graph._merge(lambda node, _a: "layers.0#0" if node in ends else None, level="test")
