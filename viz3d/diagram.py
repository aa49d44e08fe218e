"""Flat diagrams of a :class:`~viz3d.graph.LayerGraph`: Graphviz DOT text, and SVG/PDF/PNG files
drawn from it by Graphviz's ``dot`` program (for papers, slides and README files).

* Modules are clusters nested as in the model; nodes show name, class, output shape and, where
  non-zero, parameters and FLOPs; hovering a node in the SVG shows all its facts.
* Skip connections (edges that jump over at least one layer, as in the 3D scene) are dashed
  orange arcs that do not pull the layout (``constraint=false``), so the main path stays straight.
* Nodes are coloured with the 3D scene's colour modes and maps (``viridis`` for activations,
  ``plasma`` for log10 params/FLOPs, one Tableau colour per class); a legend says what they mean.
* Every string that comes from the model is escaped (entities in HTML-like labels; quotes,
  backslashes and ``&`` in quoted tooltips) and node/cluster ids are generated, so no module name
  can break the DOT or the SVG. The output is deterministic: the same graph gives the same text.

Above :data:`MAX_DIAGRAM_NODES` nodes the graph is collapsed to the deepest module depth that
fits, with a warning and a note in the diagram (pass ``depth=`` to choose).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import graphviz
from matplotlib import colormaps
from matplotlib.colors import to_hex

from viz3d.errors import GraphError, RenderError
from viz3d.files import atomic_write
from viz3d.graph import LayerGraph, human, module_depth, shape_text, split_call_key
from viz3d.layout.layering import longest_path_layers, skip_edges

log = logging.getLogger(__name__)

#: Above this many nodes a diagram is collapsed to the deepest module depth that fits.
MAX_DIAGRAM_NODES = 2000
#: File formats :func:`write_diagram` writes, by file suffix.
FORMATS = {".svg": "svg", ".pdf": "pdf", ".png": "png", ".dot": "dot", ".gv": "dot"}
COLOR_MODES = ("activation", "params", "flops", "type")
RANKDIRS = ("LR", "TB", "RL", "BT")

# The 3D scene's maps (viz3d.render.colors, not imported: that package loads PyVista). Types use
# its hash into Tableau 10, in matplotlib's original tones, which suit a white page.
_SCALAR_CMAPS = {"activation": "viridis", "params": "plasma", "flops": "plasma"}
_TYPE_CMAP = "tab10"
_NAN_COLOR = "#8a8f98"
_IO_COLOR = "#ffffff"
_SKIP_COLOR = "#e8710a"
_EDGE_COLOR = "#4a5568"
_CLUSTER_FILLS = ("#f3f6fa", "#e7edf5", "#dbe4ef", "#cfdbe9")
_LEGEND_STEPS = 7
_NO_DOT = (
    "Graphviz's 'dot' program was not found, and it draws SVG/PDF diagrams: install it "
    "(Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; conda: conda "
    "install graphviz), or write the .dot text with graph.to_dot() and render it elsewhere"
)


def diagram_view(
    graph: LayerGraph, depth: int | None = None, fold: bool = True
) -> tuple[LayerGraph, str]:
    """The graph a diagram draws, and a note when it was collapsed to stay readable.

    Folded first (``fold``), then collapsed to ``depth``; with ``depth=None`` a graph above
    :data:`MAX_DIAGRAM_NODES` nodes is collapsed to the deepest depth that fits (depth 1 at
    worst) and the note says so.

    Examples
    --------
    >>> import torch, viz3d
    >>> g = viz3d.trace(torch.nn.Sequential(torch.nn.Linear(2, 2)), torch.randn(1, 2))
    >>> view, note = diagram_view(g)
    >>> len(view) == len(g), note
    (True, '')
    """
    base = graph.fold_repeats() if fold else graph
    if depth is not None:
        return base.collapse(depth), ""
    if len(base) <= MAX_DIAGRAM_NODES:
        return base, ""
    deepest = max((module_depth(q) for q in graph.modules), default=1)
    view, chosen = base.collapse(1), 1
    for d in range(deepest, 1, -1):
        candidate = base.collapse(d)
        if len(candidate) <= MAX_DIAGRAM_NODES:
            view, chosen = candidate, d
            break
    note = (
        f"collapsed to module depth {chosen} to stay readable: {len(view):,} nodes instead of "
        f"{len(base):,} (choose another with depth= or --depth)"
    )
    log.warning("diagram of %s %s", graph.info.model_name or "the model", note)
    return view, note


def to_dot(
    graph: LayerGraph,
    depth: int | None = None,
    fold: bool = True,
    rankdir: str = "LR",
    color_by: str = "activation",
) -> str:
    """Graphviz DOT text of ``graph``: modules as nested clusters, skips as dashed arcs.

    Parameters
    ----------
    graph : LayerGraph
        A traced graph (collapsed or folded or not).
    depth : int, optional
        Collapse modules deeper than this (``graph.collapse(depth)``). By default every node
        is drawn, unless there are more than :data:`MAX_DIAGRAM_NODES` (see
        :func:`diagram_view`).
    fold : bool, default: True
        Fold runs of identical blocks into one ``xN`` node first (``graph.fold_repeats()``).
    rankdir : {"LR", "TB", "RL", "BT"}, default: "LR"
        Direction of the data flow.
    color_by : {"activation", "params", "flops", "type"}, default: "activation"
        What node colours show, as in the 3D scene; without traced activations (``meta``),
        ``"activation"`` falls back to ``"params"``.

    Returns
    -------
    str
        DOT text; the same graph always gives the same text.

    Examples
    --------
    >>> import torch, viz3d
    >>> g = viz3d.trace(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.randn(1, 3))
    >>> text = to_dot(g)
    >>> text.splitlines()[0], text.count("->")
    ('digraph "viz3d" {', 2)
    """
    if rankdir not in RANKDIRS:
        raise GraphError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if color_by not in COLOR_MODES:
        raise GraphError(f"color_by must be one of {', '.join(COLOR_MODES)}, got {color_by!r}")
    view, note = diagram_view(graph, depth=depth, fold=fold)
    g = view.to_networkx()
    ids = {node: f"n{i}" for i, node in enumerate(g.nodes)}
    fills, legend = _node_fills(g, color_by)
    tree = _cluster_tree(g)

    lines = [
        'digraph "viz3d" {',
        f'  graph [rankdir={rankdir}, newrank=true, fontname="Helvetica", fontsize=11, '
        f"nodesep=0.18, ranksep=0.3, labelloc=b, labeljust=l, "
        f"label=<{_caption(view, legend, note)}>];",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, '
        'margin="0.08,0.03", penwidth=0.8, color="#2d3748"];',
        f'  edge [color="{_EDGE_COLOR}", arrowsize=0.6, penwidth=0.9];',
    ]
    lines += _emit_cluster(tree, g, ids, fills, view.modules, indent=1, counter=itertools.count())
    layers = longest_path_layers(g, is_anchor=lambda n: g.nodes[n]["kind"] == "input")
    skips = skip_edges(g, layers)
    for u, v, attrs in g.edges(data=True):
        style = [f"tooltip={_quote(shape_text([attrs['shape']]))}"] if attrs.get("shape") else []
        if attrs.get("inferred"):  # registration order of a model whose forward never ran
            style.append("style=dotted")
        elif (u, v) in skips:
            style.append(f'class="skip", style=dashed, color="{_SKIP_COLOR}", constraint=false')
        lines.append(f'  "{ids[u]}" -> "{ids[v]}"' + (f" [{', '.join(style)}];" if style else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_dot(dot: str, fmt: str) -> bytes:
    """Run Graphviz's ``dot`` on DOT text and return the ``fmt`` (``"svg"``, ``"pdf"``...) bytes.

    Raises :class:`~viz3d.errors.RenderError` saying how to install Graphviz when ``dot`` is
    missing, and with ``dot``'s message when it fails.

    Examples
    --------
    >>> render_dot('digraph { a -> b }', "svg")[:5]
    b'<?xml'
    """
    try:
        return graphviz.pipe("dot", fmt, dot.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound as exc:
        raise RenderError(_NO_DOT) from exc
    except graphviz.CalledProcessError as exc:
        reason = (exc.stderr or b"").decode("utf-8", "replace").strip() or f"exit {exc.returncode}"
        raise RenderError(f"Graphviz's dot could not draw the diagram ({fmt}): {reason}") from exc


def write_diagram(
    graph: LayerGraph, path: str | os.PathLike, *, format: str | None = None, **options: Any
) -> Path:
    """Write a flat diagram of ``graph``: ``.svg``, ``.pdf``, ``.png`` or ``.dot``/``.gv``.

    The file is written atomically: a failure leaves no file, or the old one, behind.

    Parameters
    ----------
    graph : LayerGraph
        The traced graph.
    path : str or os.PathLike
        The file to write; its suffix picks the format unless ``format`` is given.
    format : {"svg", "pdf", "png", "dot"}, optional
        Overrides the suffix.
    **options
        ``depth``, ``fold``, ``rankdir`` and ``color_by`` of :func:`to_dot`.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import os, tempfile, torch, viz3d
    >>> g = viz3d.trace(torch.nn.Linear(3, 2), torch.randn(1, 3))
    >>> path = write_diagram(g, os.path.join(tempfile.mkdtemp(), "linear.svg"))
    >>> b"<svg" in path.read_bytes()
    True
    """
    path = Path(path)
    fmt = format or FORMATS.get(path.suffix.lower())
    if fmt not in FORMATS.values():
        raise RenderError(
            f"cannot write a diagram to {path}: use a .svg, .pdf, .png or .dot file (or format=)"
        )
    dot = to_dot(graph, **options)
    data = dot.encode("utf-8") if fmt == "dot" else render_dot(dot, fmt)
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


# ---------------------------------------------------------------------- escaping
# Graphviz 2.43 measured: in HTML-like labels "\\" is one backslash; in quoted strings (our
# tooltips) one backslash takes four (the lexer and the \N/\G expansion each halve them), and
# "&" starts an entity that the SVG keeps. Without this a name with "\N" shows the node's id.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HTML_ESCAPES = (
    ("\\", "\\\\"),
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ('"', "&quot;"),
    ("'", "&#39;"),
)
_TOOLTIP_ESCAPES = (("\\", "\\\\\\\\"), ("&", "&amp;"), ('"', '\\"'))


def _escape(text: Any, escapes: tuple[tuple[str, str], ...]) -> str:
    text = _CONTROL.sub(" ", str(text))
    for char, escaped in escapes:
        text = text.replace(char, escaped)
    return text


def _html(text: Any) -> str:
    """Text for a DOT HTML-like label, drawn literally in the SVG/PDF."""
    return _escape(text, _HTML_ESCAPES)


def _quote(*lines: Any) -> str:
    """A DOT quoted string (a tooltip) showing ``lines`` literally, one per line."""
    return '"' + "\\n".join(_escape(line, _TOOLTIP_ESCAPES) for line in lines) + '"'


# ---------------------------------------------------------------------- colours
def _node_fills(g, color_by: str) -> tuple[dict[Any, str], str]:
    """Fill colour per drawn node and the legend (HTML table cells) for ``color_by``."""
    drawn = [n for n, a in g.nodes(data=True) if a["kind"] in ("module", "op")]
    if color_by == "type":
        types = {n: str(g.nodes[n]["type"]) for n in drawn}
        legend = {t: _type_color(t) for t in sorted(set(types.values()))}
        cells = "".join(
            f'<TD BGCOLOR="{c}" WIDTH="10"> </TD><TD ALIGN="LEFT">{_html(t)}</TD>'
            for t, c in legend.items()
        )
        return {n: legend[types[n]] for n in drawn}, cells
    values = {n: _value(g.nodes[n], color_by) for n in drawn}
    finite = [v for v in values.values() if math.isfinite(v)]
    if color_by == "activation" and not finite:
        log.info("no traced activations (meta device?): colouring the diagram by params instead")
        return _node_fills(g, "params")
    cmap = colormaps[_SCALAR_CMAPS[color_by]]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    lo, hi = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)

    def color(value: float) -> str:
        return to_hex(cmap((value - lo) / (hi - lo))) if math.isfinite(value) else _NAN_COLOR

    steps = [lo + (hi - lo) * i / (_LEGEND_STEPS - 1) for i in range(_LEGEND_STEPS)]
    title = "activation RMS" if color_by == "activation" else f"log10 {color_by}"
    cells = (
        f"<TD>{title}</TD><TD>{lo:.3g}</TD>"
        + "".join(f'<TD BGCOLOR="{color(s)}" WIDTH="14"> </TD>' for s in steps)
        + f'<TD>{hi:.3g}</TD><TD BGCOLOR="{_NAN_COLOR}" WIDTH="10"> </TD><TD>none</TD>'
    )
    return {n: color(v) for n, v in values.items()}, cells


def _value(attrs: dict[str, Any], color_by: str) -> float:
    if color_by == "activation":
        stats = attrs.get("stats") or {}
        mean, std = stats.get("mean"), stats.get("std")
        return math.hypot(mean, std) if mean is not None and std is not None else math.nan
    count = float(attrs.get(color_by) or 0)
    return math.log10(count) if count > 0 else math.nan


def _type_color(type_name: str) -> str:
    """The 3D scene's class colour (same hash, same Tableau 10 slot)."""
    digest = int(hashlib.sha1(type_name.encode()).hexdigest()[:8], 16)
    return to_hex(colormaps[_TYPE_CMAP](digest % 10))


def _text_color(fill: str) -> str:
    red, green, blue = (int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return "#ffffff" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "#1a202c"


# ---------------------------------------------------------------------- clusters
def _cluster_tree(g) -> dict[str, Any]:
    """Module calls as a tree: ``{"key", "items"}``, items being node ids or child trees, in the
    order they first ran. The root model is the diagram itself, not a cluster."""
    root: dict[str, Any] = {"key": "", "items": []}
    index: dict[tuple[str, ...], dict[str, Any]] = {(): root}
    for node, attrs in g.nodes(data=True):
        path = tuple(k for k in attrs["scope"] if split_call_key(k)[0])
        for i in range(1, len(path) + 1):
            if path[:i] not in index:
                child = {"key": path[i - 1], "items": []}
                index[path[: i - 1]]["items"].append(child)
                index[path[:i]] = child
        index[path]["items"].append(node)
    return root


def _emit_cluster(tree, g, ids, fills, modules, *, indent: int, counter: Iterator[int]):
    pad = "  " * indent
    qualname = split_call_key(tree["key"])[0] if tree["key"] else ""
    lines = []
    for item in tree["items"]:
        if isinstance(item, dict):
            lines.append(f'{pad}subgraph "cluster_{next(counter)}" {{')
            lines.append(
                f"{pad}  graph [{_cluster_attrs(item['key'], qualname, modules, indent)}];"
            )
            lines += _emit_cluster(item, g, ids, fills, modules, indent=indent + 1, counter=counter)
            lines.append(f"{pad}}}")
        else:
            attrs = _node_attrs(g.nodes[item], fills.get(item), qualname, modules)
            lines.append(f'{pad}"{ids[item]}" [{attrs}];')
    return lines


def _cluster_attrs(key: str, container: str, modules: dict[str, Any], depth: int) -> str:
    qualname, call = split_call_key(key)
    module = modules.get(qualname, {})
    params = f" · {human(module['params'])} params" if module.get("params") else ""
    label = (
        f"<B>{_html(_relative(qualname, container))}</B> {_html(module.get('type', ''))}"
        f"{_call_text(module, call)}{params}"
    )
    fill = _CLUSTER_FILLS[min(depth - 1, len(_CLUSTER_FILLS) - 1)]
    return (
        f"label=<{label}>, tooltip={_quote(qualname)}, labeljust=l, labelloc=t, "
        f'style="rounded,filled", fillcolor="{fill}", color="#a0aec0", fontsize=10'
    )


def _call_text(module: dict[str, Any], call: int) -> str:
    """Which call of a module called several times (a ReLU reused in a block, say)."""
    return f" (call {call + 1})" if module.get("calls", 1) > 1 else ""


def _relative(name: str, container: str) -> str:
    return name[len(container) + 1 :] if container and name.startswith(container + ".") else name


# ---------------------------------------------------------------------- nodes and caption
def _node_attrs(
    a: dict[str, Any], fill: str | None, container: str, modules: dict[str, Any]
) -> str:
    title = _relative(str(a["name"]), container)
    repeat = f" ×{a['repeat']}" if a["repeat"] > 1 else ""
    call = _call_text(modules.get(a["module"], {}), a["call"]) if a["kind"] == "module" else ""
    rows = [f"<B>{_html(title)}</B>{repeat}{call}"]
    if a["type"] and a["type"] != a["name"] and a["kind"] in ("module", "op"):
        rows.append(_html(a["type"]))
    rows.append(_html(shape_text(a["out_shapes"])))
    facts = [f"{human(a[k])} {k if k == 'params' else 'FLOPs'}" for k in ("params", "flops")]
    facts = [f for f, k in zip(facts, ("params", "flops")) if a[k] and a["kind"] == "module"]
    if facts:
        rows.append(f'<FONT POINT-SIZE="8">{" · ".join(facts)}</FONT>')
    tooltip = _quote(
        f"{a['name']} ({a['type']})",
        f"in {shape_text(a['in_shapes'])}",
        f"out {shape_text(a['out_shapes'])}",
        f"params {a['params']:,}  FLOPs {a['flops']:,}",
    )
    fill = fill or _IO_COLOR
    attrs = [
        f"label=<{'<BR/>'.join(rows)}>",
        f"tooltip={tooltip}",
        f'fillcolor="{fill}"',
        f'fontcolor="{_text_color(fill)}"',
    ]
    if a["kind"] in ("input", "output"):
        attrs.append("shape=box, style=filled")
    elif a["kind"] == "op":
        attrs.append('shape=box, style="rounded,filled,dashed"')
    if a["repeat"] > 1:
        attrs.append("peripheries=2")
    if a["failed"]:
        attrs.append('color="#e53e3e", penwidth=2.5')
    return ", ".join(attrs)


def _caption(view: LayerGraph, legend: str, note: str) -> str:
    """The graph label: model, totals, colour legend, and any collapse/partial note."""
    head = (
        f"<B>{_html(view.info.model_name or 'model')}</B> · {view.total_params:,} params · "
        f"{human(view.total_flops)} FLOPs · {len(view)} nodes"
    )
    rows = [head, f'<TABLE BORDER="0" CELLSPACING="1" CELLPADDING="2"><TR>{legend}</TR></TABLE>']
    rows += [_html(note)] if note else []
    rows += [f"partial graph: {_html(view.error)}"] if view.partial else []
    body = "".join(f"<TR><TD>{r}</TD></TR>" for r in rows)
    return f'<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">{body}</TABLE>'
