"""Synthetic layer graphs of any size, for layout tests and benchmarks (no model, no tracing)."""

from __future__ import annotations

import networkx as nx

from viz3d.graph import GraphInfo, LayerGraph


def chain_graph(n: int, skip_every: int | None = None, name: str = "chain") -> LayerGraph:
    """``n`` Linear-like nodes in a row, with a skip arc from every ``skip_every``-th node to the
    one ``skip_every`` further on (a residual ladder) when given.

    Examples
    --------
    >>> g = chain_graph(7, skip_every=3)
    >>> len(g), sorted(e for e in g.edges if e[1] - e[0] > 1)
    (7, [(0, 3), (3, 6)])
    """
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
    if skip_every:
        g.add_edges_from((i, i + skip_every) for i in range(0, n - skip_every, skip_every))
    return LayerGraph(g, GraphInfo(model_name=name))
