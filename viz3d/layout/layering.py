"""Which column (layer) and which lane each node goes to: longest-path layering plus lane ordering.

Pure functions over a :class:`networkx.DiGraph`, linear in nodes and edges (one topological
sort, one pass per step), so 50k-node graphs are cheap.

* :func:`longest_path_layers` - a node's layer is the length of the longest path reaching it;
  sources other than inputs (constants, ``arange``...) are pulled forward next to their first
  consumer so they do not stretch an edge across the whole model.
* :func:`assign_lanes` - nodes sharing a layer are parallel branches; they are ordered by the
  mean lane of their predecessors (barycentre heuristic, one forward sweep) so branches stay
  straight, and centred on the main line.
* :func:`skip_edges` - edges that jump over at least one layer: residual connections, U-Net
  skips. The layout draws them as arcs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import networkx as nx

from viz3d.errors import GraphError


def longest_path_layers(
    graph: nx.DiGraph,
    *,
    is_anchor: Callable[[Hashable], bool] | None = None,
) -> dict[Hashable, int]:
    """Layer index of every node: 0 for sources, else 1 + the largest layer of its predecessors.

    Parameters
    ----------
    graph : networkx.DiGraph
        A directed acyclic graph.
    is_anchor : callable, optional
        Sources for which this returns ``True`` stay in layer 0 (model inputs); other sources
        are moved to the layer just before their earliest consumer. By default every source
        is an anchor.

    Returns
    -------
    dict
        Node -> layer (0-based).

    Examples
    --------
    >>> import networkx as nx
    >>> from viz3d.layout.layering import longest_path_layers
    >>> g = nx.DiGraph([("x", "a"), ("a", "b"), ("x", "add"), ("b", "add")])
    >>> longest_path_layers(g)
    {'x': 0, 'a': 1, 'b': 2, 'add': 3}
    """
    try:
        order = list(nx.topological_sort(graph))
    except nx.NetworkXUnfeasible as exc:
        raise GraphError(
            "the layer graph has a cycle, so it has no left-to-right order; lay out a traced "
            "LayerGraph (its edges always go forward in execution order)"
        ) from exc
    layer: dict[Hashable, int] = {}
    for node in order:
        preds = graph.pred[node]
        layer[node] = 1 + max(layer[p] for p in preds) if preds else 0
    anchor = is_anchor or (lambda _node: True)
    for node in order:
        succ = graph.succ[node]
        if not graph.pred[node] and succ and not anchor(node):
            layer[node] = max(0, min(layer[s] for s in succ) - 1)
    return {n: layer[n] for n in graph.nodes}


def assign_lanes(graph: nx.DiGraph, layers: dict[Hashable, int]) -> dict[Hashable, float]:
    """Lane (side-by-side slot, centred on 0) of each node within its layer.

    Nodes of a layer are sorted by the mean lane of their predecessors (ties: graph order),
    then spread over lanes ``-(n-1)/2 ... (n-1)/2``.

    Examples
    --------
    >>> import networkx as nx
    >>> from viz3d.layout.layering import assign_lanes, longest_path_layers
    >>> g = nx.DiGraph([("x", "q"), ("x", "k"), ("x", "v"), ("q", "o"), ("k", "o"), ("v", "o")])
    >>> assign_lanes(g, longest_path_layers(g))
    {'x': 0.0, 'q': -1.0, 'k': 0.0, 'v': 1.0, 'o': 0.0}
    """
    rank = {n: i for i, n in enumerate(graph.nodes)}
    by_layer: dict[int, list[Hashable]] = {}
    for node in graph.nodes:
        by_layer.setdefault(layers[node], []).append(node)
    lane: dict[Hashable, float] = {}
    for index in sorted(by_layer):
        members = by_layer[index]

        def key(node: Hashable) -> tuple[float, int]:
            placed = [lane[p] for p in graph.pred[node] if p in lane]
            return (sum(placed) / len(placed) if placed else 0.0, rank[node])

        members.sort(key=key)
        centre = (len(members) - 1) / 2
        for slot, node in enumerate(members):
            lane[node] = float(slot - centre)
    return {n: lane[n] for n in graph.nodes}


def skip_edges(graph: nx.DiGraph, layers: dict[Hashable, int]) -> set[tuple[Hashable, Hashable]]:
    """Edges that bypass at least one layer (``layer[v] - layer[u] > 1``).

    Examples
    --------
    >>> import networkx as nx
    >>> from viz3d.layout.layering import longest_path_layers, skip_edges
    >>> g = nx.DiGraph([("x", "a"), ("a", "b"), ("x", "add"), ("b", "add")])
    >>> skip_edges(g, longest_path_layers(g))
    {('x', 'add')}
    """
    return {(u, v) for u, v in graph.edges if layers[v] - layers[u] > 1}


def side_nodes(graph: nx.DiGraph, is_input: Callable[[Hashable], bool]) -> set[Hashable]:
    """Nodes that carry no main data: not reachable from any model input.

    Constants, ``arange`` position ids, rotary tables, attention-mask plumbing built from them
    and everything computed only from those are side inputs; a node that also reads the main
    data (``where(mask, scores, ...)``) is not. Linear in nodes and edges.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph([("x", "a"), ("pos", "emb"), ("emb", "add"), ("a", "add")])
    >>> sorted(side_nodes(g, lambda n: n == "x"))
    ['emb', 'pos']
    """
    seen = [n for n in graph.nodes if is_input(n)]
    main = set(seen)
    while seen:
        node = seen.pop()
        for succ in graph.succ[node]:
            if succ not in main:
                main.add(succ)
                seen.append(succ)
    if not main:  # no inputs recorded (a module-tree fallback): nothing is a side input
        return set()
    return {n for n in graph.nodes if n not in main}
