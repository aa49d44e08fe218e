"""Encoder-decoder models as two towers standing side by side.

:func:`tower_groups` finds the two towers from the module paths (a component containing
``encoder`` and one containing ``decoder``, as in ``encoder.block.3`` or
``model.decoder.layers.0``) and gives every other node the tower it belongs with: a node fed by
a tower joins it (the decoder when fed by both, so the head stands on the decoder), and what is
left (inputs, shared embeddings) joins the tower it feeds. Linear in nodes and edges.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import networkx as nx
import numpy as np

#: Towers, in the order they stand from left to right.
TOWERS = ("encoder", "decoder")
#: Least share of the nodes each tower must hold to be drawn as one.
MIN_SHARE = 0.1


def _tower_of(attrs: dict[str, Any]) -> int:
    path = str(attrs.get("name") if attrs.get("kind") == "module" else attrs.get("module") or "")
    for part in path.split("."):
        for k, word in enumerate(TOWERS):
            if word in part.lower():
                return k
    return -1


def tower_groups(
    graph: nx.DiGraph, ids: Sequence[Hashable], attrs: Sequence[dict[str, Any]]
) -> np.ndarray | None:
    """Tower (0 encoder, 1 decoder) of each node, or ``None`` when the model has no two towers.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph([("x", "e"), ("e", "d"), ("y", "d"), ("d", "head")])
    >>> names = {"e": "encoder.0", "d": "decoder.0", "head": "lm_head"}
    >>> for n in g:
    ...     g.nodes[n].update(kind="module" if n in names else "input", name=names.get(n, n))
    >>> ids = list(g)
    >>> tower_groups(g, ids, [g.nodes[n] for n in ids]).tolist()
    [0, 0, 1, 1, 1]
    """
    group = np.array([_tower_of(a) for a in attrs], dtype=int)
    n = len(ids)
    if n == 0 or min((group == k).sum() for k in range(len(TOWERS))) < MIN_SHARE * n:
        return None
    index = {node: i for i, node in enumerate(ids)}
    order = [index[node] for node in nx.topological_sort(graph)]
    for i in order:  # fed by a tower: join it (the later one when fed by both)
        if group[i] < 0:
            fed = [group[index[p]] for p in graph.pred[ids[i]]]
            group[i] = max(fed, default=-1)
    for i in reversed(order):  # still alone (inputs, shared embeddings): join what it feeds
        if group[i] < 0:
            feeds = [group[index[s]] for s in graph.succ[ids[i]] if group[index[s]] >= 0]
            group[i] = min(feeds, default=0)
    return group
