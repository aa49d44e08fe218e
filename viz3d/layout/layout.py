"""``Layout``: where every layer, edge and neuron of a LayerGraph goes in 3D; ``compute_layout``.

Conventions: the main axis is **x** (data flows towards +x), parallel branches sit side by
side along **y**, and **z** is up; skip connections arc above the main line. A long chain
wraps into a serpentine of rows stacked downwards (:mod:`viz3d.layout.wrap`); a U-Net or an
autoencoder instead rises and falls with its resolution (:mod:`viz3d.layout.profile`). Side
inputs (masks, position ids) stand small and grey behind the spine, and a tensor handed to
many layers reaches them along one bus under the row. Units are arbitrary (a layer gap is
about 1). The layout is pure numpy/networkx, deterministic (the same graph gives the same
positions), and O(N log N) in nodes: one topological sort, one pass per step and a sparse
table for the "how tall is everything under this arc" queries.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from viz3d.errors import GraphError
from viz3d.files import atomic_write, check_format
from viz3d.graph import LayerGraph
from viz3d.layout import profile, wrap
from viz3d.layout.containers import fold_badges, module_containers
from viz3d.layout.geometry import Scale, glyph_sizes, scale_legend, scaled_side, shape_kind
from viz3d.layout.layering import assign_lanes, longest_path_layers, side_nodes, skip_edges
from viz3d.layout.neurons import NEURON_CAP, neuron_grid
from viz3d.layout.towers import tower_groups

FORMAT = "viz3d.Layout"
FORMAT_VERSION = 1

#: Most neuron points in a whole layout; per-layer caps shrink below ``neuron_cap`` to fit.
MAX_NEURONS = 150_000
#: Gap between consecutive layers along x.
LAYER_GAP = 1.1
#: Gap between parallel branches along y.
LANE_GAP = 0.8
#: Size of parameter-free side inputs (masks, position ids) relative to other glyphs.
SIDE_SCALE = 0.5
#: Skip connections from one node beyond which they are drawn as one bus, not arcs.
BUS_FANOUT = 3
#: Gap between towers standing side by side (encoder, decoder).
TOWER_GAP = 2.5
#: Points per skip arc.
ARC_POINTS = 24
#: Longest module (share of a row) that a serpentine row break never cuts.
UNBROKEN = 1.0

SizeBy = Literal["params", "flops"]

# node facts copied into the layout for labels and hover (JSON values only)
_FACTS = (
    "name",
    "type",
    "kind",
    "module",
    "params",
    "flops",
    "in_shapes",
    "out_shapes",
    "repeat",
    "members",
    "failed",
)


@dataclass
class Layout:
    """Positions and sizes of a model's layers, edges and neurons (plain data, no renderer).

    Attributes
    ----------
    node_ids : list of str
        LayerGraph node ids; index ``i`` of every per-node array is ``node_ids[i]``.
    nodes : list of dict
        Per-node facts for labels and hover: ``name``, ``type``, ``kind``, ``module``,
        ``params``, ``flops``, ``in_shapes``, ``out_shapes``, ``repeat``, ``members``,
        ``failed`` and ``stats`` (``mean``, ``std``, ``absmax``, ``n_inf``, ``n_nan``,
        ``neuron_count``, or ``None``).
    positions, sizes : numpy.ndarray of shape (N, 3)
        Glyph centres and extents.
    glyphs : list of str
        Glyph kind per node: ``"box"``, ``"slab-stack"``, ``"sphere"`` or ``"disc"``.
    layers : numpy.ndarray of shape (N,)
        Column index along the main axis (longest-path layering).
    values : numpy.ndarray of shape (N,)
        Activation magnitude ``sqrt(mean**2 + std**2)`` of the traced output; NaN if unknown
        and for model inputs/outputs (data, not layers).
    edge_index : numpy.ndarray of shape (E, 2)
        Source and target node indices.
    edge_points : list of numpy.ndarray of shape (k, 3)
        Polyline of each edge.
    edge_skip : numpy.ndarray of shape (E,)
        ``True`` for skip connections (edges bypassing a layer), drawn as arcs.
    neuron_points : numpy.ndarray of shape (M, 3)
    neuron_values : numpy.ndarray of shape (M,)
        Mean traced activation of each sampled neuron (NaN if unknown).
    neuron_owner : numpy.ndarray of shape (M,)
        Index of the node each neuron belongs to.
    badges : list of dict
        ``{"node": i, "text": "x24", "position": [x, y, z]}`` for folded repeated blocks (with
        ``"container": k`` for a fold drawn as a box holding member 0's nodes).
    containers : list of dict
        Translucent module boxes, nested like the model, parents first: ``name``, ``type``,
        ``depth``, ``lo``, ``hi``, ``nodes``, ``parent``, ``repeat``, ``ghost_offset``,
        ``collapsed``, ``params``, ``flops`` and, for folds, ``member_facts`` (see
        :mod:`viz3d.layout.containers`).
    info : dict
        ``model_name``, ``total_params``, ``total_flops``, ``level``, ``partial``, ``error``,
        ``size_by``, ``scale``, ``size_reference`` and ``size_legend`` (the stated scale).
    """

    node_ids: list[str]
    nodes: list[dict[str, Any]]
    positions: np.ndarray
    sizes: np.ndarray
    glyphs: list[str]
    layers: np.ndarray
    values: np.ndarray
    edge_index: np.ndarray
    edge_points: list[np.ndarray]
    edge_skip: np.ndarray
    neuron_points: np.ndarray
    neuron_values: np.ndarray
    neuron_owner: np.ndarray
    badges: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    containers: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.node_ids)

    def __repr__(self) -> str:
        return (
            f"Layout({self.info.get('model_name') or 'model'}: {len(self)} nodes, "
            f"{len(self.edge_points)} edges ({int(self.edge_skip.sum())} skips), "
            f"{len(self.neuron_points)} neurons)"
        )

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)`` corners of the box holding every glyph and edge."""
        if not len(self):
            return np.zeros(3), np.zeros(3)
        lo = (self.positions - self.sizes / 2).min(axis=0)
        hi = (self.positions + self.sizes / 2).max(axis=0)
        if self.edge_points:
            pts = np.concatenate(self.edge_points)
            lo, hi = np.minimum(lo, pts.min(axis=0)), np.maximum(hi, pts.max(axis=0))
        return lo, hi

    # ----------------------------------------------------------------- files
    def to_dict(self) -> dict[str, Any]:
        """The layout as JSON-ready data (see :meth:`from_dict`).

        Examples
        --------
        >>> from viz3d.layout import Layout
        >>> layout = Layout.from_dict(Layout.empty().to_dict())
        >>> len(layout)
        0
        """
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "node_ids": list(self.node_ids),
            "nodes": self.nodes,
            "positions": self.positions.tolist(),
            "sizes": self.sizes.tolist(),
            "glyphs": list(self.glyphs),
            "layers": self.layers.tolist(),
            "values": _nan_to_none(self.values),
            "edge_index": self.edge_index.tolist(),
            "edge_points": [p.tolist() for p in self.edge_points],
            "edge_skip": self.edge_skip.tolist(),
            "neuron_points": self.neuron_points.tolist(),
            "neuron_values": _nan_to_none(self.neuron_values),
            "neuron_owner": self.neuron_owner.tolist(),
            "badges": self.badges,
            "info": self.info,
            "containers": self.containers,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        """Rebuild a layout written by :meth:`to_dict`."""
        check_format(data, FORMAT, FORMAT_VERSION, "Layout")
        return cls(
            node_ids=list(data["node_ids"]),
            nodes=list(data["nodes"]),
            positions=np.asarray(data["positions"], dtype=float).reshape(-1, 3),
            sizes=np.asarray(data["sizes"], dtype=float).reshape(-1, 3),
            glyphs=list(data["glyphs"]),
            layers=np.asarray(data["layers"], dtype=int),
            values=np.asarray(data["values"], dtype=float),
            edge_index=np.asarray(data["edge_index"], dtype=int).reshape(-1, 2),
            edge_points=[np.asarray(p, dtype=float).reshape(-1, 3) for p in data["edge_points"]],
            edge_skip=np.asarray(data["edge_skip"], dtype=bool),
            neuron_points=np.asarray(data["neuron_points"], dtype=float).reshape(-1, 3),
            neuron_values=np.asarray(data["neuron_values"], dtype=float),
            neuron_owner=np.asarray(data["neuron_owner"], dtype=int),
            badges=list(data["badges"]),
            info=dict(data["info"]),
            # files written before containers existed have none
            containers=list(data.get("containers", [])),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the layout as ``.npz`` (arrays stored natively, the rest as JSON).

        Examples
        --------
        >>> import os, tempfile
        >>> from viz3d.layout import Layout
        >>> path = Layout.empty().save(os.path.join(tempfile.mkdtemp(), "layout.npz"))
        >>> len(Layout.load(path))
        0
        """
        path = Path(path)
        offsets = np.cumsum([0] + [len(p) for p in self.edge_points])
        flat = np.concatenate(self.edge_points) if self.edge_points else np.empty((0, 3))
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "node_ids": self.node_ids,
            "nodes": self.nodes,
            "glyphs": self.glyphs,
            "badges": self.badges,
            "info": self.info,
            "containers": self.containers,
        }
        arrays = {
            "meta": np.array(json.dumps(meta)),
            "positions": self.positions,
            "sizes": self.sizes,
            "layers": self.layers,
            "values": self.values,
            "edge_index": self.edge_index,
            "edge_offsets": offsets,
            "edge_flat": flat,
            "edge_skip": self.edge_skip,
            "neuron_points": self.neuron_points,
            "neuron_values": self.neuron_values,
            "neuron_owner": self.neuron_owner,
        }

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:  # a handle: np.savez would append ".npz" to a name
                np.savez_compressed(fh, **arrays)

        # atomically: an interrupted save keeps the previous file whole
        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Layout:
        """Read a layout written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise GraphError(f"cannot read Layout from {path}: {exc}") from exc
        meta = json.loads(str(arrays.pop("meta")))
        offsets, flat = arrays.pop("edge_offsets"), arrays.pop("edge_flat")
        data = {**meta, **dict(arrays.items())}
        data["edge_points"] = [flat[a:b] for a, b in itertools.pairwise(offsets)]
        return cls.from_dict(data)

    @classmethod
    def empty(cls) -> Layout:
        """A layout with no nodes."""
        return cls(
            [],
            [],
            np.empty((0, 3)),
            np.empty((0, 3)),
            [],
            np.empty(0, int),
            np.empty(0),
            np.empty((0, 2), int),
            [],
            np.empty(0, bool),
            np.empty((0, 3)),
            np.empty(0),
            np.empty(0, int),
        )


def compute_layout(
    graph: LayerGraph,
    *,
    size_by: SizeBy = "params",
    scale: Scale = "cbrt",
    neuron_cap: int = NEURON_CAP,
    max_neurons: int = MAX_NEURONS,
) -> Layout:
    """Lay a LayerGraph out in 3D: layers along x, branches along y, skip arcs above (z).

    Long chains wrap into serpentine rows about as wide as a 16:9 frame; U-Nets and
    autoencoders rise and fall with their resolution; side inputs stand behind the spine.

    Parameters
    ----------
    graph : LayerGraph
        Any graph from :func:`viz3d.trace`, collapsed (``graph.collapse(depth)``) and/or
        folded (``graph.fold_repeats()``) or not; folded blocks get an ``xN`` badge.
    size_by : {"params", "flops"}, default: "params"
        What box volume grows with.
    scale : {"cbrt", "log"}, default: "cbrt"
        Size scale (see :mod:`viz3d.layout.geometry`); stated in ``info["size_legend"]``.
    neuron_cap : int, default: 256
        Most neuron points per layer.
    max_neurons : int, default: 150000
        Most neuron points in total; big graphs get a smaller per-layer cap.

    Returns
    -------
    Layout

    Examples
    --------
    >>> import networkx as nx
    >>> from viz3d.graph import GraphInfo, LayerGraph
    >>> from viz3d.layout import compute_layout
    >>> g = nx.DiGraph()
    >>> g.add_node("in", kind="input", name="input", type="Input", order=0)
    >>> fc = dict(kind="module", name="fc", type="Linear", params=40, out_shapes=[[1, 8]])
    >>> g.add_node("fc", order=1, **fc)
    >>> g.add_node("out", kind="output", name="output", type="Output", order=2)
    >>> g.add_edges_from([("in", "fc"), ("fc", "out")])
    >>> layout = compute_layout(LayerGraph(g, GraphInfo(total_params=40)))
    >>> layout.layers.tolist(), len(layout.neuron_points)
    ([0, 1, 2], 8)
    """
    if size_by not in ("params", "flops"):
        raise GraphError(f"size_by must be 'params' or 'flops', got {size_by!r}")
    g = graph.to_networkx() if isinstance(graph, LayerGraph) else None
    if g is None:
        raise GraphError(f"compute_layout needs a viz3d LayerGraph, got {type(graph).__name__}")
    ids = list(g.nodes)
    if not ids:
        return Layout.empty()
    index = {n: i for i, n in enumerate(ids)}
    attrs = [g.nodes[n] for n in ids]

    layer_of = longest_path_layers(g, is_anchor=lambda n: g.nodes[n]["kind"] == "input")
    lane_of = assign_lanes(g, layer_of)
    layers = np.array([layer_of[n] for n in ids], dtype=int)
    lanes = np.array([lane_of[n] for n in ids], dtype=float)

    glyphs = [shape_kind(a) for a in attrs]
    counts = np.array([float(a.get(size_by, 0) or 0) for a in attrs])
    boxed = np.array([k in ("box", "slab-stack") for k in glyphs])
    reference = float(counts[boxed].max()) if boxed.any() else 0.0
    sides = scaled_side(counts, scale=scale, reference=reference)
    sizes = glyph_sizes(attrs, glyphs, sides)
    io_nodes = np.array([a["kind"] in ("input", "output") for a in attrs])
    side_set = side_nodes(g, lambda n: g.nodes[n]["kind"] == "input")
    side = np.array([n in side_set for n in ids], dtype=bool)
    # side inputs without weights (masks, position ids) are small and grey ("no data")
    plumbing = side & (counts == 0)
    sizes[plumbing] *= SIDE_SCALE

    everything = np.arange(len(ids))
    towers = None if profile.u_levels(attrs, layers) is not None else tower_groups(g, ids, attrs)
    if towers is None:
        positions, routes = _arrange(g, ids, everything, layers, lanes, sizes, side, wrap.ASPECT)
    else:
        positions, routes = _stand_towers(g, ids, towers, layers, lanes, sizes, side)
    edges = list(g.edges)
    edge_index = np.array([[index[u], index[v]] for u, v in edges], dtype=int).reshape(-1, 2)
    edge_points = [routes[e][0] for e in edges]
    edge_skip = np.array([routes[e][1] for e in edges], dtype=bool)

    with_neurons = [i for i, k in enumerate(glyphs) if k in ("box", "slab-stack")]
    cap = min(neuron_cap, max(4, max_neurons // max(len(with_neurons), 1)))
    pts, vals, owner = [], [], []
    for i in with_neurons:
        p, v = neuron_grid(attrs[i], positions[i], sizes[i], glyphs[i], cap)
        pts.append(p)
        vals.append(v)
        owner.append(np.full(len(p), i))

    badges = [
        {
            "node": i,
            "text": f"x{a['repeat']}",
            # under the block: its label stands over it
            "position": (positions[i] - [0, 0, sizes[i][2] / 2 + 0.45]).tolist(),
        }
        for i, a in enumerate(attrs)
        if a.get("repeat", 1) > 1
    ]
    info = graph.info
    containers = module_containers(attrs, positions, sizes, info.modules, info.folds)
    badges += fold_badges(containers)
    return Layout(
        node_ids=[str(n) for n in ids],
        nodes=[_facts(a) for a in attrs],
        positions=positions,
        sizes=sizes,
        glyphs=glyphs,
        layers=layers,
        values=np.array(
            [
                np.nan if grey else _magnitude(a.get("stats"))
                for a, grey in zip(attrs, io_nodes | plumbing)
            ]
        ),
        edge_index=edge_index,
        edge_points=edge_points,
        edge_skip=edge_skip,
        neuron_points=np.concatenate(pts) if pts else np.empty((0, 3)),
        neuron_values=np.concatenate(vals) if vals else np.empty(0),
        neuron_owner=np.concatenate(owner).astype(int) if owner else np.empty(0, int),
        badges=badges,
        info={
            "model_name": info.model_name,
            "total_params": int(info.total_params),
            "total_flops": int(info.total_flops),
            "level": info.level,
            "partial": bool(info.partial),
            "error": info.error,
            "size_by": size_by,
            "scale": scale,
            "size_reference": reference,
            "size_legend": scale_legend(scale, reference, size_by),
            "neuron_cap": int(cap),
        },
        containers=containers,
    )


def _arrange(g, ids, sel, layers, lanes, sizes, side, aspect):
    """Place the nodes ``sel`` (indices into ``ids``) and route the edges among them.

    One straight run of columns, then either the rise and fall of a U-Net or autoencoder or a
    serpentine of rows about ``aspect`` wide. Returns the centres of ``sel`` (in its order) and
    ``{(u, v): (points, is_skip)}`` for the edges inside ``sel``.
    """
    # a subgraph view filters every lookup: only take one for a tower
    sub = g if len(sel) == len(ids) else g.subgraph([ids[i] for i in sel])
    local = np.unique(layers[sel], return_inverse=True)[1].reshape(-1)
    index = {ids[i]: k for k, i in enumerate(sel)}
    layer_of = {ids[i]: int(local[k]) for k, i in enumerate(sel)}
    sizes, side = sizes[sel], side[sel]
    positions, column_x, thickness = _place(local, lanes[sel], sizes, side)
    levels = profile.u_levels([g.nodes[ids[i]] for i in sel], local)
    if levels is not None:
        column_x, heights = profile.shape_u(column_x, thickness, levels)
        positions[:, 0] = column_x[local]
        positions[:, 2] += heights[local]
    edge_index, edge_points, edge_skip = _route_edges(
        sub, index, layer_of, local, positions, sizes, side
    )
    if levels is not None:
        edge_points = profile.bridges(local, positions, sizes, edge_index, edge_points, edge_skip)
    if levels is None:  # a U keeps its one row
        spans = _module_spans([g.nodes[ids[i]] for i in sel], local)
        positions, edge_points = _wrap(
            local,
            positions,
            sizes,
            edge_index,
            edge_points,
            edge_skip,
            column_x,
            thickness,
            aspect,
            spans,
        )
    routes = {
        (ids[sel[i]], ids[sel[j]]): (p, bool(k))
        for (i, j), p, k in zip(edge_index, edge_points, edge_skip)
    }
    return positions, routes


def _stand_towers(g, ids, towers, layers, lanes, sizes, side):
    """Each tower laid out on its own (half as wide), side by side from left to right; edges
    between towers (cross-attention reading the encoder's output) run behind them."""
    n_towers = int(towers.max()) + 1
    positions = np.zeros((len(ids), 3))
    routes: dict = {}
    right = None
    for k in range(n_towers):
        sel = np.flatnonzero(towers == k)
        placed, inner = _arrange(g, ids, sel, layers, lanes, sizes, side, wrap.ASPECT / n_towers)
        lo = float((placed[:, 0] - sizes[sel, 0] / 2).min())
        if inner:
            lo = min(lo, float(min(p[:, 0].min() for p, _ in inner.values())))
        shift = 0.0 if right is None else right + TOWER_GAP - lo
        placed[:, 0] += shift
        for edge, (p, skip) in inner.items():
            routes[edge] = (p + [shift, 0, 0], skip)
        positions[sel] = placed
        hi = float((placed[:, 0] + sizes[sel, 0] / 2).max())
        right = max(hi, max((p[:, 0].max() for p, _ in routes.values()), default=hi))
    back = float((positions[:, 1] + sizes[:, 1] / 2).max()) + 0.6
    index = {n: i for i, n in enumerate(ids)}
    for u, v in g.edges:
        if (u, v) not in routes:
            a = positions[index[u]] + [0, sizes[index[u]][1] / 2, 0]
            b = positions[index[v]] + [0, sizes[index[v]][1] / 2, 0]
            routes[(u, v)] = (np.array([a, [a[0], back, a[2]], [b[0], back, b[2]], b]), False)
    return positions, routes


def _place(
    layers: np.ndarray, lanes: np.ndarray, sizes: np.ndarray, side: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres: columns along x spaced by their thickest glyph; within a column, glyphs side by
    side along y in lane order, each taking its own width plus a gap, centred on the axis.
    Side inputs (``side``) stand behind the main glyphs of their column (+y), off the spine, and
    a column of side inputs only is narrow.

    Returns the centres, each column's x and each column's thickness."""
    n_layers = int(layers.max()) + 1
    depth = np.zeros(n_layers)
    np.maximum.at(depth, layers, sizes[:, 0])
    has_main = np.zeros(n_layers, dtype=bool)
    has_main[layers[~side]] = True
    gap = np.where(has_main[:-1] | has_main[1:], LAYER_GAP, SIDE_SCALE * LAYER_GAP)
    # column l's centre: previous centre + half of both thicknesses + the gap
    steps = np.concatenate([[0.0], (depth[:-1] + depth[1:]) / 2 + gap])
    column_x = np.cumsum(steps)
    positions = np.zeros((len(layers), 3))
    positions[:, 0] = column_x[layers]
    # main glyphs centred on the axis, then side inputs behind them: sort by (column, side,
    # lane) once, O(N log N), then running widths per column
    order = np.lexsort((lanes, side, layers))
    width = sizes[order, 1] + LANE_GAP
    ends = np.cumsum(width)
    column_of = layers[order]
    first = np.searchsorted(column_of, column_of, side="left")
    start = np.concatenate([[0.0], ends])[first]
    total = np.zeros(n_layers)
    np.add.at(total, column_of[~side[order]], width[~side[order]])
    positions[order, 1] = (ends - start) - width / 2 - total[column_of] / 2
    return positions, column_x, depth


def _wrap(
    layers,
    positions,
    sizes,
    edge_index,
    edge_points,
    edge_skip,
    column_x,
    thickness,
    aspect,
    spans=None,
):
    """Cut a long straight layout into serpentine rows (see :mod:`viz3d.layout.wrap`).

    Glyphs and edges inside a row move with it (an arc stays an arc); an edge crossing a row
    break is routed around the U-turn. Rows do not break inside a module of ``spans`` (first
    and last column of each) shorter than :data:`UNBROKEN` of a row, so its box stays whole.
    """
    lo, hi = _extent(positions, sizes, edge_points)
    starts, ends = column_x - thickness / 2, column_x + thickness / 2
    n_rows = wrap.count_rows(ends[-1] - starts[0], hi[2] - lo[2], hi[1] - lo[1], aspect)
    if n_rows == 1:
        return positions, edge_points
    edge_layers = layers[edge_index] if len(edge_index) else np.empty((0, 2), int)
    crossing = wrap.crossings(len(column_x), edge_layers)
    length = ends[-1] - starts[0]
    # modules kept whole can leave no place to cut near the ideal one (overlapping stages), and
    # rows come out uneven: of one to twice the planned number of rows, keep the cut that
    # shows the picture largest, judged by its longest row
    best = None
    for asked in range(1, 2 * n_rows + 1):
        unit = _unbroken_units(spans, starts, ends, length / asked)
        first = np.flatnonzero(np.diff(unit, prepend=-1))
        last = np.append(first[1:] - 1, len(unit) - 1)
        rows = wrap.wrap_rows(starts[first], ends[last], crossing[last], asked)[unit]
        k = int(rows[-1]) + 1
        row_lo, row_hi = np.full(k, np.inf), np.full(k, -np.inf)
        np.minimum.at(row_lo, rows, starts)
        np.maximum.at(row_hi, rows, ends)
        scale, misfit = wrap.picture_scale(
            float(np.max(row_hi - row_lo)), k, hi[2] - lo[2], hi[1] - lo[1], aspect
        )
        if best is None or scale > 1.01 * best[0] or (scale >= 0.99 * best[0] and misfit < best[1]):
            best = (scale, misfit, rows)
    row_of_column = best[2]
    if row_of_column[-1] == 0:
        return positions, edge_points
    n_rows = int(row_of_column[-1]) + 1
    node_row = row_of_column[layers]
    edge_rows = node_row[edge_index] if len(edge_index) else np.empty((0, 2), int)
    inside = edge_rows[:, 0] == edge_rows[:, 1]
    top = np.full(n_rows, -np.inf)
    bottom = np.full(n_rows, np.inf)
    np.maximum.at(top, node_row, positions[:, 2] + sizes[:, 2] / 2)
    np.minimum.at(bottom, node_row, positions[:, 2] - sizes[:, 2] / 2)
    kept = [edge_points[k] for k in np.flatnonzero(inside)]
    if kept:
        flat = np.concatenate(kept)
        point_rows = np.repeat(edge_rows[inside, 0], [len(p) for p in kept])
        np.maximum.at(top, point_rows, flat[:, 2])
        np.minimum.at(bottom, point_rows, flat[:, 2])
    row_start = np.full(n_rows, np.inf)
    row_end = np.full(n_rows, -np.inf)
    np.minimum.at(row_start, row_of_column, starts)
    np.maximum.at(row_end, row_of_column, ends)
    snake = wrap.Serpentine.stack(row_start, row_end, top, bottom)
    placed = snake.apply(positions, node_row)
    points = list(edge_points)
    if kept:
        moved = np.split(snake.apply(flat, point_rows), np.cumsum([len(p) for p in kept])[:-1])
        for k, p in zip(np.flatnonzero(inside), moved):
            points[k] = p
    for k in np.flatnonzero(~inside):
        i, j = edge_index[k]
        ra, rb = int(edge_rows[k, 0]), int(edge_rows[k, 1])
        if edge_skip[k]:  # an arc: over the rows
            a = placed[i] + [0, 0, sizes[i][2] / 2]
            b = placed[j] + [0, 0, sizes[j][2] / 2]
            points[k] = snake.route(a, b, ra, rb, level="over")
        elif layers[j] - layers[i] > 1:  # a bus or a side input: under the rows
            a = placed[i] - [0, 0, sizes[i][2] / 2]
            b = placed[j] - [0, 0, sizes[j][2] / 2]
            points[k] = snake.route(a, b, ra, rb, level="under")
        else:  # the data flow: around the U-turn
            a = placed[i] + [snake.direction(ra) * sizes[i][0] / 2, 0, 0]
            b = placed[j] - [snake.direction(rb) * sizes[j][0] / 2, 0, 0]
            points[k] = snake.route(a, b, ra, rb)
    return placed, points


def _module_spans(attrs: list[dict[str, Any]], layers: np.ndarray) -> np.ndarray:
    """First and last column of each module call the nodes ran inside (the root aside)."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for a, column in zip(attrs, layers.tolist()):
        for key in a.get("scope") or ():
            if not key.startswith("#"):
                first[key] = min(first.get(key, column), column)
                last[key] = max(last.get(key, column), column)
    return np.array([[first[k], last[k]] for k in first], dtype=int).reshape(-1, 2)


def _unbroken_units(spans, starts: np.ndarray, ends: np.ndarray, row: float) -> np.ndarray:
    """Unit of each column: columns of a module shorter than :data:`UNBROKEN` of a ``row``
    share one, and rows only break between units."""
    inside = np.zeros(len(starts) + 1, dtype=int)
    if spans is not None and len(spans):
        short = ends[spans[:, 1]] - starts[spans[:, 0]] <= UNBROKEN * row
        np.add.at(inside, spans[short, 0], 1)
        np.add.at(inside, spans[short, 1], -1)
    blocked = np.cumsum(inside)[: len(starts)] > 0  # the boundary after each column
    return np.concatenate([[0], np.cumsum(~blocked[:-1])])


def _extent(positions, sizes, edge_points):
    lo = (positions - sizes / 2).min(axis=0)
    hi = (positions + sizes / 2).max(axis=0)
    if edge_points:
        pts = np.concatenate(edge_points)
        lo, hi = np.minimum(lo, pts.min(axis=0)), np.maximum(hi, pts.max(axis=0))
    return lo, hi


def _route_edges(g, index, layer_of, layers, positions, sizes, side):
    """Straight segments between neighbouring columns; arcs above everything they bypass.

    A node feeding more than :data:`BUS_FANOUT` skip connections (a position bias or a mask
    handed to every layer, an encoder output read by every decoder layer) gets one bus instead
    of a fan of arcs: a line under the model from which each consumer is reached by a riser.
    Side inputs reach their far consumers the same way (from below, never as highlighted arcs).
    """
    skips = skip_edges(g, layer_of)
    fanout: dict = {}
    for u, _ in skips:
        fanout[u] = fanout.get(u, 0) + 1
    bus_level = float((positions[:, 2] - sizes[:, 2] / 2).min()) - 0.4
    top = np.full(int(layers.max()) + 1, -np.inf)
    np.maximum.at(top, layers, positions[:, 2] + sizes[:, 2] / 2)
    tallest = _RangeMax(top)
    edges = list(g.edges)
    edge_index = np.array([[index[u], index[v]] for u, v in edges], dtype=int).reshape(-1, 2)
    points, skip_flags = [], []
    t = np.linspace(0.0, 1.0, ARC_POINTS)
    for (u, v), (i, j) in zip(edges, edge_index):
        a, b = positions[i], positions[j]
        if (u, v) in skips and (fanout[u] > BUS_FANOUT or side[i]):
            start = a - [0, 0, sizes[i][2] / 2]
            end = b - [0, 0, sizes[j][2] / 2]
            points.append(
                np.array(
                    [
                        start,
                        [start[0], start[1], bus_level],
                        [end[0], start[1], bus_level],
                        [end[0], end[1], bus_level],
                        end,
                    ]
                )
            )
            skip_flags.append(False)
        elif (u, v) in skips:
            start = a + [0, 0, sizes[i][2] / 2]
            end = b + [0, 0, sizes[j][2] / 2]
            span = layers[j] - layers[i]
            # clear every glyph under the arc; longer arcs fly higher so nested skips separate
            peak = tallest.query(layers[i] + 1, layers[j] - 1) + 0.35 + 0.3 * np.log2(span)
            lift = np.sin(np.pi * t) ** 0.4
            base = start[2] + (end[2] - start[2]) * t
            arc = np.column_stack(
                [
                    start[0] + (end[0] - start[0]) * t,
                    start[1] + (end[1] - start[1]) * t,
                    base + (np.maximum(peak, base.max() + 0.3) - base) * lift,
                ]
            )
            points.append(arc)
            skip_flags.append(True)
        else:
            start = a + [sizes[i][0] / 2, 0, 0]
            end = b - [sizes[j][0] / 2, 0, 0]
            points.append(np.stack([start, end]))
            skip_flags.append(False)
    return edge_index, points, np.array(skip_flags, dtype=bool)


class _RangeMax:
    """Sparse table: max of ``values[lo..hi]`` in O(1) after O(n log n) setup."""

    def __init__(self, values: np.ndarray) -> None:
        self.table = [np.asarray(values, dtype=float)]
        k = 1
        while 2 * k <= len(values):
            prev = self.table[-1]
            self.table.append(np.maximum(prev[:-k], prev[k:]))
            k *= 2

    def query(self, lo: int, hi: int) -> float:
        if hi < lo:
            return -np.inf
        level = int(hi - lo + 1).bit_length() - 1
        row = self.table[level]
        return float(max(row[lo], row[hi - (1 << level) + 1]))


def _magnitude(stats: dict[str, Any] | None) -> float:
    if not stats or stats.get("mean") is None or stats.get("std") is None:
        return float("nan")
    return float(np.hypot(stats["mean"], stats["std"]))


def _facts(attrs: dict[str, Any]) -> dict[str, Any]:
    facts = {k: attrs.get(k) for k in _FACTS}
    if attrs.get("member_facts"):  # a folded block drawn as one node
        facts["member_facts"] = attrs["member_facts"]
    stats = attrs.get("stats")
    facts["stats"] = (
        {k: stats.get(k) for k in ("mean", "std", "absmax", "n_inf", "n_nan", "neuron_count")}
        if stats
        else None
    )
    return facts


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]
