"""Models with two towers (encoder-decoder, two-input like CLIP) standing side by side.

:func:`tower_groups` finds the towers in one of two ways:

* from the module paths: a component containing ``encoder`` and one containing ``decoder``,
  as in ``encoder.block.3`` or ``model.decoder.layers.0``;
* from the data flow: two or more inputs each feeding a large part of the graph that no other
  input reaches (CLIP's text and vision towers), which meet late, at the head.

Every other node gets the tower it belongs with: a node fed by a tower joins it (the later one
when fed by both, so the head stands on the decoder, or on the last tower), and what is left
(inputs, shared embeddings) joins the tower it feeds. Linear in nodes and edges (times the
number of inputs for the data-flow rule).
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
#: Least number of nodes (besides its input) of a tower found from the data flow.
MIN_TOWER = 3


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
    """Tower of each node (0 encoder, 1 decoder; or one per input, in input order), or
    ``None`` when the model has no two towers.

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
    n = len(ids)
    if n == 0:
        return None
    index = {node: i for i, node in enumerate(ids)}
    group = np.array([_tower_of(a) for a in attrs], dtype=int)
    if min((group == k).sum() for k in range(len(TOWERS))) < MIN_SHARE * n:
        group = _input_towers(graph, ids, attrs, index)
        if group is None:
            return None
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


def _input_towers(
    graph: nx.DiGraph,
    ids: Sequence[Hashable],
    attrs: Sequence[dict[str, Any]],
    index: dict[Hashable, int],
) -> np.ndarray | None:
    """Towers from the data flow: each input whose own part of the graph (the nodes it reaches
    and no other input does) holds at least :data:`MIN_SHARE` of the nodes (and
    :data:`MIN_TOWER`) is one tower, in
    input order; every other node is ``-1``. ``None`` when fewer than two inputs qualify."""
    inputs = [i for i, a in enumerate(attrs) if a.get("kind") == "input"]
    if len(inputs) < 2:
        return None
    reach = np.zeros((len(ids), len(inputs)), dtype=bool)
    for k, i in enumerate(inputs):
        reach[[index[d] for d in nx.descendants(graph, ids[i])] + [i], k] = True
    alone = reach.sum(axis=1) == 1
    owner = np.where(alone, reach.argmax(axis=1), -1)
    # the input itself does not count: a tower is at least a few nodes beyond it
    least = max(MIN_SHARE * len(ids), MIN_TOWER)
    big = [k for k in range(len(inputs)) if (owner == k).sum() - 1 >= least]
    if len(big) < 2:
        return None
    group = np.full(len(ids), -1, dtype=int)
    for rank, k in enumerate(big):
        group[owner == k] = rank
    return group
