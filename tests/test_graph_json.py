"""Reading saved LayerGraph JSON: well-formed files load, damaged ones raise GraphError."""

from __future__ import annotations

import copy
import json

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import viz3d
from viz3d import GraphError
from viz3d.graph import LayerGraph


@pytest.fixture(scope="module")
def saved() -> dict:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return viz3d.trace(model, torch.randn(2, 4)).to_dict()


def _broken(data: dict, change) -> dict:
    data = copy.deepcopy(data)
    change(data)
    return data


def _set(path: tuple, value):
    def change(data: dict) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(path: tuple):
    def change(data: dict) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


def _cycle(data: dict) -> None:
    last, first = data["nodes"][-1]["id"], data["nodes"][0]["id"]
    data["edges"].append({"source": last, "target": first})


def _duplicate_node(data: dict) -> None:
    data["nodes"].append(dict(data["nodes"][0]))


BROKEN = {
    "list at top": (lambda d: None, "a JSON list"),
    "no nodes": (_drop(("nodes",)), "has no 'nodes'"),
    "nodes not a list": (_set(("nodes",), {"a": 1}), "'nodes' must be a list"),
    "node without id": (_drop(("nodes", 1, "id")), "node 1 needs a string 'id'"),
    "duplicate node id": (_duplicate_node, "appears twice"),
    "unknown kind": (_set(("nodes", 1, "kind"), "layer"), "'kind' must be one of"),
    "order not int": (_set(("nodes", 1, "order"), "3"), "'order' must be an integer"),
    "shapes not lists": (_set(("nodes", 1, "out_shapes"), [3, 4]), "'out_shapes' must be"),
    "bad scope key": (_set(("nodes", 1, "scope"), ["layer"]), "'scope' must be"),
    "edge to missing node": (_set(("edges", 0, "target"), "n999"), "'n999', which is not a node"),
    "edge without source": (_drop(("edges", 0, "source")), "None, which is not a node"),
    "edges form a cycle": (_cycle, "the edges form a cycle"),
    "unknown info key": (_set(("info", "colour"), 1), "unknown keys ['colour']"),
    "info wrong type": (_set(("info", "total_params"), "many"), "info.total_params must be int"),
    "module entry": (_set(("info", "modules", ""), {"type": "X"}), "info.modules['']"),
    "newer version": (_set(("version",), 99), "upgrade viz3d"),
    "other format": (_set(("format",), "something"), "not a viz3d LayerGraph"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_damaged_graph_file_raises_graph_error_naming_the_problem(saved, tmp_path, case):
    change, message = BROKEN[case]
    data = [] if case == "list at top" else _broken(saved, change)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(data))
    with pytest.raises(GraphError, match="cannot read LayerGraph from") as err:
        LayerGraph.from_json(path)
    assert message in str(err.value)


def test_unreadable_bytes_and_bad_json_raise_graph_error(tmp_path):
    for content in (b"\xff\xfe\x00garbage", b'{"format": '):
        path = tmp_path / "g.json"
        path.write_bytes(content)
        with pytest.raises(GraphError, match=str(path)):
            LayerGraph.from_json(path)


def test_round_trip_still_loads_and_keeps_the_graph(saved, tmp_path):
    graph = LayerGraph.from_dict(copy.deepcopy(saved))
    path = graph.to_json(tmp_path / "g.json")
    again = LayerGraph.from_json(path)
    assert sorted(again.edges) == sorted(graph.edges) and again.total_params == 58


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_damage_gives_graph_error_or_a_usable_dag(saved, data):
    """Replace or delete one value anywhere: never a TypeError/KeyError, never a cyclic graph."""
    broken = copy.deepcopy(saved)
    container = broken
    while True:
        keys = list(range(len(container))) if isinstance(container, list) else list(container)
        if not keys:
            return
        key = data.draw(st.sampled_from(keys))
        value = container[key]
        if isinstance(value, (dict, list)) and value and data.draw(st.booleans()):
            container = value
            continue
        break
    if data.draw(st.booleans()):
        container[key] = data.draw(_JSON)
    else:
        del container[key]
    try:
        graph = LayerGraph.from_dict(broken)
    except GraphError:
        return
    assert nx.is_directed_acyclic_graph(graph.to_networkx())
    graph.summary()
    graph.collapse(1)
