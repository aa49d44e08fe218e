"""``LayerGraph``: a traced model as a directed graph of module calls and tensor operations.

A ``LayerGraph`` is plain data: a :class:`networkx.DiGraph` whose node and edge attributes are
JSON values, plus two tables about the model's modules. It is produced by :func:`viz3d.trace`,
consumed by the layout, and saved/reloaded without the model.

Node attributes (every node has all of them; JSON types):

==============  ===========================================================================
``kind``        ``"input"``, ``"output"``, ``"module"`` (a module call; after ``collapse`` it
                may stand for everything that ran inside it) or ``"op"`` (a tensor operation
                run between modules: ``add``, ``cat``, ``matmul``, ``view`` ...)
``name``        display name: qualified module name (``"layer1.0.conv1"``), op name, or
                ``"input.input_ids"`` / ``"output.logits"``
``type``        module class (``"Conv2d"``), op name (``"add"``), ``"Input"`` or ``"Output"``
``module``      qualified name of the module the node is (module) or runs inside (op); ``""``
                is the root model
``call``        which call of ``module`` this is, 0-based (module nodes; 0 otherwise)
``scope``       enclosing module calls from the root, each ``"qualname#call"``; excludes the
                node itself
``order``       execution order; edges always go from a lower to a higher order
``category``    for ops: ``"arith"``, ``"matmul"``, ``"activation"``, ``"normalize"``,
                ``"reduce"``, ``"shape"``, ``"create"`` or ``"other"``; ``""`` otherwise
``in_shapes``   shapes of the tensor arguments (list of lists of ints)
``out_shapes``  shapes of the tensor results; ``out_dtypes`` their dtypes as strings
``params``      parameters of the module including submodules (shared ones once); 0 for ops
``flops``       floating-point operations counted by ``torch.utils.flop_counter`` while the
                node ran (a multiply-add counts 2)
``stats``       activation statistics of the first output, or ``None`` (``meta`` device,
                non-float outputs): ``mean``, ``std``, ``absmax`` over the finite values
                (``None`` if there are none), ``n_inf`` and ``n_nan`` (how many values were
                infinite - or at the dtype's limit, as in attention masks - and NaN),
                ``neuron_dim`` (the axis treated as neurons/channels), ``neuron_count`` and
                ``neurons`` - the finite-value mean activation of up to 256 neurons, sample
                ``j`` of ``k`` being neuron ``floor(j * neuron_count / k)``, for colouring
``repeat``      how many alike consecutive segments this node stands for (``fold_repeats``)
``members``     the module calls merged into this node by ``collapse``/``fold_repeats``
``member_facts`` on a folded node only: ``name``, ``call``, ``params``, ``flops``,
                ``in_shapes``, ``out_shapes`` and ``stats`` (no neuron sample) of each member
``interior``    on a folded node only: member 0's nodes and edges as folded, and the fold's
                edges to the rest, for :meth:`LayerGraph.open_folds`
``fold``        on the nodes :meth:`LayerGraph.open_folds` draws for a fold: its node id
``failed``      ``True`` on the module or op whose forward raised (partial graphs)
``scripted``    ``True`` on a TorchScript module traced as one opaque node; only there
==============  ===========================================================================

Edge attributes: ``shape`` and ``dtype`` of the tensor that flowed (the first one when several
did), ``count`` (how many tensors flowed along it), ``inferred`` (``True`` only on the
registration-order edges of a graph whose forward never ran).

Example
-------
>>> import torch, viz3d
>>> g = viz3d.trace(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU()), torch.randn(2, 4))
>>> [g.nodes[n]["type"] for n in g.nodes]
['Input', 'Linear', 'ReLU', 'Output']
>>> g.total_params
40
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from viz3d.errors import GraphError

FORMAT = "viz3d.LayerGraph"
FORMAT_VERSION = 1
#: Most nodes a folded block's inside keeps at op level (see :meth:`LayerGraph.open_folds`).
INTERIOR_OPS = 24

_NODE_DEFAULTS: dict[str, Any] = {
    "kind": "op",
    "name": "",
    "type": "",
    "module": "",
    "call": 0,
    "scope": [],
    "order": 0,
    "category": "",
    "in_shapes": [],
    "out_shapes": [],
    "out_dtypes": [],
    "params": 0,
    "flops": 0,
    "stats": None,
    "repeat": 1,
    "members": [],
    "failed": False,
}


def module_depth(qualname: str) -> int:
    """Nesting depth of a module from its qualified name: the root ``""`` is 0, ``"a.b"`` is 2."""
    return 0 if not qualname else qualname.count(".") + 1


def call_key(qualname: str, call: int) -> str:
    """The ``"qualname#call"`` key used in ``scope`` lists and the ``calls`` table."""
    return f"{qualname}#{call}"


def split_call_key(key: str) -> tuple[str, int]:
    """Inverse of :func:`call_key`."""
    qualname, _, call = key.rpartition("#")
    return qualname, int(call)


@dataclass
class GraphInfo:
    """Facts about the whole traced model, kept beside the graph.

    ``modules`` maps each qualified module name to ``{"type", "params", "own_params",
    "trainable", "calls", "signature"}`` (``signature`` is equal for structurally identical
    modules). ``calls`` maps each ``"qualname#call"`` to ``{"in_shapes", "out_shapes",
    "stats", "order"}`` for every module call, leaf or not, so a collapsed node can show what
    its module received and returned.

    ``unregistered_params`` counts the elements of parameters the forward used that are not
    registered in the model (modules kept in a plain Python list): not in ``total_params``,
    though their FLOPs count. ``notes`` are remarks on how the trace ran (a TorchScript module
    traced as one opaque node, gradients enabled for a forward that calls ``torch.autograd``).

    ``folds`` describes the folded blocks whose inside :meth:`LayerGraph.open_folds` shows: fold
    node id -> ``{"name", "type", "key", "repeat", "members", "context", "gap", "params",
    "flops", "member_facts"}``; the nodes drawn for it carry ``fold`` = that id.
    """

    model_name: str = ""
    total_params: int = 0
    trainable_params: int = 0
    total_flops: int = 0
    device: str = "cpu"
    partial: bool = False
    error: str | None = None
    level: str = "op"
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    unregistered_params: int = 0
    notes: list[str] = field(default_factory=list)
    folds: dict[str, dict[str, Any]] = field(default_factory=dict)


class LayerGraph:
    """A traced model: a networkx graph of module calls and ops plus facts about the model.

    Build one with :func:`viz3d.trace`; reload a saved one with :meth:`from_json`. Node and edge
    attributes are listed in the module docstring of :mod:`viz3d.graph`.

    Examples
    --------
    >>> import torch, viz3d
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    >>> g = viz3d.trace(model, torch.randn(1, 3))
    >>> len(g), g.total_params, g.partial
    (4, 16, False)
    >>> print(g.collapse(0).summary())  # doctest: +ELLIPSIS
    Layer ...
    """

    def __init__(self, graph: nx.DiGraph, info: GraphInfo) -> None:
        for _, attrs in graph.nodes(data=True):
            for key, default in _NODE_DEFAULTS.items():
                attrs.setdefault(key, default.copy() if isinstance(default, list) else default)
        self._g = graph
        self.info = info

    # ----------------------------------------------------------------- basic views
    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def __repr__(self) -> str:
        state = f", partial: {self.info.error}" if self.partial else ""
        return (
            f"LayerGraph({self.info.model_name or 'model'}: {len(self)} nodes, "
            f"{self._g.number_of_edges()} edges, {self.total_params:,} params, "
            f"{self.total_flops:,} FLOPs, level={self.info.level}{state})"
        )

    @property
    def nodes(self) -> nx.classes.reportviews.NodeView:
        """Node ids in execution order; ``graph.nodes[node_id]`` is the attribute dict."""
        return self._g.nodes

    @property
    def edges(self) -> nx.classes.reportviews.OutEdgeView:
        """Edges ``(source, target)``; ``graph.edges[u, v]`` is the attribute dict."""
        return self._g.edges

    @property
    def total_params(self) -> int:
        """Parameters of the whole model, each shared parameter counted once."""
        return self.info.total_params

    @property
    def trainable_params(self) -> int:
        """Parameters with ``requires_grad``, each counted once."""
        return self.info.trainable_params

    @property
    def total_flops(self) -> int:
        """FLOPs of the traced forward pass (multiply-add = 2)."""
        return self.info.total_flops

    @property
    def partial(self) -> bool:
        """``True`` when the forward raised and the graph holds only what ran before."""
        return self.info.partial

    @property
    def error(self) -> str | None:
        """Why the graph is partial: the failing module, its class and input shapes."""
        return self.info.error

    @property
    def modules(self) -> dict[str, dict[str, Any]]:
        """The module table (see :class:`GraphInfo`)."""
        return self.info.modules

    def to_networkx(self) -> nx.DiGraph:
        """A copy of the underlying graph, safe to modify."""
        return self._g.copy()

    def node_ids(self, kind: str | None = None) -> list[str]:
        """Node ids in execution order, optionally only those of one ``kind``."""
        return [n for n, a in self._g.nodes(data=True) if kind is None or a["kind"] == kind]

    # ----------------------------------------------------------------- transforms
    def collapse(self, depth: int, expand: Iterable[str] = ()) -> LayerGraph:
        """Merge everything that ran inside modules deeper than ``depth`` into one node each.

        Each node is replaced by the call of its shallowest enclosing module whose depth is at
        least ``depth`` (``depth=0`` keeps only the root model between inputs and outputs);
        edges between merged nodes are kept, edges inside a merged node disappear.

        ``expand`` names modules shown deeper than the rest: their children become the nodes
        (``"model.layers.0"``), or every op inside them with a ``.*`` suffix
        (``"model.layers.0.*"``). An unknown name raises :class:`~viz3d.errors.GraphError`
        naming the closest module names.

        Examples
        --------
        >>> import torch, viz3d
        >>> block = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
        >>> g = viz3d.trace(torch.nn.Sequential(block, torch.nn.Linear(2, 1)), torch.randn(1, 2))
        >>> [g.collapse(1).nodes[n]["name"] for n in g.collapse(1).nodes]
        ['input', '0', '1', 'output']
        """
        if not isinstance(depth, int) or depth < 0:
            raise GraphError(f"collapse depth must be a non-negative integer, got {depth!r}")
        deeper = self.expand_depths(expand)

        def key_of(_node: str, attrs: dict[str, Any]) -> str | None:
            chain = _chain(attrs)
            target = depth
            for key in chain:
                target = max(target, deeper.get(split_call_key(key)[0], target))
            for key in chain:
                if module_depth(split_call_key(key)[0]) >= target:
                    return key
            return None

        return self._merge(key_of, level=f"depth {depth}")

    def expand_depths(self, expand: Iterable[str]) -> dict[str, float]:
        """The depth each module named in ``expand`` is collapsed to (see :meth:`collapse`).

        Raises
        ------
        GraphError
            For a name that is not a module of the model, with the closest names.

        Examples
        --------
        >>> import torch, viz3d
        >>> g = viz3d.trace(torch.nn.Sequential(torch.nn.Linear(2, 2)), torch.randn(1, 2))
        >>> g.expand_depths(["0", "0.*"])
        {'0': inf}
        """
        if isinstance(expand, str):
            expand = [expand]
        depths: dict[str, float] = {}
        for entry in expand:
            full = entry.endswith(".*") or entry == "*"
            name = entry[:-2] if entry.endswith(".*") else ("" if entry == "*" else entry)
            if name not in self.info.modules:
                close = difflib.get_close_matches(name, list(self.info.modules), n=3, cutoff=0.5)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise GraphError(
                    f"cannot expand {entry!r}: {self.info.model_name or 'the model'} has no "
                    f"module of that name{hint} (list them with `viz3d summary`)"
                )
            depth = float("inf") if full else float(module_depth(name) + 1)
            depths[name] = max(depths.get(name, 0.0), depth)
        return depths

    def open_folds(self, depth: int | None = None, expand: Iterable[str] = ()) -> LayerGraph:
        """Show the inside of every folded ``xN`` block: member 0's nodes in place of the fold.

        The inside is member 0 at the level it was folded, collapsed to one level below the
        member (or to ``depth`` when that is deeper; left at op level when ``depth`` is ``None``
        and it has at most :data:`INTERIOR_OPS` nodes); ``expand`` as in :meth:`collapse`, a
        name in another member standing for the same module of member 0. The nodes drawn get
        ``fold`` = the fold node's id and ``info.folds`` describes each fold (see
        :class:`GraphInfo`); edges into and out of the fold reach member 0's nodes.

        Examples
        --------
        >>> import torch, viz3d
        >>> blocks = [torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()) for _ in range(3)]
        >>> g = viz3d.trace(torch.nn.Sequential(*blocks), torch.randn(1, 4)).fold_repeats()
        >>> opened = g.open_folds()
        >>> [opened.nodes[n]["name"] for n in opened.nodes]
        ['input', '0.0', '0.1', 'output']
        >>> opened.info.folds["g:0#0"]["repeat"]
        3
        """
        folded = [n for n, a in self._g.nodes(data=True) if a.get("interior")]
        if not folded:
            return self
        expand = [expand] if isinstance(expand, str) else list(expand)
        self.expand_depths(expand)  # unknown names fail here, before any work
        graph = nx.DiGraph()
        table = dict(self.info.folds)
        opened = set(folded)
        for node, attrs in self._g.nodes(data=True):
            if node not in opened:
                graph.add_node(node, **attrs)
                continue
            inner = self._interior(attrs, depth, expand)
            members = [split_call_key(m)[0] for m in attrs["members"]]
            for m, b in inner._g.nodes(data=True):
                if m in self._g:
                    raise GraphError(f"internal error: fold interior node {m!r} is in the graph")
                graph.add_node(m, **_with_member_facts(b, members, self.info), fold=node)
            graph.add_edges_from(inner._g.edges(data=True))
            table[node] = _fold_entry(attrs)
        kept = (e for e in self._g.edges(data=True) if not opened.intersection(e[:2]))
        graph.add_edges_from(kept)
        _link_interiors(graph, [self._g.nodes[n]["interior"]["links"] for n in folded])
        if not nx.is_directed_acyclic_graph(graph):
            raise GraphError(
                f"internal error: opening the folded blocks of {self.info.model_name or 'the'}"
                " model made a cycle; please report it with the model (draw it with fold=False)"
            )
        return LayerGraph(graph, GraphInfo(**{**self.info.__dict__, "folds": table}))

    def _interior(self, attrs: dict[str, Any], depth: int | None, expand: list[str]) -> LayerGraph:
        """Member 0 of a fold node as a graph, collapsed as :meth:`open_folds` says."""
        interior = attrs["interior"]
        graph = nx.DiGraph()
        for node in interior["nodes"]:
            graph.add_node(node["id"], **{k: v for k, v in node.items() if k != "id"})
        for edge in interior["edges"]:
            graph.add_edge(
                edge["source"],
                edge["target"],
                **{k: v for k, v in edge.items() if k not in ("source", "target")},
            )
        inner = LayerGraph(graph, self.info)
        first = split_call_key(attrs["members"][0])[0]
        prefixes = [split_call_key(m)[0] for m in attrs["members"][1:]]
        mine = [_as_member(name, prefixes, first) for name in expand]
        mine = [name for name in mine if _inside(name, first)]
        if depth is None and not mine and len(inner) <= INTERIOR_OPS:
            return inner
        return inner.collapse(max(depth or 0, interior["depth"] + 1), expand=mine)

    def fold_repeats(self, min_repeat: int = 2) -> LayerGraph:
        """Fold a repeated segment (e.g. 24 transformer blocks) into one ``xN`` node.

        Candidates are runs of ``min_repeat`` or more sibling modules of one container
        (``h.0``, ``h.1`` ...) with the same class and structure (class names and parameter
        shapes of the whole subtree), each called once, one after the other. A *segment* is one
        member plus whatever runs between it and the next member: the parent's functional ops
        (``F.relu``), residual adds, other modules. The segments fold when they are alike (the
        same node types, output shapes and inner edges, in the same order); where they differ,
        only stretches of alike segments fold, or nothing does. A segment is a stretch of
        consecutive execution, so a folded graph keeps every edge pointing forward: folding
        never creates a cycle.

        The folded node has ``repeat`` set to the number of segments, ``members`` listing the
        member calls, ``type`` naming what one segment runs (``"Linear+relu"``; the member's
        class when nothing runs between members), and the FLOPs and parameters of everything
        it folded. A graph whose folds are already open (:meth:`open_folds`, a saved view) is
        returned as it is: its member-0 nodes stand for whole folds and must not fold again.

        Examples
        --------
        >>> import torch, viz3d
        >>> class MLP(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.layers = torch.nn.ModuleList(torch.nn.Linear(4, 4) for _ in range(3))
        ...     def forward(self, x):
        ...         for layer in self.layers:
        ...             x = torch.relu(layer(x))
        ...         return x
        >>> g = viz3d.trace(MLP(), torch.randn(1, 4)).fold_repeats()
        >>> [(g.nodes[n]["name"], g.nodes[n]["type"], g.nodes[n]["repeat"]) for n in g.nodes]
        [('input', 'Input', 1), ('layers.0..2', 'Linear+relu', 3), ('output', 'Output', 1)]
        """
        if self.info.folds:
            return self
        plan = _fold_plan(self._g, self.info, min_repeat)
        if not plan:
            return self
        group_of = {node: fold.key for fold in plan for node in fold.nodes}
        folds = {fold.key: fold for fold in plan}
        merged = self._merge(
            lambda node, _attrs: group_of.get(node), level=self.info.level, folds=folds
        )
        links = _fold_links(self._g, plan)
        for fold in plan:
            merged._g.nodes[f"g:{fold.key}"].update(
                member_facts=_member_facts(self._g, self.info, fold),
                interior=_interior_data(self._g, fold, links[fold.key]),
            )
        return merged

    def _merge(
        self,
        key_of: Callable[[str, dict[str, Any]], str | None],
        *,
        level: str,
        folds: dict[str, _Fold] | None = None,
    ) -> LayerGraph:
        folds = folds or {}
        keys = {node: key_of(node, attrs) for node, attrs in self._g.nodes(data=True)}
        groups: dict[str, list[str]] = {}
        for node, key in keys.items():
            if key is not None:
                groups.setdefault(key, []).append(node)

        new_id: dict[str, str] = {}
        merged = nx.DiGraph()
        emitted: set[str] = set()
        for node, attrs in self._g.nodes(data=True):
            key = keys[node]
            if key is None:
                new_id[node] = node
                merged.add_node(node, **attrs)
                continue
            members = groups[key]
            only_itself = (
                len(members) == 1
                and key not in folds
                and attrs["kind"] == "module"
                and call_key(attrs["module"], attrs["call"]) == key
            )
            if only_itself:
                new_id[node] = node
                merged.add_node(node, **attrs)
                continue
            group_id = f"g:{key}"
            new_id[node] = group_id
            if group_id not in emitted:
                emitted.add(group_id)
                merged.add_node(group_id, **self._group_attrs(key, members, folds.get(key)))
        for u, v, attrs in self._g.edges(data=True):
            a, b = new_id[u], new_id[v]
            if a == b:
                continue
            if merged.has_edge(a, b):
                merged.edges[a, b]["count"] += attrs.get("count", 1)
            else:
                merged.add_edge(a, b, **attrs)
        # Every group is a stretch of consecutive execution (a module call, a folded run of
        # segments), so edges keep pointing forward; a cycle here is a viz3d bug, not the model's.
        if not nx.is_directed_acyclic_graph(merged):
            raise GraphError(
                f"internal error: merging the layer graph of {self.info.model_name or 'the model'}"
                f" ({level}) made a cycle; please report it with the model. Work around it "
                "with fold=False or another depth"
            )
        info = GraphInfo(**{**self.info.__dict__, "level": level})
        return LayerGraph(merged, info)

    def _group_attrs(self, key: str, members: list[str], fold: _Fold | None) -> dict[str, Any]:
        calls = fold.members if fold else [key]
        qualname, call = split_call_key(calls[0])
        first = self.info.calls.get(calls[0], {})
        if fold and calls[0] not in _chain(self._g.nodes[fold.nodes[0]]):
            first = self._g.nodes[fold.nodes[0]]  # the loop body starts before its member
        module = self.info.modules.get(qualname, {})
        member_attrs = [self._g.nodes[m] for m in members]
        kind = module.get("type", "")
        if fold:
            last_name = split_call_key(calls[-1])[0].rsplit(".", 1)[-1]
            name, params = f"{qualname}..{last_name}", fold.params
            kind = "+".join(fold.parts) if fold.gap else kind
            scope = member_attrs[0]["scope"][: fold.context]
        else:
            name, params = qualname, module.get("params", 0)
            scope = member_attrs[0]["scope"][: _scope_len(member_attrs[0], calls[0])]
        # a fold whose segments end with the parent's ops (relu after each Linear) hands on
        # what its last node made; otherwise the last member call's result
        last = self._g.nodes[fold.exit] if fold and fold.gap else self.info.calls.get(calls[-1], {})
        attrs = {
            "kind": "module",
            "name": name or self.info.model_name or "model",
            "type": kind,
            "module": qualname,
            "call": call,
            "scope": list(scope),
            "order": min(a["order"] for a in member_attrs),
            "category": "",
            "in_shapes": first.get("in_shapes", []),
            "out_shapes": last.get("out_shapes", []),
            "out_dtypes": last.get("out_dtypes", []),
            "params": params,
            "flops": sum(a["flops"] for a in member_attrs),
            "stats": last.get("stats"),
            "repeat": len(fold.members) if fold else 1,
            "members": calls,
            "failed": any(a["failed"] for a in member_attrs),
        }
        by_member = [a.get("member_flops") for a in member_attrs]
        if all(by_member):  # inside an opened fold: FLOPs of this group in each member
            attrs["member_flops"] = [sum(column) for column in zip(*by_member)]
        return attrs

    # ----------------------------------------------------------------- text
    def summary(self, depth: int | None = None, max_rows: int | None = None) -> str:
        """A torchinfo-like table: layer, type, output shape, params, FLOPs, then totals.

        ``depth`` collapses first (``graph.collapse(depth).summary()``); ``max_rows`` keeps the
        first and last rows of a long table.

        Examples
        --------
        >>> import torch, viz3d
        >>> g = viz3d.trace(torch.nn.Linear(3, 2), torch.randn(1, 3))
        >>> print(g.summary())  # doctest: +NORMALIZE_WHITESPACE
        Layer   Type    Output Shape  Params  FLOPs
        -------------------------------------------
        input   Input   [1, 3]        -       -
        Linear  Linear  [1, 2]        8       12
        output  Output  [1, 2]        -       -
        ===========================================
        Total params: 8 (trainable 8)
        Total FLOPs: 12
        """
        graph = self.collapse(depth) if depth is not None else self
        rows = [("Layer", "Type", "Output Shape", "Params", "FLOPs")]
        for node in graph.nodes:
            a = graph.nodes[node]
            indent = "  " * len(a["scope"]) if a["kind"] in ("module", "op") else ""
            label = a["name"] + (f" x{a['repeat']}" if a["repeat"] > 1 else "")
            label += "  (failed)" if a["failed"] else ""
            shape = shape_text(a["out_shapes"])
            is_io = a["kind"] in ("input", "output")
            params = "-" if is_io or a["kind"] == "op" else f"{a['params']:,}"
            flops = "-" if is_io else human(a["flops"])
            rows.append((indent + label, a["type"], shape, params, flops))
        if max_rows is not None and len(rows) - 1 > max_rows:
            head, tail = max_rows // 2, max_rows - max_rows // 2
            skipped = len(rows) - 1 - max_rows
            rows = rows[: head + 1] + [(f"... {skipped} more rows", "", "", "", "")] + rows[-tail:]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        rule = sum(widths) + 8
        lines.insert(1, "-" * rule)
        lines.append("=" * rule)
        lines.append(f"Total params: {self.total_params:,} (trainable {self.trainable_params:,})")
        lines.append(f"Total FLOPs: {human(self.total_flops)}")
        if self.info.unregistered_params:
            lines.append(
                f"Unregistered params: {self.info.unregistered_params:,} (used by the forward "
                "but not registered in the model, e.g. modules in a plain list; not in the total)"
            )
        lines.extend(f"Note: {note}" for note in self.info.notes)
        if self.partial:
            lines.append(f"PARTIAL GRAPH: {self.error}")
        return "\n".join(lines)

    # ----------------------------------------------------------------- files
    def to_dict(self) -> dict[str, Any]:
        """The graph as JSON-ready data (see :meth:`from_dict`)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "info": dict(self.info.__dict__),
            "nodes": [{"id": n, **a} for n, a in self._g.nodes(data=True)],
            "edges": [{"source": u, "target": v, **a} for u, v, a in self._g.edges(data=True)],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerGraph:
        """Rebuild a graph written by :meth:`to_dict`.

        Raises
        ------
        GraphError
            When ``data`` is not a well-formed graph: wrong types, edges to missing nodes, a
            cycle, a newer format version (see :func:`viz3d.graph_schema.check_graph_data`).
        """
        from viz3d.graph_schema import check_graph_data

        check_graph_data(data)
        graph = nx.DiGraph()
        for node in data["nodes"]:
            attrs = dict(node)
            graph.add_node(attrs.pop("id"), **attrs)
        for edge in data["edges"]:
            attrs = dict(edge)
            graph.add_edge(attrs.pop("source"), attrs.pop("target"), **attrs)
        return cls(graph, GraphInfo(**data["info"]))

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the graph as strict JSON (non-finite numbers as ``null``), atomically.

        A failed write leaves no half file and keeps an existing one; the file's permissions
        follow the umask.

        Examples
        --------
        >>> import torch, viz3d, tempfile, os
        >>> g = viz3d.trace(torch.nn.Linear(3, 2), torch.randn(1, 3))
        >>> path = g.to_json(os.path.join(tempfile.mkdtemp(), "g.json"))
        >>> viz3d.LayerGraph.from_json(path).total_params
        8
        """
        from viz3d.files import write_json

        # NaN/inf statistics are written as null: strict JSON parsers reject NaN literals
        return write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> LayerGraph:
        """Read a graph written by :meth:`to_json`; the model is not needed.

        Raises
        ------
        GraphError
            When the file cannot be read or parsed, or holds no well-formed graph.
        """
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, GraphError) as exc:
            raise GraphError(f"cannot read LayerGraph from {path}: {exc}") from exc

    # ----------------------------------------------------------------- flat diagrams
    def to_dot(
        self,
        depth: int | None = None,
        fold: bool = True,
        rankdir: str = "LR",
        color_by: str = "activation",
    ) -> str:
        """Graphviz DOT text: modules as nested clusters, skips as dashed arcs (see
        :func:`viz3d.diagram.to_dot` for the options).

        Examples
        --------
        >>> import torch, viz3d
        >>> g = viz3d.trace(torch.nn.Linear(3, 2), torch.randn(1, 3))
        >>> g.to_dot().startswith('digraph "viz3d" {')
        True
        """
        from viz3d.diagram import to_dot

        return to_dot(self, depth=depth, fold=fold, rankdir=rankdir, color_by=color_by)

    def to_svg(self, path: str | os.PathLike, **options: Any) -> Path:
        """Write the flat diagram as SVG with Graphviz's ``dot`` (options of :meth:`to_dot`).

        Examples
        --------
        >>> import torch, viz3d, tempfile, os
        >>> g = viz3d.trace(torch.nn.Linear(3, 2), torch.randn(1, 3))
        >>> g.to_svg(os.path.join(tempfile.mkdtemp(), "linear.svg")).suffix
        '.svg'
        """
        from viz3d.diagram import write_diagram

        return write_diagram(self, path, format="svg", **options)

    def to_pdf(self, path: str | os.PathLike, **options: Any) -> Path:
        """Write the flat diagram as PDF with Graphviz's ``dot`` (options of :meth:`to_dot`)."""
        from viz3d.diagram import write_diagram

        return write_diagram(self, path, format="pdf", **options)


def _scope_len(attrs: dict[str, Any], key: str) -> int:
    """Length of the part of a member's scope that lies above the merged call ``key``."""
    scope = attrs["scope"]
    return scope.index(key) if key in scope else len(scope)


def _chain(attrs: dict[str, Any]) -> list[str]:
    """The module calls a node runs inside, from the root, ending with its own call (modules)."""
    chain = list(attrs["scope"])
    if attrs["kind"] == "module":
        chain.append(call_key(attrs["module"], attrs["call"]))
    return chain


@dataclass(frozen=True)
class _Fold:
    """One folded run: its member calls, every node it folds (in order) and their facts."""

    members: list[str]
    nodes: list[str]
    context: int  # length of the scope above the members (the container's enclosing calls)
    gap: bool  # whether the segments hold more than the members themselves
    params: int
    exit: str  # the last node whose result leaves the fold: what the folded node hands on
    parts: list[str]  # what one segment runs, in order: module classes and op names

    @property
    def key(self) -> str:
        return self.members[0]

    @property
    def period(self) -> int:
        """Nodes per segment: every segment of a fold is alike, so equally long."""
        return len(self.nodes) // len(self.members)

    def segment(self, k: int) -> list[str]:
        return self.nodes[k * self.period : (k + 1) * self.period]


def _fold_links(graph: nx.DiGraph, plan: list[_Fold]) -> dict[str, list[dict[str, Any]]]:
    """The edges into and out of each fold, as ``source_order``/``target_order`` pairs.

    An end inside a fold stands for its counterpart in member 0 (the one that is drawn); the
    orders find the node holding it in whatever view the fold is opened in, as every node of a
    view holds one stretch of execution starting at its ``order``.
    """
    where = {node: (fold, i) for fold in plan for i, node in enumerate(fold.nodes)}

    def drawn(node: str) -> tuple[str | None, int]:
        if node not in where:
            return None, graph.nodes[node]["order"]
        fold, i = where[node]
        return fold.key, graph.nodes[fold.nodes[i % fold.period]]["order"]

    links: dict[str, dict[tuple[int, int], dict[str, Any]]] = {fold.key: {} for fold in plan}
    for u, v, attrs in graph.edges(data=True):
        (fu, a), (fv, b) = drawn(u), drawn(v)
        if fu == fv:  # outside every fold, or between members of one fold
            continue
        for key in {fu, fv} - {None}:
            link = links[key].get((a, b))
            if link is None:
                links[key][a, b] = {"source_order": a, "target_order": b, **attrs}
                links[key][a, b]["count"] = attrs.get("count", 1)
            else:
                link["count"] += attrs.get("count", 1)
    return {key: list(found.values()) for key, found in links.items()}


def _member_facts(graph: nx.DiGraph, info: GraphInfo, fold: _Fold) -> list[dict[str, Any]]:
    """Name, call, parameters, FLOPs, shapes and statistics of each member's segment."""
    facts = []
    for k, member in enumerate(fold.members):
        nodes = [graph.nodes[n] for n in fold.segment(k)]
        inner = {
            split_call_key(chain[fold.context])[0]
            for chain in map(_chain, nodes)
            if len(chain) > fold.context
        }
        qualname, call = split_call_key(member)
        known = info.calls.get(member, {})
        facts.append(
            {
                "name": qualname,
                "call": call,
                "params": sum(info.modules.get(q, {}).get("params", 0) for q in inner),
                "flops": sum(a["flops"] for a in nodes),
                "in_shapes": known.get("in_shapes", nodes[0]["in_shapes"]),
                "out_shapes": known.get("out_shapes", nodes[-1]["out_shapes"]),
                "stats": _summary_stats(known.get("stats")),
            }
        )
    return facts


def _summary_stats(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    """Activation statistics without the per-neuron sample (hover text, not colouring)."""
    return {k: v for k, v in stats.items() if k != "neurons"} if stats else None


def _interior_data(graph: nx.DiGraph, fold: _Fold, links: list[dict[str, Any]]) -> dict:
    """Member 0's segment as JSON data, with the fold's links (see ``open_folds``)."""
    nodes = fold.segment(0)
    inside = set(nodes)
    return {
        "depth": module_depth(split_call_key(fold.key)[0]),
        "gap": fold.gap,
        # each node's FLOPs in every member, for hover facts on the nodes drawn for member 0
        "nodes": [
            {
                "id": n,
                **graph.nodes[n],
                "member_flops": [
                    graph.nodes[fold.nodes[i + k]]["flops"]
                    for k in range(0, len(fold.nodes), fold.period)
                ],
            }
            for i, n in enumerate(nodes)
        ],
        "edges": [
            {"source": u, "target": v, **a}
            for u in nodes
            for v, a in graph.succ[u].items()
            if v in inside
        ],
        "links": links,
    }


def _fold_entry(attrs: dict[str, Any]) -> dict[str, Any]:
    """What ``info.folds`` keeps of an opened fold node."""
    return {
        "name": attrs["name"],
        "type": attrs["type"],
        "key": attrs["members"][0],
        "repeat": attrs["repeat"],
        "members": list(attrs["members"]),
        "context": len(attrs["scope"]),
        "gap": bool(attrs["interior"]["gap"]),
        "params": attrs["params"],
        "flops": attrs["flops"],
        "member_facts": attrs.get("member_facts", []),
    }


def _link_interiors(graph: nx.DiGraph, links: list[list[dict[str, Any]]]) -> None:
    """Add each fold's links to ``graph``: an order belongs to the node whose stretch of
    execution holds it, the one with the latest ``order`` not after it."""
    starts = sorted((a["order"], n) for n, a in graph.nodes(data=True))
    orders = [o for o, _ in starts]

    def owner(order: int) -> str:
        return starts[max(bisect.bisect_right(orders, order) - 1, 0)][1]

    done: set[tuple[int, int]] = set()
    for link in itertools.chain.from_iterable(links):
        pair = (link["source_order"], link["target_order"])
        if pair in done:  # a link between two folds is in both
            continue
        done.add(pair)
        a, b = owner(pair[0]), owner(pair[1])
        if a == b:
            continue
        attrs = {k: v for k, v in link.items() if k not in ("source_order", "target_order")}
        if graph.has_edge(a, b):
            graph.edges[a, b]["count"] += attrs.get("count", 1)
        else:
            graph.add_edge(a, b, **attrs)


def _with_member_facts(attrs: dict[str, Any], members: list[str], info: GraphInfo) -> dict:
    """A node drawn for member 0 of a fold, with its counterpart's name, parameters and FLOPs
    in each member as ``member_facts``."""
    attrs = dict(attrs)
    flops = attrs.pop("member_flops", None)
    if flops is None:
        return attrs
    names = [_renamed(attrs["name"], members[0], m) for m in members]
    attrs["member_facts"] = [
        {
            "name": name,
            "params": info.modules.get(name, {}).get("params", 0)
            if attrs["kind"] == "module"
            else 0,
            "flops": f,
        }
        for name, f in zip(names, flops)
    ]
    return attrs


def _renamed(name: str, old: str, new: str) -> str:
    """``name`` with the module path ``old`` at its start replaced by ``new``."""
    if name == old or name.startswith(old + "."):
        return new + name[len(old) :]
    return name


def _inside(name: str, module: str) -> bool:
    base = name[:-2] if name.endswith(".*") else name
    return base == module or base.startswith(module + ".")


def _as_member(name: str, prefixes: list[str], first: str) -> str:
    """A module name in member k of a fold, written for member 0 (which is the one drawn)."""
    for prefix in prefixes:
        if _renamed(name, prefix, first) != name:
            return _renamed(name, prefix, first)
    return name


class _Order:
    """A graph's nodes in execution order with their call chains, for finding segments."""

    def __init__(self, graph: nx.DiGraph, info: GraphInfo) -> None:
        self.graph, self.info = graph, info
        self.nodes = sorted(graph.nodes, key=lambda n: graph.nodes[n]["order"])
        self.position = {n: i for i, n in enumerate(self.nodes)}
        self.chains = [_chain(graph.nodes[n]) for n in self.nodes]
        # call key -> [first position, last position, node count] of the nodes inside it
        self.spans: dict[str, list[int]] = {}
        for i, chain in enumerate(self.chains):
            for key in chain:
                span = self.spans.setdefault(key, [i, i, 0])
                span[1], span[2] = i, span[2] + 1

    def contiguous(self, key: str) -> bool:
        span = self.spans.get(key)
        return span is not None and span[1] - span[0] + 1 == span[2]

    def signature(self, start: int, stop: int, context: list[str]) -> tuple | None:
        """What a segment looks like, or ``None`` when it leaves the members' container."""
        if stop > len(self.nodes):
            return None
        depth = len(context)
        rows = []
        for i in range(start, stop):
            chain = self.chains[i]
            if chain[:depth] != context:
                return None
            attrs = self.graph.nodes[self.nodes[i]]
            inner = split_call_key(chain[depth])[0] if len(chain) > depth else None
            rows.append(
                (
                    attrs["kind"],
                    attrs["type"],
                    self.info.modules.get(inner, {}).get("signature") if inner else None,
                    len(chain) - depth,
                    tuple(tuple(s) for s in attrs["out_shapes"]),
                    tuple(
                        sorted(
                            self.position[v] - start
                            for v in self.graph.succ[self.nodes[i]]
                            if start <= self.position[v] < stop
                        )
                    ),
                )
            )
        return tuple(rows)

    def folds(self, run: list[str], min_repeat: int) -> list[_Fold]:
        """The stretches of ``run`` whose segments are alike, each as a :class:`_Fold`.

        A loop body may start before its member (``x = x + layer(norm(x))``): segments are
        tried shifted back by as many nodes as every gap allows, the longest shift whose
        segments are all alike first; else unshifted segments fold where they are alike.
        """
        starts = [self.spans[m][0] for m in run]
        chain = self.chains[starts[0]]
        context = chain[: chain.index(run[0])]
        gaps = [b - self.spans[m][1] - 1 for m, b in zip(run, starts[1:])]
        for shift in range(min(min(gaps), starts[0]), 0, -1):
            signatures = self._signatures(run, [s - shift for s in starts], context)
            if signatures[0] is not None and len(set(signatures)) == 1:
                period = starts[1] - starts[0]
                return [self._fold(run, starts[0] - shift, starts[-1] - shift + period, context)]
        bounds, signatures = self._bounds(starts), self._signatures(run, starts, context)
        found, first = [], 0
        for i in range(1, len(run) + 1):
            if i < len(run) and signatures[i] is not None and signatures[i] == signatures[first]:
                continue
            if signatures[first] is not None and i - first >= min_repeat:
                found.append(self._fold(run[first:i], bounds[first][0], bounds[i - 1][1], context))
            first = i
        return found

    @staticmethod
    def _bounds(starts: list[int]) -> list[tuple[int, int]]:
        """Each segment runs to the next one's start; the last is as long as the one before."""
        bounds = list(itertools.pairwise(starts))
        bounds.append((starts[-1], starts[-1] + bounds[-1][1] - bounds[-1][0]))
        return bounds

    def _signatures(self, run: list[str], starts: list[int], context: list[str]) -> list:
        return [
            self.signature(a, b, context) if self.spans[m][1] < b else None
            for m, (a, b) in zip(run, self._bounds(starts))
        ]

    def _fold(self, members: list[str], start: int, stop: int, context: list[str]) -> _Fold:
        depth = len(context)
        # a module called in every segment (a shared norm) holds its parameters once
        inner = {
            split_call_key(self.chains[i][depth])[0]
            for i in range(start, stop)
            if len(self.chains[i]) > depth
        }
        nodes = self.nodes[start:stop]
        leaving = [n for n in nodes if any(self.position[v] >= stop for v in self.graph.succ[n])]
        parts: list[str] = []
        for i in range(start, start + (stop - start) // len(members)):
            chain, attrs = self.chains[i], self.graph.nodes[self.nodes[i]]
            owner = split_call_key(chain[depth])[0] if len(chain) > depth else None
            part = self.info.modules.get(owner, {}).get("type", "") if owner else attrs["type"]
            if part not in parts:
                parts.append(part)
        return _Fold(
            members=members,
            nodes=nodes,
            context=depth,
            gap=stop - start > sum(self.spans[m][2] for m in members),
            params=sum(self.info.modules.get(q, {}).get("params", 0) for q in inner),
            exit=leaving[-1] if leaving else nodes[-1],
            parts=parts,
        )


def _fold_plan(graph: nx.DiGraph, info: GraphInfo, min_repeat: int) -> list[_Fold]:
    """Non-overlapping folds for ``fold_repeats``: the earliest and longest win."""
    min_repeat = max(min_repeat, 2)  # a "run" of one block is no fold
    runs = _repeat_runs(info, min_repeat)
    if not runs:
        return []
    order = _Order(graph, info)
    candidates = []
    for run in runs:
        # members absent from this graph (collapsed away) or interleaved split the run
        present: list[str] = []
        for member in [*run, None]:
            if member is not None and order.contiguous(member):
                present.append(member)
                continue
            if len(present) >= min_repeat:
                candidates.extend(order.folds(present, min_repeat))
            present = []
    chosen: list[_Fold] = []
    end = -1
    for fold in sorted(candidates, key=lambda f: (order.position[f.nodes[0]], -len(f.nodes))):
        if order.position[fold.nodes[0]] > end:
            chosen.append(fold)
            end = order.position[fold.nodes[-1]]
    return chosen


_INDEXED = re.compile(r"^(.*?)(\d+)$")


def _repeat_runs(info: GraphInfo, min_repeat: int) -> list[list[str]]:
    """Runs of consecutive, structurally identical sibling module calls (see ``fold_repeats``)."""
    by_container: dict[str, list[tuple[int, str]]] = {}
    for qualname, mod in info.modules.items():
        match = _INDEXED.match(qualname)
        if match and mod.get("calls") == 1 and (not match.group(1) or match.group(1).endswith(".")):
            by_container.setdefault(match.group(1), []).append((int(match.group(2)), qualname))
    runs: list[list[str]] = []
    for siblings in by_container.values():
        siblings.sort()
        run: list[str] = []
        for index, qualname in siblings:
            if run:
                prev = split_call_key(run[-1])[0]
                same = info.modules[prev]["signature"] == info.modules[qualname]["signature"]
                prev_index = int(_INDEXED.match(prev).group(2))
                prev_order = info.calls.get(call_key(prev, 0), {}).get("order", -1)
                this_order = info.calls.get(call_key(qualname, 0), {}).get("order", -1)
                if same and index == prev_index + 1 and this_order > prev_order:
                    run.append(call_key(qualname, 0))
                    continue
                if len(run) >= min_repeat:
                    runs.append(run)
            run = [call_key(qualname, 0)]
        if len(run) >= min_repeat:
            runs.append(run)
    return runs


def shape_text(shapes: Iterable[list[int]]) -> str:
    """The first two shapes as ``[1, 3], [1, 4] +2``; ``-`` for none.

    Examples
    --------
    >>> shape_text([[1, 3], [2], [4], [5]])
    '[1, 3], [2] +2'
    """
    shapes = list(shapes)
    if not shapes:
        return "-"
    text = ", ".join("[" + ", ".join(str(d) for d in s) + "]" for s in shapes[:2])
    return text + (f" +{len(shapes) - 2}" if len(shapes) > 2 else "")


def human(value: float) -> str:
    """Format a count compactly: 12, 3.4K, 1.2M, 7.0G, 1.3T.

    Examples
    --------
    >>> human(1234567), human(12)
    ('1.2M', '12')
    """
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.1f}{unit}"
    return str(int(value))
