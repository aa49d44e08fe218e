"""LayerGraph: collapse, fold_repeats, summary and JSON round-trip, without the model."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from torch import nn

import viz3d
from viz3d.graph import LayerGraph
from viz3d.zoo import build_sample


@pytest.fixture(scope="module")
def resnet_graph() -> LayerGraph:
    return viz3d.trace(build_sample("resnet"), torch.randn(1, 3, 32, 32))


def test_collapse_depth_zero_keeps_only_the_model_between_inputs_and_outputs(resnet_graph):
    g = resnet_graph.collapse(0)
    assert [g.nodes[n]["kind"] for n in g.nodes] == ["input", "module", "output"]
    node = g.node_ids("module")[0]
    assert g.nodes[node]["params"] == resnet_graph.total_params
    assert g.nodes[node]["flops"] == resnet_graph.total_flops


def test_collapse_keeps_edges_between_groups_and_drops_inner_ones(resnet_graph):
    g = resnet_graph.collapse(1)
    names = [g.nodes[n]["name"] for n in g.nodes]
    assert names == [
        "input",
        "stem",
        "layer1",
        "layer2",
        "layer3",
        "pool",
        "flatten",
        "fc",
        "output",
    ]
    chain = list(itertools.pairwise(names))
    assert {(g.nodes[u]["name"], g.nodes[v]["name"]) for u, v in g.edges} == set(chain)
    assert g.nodes[g.node_ids("module")[2]]["out_shapes"] == [[1, 32, 16, 16]]


def test_collapse_count_grows_with_depth(resnet_graph):
    sizes = [len(resnet_graph.collapse(d)) for d in range(5)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] == len(resnet_graph)


def test_collapse_rejects_negative_depth(resnet_graph):
    with pytest.raises(viz3d.GraphError, match="non-negative"):
        resnet_graph.collapse(-1)


def test_fold_repeats_folds_identical_consecutive_blocks_only():
    blocks = [nn.Sequential(nn.Linear(8, 8), nn.GELU()) for _ in range(5)]
    model = nn.Sequential(nn.Linear(4, 8), *blocks, nn.Linear(8, 2))
    g = viz3d.trace(model, torch.randn(1, 4)).fold_repeats()
    rows = [(g.nodes[n]["name"], g.nodes[n]["repeat"]) for n in g.node_ids("module")]
    assert rows == [("0", 1), ("1..5", 5), ("6", 1)]
    folded = g.node_ids("module")[1]
    assert g.nodes[folded]["params"] == 5 * 72
    assert g.total_params == 4 * 8 + 8 + 5 * 72 + 18


def test_fold_repeats_leaves_different_blocks_apart(resnet_graph):
    g = resnet_graph.collapse(2).fold_repeats()
    repeats = {g.nodes[n]["name"]: g.nodes[n]["repeat"] for n in g.node_ids("module")}
    assert repeats["layer1.0..1"] == 2  # two identical 16-channel blocks
    assert "layer2.0" in repeats and "layer2.1" in repeats  # projection block differs


def test_json_round_trip_without_the_model(tmp_path, resnet_graph):
    path = resnet_graph.to_json(tmp_path / "g.json")
    again = LayerGraph.from_json(path)
    assert again.to_dict() == json.loads(path.read_text())
    assert list(again.nodes) == list(resnet_graph.nodes)
    assert set(again.edges) == set(resnet_graph.edges)
    assert (
        again.total_params == resnet_graph.total_params
        and again.total_flops == resnet_graph.total_flops
    )
    assert again.collapse(1).summary() == resnet_graph.collapse(1).summary()


def test_partial_graph_round_trips_its_error(tmp_path):
    from tests.trace_models import BrokenMidway

    g = viz3d.trace(BrokenMidway(), torch.randn(2, 4))
    again = LayerGraph.from_json(g.to_json(tmp_path / "p.json"))
    assert again.partial and again.error == g.error


def test_from_json_refuses_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": "something-else"}')
    with pytest.raises(viz3d.GraphError, match="not a viz3d LayerGraph"):
        LayerGraph.from_json(path)
    path.write_text("{not json")
    with pytest.raises(viz3d.GraphError, match="cannot read"):
        LayerGraph.from_json(path)


def test_summary_lists_layers_and_totals(resnet_graph):
    text = resnet_graph.summary(depth=1)
    assert "layer3" in text and "Sequential" in text and "[1, 64, 8, 8]" in text
    assert "Total params: 175,258" in text and "Total FLOPs: 53.3M" in text


def test_summary_shortens_long_tables(resnet_graph):
    text = resnet_graph.summary(max_rows=10)
    assert f"... {len(resnet_graph) - 10} more rows" in text


def test_to_networkx_is_a_copy(resnet_graph):
    nxg = resnet_graph.to_networkx()
    nxg.remove_node(next(iter(nxg.nodes)))
    assert len(resnet_graph) == nxg.number_of_nodes() + 1
