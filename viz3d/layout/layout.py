"""``Layout``: where every layer, edge and neuron of a LayerGraph goes in 3D, and ``compute_layout``.

Conventions: the main axis is **x** (data flows towards +x), parallel branches sit side by
side along **y**, and **z** is up; skip connections arc above the main line. Units are
arbitrary (a layer gap is about 1). The layout is pure numpy/networkx, deterministic (the same
graph gives the same positions), and O(N log N) in nodes: one topological sort, one pass per
step and a sparse table for the "how tall is everything under this arc" queries.
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
from viz3d.graph import LayerGraph
from viz3d.layout.geometry import Scale, glyph_size, scale_legend, scaled_side, shape_kind
from viz3d.layout.layering import assign_lanes, longest_path_layers, skip_edges
from viz3d.layout.neurons import NEURON_CAP, neuron_grid

FORMAT = "viz3d.Layout"
FORMAT_VERSION = 1

#: Most neuron points in a whole layout; per-layer caps shrink below ``neuron_cap`` to fit.
MAX_NEURONS = 150_000
#: Gap between consecutive layers along x.
LAYER_GAP = 1.1
#: Gap between parallel branches along y.
LANE_GAP = 0.8
#: Points per skip arc.
ARC_POINTS = 24

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
        ``params``, ``flops``, ``in_shapes``, ``out_shapes``, ``repeat``, ``members``, ``failed`` and
        ``stats`` (``mean``, ``std``, ``absmax``, ``neuron_count``, or ``None``).
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
        ``{"node": i, "text": "x24", "position": [x, y, z]}`` for folded repeated blocks.
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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        """Rebuild a layout written by :meth:`to_dict`."""
        if data.get("format") != FORMAT:
            raise GraphError(f"not a viz3d Layout (format={data.get('format')!r})")
        if data.get("version", 0) > FORMAT_VERSION:
            raise GraphError(
                f"Layout version {data['version']} is newer than this viz3d; upgrade viz3d"
            )
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
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh,
                meta=np.array(json.dumps(meta)),
                positions=self.positions,
                sizes=self.sizes,
                layers=self.layers,
                values=self.values,
                edge_index=self.edge_index,
                edge_offsets=offsets,
                edge_flat=flat,
                edge_skip=self.edge_skip,
                neuron_points=self.neuron_points,
                neuron_values=self.neuron_values,
                neuron_owner=self.neuron_owner,
            )
        return path

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
    >>> g.add_node("fc", kind="module", name="fc", type="Linear", params=40, order=1, out_shapes=[[1, 8]])
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
    sizes = np.stack([glyph_size(k, s) for k, s in zip(glyphs, sides)])
    io_nodes = np.array([a["kind"] in ("input", "output") for a in attrs])
    sizes[io_nodes] = [0.15, 1.2, 1.2]

    positions = _place(layers, lanes, sizes)
    edge_index, edge_points, edge_skip = _route_edges(g, index, layer_of, layers, positions, sizes)

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
            "position": (positions[i] + [0, 0, sizes[i][2] / 2 + 0.45]).tolist(),
        }
        for i, a in enumerate(attrs)
        if a.get("repeat", 1) > 1
    ]
    info = graph.info
    return Layout(
        node_ids=[str(n) for n in ids],
        nodes=[_facts(a) for a in attrs],
        positions=positions,
        sizes=sizes,
        glyphs=glyphs,
        layers=layers,
        values=np.array(
            [np.nan if io else _magnitude(a.get("stats")) for a, io in zip(attrs, io_nodes)]
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
    )


def _place(layers: np.ndarray, lanes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Centres: columns along x spaced by their thickest glyph; within a column, glyphs side by
    side along y in lane order, each taking its own width plus a gap, centred on the axis."""
    n_layers = int(layers.max()) + 1
    depth = np.zeros(n_layers)
    np.maximum.at(depth, layers, sizes[:, 0])
    # column l's centre: previous centre + half of both thicknesses + the gap
    steps = np.concatenate([[0.0], (depth[:-1] + depth[1:]) / 2 + LAYER_GAP])
    column_x = np.cumsum(steps)
    positions = np.zeros((len(layers), 3))
    positions[:, 0] = column_x[layers]
    # sort by (column, lane) once: O(N log N); then running widths per column
    order = np.lexsort((lanes, layers))
    width = sizes[order, 1] + LANE_GAP
    ends = np.cumsum(width)
    column_of = layers[order]
    first = np.searchsorted(column_of, column_of, side="left")
    start = np.concatenate([[0.0], ends])[first]
    total = np.zeros(n_layers)
    np.add.at(total, column_of, width)
    positions[order, 1] = (ends - start) - width / 2 - total[column_of] / 2
    return positions


def _route_edges(g, index, layer_of, layers, positions, sizes):
    """Straight segments between neighbouring columns; arcs above everything they bypass."""
    skips = skip_edges(g, layer_of)
    top = np.zeros(int(layers.max()) + 1)
    np.maximum.at(top, layers, positions[:, 2] + sizes[:, 2] / 2)
    tallest = _RangeMax(top)
    edges = list(g.edges)
    edge_index = np.array([[index[u], index[v]] for u, v in edges], dtype=int).reshape(-1, 2)
    points, skip_flags = [], []
    t = np.linspace(0.0, 1.0, ARC_POINTS)
    for (u, v), (i, j) in zip(edges, edge_index):
        a, b = positions[i], positions[j]
        if (u, v) in skips:
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
            return 0.0
        level = int(hi - lo + 1).bit_length() - 1
        row = self.table[level]
        return float(max(row[lo], row[hi - (1 << level) + 1]))


def _magnitude(stats: dict[str, Any] | None) -> float:
    if not stats or stats.get("mean") is None or stats.get("std") is None:
        return float("nan")
    return float(np.hypot(stats["mean"], stats["std"]))


def _facts(attrs: dict[str, Any]) -> dict[str, Any]:
    facts = {k: attrs.get(k) for k in _FACTS}
    stats = attrs.get("stats")
    facts["stats"] = (
        {k: stats.get(k) for k in ("mean", "std", "absmax", "neuron_count")} if stats else None
    )
    return facts


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]
