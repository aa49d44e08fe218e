"""Layout: topological order along x, sizes, neuron caps, skip arcs, determinism, scale."""

from __future__ import annotations

import time

import networkx as nx
import numpy as np
import pytest

from viz3d.graph import GraphInfo, LayerGraph
from viz3d.layout import Layout, compute_layout


def _graph(nodes: list[tuple[str, dict]], edges: list[tuple[str, str]]) -> LayerGraph:
    g = nx.DiGraph()
    for order, (node, attrs) in enumerate(nodes):
        g.add_node(node, order=order, name=node, **attrs)
    g.add_edges_from(edges)
    return LayerGraph(
        g, GraphInfo(model_name="hand", total_params=sum(a.get("params", 0) for _, a in nodes))
    )


def _residual() -> LayerGraph:
    lin = {"kind": "module", "type": "Linear", "out_shapes": [[1, 32]]}
    return _graph(
        [
            ("in", {"kind": "input", "type": "Input"}),
            ("fc1", {**lin, "params": 1056}),
            ("relu", {"kind": "module", "type": "ReLU"}),
            ("fc2", {**lin, "params": 1056}),
            ("add", {"kind": "op", "type": "add", "category": "arith"}),
            ("out", {"kind": "output", "type": "Output"}),
        ],
        [
            ("in", "fc1"),
            ("fc1", "relu"),
            ("relu", "fc2"),
            ("fc2", "add"),
            ("in", "add"),
            ("add", "out"),
        ],
    )


def _chain(n: int, ladder: bool = False) -> LayerGraph:
    g = nx.DiGraph()
    for i in range(n):
        g.add_node(
            i,
            kind="module",
            name=f"l{i}",
            type="Linear",
            params=100 + i % 7,
            order=i,
            out_shapes=[[1, 64]],
        )
    g.add_edges_from((i, i + 1) for i in range(n - 1))
    if ladder:  # a residual every 3 nodes
        g.add_edges_from((i, i + 3) for i in range(0, n - 3, 3))
    return LayerGraph(g, GraphInfo(model_name="chain"))


def test_layers_follow_topological_order_along_x():
    layout = compute_layout(_residual())
    x = dict(zip(layout.node_ids, layout.positions[:, 0]))
    for u, v in _residual().edges:
        assert x[u] < x[v]


def test_residual_skip_edge_arcs_off_the_main_line():
    layout = compute_layout(_residual())
    ids = layout.node_ids
    skip = [k for k, (i, j) in enumerate(layout.edge_index) if (ids[i], ids[j]) == ("in", "add")]
    assert skip and layout.edge_skip[skip[0]]
    assert layout.edge_skip.sum() == 1
    arc = layout.edge_points[skip[0]]
    # the arc rises above every glyph it bypasses
    bypassed = [ids.index(n) for n in ("fc1", "relu", "fc2")]
    tops = (layout.positions[bypassed, 2] + layout.sizes[bypassed, 2] / 2).max()
    assert arc[:, 2].max() > tops
    assert len(arc) > 2


def test_box_size_is_monotone_in_params_and_states_its_scale():
    nodes = [
        (f"n{p}", {"kind": "module", "type": "Linear", "params": p}) for p in (10, 1000, 100_000)
    ]
    layout = compute_layout(_graph(nodes, [("n10", "n1000"), ("n1000", "n100000")]))
    volume = np.prod(layout.sizes, axis=1)
    assert volume[0] < volume[1] < volume[2]
    assert "cube root" in layout.info["size_legend"]
    log_layout = compute_layout(_graph(nodes, [("n10", "n1000")]), scale="log")
    assert "log10" in log_layout.info["size_legend"]


def test_parameter_free_ops_are_small_spheres_and_discs():
    layout = compute_layout(_residual())
    kinds = dict(zip(layout.node_ids, layout.glyphs))
    assert kinds["add"] == "sphere" and kinds["relu"] == "disc" and kinds["fc1"] == "box"
    ops = [layout.node_ids.index(n) for n in ("add", "relu")]
    assert layout.sizes[ops].max() < layout.sizes[layout.node_ids.index("fc1")].max()


def test_neurons_are_capped_per_layer():
    wide = _graph(
        [("fc", {"kind": "module", "type": "Linear", "params": 10, "out_shapes": [[1, 5000]]})], []
    )
    assert len(compute_layout(wide).neuron_points) == 256
    assert len(compute_layout(wide, neuron_cap=50).neuron_points) == 50


def test_neuron_values_come_from_traced_stats():
    stats = {
        "mean": 0.0,
        "std": 1.0,
        "absmax": 2.0,
        "neuron_count": 4,
        "neurons": [1.0, 2.0, 3.0, 4.0],
    }
    g = _graph(
        [
            (
                "fc",
                {
                    "kind": "module",
                    "type": "Linear",
                    "params": 10,
                    "stats": stats,
                    "out_shapes": [[1, 4]],
                },
            )
        ],
        [],
    )
    assert sorted(compute_layout(g).neuron_values) == [1.0, 2.0, 3.0, 4.0]


def test_parallel_branches_sit_side_by_side():
    g = _graph(
        [
            ("x", {"kind": "input"}),
            ("q", {"kind": "module", "params": 5}),
            ("k", {"kind": "module", "params": 5}),
            ("v", {"kind": "module", "params": 5}),
            ("o", {"kind": "op", "type": "cat"}),
        ],
        [("x", "q"), ("x", "k"), ("x", "v"), ("q", "o"), ("k", "o"), ("v", "o")],
    )
    layout = compute_layout(g)
    branch = [layout.node_ids.index(n) for n in "qkv"]
    assert len(set(layout.positions[branch, 0])) == 1
    assert len(set(np.round(layout.positions[branch, 1], 6))) == 3


def test_layout_is_deterministic():
    a, b = compute_layout(_chain(200, ladder=True)), compute_layout(_chain(200, ladder=True))
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(np.concatenate(a.edge_points), np.concatenate(b.edge_points))


def test_layout_round_trips_through_dict_and_npz(tmp_path):
    layout = compute_layout(_residual())
    again = Layout.from_dict(layout.to_dict())
    np.testing.assert_array_equal(again.positions, layout.positions)
    loaded = Layout.load(layout.save(tmp_path / "layout.npz"))
    assert loaded.node_ids == layout.node_ids
    np.testing.assert_array_equal(loaded.edge_skip, layout.edge_skip)
    np.testing.assert_allclose(
        np.concatenate(loaded.edge_points), np.concatenate(layout.edge_points)
    )


def test_folded_blocks_get_a_badge():
    g = _graph([("blk", {"kind": "module", "type": "Block", "params": 10, "repeat": 24})], [])
    assert compute_layout(g).badges[0]["text"] == "x24"


def test_5k_node_ladder_lays_out_quickly():
    start = time.perf_counter()
    layout = compute_layout(_chain(5000, ladder=True))
    assert time.perf_counter() - start < 10.0
    assert len(layout) == 5000 and layout.edge_skip.sum() > 1000
    assert len(layout.neuron_points) <= 150_000


def test_unknown_size_by_is_an_error():
    from viz3d.errors import GraphError

    with pytest.raises(GraphError, match="size_by"):
        compute_layout(_residual(), size_by="weight")
