"""Checks that JSON data is a well-formed saved :class:`~viz3d.graph.LayerGraph`.

A graph file may come from anywhere (an older viz3d, a hand edit, a truncated copy).
:func:`check_graph_data` finds what is wrong with it before any of it is used, so a bad file
raises one :class:`~viz3d.errors.GraphError` that says where, instead of a ``KeyError`` or
``TypeError`` deep in the layout - and a graph with edges to missing nodes or a cycle is never
built.

Examples
--------
>>> from viz3d.graph_schema import check_graph_data
>>> data = {"format": "viz3d.LayerGraph", "version": 1, "info": {},
...         "nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "b"}]}
>>> try:
...     check_graph_data(data)
... except Exception as err:
...     print(str(err).split(";")[0])
edge 0 ('a' -> 'b') ends at 'b', which is not a node
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import networkx as nx

from viz3d.errors import GraphError

_CALL_KEY = re.compile(r"^.*#\d+$")
_KINDS = ("input", "output", "module", "op")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shapes(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(shape, list) and all(_int(d) for d in shape) for shape in value
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _call_keys(value: Any) -> bool:
    return _strings(value) and all(_CALL_KEY.match(v) for v in value)


#: What each documented node attribute must hold (see the :mod:`viz3d.graph` docstring).
_NODE_CHECKS = {
    "kind": (lambda v: v in _KINDS, f"one of {', '.join(_KINDS)}"),
    "name": (lambda v: isinstance(v, str), "a string"),
    "type": (lambda v: isinstance(v, str), "a string"),
    "module": (lambda v: isinstance(v, str), "a string"),
    "category": (lambda v: isinstance(v, str), "a string"),
    "call": (_int, "an integer"),
    "order": (_int, "an integer"),
    "params": (_int, "an integer"),
    "flops": (_int, "an integer"),
    "repeat": (lambda v: _int(v) and v >= 1, "an integer >= 1"),
    "scope": (_call_keys, 'a list of "qualname#call" strings'),
    "members": (_call_keys, 'a list of "qualname#call" strings'),
    "in_shapes": (_shapes, "a list of shapes (lists of integers)"),
    "out_shapes": (_shapes, "a list of shapes (lists of integers)"),
    "out_dtypes": (_strings, "a list of strings"),
    "stats": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "failed": (lambda v: isinstance(v, bool), "true or false"),
}
#: Keys of a ``modules`` entry that graph operations read without a default.
_MODULE_KEYS = ("type", "params", "signature")
_REMEDY = "the graph is damaged or not from viz3d: save it again (viz3d trace SPEC -o FILE)"


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise GraphError(message)


def _check_info(info: Any) -> None:
    _need(isinstance(info, dict), "'info' must be an object")
    from viz3d.graph import GraphInfo

    fields = {f.name: f for f in dataclasses.fields(GraphInfo)}
    unknown = sorted(set(info) - set(fields))
    _need(not unknown, f"'info' has unknown keys {unknown}; known: {', '.join(fields)}")
    for name, value in info.items():
        field = fields[name]
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        if default is None:
            ok = value is None or isinstance(value, str)
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = _int(value)
        else:
            ok = isinstance(value, type(default))
        _need(ok, f"info.{name} must be {type(default).__name__}, not {type(value).__name__}")
    for qualname, module in info.get("modules", {}).items():
        _need(
            isinstance(module, dict) and all(k in module for k in _MODULE_KEYS),
            f"info.modules[{qualname!r}] must be an object with {', '.join(_MODULE_KEYS)}",
        )
    for key, call in info.get("calls", {}).items():
        _need(
            isinstance(call, dict) and bool(_CALL_KEY.match(key)),
            f'info.calls[{key!r}] must be an object under a "qualname#call" key',
        )


def _check_nodes(nodes: Any) -> set[str]:
    _need(isinstance(nodes, list), "'nodes' must be a list")
    ids: set[str] = set()
    for i, node in enumerate(nodes):
        _need(isinstance(node, dict), f"node {i} must be an object")
        node_id = node.get("id")
        _need(isinstance(node_id, str), f"node {i} needs a string 'id'")
        _need(node_id not in ids, f"node id {node_id!r} appears twice")
        ids.add(node_id)
        for key, (ok, what) in _NODE_CHECKS.items():
            _need(key not in node or ok(node[key]), f"node {node_id!r}: {key!r} must be {what}")
    return ids


def _check_edges(edges: Any, ids: set[str]) -> None:
    _need(isinstance(edges, list), "'edges' must be a list")
    graph = nx.DiGraph()
    for i, edge in enumerate(edges):
        _need(isinstance(edge, dict), f"edge {i} must be an object")
        source, target = edge.get("source"), edge.get("target")
        missing = [end for end in (source, target) if not isinstance(end, str) or end not in ids]
        if missing:
            raise GraphError(
                f"edge {i} ({source!r} -> {target!r}) ends at {missing[0]!r}, which is not a node"
            )
        graph.add_edge(source, target)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    raise GraphError(
        "the edges form a cycle ("
        + " -> ".join(str(u) for u, _ in cycle)
        + f" -> {cycle[0][0]}): a LayerGraph runs left to right and has none"
    )


def check_graph_data(data: Any) -> None:
    """Raise :class:`~viz3d.errors.GraphError` unless ``data`` is a well-formed saved graph.

    Checks the format tag and version, the types of ``info`` and of every documented node
    attribute, unique node ids, that every edge joins two existing nodes, and that the edges
    form no cycle. Unknown node and edge attributes are allowed.

    Parameters
    ----------
    data : Any
        Parsed JSON, as :meth:`~viz3d.graph.LayerGraph.to_dict` writes it.

    Raises
    ------
    GraphError
        Naming the first problem found (the node, edge or key and what it must hold).

    Examples
    --------
    >>> check_graph_data({"format": "viz3d.LayerGraph", "version": 1, "info": {},
    ...                   "nodes": [], "edges": []}) is None
    True
    """
    from viz3d.graph import FORMAT, FORMAT_VERSION

    _need(isinstance(data, dict), f"not a viz3d LayerGraph (a JSON {type(data).__name__})")
    _need(
        data.get("format") == FORMAT,
        f"not a viz3d LayerGraph (format={data.get('format')!r}; {FORMAT!r} expected)",
    )
    version = data.get("version", 0)
    _need(_int(version), f"'version' must be an integer, not {version!r}")
    _need(
        version <= FORMAT_VERSION,
        f"LayerGraph file version {version} is newer than this viz3d ({FORMAT_VERSION}); "
        "upgrade viz3d to read it",
    )
    missing = [key for key in ("info", "nodes", "edges") if key not in data]
    _need(not missing, f"the graph has no {', '.join(repr(k) for k in missing)}")
    try:
        _check_info(data["info"])
        _check_edges(data["edges"], _check_nodes(data["nodes"]))
    except GraphError as exc:
        raise GraphError(f"{exc}; {_REMEDY}") from None
