"""Module containers: a translucent box around the nodes each module ran, nested like the model.

Computed after placement from the nodes' ``scope`` (the module calls they ran inside) and, for
the inside of a folded ``xN`` block (:meth:`viz3d.graph.LayerGraph.open_folds`), their ``fold``.
The root model gets no box (it holds everything), nor does a module around a single node or a
wrapper holding exactly what its parent holds (a ``Sequential`` filling its stage). A box is its
nodes' bounding box padded by an amount that grows with how many boxes it nests, so a parent
never touches its child. A module
laid out over several serpentine rows gets one box per row (same name), so a box never spans
the gap between rows. One pass over the nodes' chains and one sort of the rows: O(N log N).

Each container is a dict (JSON values; the format the web viewer reads):

``name``, ``type``      module qualified name and class (a fold with ops between its members:
                        the fold's name and what one segment runs)
``depth``               nesting depth among containers (0 = outermost)
``lo``, ``hi``          box corners
``nodes``               indices of the layout nodes inside, transitively, ascending
``parent``              index of the enclosing container, or ``None``
``repeat``              ``N`` for a folded ``xN`` block (its nodes are member 0's), else 1
``ghost_offset``        offset from one ghost copy of the box to the next (``repeat > 1``)
``collapsed``           ``True`` when some node inside stands for a module with submodules
                        (the view could go deeper there)
``params``, ``flops``   parameters of the module (member 0 for a fold) and FLOPs of its nodes
``member_facts``        for folds: one ``{name, call, params, flops, ...}`` per member
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viz3d.graph import split_call_key

#: Padding of a box with no box inside it, and what each level of nesting adds.
PAD = 0.1
PAD_STEP = 0.08
#: Nesting levels beyond which padding stops growing (keeps neighbours in a row apart).
MAX_PAD_LEVELS = 5
#: Most ghost copies drawn behind a folded block.
MAX_GHOSTS = 5
#: Vertical gap between node boxes that separates two serpentine rows.
ROW_GAP = 0.45


def module_containers(
    attrs: list[dict[str, Any]],
    positions: np.ndarray,
    sizes: np.ndarray,
    modules: dict[str, dict[str, Any]],
    folds: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Boxes around the nodes of each module, for ``Layout.containers``.

    Parameters
    ----------
    attrs : list of dict
        LayerGraph node attributes in layout order (``scope``, ``kind``, ``module``,
        ``flops``, optional ``fold``).
    positions, sizes : numpy.ndarray of shape (N, 3)
        Placed glyph centres and extents.
    modules : dict
        ``LayerGraph.info.modules`` (class and parameters of each module).
    folds : dict
        ``LayerGraph.info.folds`` (the opened folded blocks).

    Returns
    -------
    list of dict
        Parents before children (see the module docstring for the keys).

    Examples
    --------
    >>> import numpy as np
    >>> attrs = [{"scope": ["#0", "a#0"], "kind": "op", "module": "a", "flops": 4}] * 2
    >>> boxes = module_containers(attrs, np.array([[0.0, 0, 0], [1, 0, 0]]), np.ones((2, 3)),
    ...                           {"a": {"type": "Block", "params": 3}}, {})
    >>> [(b["name"], b["nodes"], b["lo"][0], b["hi"][0]) for b in boxes]
    [('a', [0, 1], -0.6, 1.6)]
    """
    if not attrs:
        return []
    rows = _rows(positions, sizes)
    parents_of = {q.rpartition(".")[0] for q in modules if q}
    index: dict[tuple[str, int], int] = {}
    keys: list[str] = []
    parent: list[int | None] = []
    pair_node: list[int] = []
    pair_box: list[int] = []
    seen: dict[tuple, list[int]] = {}  # nodes of one module share their chain of boxes
    for i, a in enumerate(attrs):
        where = (tuple(a.get("scope") or ()), a.get("fold"), rows[i])
        boxes = seen.get(where)
        if boxes is None:
            boxes = seen[where] = []
            for key in _chain(a, folds):
                box = index.get((key, rows[i]))
                if box is None:
                    box = index[key, rows[i]] = len(keys)
                    keys.append(key)
                    parent.append(boxes[-1] if boxes else None)
                boxes.append(box)
        pair_node.extend([i] * len(boxes))
        pair_box.extend(boxes)
    if not keys:
        return []
    nodes_of = np.array(pair_node, dtype=int)
    box_of = np.array(pair_box, dtype=int)
    n = len(keys)
    lo = np.full((n, 3), np.inf)
    hi = np.full((n, 3), -np.inf)
    np.minimum.at(lo, box_of, positions[nodes_of] - sizes[nodes_of] / 2)
    np.maximum.at(hi, box_of, positions[nodes_of] + sizes[nodes_of] / 2)
    node_flops = np.array([float(a.get("flops") or 0) for a in attrs])
    flops = np.bincount(box_of, weights=node_flops[nodes_of], minlength=n)
    order = np.argsort(box_of, kind="stable")
    count = np.bincount(box_of, minlength=n)
    members = np.split(nodes_of[order], np.cumsum(count)[:-1])
    kept = _kept(keys, parent, count)
    # children come after their parents, so one backward pass gives the nesting heights
    height = np.zeros(n, dtype=int)
    for k in np.flatnonzero(kept)[::-1]:
        if parent[k] is not None:
            height[parent[k]] = max(height[parent[k]], height[k] + 1)
    pad = PAD + PAD_STEP * np.minimum(height, MAX_PAD_LEVELS)
    lo -= pad[:, None]
    hi += pad[:, None]
    has_children = np.array(
        [a.get("kind") == "module" and a.get("module") in parents_of for a in attrs]
    )
    deep = np.bincount(box_of, weights=has_children[nodes_of], minlength=n) > 0
    renumber = np.cumsum(kept) - 1
    depth = np.zeros(n, dtype=int)
    out = []
    for k in np.flatnonzero(kept):
        up = parent[k]
        depth[k] = 0 if up is None else depth[up] + 1
        entry = {
            **_facts(keys[k], modules, folds),
            "depth": int(depth[k]),
            "lo": lo[k].tolist(),
            "hi": hi[k].tolist(),
            "nodes": members[k].tolist(),  # ascending: pairs were made in node order
            "parent": None if up is None else int(renumber[up]),
            "flops": int(flops[k]),
            "collapsed": bool(deep[k]),
        }
        entry["ghost_offset"] = _ghost_offset(lo[k], hi[k]) if entry["repeat"] > 1 else [0, 0, 0]
        out.append(entry)
    return out


def _kept(keys: list[str], parent: list[int | None], count: np.ndarray) -> np.ndarray:
    """Which boxes are drawn: not one around a single node, nor a wrapper holding exactly what
    its parent holds (``stage.layers`` inside ``stage``); folds always. ``parent`` is rewritten
    to the nearest drawn ancestor."""
    kept = np.ones(len(keys), dtype=bool)
    for k, key in enumerate(keys):
        up = parent[k]
        if up is not None and not kept[up]:
            up = parent[k] = parent[up]  # parents come first, so theirs is already drawn
        if not key.startswith("fold:") and (
            count[k] < 2 or (up is not None and count[k] == count[up])
        ):
            kept[k] = False
    return kept


def fold_badges(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An ``xN`` badge under the front of each folded block's box (``Layout.badges``)."""
    return [
        {
            "node": c["nodes"][0],
            "text": f"x{c['repeat']}",
            "position": [(c["lo"][0] + c["hi"][0]) / 2, c["lo"][1], c["lo"][2] - 0.3],
            "container": k,
        }
        for k, c in enumerate(containers)
        if c["repeat"] > 1
    ]


def ghost_count(repeat: int) -> int:
    """How many ghost copies stand behind a folded ``xN`` block: ``min(N - 1, MAX_GHOSTS)``."""
    return max(0, min(int(repeat) - 1, MAX_GHOSTS))


def _chain(attrs: dict[str, Any], folds: dict[str, dict[str, Any]]) -> list[str]:
    """The containers a node sits in, outermost first: its scope without the root, with the
    fold it belongs to in place (merged with the member's own call when nothing else runs in
    a segment)."""
    chain = list(attrs.get("scope") or [])
    fold = folds.get(attrs.get("fold") or "")
    if fold is not None:
        at = fold["context"]
        if fold["gap"] or fold["key"] not in chain:
            chain.insert(at, "fold:" + attrs["fold"])
        else:
            chain[chain.index(fold["key"])] = "fold:" + attrs["fold"]
    return [key for key in chain if key.startswith("fold:") or split_call_key(key)[0]]


def _facts(key: str, modules: dict, folds: dict) -> dict[str, Any]:
    if key.startswith("fold:"):
        fold = folds[key[5:]]
        first = fold["member_facts"][0] if fold["member_facts"] else {}
        member = split_call_key(fold["key"])[0]
        return {
            # with ops between members the box holds a whole segment, not the member alone
            "name": fold["name"] if fold["gap"] else member,
            "type": fold["type"] if fold["gap"] else modules.get(member, {}).get("type", ""),
            "params": int(first.get("params", 0)),
            "repeat": int(fold["repeat"]),
            "member_facts": fold["member_facts"],
        }
    qualname = split_call_key(key)[0]
    module = modules.get(qualname, {})
    return {
        "name": qualname,
        "type": module.get("type", ""),
        "params": int(module.get("params", 0)),
        "repeat": 1,
    }


def _ghost_offset(lo: np.ndarray, hi: np.ndarray) -> list[float]:
    """Behind (+y, away from the default camera, which looks down on it, so each ghost's top
    shows over the one in front)."""
    extent = hi - lo
    return [0.0, float(max(0.3, 0.15 * extent[1])), 0.0]


def _rows(positions: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Row of each node: nodes whose vertical extents overlap (or nearly) share a row."""
    bottom = positions[:, 2] - sizes[:, 2] / 2
    top = positions[:, 2] + sizes[:, 2] / 2
    order = np.argsort(bottom, kind="stable")
    reach = np.maximum.accumulate(top[order])
    starts = np.concatenate([[False], bottom[order][1:] > reach[:-1] + ROW_GAP])
    rows = np.empty(len(order), dtype=int)
    rows[order] = np.cumsum(starts)
    return rows
