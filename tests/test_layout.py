"""Layout: topological order along x, sizes, neuron caps, skip arcs, determinism, scale."""

from __future__ import annotations

import time

import networkx as nx
import numpy as np
import pytest

from viz3d.graph import GraphInfo, LayerGraph
from viz3d.layout import Layout, compute_layout
from viz3d.zoo.graphs import chain_graph


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
    a, b = (compute_layout(chain_graph(200, skip_every=3)) for _ in range(2))
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
    layout = compute_layout(chain_graph(5000, skip_every=3))
    assert time.perf_counter() - start < 10.0
    assert len(layout) == 5000 and layout.edge_skip.sum() > 1000
    assert len(layout.neuron_points) <= 150_000


def test_unknown_size_by_is_an_error():
    from viz3d.errors import GraphError

    with pytest.raises(GraphError, match="size_by"):
        compute_layout(_residual(), size_by="weight")


# ----------------------------------------------------------------- shape of the architecture
def _inside(point: np.ndarray, layout: Layout, i: int, pad: float = 1e-6) -> bool:
    half = layout.sizes[i] / 2 + pad
    return bool(np.all(np.abs(point - layout.positions[i]) <= half))


def _segment_samples(path: np.ndarray, per_segment: int = 12) -> np.ndarray:
    t = np.linspace(0, 1, per_segment)[:, None]
    return np.concatenate([a + (b - a) * t for a, b in zip(path[:-1], path[1:])])


def test_long_chain_wraps_into_a_serpentine_about_as_wide_as_the_frame():
    layout = compute_layout(chain_graph(120, skip_every=3))
    lo, hi = layout.bounds
    width, height = hi[0] - lo[0], hi[2] - lo[2]
    assert width / height <= 2.2, (width, height)
    rows = np.unique(np.round(layout.positions[:, 2], 3))
    assert len(rows) >= 3
    # consecutive rows run in opposite directions, joined where one ends and the next starts
    z = np.round(layout.positions[:, 2], 3)
    row_of = {v: k for k, v in enumerate(sorted(rows, reverse=True))}
    for a, b in zip(range(0, 119), range(1, 120)):
        if z[a] == z[b]:
            step = layout.positions[b, 0] - layout.positions[a, 0]
            assert step > 0 if row_of[z[a]] % 2 == 0 else step < 0


@pytest.mark.parametrize("make", ["ladder", "bus", "side"])
def test_wrapped_edges_start_and_end_on_their_glyphs_and_cross_no_other(make):
    graph = {
        "ladder": lambda: chain_graph(90, skip_every=3),
        "bus": _bus_graph,
        "side": lambda: _with_side_inputs(12),
    }[make]()
    layout = compute_layout(graph)
    assert len(np.unique(np.round(layout.positions[:, 2], 3))) > 1
    for (i, j), path, skip in zip(layout.edge_index, layout.edge_points, layout.edge_skip):
        assert _inside(path[0], layout, i, 0.05) and _inside(path[-1], layout, j, 0.05)
        samples = _segment_samples(path)[1:-1]
        others = [k for k in range(len(layout)) if k not in (i, j)]
        hits = [k for k in others for p in samples[::3] if _inside(p, layout, k)]
        assert not hits, (i, j, skip, hits[:3])


def test_a_skip_arc_within_a_row_stays_an_arc():
    layout = compute_layout(chain_graph(90, skip_every=3))
    z = np.round(layout.positions[:, 2], 3)
    same_row = [
        k for k, (i, j) in enumerate(layout.edge_index) if layout.edge_skip[k] and z[i] == z[j]
    ]
    assert same_row
    for k in same_row:
        arc = layout.edge_points[k]
        assert len(arc) > 10 and arc[len(arc) // 2, 2] > arc[[0, -1], 2].max()


def test_short_chain_stays_on_one_row():
    layout = compute_layout(_residual())
    main = [layout.node_ids.index(n) for n in ("in", "fc1", "relu", "fc2", "add", "out")]
    assert np.ptp(layout.positions[main, 2]) == 0


def _u_graph(rise: bool = True) -> LayerGraph:
    def conv(side: int, channels: int = 8) -> dict:
        return {
            "kind": "module",
            "type": "Conv2d",
            "params": 600,
            "out_shapes": [[1, channels, side, side]],
        }

    sides = [32, 16, 8, 16, 32] if rise else [32, 16, 8, 4, 2]
    nodes = [("in", {"kind": "input", "type": "Input", "out_shapes": [[1, 3, 32, 32]]})]
    nodes += [(f"c{k}", conv(s)) for k, s in enumerate(sides)]
    logits = [[1, 8, 32, 32]] if rise else [[1, 10]]
    nodes += [("out", {"kind": "output", "type": "Output", "out_shapes": logits})]
    edges = [(a, b) for (a, _), (b, _) in zip(nodes, nodes[1:])] + [("c0", "c4"), ("c1", "c3")]
    return _graph(nodes, edges)


def test_u_net_falls_with_resolution_and_its_skips_bridge_the_u():
    layout = compute_layout(_u_graph())
    z = dict(zip(layout.node_ids, layout.positions[:, 2]))
    assert z["c2"] < z["c1"] < z["c0"] and z["c2"] < z["c3"] < z["c4"]
    assert z["c2"] < z["in"] and z["c2"] < z["out"]
    assert z["c1"] == pytest.approx(z["c3"]) and z["c0"] == pytest.approx(z["c4"])
    ids = layout.node_ids
    bridge = next(
        k for k, (i, j) in enumerate(layout.edge_index) if (ids[i], ids[j]) == ("c0", "c4")
    )
    assert layout.edge_skip[bridge]
    assert layout.edge_points[bridge][:, 2].min() >= z["c0"] - 1e-9


def test_a_classifier_whose_resolution_only_falls_stays_level():
    layout = compute_layout(_u_graph(rise=False))
    assert np.ptp(layout.positions[:, 2]) == 0


def _with_side_inputs(n_layers: int = 8) -> LayerGraph:
    lin = {"kind": "module", "type": "Linear", "params": 1000, "out_shapes": [[1, 16, 32]]}
    nodes = [("x", {"kind": "input", "type": "Input"})]
    nodes += [("arange", {"kind": "op", "type": "arange"})]
    nodes += [("mask", {"kind": "op", "type": "expand"})]
    nodes += [(f"l{k}", dict(lin)) for k in range(n_layers)]
    nodes += [("out", {"kind": "output", "type": "Output"})]
    edges = [("x", "l0")] + [(f"l{k}", f"l{k + 1}") for k in range(n_layers - 1)]
    edges += [(f"l{n_layers - 1}", "out"), ("arange", "mask")]
    edges += [("mask", f"l{k}") for k in range(n_layers)]
    return _graph(nodes, edges)


def test_side_inputs_are_small_grey_and_off_the_spine():
    layout = compute_layout(_with_side_inputs())
    ids = layout.node_ids
    side = [ids.index(n) for n in ("arange", "mask")]
    main = [ids.index(f"l{k}") for k in range(8)]
    assert np.isnan(layout.values[side]).all()
    plain = compute_layout(_graph([("op", {"kind": "op", "type": "expand"})], []))
    assert (layout.sizes[side].max(axis=1) < plain.sizes[0].max()).all()
    for i in side:  # behind the main glyphs of its column
        column = [j for j in main + [ids.index("x")] if layout.layers[j] == layout.layers[i]]
        back = (layout.positions[column, 1] + layout.sizes[column, 1] / 2).max(initial=-np.inf)
        assert layout.positions[i, 1] - layout.sizes[i, 1] / 2 > back
    # nothing from a side input is a highlighted skip arc
    assert not layout.edge_skip[np.isin(layout.edge_index[:, 0], side)].any()


def _bus_graph() -> LayerGraph:
    nodes = [("x", {"kind": "input", "type": "Input"})]
    lin = {"kind": "module", "type": "Linear", "params": 1000, "out_shapes": [[1, 32]]}
    nodes += [("bias", dict(lin))] + [(f"l{k}", dict(lin)) for k in range(8)]
    edges = [("x", "bias"), ("bias", "l0")] + [(f"l{k}", f"l{k + 1}") for k in range(7)]
    edges += [("bias", f"l{k}") for k in range(1, 8)]
    return _graph(nodes, edges)


def test_a_tensor_handed_to_every_layer_is_one_bus():
    layout = compute_layout(_bus_graph())
    bias = layout.node_ids.index("bias")
    fed = [k for k, (i, _) in enumerate(layout.edge_index) if i == bias]
    assert not layout.edge_skip[fed].any()  # no fan of arcs
    rows: dict[float, set[float]] = {}
    for k in fed[1:]:
        target = layout.edge_index[k, 1]
        row = rows.setdefault(round(float(layout.positions[target, 2]), 6), set())
        row.add(round(float(layout.edge_points[k][:, 2].min()), 6))
    for z, levels in rows.items():
        assert len(levels) == 1  # every riser of a row leaves the same line
        in_row = np.isclose(layout.positions[:, 2], z)
        assert levels.pop() < (layout.positions[in_row, 2] - layout.sizes[in_row, 2] / 2).min()


def _encoder_decoder() -> LayerGraph:
    lin = {"kind": "module", "type": "Linear", "params": 1000, "out_shapes": [[1, 8, 32]]}
    nodes = [
        ("src", {"kind": "input", "type": "Input"}),
        ("tgt", {"kind": "input", "type": "Input"}),
    ]
    nodes += [(f"encoder.layers.{k}", dict(lin)) for k in range(6)]
    nodes += [(f"decoder.layers.{k}", dict(lin)) for k in range(6)]
    nodes += [("lm_head", dict(lin)), ("out", {"kind": "output", "type": "Output"})]
    chain = lambda names: list(zip(names, names[1:]))  # noqa: E731
    edges = chain(["src"] + [f"encoder.layers.{k}" for k in range(6)])
    edges += chain(["tgt"] + [f"decoder.layers.{k}" for k in range(6)] + ["lm_head", "out"])
    edges += [("encoder.layers.5", f"decoder.layers.{k}") for k in range(6)]
    return _graph(nodes, edges)


def test_encoder_and_decoder_stand_as_two_towers_that_do_not_overlap():
    layout = compute_layout(_encoder_decoder())
    ids = layout.node_ids
    lo, hi = layout.positions - layout.sizes / 2, layout.positions + layout.sizes / 2
    enc = [i for i, n in enumerate(ids) if n.startswith("encoder") or n == "src"]
    dec = [i for i, n in enumerate(ids) if i not in enc]
    assert hi[enc, 0].max() < lo[dec, 0].min()  # encoder left, decoder right, apart
    assert layout.positions[ids.index("tgt"), 0] > hi[enc, 0].max()
    # cross-attention bridges leave the encoder's output and reach every decoder layer,
    # passing no other glyph
    out = ids.index("encoder.layers.5")
    bridges = [k for k, (i, j) in enumerate(layout.edge_index) if i == out and j in dec]
    assert len(bridges) == 6
    for k in bridges:
        i, j = layout.edge_index[k]
        path = layout.edge_points[k]
        assert _inside(path[0], layout, i, 0.05) and _inside(path[-1], layout, j, 0.05)
        others = [m for m in range(len(layout)) if m not in (i, j)]
        assert not [
            m for m in others for p in _segment_samples(path)[1:-1] if _inside(p, layout, m)
        ]


def test_an_encoder_only_model_is_not_split_into_towers():
    from viz3d.layout.towers import tower_groups

    g = _encoder_decoder().to_networkx()
    g.remove_nodes_from([n for n in list(g) if str(n).startswith("decoder")])
    ids = list(g)
    assert tower_groups(g, ids, [g.nodes[n] for n in ids]) is None
    full = _encoder_decoder().to_networkx()
    ids = list(full)
    groups = tower_groups(full, ids, [full.nodes[n] for n in ids])
    assert groups[ids.index("lm_head")] == 1 and groups[ids.index("src")] == 0
