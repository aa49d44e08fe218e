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
                non-float outputs): ``mean``, ``std``, ``absmax``, ``neuron_dim`` (the axis
                treated as neurons/channels), ``neuron_count`` and ``neurons`` - the mean
                activation of up to 256 evenly spaced neurons, for colouring
``repeat``      how many identical consecutive blocks this node stands for (``fold_repeats``)
``members``     the module calls merged into this node by ``collapse``/``fold_repeats``
``failed``      ``True`` on the module or op whose forward raised (partial graphs)
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

import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from viz3d.errors import GraphError

FORMAT = "viz3d.LayerGraph"
FORMAT_VERSION = 1

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
    def collapse(self, depth: int) -> LayerGraph:
        """Merge everything that ran inside modules deeper than ``depth`` into one node each.

        Each node is replaced by the call of its shallowest enclosing module whose depth is at
        least ``depth`` (``depth=0`` keeps only the root model between inputs and outputs);
        edges between merged nodes are kept, edges inside a merged node disappear.

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

        def key_of(attrs: dict[str, Any]) -> str | None:
            chain = list(attrs["scope"])
            if attrs["kind"] == "module":
                chain.append(call_key(attrs["module"], attrs["call"]))
            for key in chain:
                if module_depth(split_call_key(key)[0]) >= depth:
                    return key
            return None

        return self._merge(key_of, level=f"depth {depth}")

    def fold_repeats(self, min_repeat: int = 2) -> LayerGraph:
        """Fold runs of identical consecutive blocks (e.g. 24 transformer blocks) into one node.

        A run is ``min_repeat`` or more sibling modules of one container (``h.0``, ``h.1`` ...)
        with the same class and the same structure (class names and parameter shapes of the
        whole subtree), each called once, one after the other. The folded node has ``repeat``
        set to the run length, ``members`` listing the calls, and the summed params and FLOPs.

        Examples
        --------
        >>> import torch, viz3d
        >>> layers = [torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()) for _ in range(6)]
        >>> g = viz3d.trace(torch.nn.Sequential(*layers), torch.randn(1, 4)).fold_repeats()
        >>> [(g.nodes[n]["name"], g.nodes[n]["repeat"]) for n in g.node_ids("module")]
        [('0..5', 6)]
        """
        runs = _repeat_runs(self.info, min_repeat)
        if not runs:
            return self
        member_to_run = {m: run for run in runs for m in run}

        def key_of(attrs: dict[str, Any]) -> str | None:
            chain = list(attrs["scope"])
            if attrs["kind"] == "module":
                chain.append(call_key(attrs["module"], attrs["call"]))
            for key in chain:
                if key in member_to_run:
                    return member_to_run[key][0]
            return None

        run_of_first = {run[0]: run for run in runs}
        return self._merge(key_of, level=self.info.level, runs=run_of_first)

    def _merge(self, key_of, *, level: str, runs: dict[str, list[str]] | None = None) -> LayerGraph:
        runs = runs or {}
        groups: dict[str, list[str]] = {}
        for node, attrs in self._g.nodes(data=True):
            key = key_of(attrs)
            if key is not None:
                groups.setdefault(key, []).append(node)

        new_id: dict[str, str] = {}
        merged = nx.DiGraph()
        emitted: set[str] = set()
        for node, attrs in self._g.nodes(data=True):
            key = key_of(attrs)
            if key is None:
                new_id[node] = node
                merged.add_node(node, **attrs)
                continue
            members = groups[key]
            only_itself = (
                len(members) == 1
                and key not in runs
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
                merged.add_node(group_id, **self._group_attrs(key, members, runs.get(key)))
        for u, v, attrs in self._g.edges(data=True):
            a, b = new_id[u], new_id[v]
            if a == b:
                continue
            if merged.has_edge(a, b):
                merged.edges[a, b]["count"] += attrs.get("count", 1)
            else:
                merged.add_edge(a, b, **attrs)
        info = GraphInfo(**{**self.info.__dict__, "level": level})
        return LayerGraph(merged, info)

    def _group_attrs(self, key: str, members: list[str], run: list[str] | None) -> dict[str, Any]:
        calls = run or [key]
        qualname, call = split_call_key(calls[0])
        first, last = self.info.calls.get(calls[0], {}), self.info.calls.get(calls[-1], {})
        module = self.info.modules.get(qualname, {})
        member_attrs = [self._g.nodes[m] for m in members]
        if run:
            last_name = split_call_key(calls[-1])[0].rsplit(".", 1)[-1]
            name = f"{qualname}..{last_name}"
            params = sum(
                self.info.modules.get(split_call_key(c)[0], {}).get("params", 0) for c in run
            )
        else:
            name, params = qualname, module.get("params", 0)
        return {
            "kind": "module",
            "name": name or self.info.model_name or "model",
            "type": module.get("type", ""),
            "module": qualname,
            "call": call,
            "scope": list(member_attrs[0]["scope"][: _scope_len(member_attrs[0], calls[0])]),
            "order": min(a["order"] for a in member_attrs),
            "category": "",
            "in_shapes": first.get("in_shapes", []),
            "out_shapes": last.get("out_shapes", []),
            "out_dtypes": last.get("out_dtypes", []),
            "params": params,
            "flops": sum(a["flops"] for a in member_attrs),
            "stats": last.get("stats"),
            "repeat": len(run) if run else 1,
            "members": calls,
            "failed": any(a["failed"] for a in member_attrs),
        }

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
        """Rebuild a graph written by :meth:`to_dict`."""
        if data.get("format") != FORMAT:
            raise GraphError(f"not a viz3d LayerGraph (format={data.get('format')!r})")
        if data.get("version", 0) > FORMAT_VERSION:
            raise GraphError(
                f"LayerGraph file version {data['version']} is newer than this viz3d "
                f"({FORMAT_VERSION}); upgrade viz3d to read it"
            )
        graph = nx.DiGraph()
        for node in data["nodes"]:
            attrs = dict(node)
            graph.add_node(attrs.pop("id"), **attrs)
        for edge in data["edges"]:
            attrs = dict(edge)
            graph.add_edge(attrs.pop("source"), attrs.pop("target"), **attrs)
        return cls(graph, GraphInfo(**data["info"]))

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the graph as JSON (atomically: a failed write leaves no half file).

        Examples
        --------
        >>> import torch, viz3d, tempfile, os
        >>> g = viz3d.trace(torch.nn.Linear(3, 2), torch.randn(1, 3))
        >>> path = g.to_json(os.path.join(tempfile.mkdtemp(), "g.json"))
        >>> viz3d.LayerGraph.from_json(path).total_params
        8
        """
        path = Path(path)
        text = json.dumps(self.to_dict(), allow_nan=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; a saved graph is shareable
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return path

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> LayerGraph:
        """Read a graph written by :meth:`to_json`; the model is not needed."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise GraphError(f"cannot read LayerGraph from {path}: {exc}") from exc
        return cls.from_dict(data)


def _scope_len(attrs: dict[str, Any], key: str) -> int:
    """Length of the part of a member's scope that lies above the merged call ``key``."""
    scope = attrs["scope"]
    return scope.index(key) if key in scope else len(scope)


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
