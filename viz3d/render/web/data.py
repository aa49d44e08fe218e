"""The scene data the web viewer draws: a :class:`~viz3d.render.Scene`'s layout as JSON.

Everything the page needs is computed here, in Python, so the viewer matches the PNG: the node
colours of every overlay come from :mod:`viz3d.render.colors` (same maps, same robust ranges,
same "no data" colour), sampled into RGB bytes. Numeric arrays travel as base64 little-endian
typed arrays (``{"dtype": "f4", "b64": ...}``), compact and quick to parse; facts and names
travel as strict JSON (non-finite numbers become ``null``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from viz3d.layout import Layout
from viz3d.layout.layout import LAYER_GAP
from viz3d.layout.neurons import SLICE_FILL, SLICES
from viz3d.render import colors as colormod
from viz3d.render import labels as labelmod
from viz3d.render.web.encode import (
    colormap,
    f4,
    i4,
    map_colors,
    q2,
    rgb_hex,
    to_rgb255,
    u1,
)
from viz3d.render.web.meshes import mesh_actors, mesh_legend, point_labels

#: Built-in overlays, in switcher order (those without data are left out).
BUILTIN_OVERLAYS = ("activation", "params", "flops", "type")
#: Colour stops sent for each colour bar (the page draws a CSS gradient through them).
BAR_STOPS = 11
#: Glyph kinds, in the order of the ``glyph`` codes sent to the page.
GLYPHS = ("box", "slab-stack", "sphere", "disc")
#: Colour of neurons when no activation was traced (as on screen).
UNTRACED_NEURON = "#c9d1e0"
#: Activation statistics a fold member's hover shows (its neuron samples stay behind).
HOVER_STATS = ("mean", "std", "absmax", "n_nan", "n_inf")
#: The PNG's container meshes: the page draws containers itself (they open and close).
BOX_ACTORS = frozenset({"containers", "container-ghosts", "container-edges", "container-tabs"})
#: Neuron, edge and skip-arc colours shared with the PyVista scene.
EDGE_COLOR, SKIP_COLOR = "#7d8595", "#ffb347"


def scene_data(scene: Any) -> dict[str, Any]:
    """Everything the viewer page needs to draw ``scene`` (JSON-ready, finite numbers only).

    Parameters
    ----------
    scene : Scene
        Any scene. A layer scene (from :func:`viz3d.render.build_scene`, which keeps its
        ``layout``) is drawn from its layout, with hover facts, tree, overlays and folds; its
        other meshes, and every mesh of other scenes (landscapes), travel as geometry.

    Returns
    -------
    dict

    Examples
    --------
    >>> import torch, viz3d
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
    >>> scene = viz3d.enhanced_3d_visualization(model, input_shape=(1, 4), show=False)
    >>> data = scene_data(scene)
    >>> [n["name"] for n in data["nodes"]][:2], data["overlay"], data["meshes"]
    (['input', '0'], 'activation', [])
    """
    has_layout = isinstance(getattr(scene, "layout", None), Layout)
    layout = scene.layout if has_layout else Layout.empty()
    overlays = _overlays(layout, getattr(scene, "overlays", {})) if has_layout else []
    default = str(scene.metadata.get("overlay") or scene.metadata.get("color_by", "activation"))
    names = [o["name"] for o in overlays]
    if default not in names:
        default = names[0] if names else ""
    notes = {i: facts["notes"] for i, facts in scene.node_info.items() if facts.get("notes")}
    nodes = [
        _compact(
            {**node, "id": layout.node_ids[i], "members": _member_names(node), "member_facts": None}
            | ({"notes": [str(n) for n in notes[i]]} if i in notes else {})
        )
        for i, node in enumerate(layout.nodes)
    ]
    return {
        "title": scene.title,
        "background": _hex(scene.background, "#12151c"),
        "info": {k: v for k, v in layout.info.items() if k != "scale"},
        "nodes": nodes,
        "positions": f4(layout.positions),
        "sizes": f4(layout.sizes),
        "glyphs": u1([GLYPHS.index(g) if g in GLYPHS else 0 for g in layout.glyphs]),
        "slices": {"count": SLICES, "fill": SLICE_FILL},
        "layer_gap": LAYER_GAP,
        "labels": _labels(layout),
        "label_rank": i4(_label_rank(layout)),
        "layers": i4(layout.layers),
        "edges": _edges(layout),
        "neurons": _neurons(layout),
        "badges": [
            {"node": int(b["node"]), "text": str(b["text"]), "position": list(b["position"])}
            for b in layout.badges
        ],
        "folds": _folds(layout),
        "containers": _containers(layout),
        "overlays": overlays,
        "overlay": default,
        "camera": _camera(scene),
        "colors": {
            "nan": colormod.NAN_COLOR,
            "edge": EDGE_COLOR,
            "skip": SKIP_COLOR,
            "containers": list(colormod.CONTAINER_COLORS),
        },
        "meshes": [m for m in mesh_actors(scene, has_layout) if m["name"] not in BOX_ACTORS],
        "point_labels": point_labels(scene, has_layout),
        "mesh_legend": None if has_layout else mesh_legend(scene),
        # the title has its own place in the page: the other texts (subtitles, notes) go below
        "texts": [] if has_layout else [t.text for t in scene.texts if t.text != scene.title],
        "kind": "layers" if has_layout else str(scene.metadata.get("kind", "scene")),
    }


# ----------------------------------------------------------------- overlays
def _overlays(layout: Layout, extra: Mapping[str, colormod.ValueColoring]) -> list[dict]:
    out = []
    for mode in BUILTIN_OVERLAYS:
        if mode == "activation" and not np.isfinite(layout.values).any():
            continue  # node_colors would fall back to params: no second params overlay
        if mode in ("params", "flops") and not any(n.get(mode) for n in layout.nodes):
            continue
        out.append(_overlay(mode, colormod.node_colors(layout, mode)))
    if extra:
        # inputs and outputs are data, not layers: without a module, ValueColoring would give
        # them the root-sum-square of every value, which then stretches the colour range
        layers_only = replace(
            layout,
            nodes=[
                {**n, "module": "\0data"} if n.get("kind") in ("input", "output") else n
                for n in layout.nodes
            ],
        )
        out += [_overlay(name, colormod.node_colors(layers_only, c)) for name, c in extra.items()]
    return out


def _overlay(name: str, coloring: colormod.NodeColors) -> dict[str, Any]:
    if coloring.rgb is not None:
        legend = coloring.legend or {}
        return {
            "name": name,
            "title": coloring.title,
            "kind": "categorical",
            "rgb": u1(np.round(coloring.rgb * 255)),
            "legend": [[label, rgb_hex(c)] for label, c in legend.items()],
        }
    values = np.asarray(coloring.values, dtype=float)
    lo, hi = coloring.clim
    return {
        "name": name,
        "title": coloring.title,
        "kind": "scalar",
        "rgb": u1(map_colors(values, coloring.cmap, (lo, hi), to_rgb255(colormod.NAN_COLOR))),
        "values": [_round(v) if np.isfinite(v) else None for v in values],
        "clim": [float(lo), float(hi)],
        "stops": [rgb_hex(c) for c in colormap(coloring.cmap)(np.linspace(0, 1, BAR_STOPS))],
    }


# ----------------------------------------------------------------- geometry
def _edges(layout: Layout) -> dict[str, Any]:
    """Every edge polyline: its points, concatenated, and where each edge's points start; with
    containers, also each edge's two nodes (an edge inside a collapsed container is hidden)."""
    lengths = [len(p) for p in layout.edge_points]
    points = np.concatenate(layout.edge_points) if lengths else np.empty((0, 3))
    ends = np.asarray(layout.edge_index, dtype=int).reshape(-1, 2)
    return {
        "points": f4(points),
        "offsets": i4(np.cumsum([0, *lengths])),
        "skip": u1(layout.edge_skip),
        "index": i4(ends) if getattr(layout, "containers", None) else None,
    }


def _neurons(layout: Layout) -> dict[str, Any]:
    values = np.asarray(layout.neuron_values, dtype=float)
    if np.isfinite(values).any():
        clim = colormod.neuron_clim(values)
        rgb = map_colors(values, colormod.NEURON_CMAP, clim, to_rgb255(colormod.NAN_COLOR))
    else:
        clim = None
        rgb = np.tile(to_rgb255(UNTRACED_NEURON), (len(values), 1))
    counts = np.bincount(layout.neuron_owner, minlength=len(layout))
    owners = np.flatnonzero(counts)
    # world-space point size: neighbouring neurons of a layer nearly touch (as on screen)
    spacing = (
        float(np.median(layout.sizes[owners, 1] * 0.82 / np.sqrt(counts[owners])))
        if len(owners)
        else 0.1
    )
    return {
        "points": q2(layout.neuron_points),
        "owner": i4(layout.neuron_owner),
        "size": 0.7 * spacing,
        "rgb": u1(rgb),
        "clim": list(clim) if clim else None,
    }


def _folds(layout: Layout) -> list[dict[str, Any]]:
    """Folded ``xN`` blocks and their members, for expanding them in the browser.

    A fold stands for ``repeat`` structurally identical member calls. Where the fold's facts
    carry ``member_facts`` (each member's own numbers, from the unfolded graph), the members
    show those; else each shows an equal share of the block's parameters and FLOPs, marked
    ``share`` (members of a fold are alike, so the share is exact for parameters).
    """
    out = []
    for i, node in enumerate(layout.nodes):
        repeat = int(node.get("repeat") or 1)
        calls = [str(m) for m in node.get("members") or []]
        if repeat < 2 or len(calls) != repeat:
            continue
        real = node.get("member_facts")
        real = real if isinstance(real, list) and len(real) == repeat else None
        members = [
            _compact(
                {
                    "type": node.get("type", ""),
                    "kind": "module",
                    "member_of": node.get("name"),
                    "member": f"{j + 1} of {repeat}",
                    **(_member_facts(real[j], call) if real else _member_share(node, j, call)),
                }
            )
            for j, call in enumerate(calls)
        ]
        out.append({"node": i, "members": members})
    return out


def _member_facts(facts: Mapping[str, Any], call: str) -> dict[str, Any]:
    """One member's own facts (``member_facts`` of a fold)."""
    name = str(facts.get("name") or call.rpartition("#")[0] or call)
    keep = ("params", "flops", "in_shapes", "out_shapes")
    stats = facts.get("stats") or {}
    return (
        {"name": name, "call": str(facts.get("call") or call), "module": name}
        | {k: facts.get(k) for k in keep}
        | {"stats": {k: stats[k] for k in HOVER_STATS if k in stats} or None}
    )


def _member_share(node: Mapping[str, Any], j: int, call: str) -> dict[str, Any]:
    """Member ``j`` of a fold without member facts: an equal share of the block's totals."""
    repeat = int(node["repeat"])
    name = call.rpartition("#")[0] or call
    return {
        "name": name,
        "call": call,
        "module": name,
        "params": round((node.get("params") or 0) / repeat),
        "flops": round((node.get("flops") or 0) / repeat),
        "in_shapes": node.get("in_shapes") if j == 0 else None,
        "out_shapes": node.get("out_shapes") if j == repeat - 1 else None,
        "share": True,
    }


def _containers(layout: Layout) -> list[dict[str, Any]]:
    """The layout's module containers (nested boxes), with the totals a collapsed one shows.

    A module laid out over several rows has one box per row (same name): the page collapses
    them together, and each shows the module's totals: its parameters (as the layout states
    them, else the sum over its nodes) and the FLOPs of all its nodes. A folded ``xN`` block
    (``repeat`` > 1) holds member 0's nodes, so its totals are per member, and its
    ``members`` (from ``member_facts``) are what its ghost copies show on hover.
    """
    boxes = list(getattr(layout, "containers", None) or [])
    inside = [[int(i) for i in b.get("nodes") or [] if 0 <= int(i) < len(layout)] for b in boxes]
    # a container around nothing is left out (nothing to draw, nothing to collapse)
    kept = {k: n for n, k in enumerate(k for k in range(len(boxes)) if inside[k])}
    union: dict[str, set[int]] = {}
    for k in kept:
        union.setdefault(str(boxes[k].get("name", "")), set()).update(inside[k])
    out = []
    for k in kept:
        box, parent = boxes[k], boxes[k].get("parent")
        whole = union[str(box.get("name", ""))]
        params = box.get("params")
        if params is None:
            params = sum(int(layout.nodes[i].get("params") or 0) for i in whole)
        members = box.get("member_facts") or []
        out.append(
            {
                "name": str(box.get("name", "")),
                "type": str(box.get("type", "")),
                "depth": int(box.get("depth") or 0),
                "lo": [float(v) for v in box["lo"]],
                "hi": [float(v) for v in box["hi"]],
                "nodes": inside[k],
                "parent": None if parent is None else kept.get(int(parent)),
                "repeat": int(box.get("repeat") or 1),
                "ghost_offset": [float(v) for v in box.get("ghost_offset") or (0.0, 0.0, 0.0)],
                "params": int(params),
                "flops": sum(int(layout.nodes[i].get("flops") or 0) for i in whole),
                "count": len(whole),
                "members": [_compact(_member_facts(m, str(m.get("name", "")))) for m in members],
            }
        )
    return out


def _labels(layout: Layout) -> list[str]:
    """The PNG's layer labels, but two layers never share one: "0.conv2" of layer1 and of
    layer2 become "layer1.0.conv2" and "layer2.0.conv2" (the page has room, and hover)."""
    texts = [labelmod.label_text(node) for node in layout.nodes]
    counts = Counter(texts)
    return [
        str(node.get("name")) if counts[t] > 1 and node.get("kind") == "module" else t
        for t, node in zip(texts, layout.nodes)
    ]


def _label_rank(layout: Layout) -> np.ndarray:
    """Node indices, most deserving of a label first: inputs/outputs, folds, then the largest."""
    volume = np.prod(layout.sizes, axis=1) if len(layout) else np.empty(0)
    key = [
        (
            node.get("kind") not in ("input", "output"),
            int(node.get("repeat") or 1) < 2,
            node.get("kind") != "module",
            -float(node.get("params") or 0),
            -float(v),
        )
        for node, v in zip(layout.nodes, volume)
    ]
    return np.array(sorted(range(len(key)), key=key.__getitem__), dtype=int)


def _member_names(node: Mapping[str, Any]) -> list[str]:
    return [str(m) for m in node.get("members") or []]


def _camera(scene: Any) -> dict[str, Any] | None:
    cam = scene.camera
    if cam is None:
        return None
    return {
        "position": list(cam.position),
        "focal_point": list(cam.focal_point),
        "up": list(cam.up),
        "view_angle": cam.view_angle,
    }


def _round(value: float) -> float:
    """4 significant digits: what the page shows, at a fraction of the JSON size."""
    return float(f"{value:.4g}")


def _compact(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Node facts without empty or default entries, floats to 4 significant digits."""
    out = {}
    for key, value in facts.items():
        if value is None or value is False or value == [] or (key == "repeat" and value == 1):
            continue
        if key == "module" and facts.get("kind") == "module" and value == facts.get("name"):
            continue  # the page takes a module's path from its name
        if isinstance(value, float):
            value = _round(value) if np.isfinite(value) else None
        elif isinstance(value, Mapping):
            value = _compact(value)
        out[key] = value
    return out


def _hex(color: Any, fallback: str) -> str:
    from matplotlib.colors import to_hex

    try:
        return to_hex(color)
    except ValueError:
        return fallback
