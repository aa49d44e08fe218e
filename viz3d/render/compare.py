"""A :class:`viz3d.compare.ModelDiff` drawn on the architecture.

Model B's layout, its layers coloured through the same :class:`ValueColoring` mechanism as the
gradient view (:mod:`viz3d.render.gradients`):

* ``"weight_change"`` - log10 of ``||ΔW||/||W||`` (module and children); grey: unchanged;
* ``"cka"`` - linear CKA of the two models' activations (bright: less similar);
* ``"status"`` - unchanged / weight-changed / shape-changed / added, one colour each.

Added modules get a green outline, shape-changed ones a red one; removed modules stand as
translucent ghosts above the place they had (between their paired neighbours). Hovering a layer
shows its numbers. ``side_by_side`` puts model A behind B, with a link from each paired module
of A to its partner in B.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import ListedColormap

from viz3d.errors import RenderError
from viz3d.layout import Layout, compute_layout
from viz3d.render import meshes
from viz3d.render.builder import FOREGROUND, VIEW_DIRECTION, build_scene, fit_camera
from viz3d.render.colors import ValueColoring
from viz3d.render.gradients import _outline
from viz3d.render.scene import Scene

if TYPE_CHECKING:
    from viz3d.compare import ModelDiff, ModuleDiff
    from viz3d.graph import LayerGraph

#: Colours of the statuses (and of removed ghosts), in the order of their codes.
STATUS_COLORS = {
    "unchanged": "#6b7280",
    "weight_changed": "#ffe14d",
    "shape_changed": "#d86bff",
    "added": "#3ddc84",
    "removed": "#ff4d6d",
}
_CODE = {status: float(i) for i, status in enumerate(STATUS_COLORS)}
#: Name the status colours are registered under in matplotlib's colour maps.
STATUS_CMAP = "viz3d_diff_status"
COLOR_BY = ("weight_change", "cka", "status")
LINK_COLORS = {"same": "#9aa3b5", "changed": STATUS_COLORS["weight_changed"]}


def render_diff(
    diff: ModelDiff,
    *,
    color_by: str = "weight_change",
    side_by_side: bool = False,
    depth: int | None = None,
    title: str | None = None,
) -> Scene:
    """Draw ``diff`` on model B's architecture (see the module docstring).

    Parameters
    ----------
    diff : ModelDiff
        From :func:`viz3d.compare` (or :meth:`ModelDiff.from_json`).
    color_by : {"weight_change", "cka", "status"}, default: "weight_change"
        What the layer colours show.
    side_by_side : bool, default: False
        Also draw model A, behind B, linked to B module by module.
    depth : int, optional
        Collapse to this module depth (default: op level if it fits, see
        :func:`viz3d.api.choose_view`); repeated blocks are never folded.
    title : str, optional
        Title; defaults to the two labels and the counts.

    Returns
    -------
    Scene

    Examples
    --------
    >>> import torch, viz3d
    >>> a = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    >>> b = torch.nn.Sequential(a[0], torch.nn.Linear(4, 4), a[1])
    >>> scene = viz3d.compare(a, b, progress=False).render(color_by="status")
    >>> "added" in [actor.name for actor in scene.actors]
    True
    """
    if color_by not in COLOR_BY:
        raise RenderError(f"color_by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")
    if diff.graph_b is None or (side_by_side and diff.graph_a is None):
        raise RenderError(
            "this ModelDiff has no traced architecture to draw on; make it with viz3d.compare()"
        )
    if color_by == "cka" and not diff.activations_compared:
        raise RenderError(
            "no activations were compared: pass inputs=... (or input_shape=...) to viz3d.compare"
        )
    layout_b = _layout(diff.graph_b, depth)
    layout_a = _layout(diff.graph_a, depth) if diff.graph_a is not None else None
    heading = title or f"{diff.label_a} -> {diff.label_b}\n{diff.headline()}"
    scene = build_scene(layout_b, color_by=_coloring(diff, color_by, "b"), title=heading)
    _describe(scene, layout_b, diff, "b")
    for measure in COLOR_BY:  # the web viewer's overlay switcher offers every measure
        if measure != "cka" or diff.activations_compared:
            overlay = _coloring(diff, measure, "b")
            scene.overlays.setdefault(overlay.title, overlay)
    notes = [f"colour: {_TITLES[color_by]}", "grey: unchanged or no weights"]
    if color_by == "status":
        _categorical(scene)
        notes = [f"{c}: {s.replace('_', ' ')}" for s, c in _NAMES.items()]
    added = _inside(layout_b, diff.added)
    if added:
        scene.add_mesh(
            _outline(layout_b, added), name="added", color=STATUS_COLORS["added"], line_width=3
        )
        notes.append(f"green outline: added ({len(diff.added)})")
    reshaped = _inside(layout_b, diff.shape_changed, exact=True)
    if reshaped:
        scene.add_mesh(
            _outline(layout_b, reshaped),
            name="reshaped",
            color=STATUS_COLORS["shape_changed"],
            line_width=3,
        )
        notes.append(f"purple outline: shape changed ({len(reshaped)})")
    if diff.removed and layout_a is not None and not side_by_side:
        _ghosts(scene, layout_b, layout_a, diff)
        notes.append(f"red ghost: removed ({len(diff.removed)})")
    if side_by_side:
        _add_model_a(scene, diff, layout_b, layout_a, color_by)
        notes.append("lines: paired modules (yellow: changed)")
    scene.add_text(
        "\n".join(notes), position="lower_right", font_size=8, color=FOREGROUND, name="diff-legend"
    )
    fit_camera(scene, np.asarray(scene.bounds)[0::2], np.asarray(scene.bounds)[1::2])
    scene.metadata["diff"] = {
        "color_by": color_by,
        "added": diff.added,
        "removed": diff.removed,
        "changed": diff.changed,
        "side_by_side": side_by_side,
    }
    return scene


_TITLES = {
    "weight_change": "log10 relative weight change",
    "cka": "activation CKA (linear)",
    "status": "status",
}
_NAMES = {
    "unchanged": "grey",
    "weight_changed": "yellow",
    "shape_changed": "purple",
    "added": "green",
    "removed": "red",
}


def _layout(graph: LayerGraph, depth: int | None) -> Layout:
    """The unfolded view (every block visible) without neuron points, which would hide colours."""
    from viz3d.api import choose_view

    return compute_layout(choose_view(graph, depth=depth, fold=False), neuron_cap=0)


# ----------------------------------------------------------------- colours
#: Inputs and outputs belong to the root module: no colour (a missing root value would make
#: ValueColoring sum every module into them).
_NO_ROOT = {"": float("nan")}


def _coloring(diff: ModelDiff, color_by: str, side: str) -> ValueColoring:
    rows = _rows_by_name(diff, side)
    if color_by == "weight_change":
        # a module whose weights were all zero in A changes by an infinite ratio: no range
        changes = [c for m in diff.modules if (c := m.relative_change) and np.isfinite(c)]
        logs = np.log10(changes) if changes else np.zeros(1)
        low, high = float(logs.min()), float(logs.max())
        # the map's black end would vanish on the dark background: start a little below it
        clim = (low - 0.2 * (high - low), high) if high > low else (low - 0.5, high + 0.5)
        values = {**_NO_ROOT, **{n: m.relative_change or 0.0 for n, m in rows.items()}}
        return ValueColoring("relative weight change", values, cmap="magma", log=True, clim=clim)
    if color_by == "cka":
        ckas = [m.cka for m in diff.modules if m.cka is not None]
        low = min(min(ckas, default=0.0), 0.99)
        values = {**_NO_ROOT, **{n: m.cka for n, m in rows.items() if m.cka is not None}}
        return ValueColoring("activation CKA", values, cmap="magma_r", log=False, clim=(low, 1.0))
    codes = {**_NO_ROOT, **{n: _CODE[_worst(diff, n, side)] for n in _module_names(diff, side)}}
    clim = (-0.5, len(_CODE) - 0.5)
    return ValueColoring("status", codes, cmap=_status_cmap(), log=False, clim=clim)


def _status_cmap() -> str:
    """The status colours as a named matplotlib map (the web viewer looks maps up by name)."""
    import matplotlib

    if STATUS_CMAP not in matplotlib.colormaps:
        colours = ListedColormap(list(STATUS_COLORS.values()), name=STATUS_CMAP)
        matplotlib.colormaps.register(colours)
    return STATUS_CMAP


def _categorical(scene: Scene) -> None:
    """Status colours are categories: no numeric colour bar, the legend names them."""
    scene.actors = [a for a in scene.actors if not a.name.startswith("colorbar")]
    for actor in scene.actors:
        if actor.kwargs.get("scalars") == "value":
            actor.kwargs["show_scalar_bar"] = False


def _rows_by_name(diff: ModelDiff, side: str) -> dict[str, ModuleDiff]:
    """Rows by one side's module names; not the root, whose totals would colour the inputs."""
    key = "name_b" if side == "b" else "name_a"
    return {getattr(m, key): m for m in diff.modules if getattr(m, key)}


def _module_names(diff: ModelDiff, side: str) -> list[str]:
    graph = diff.graph_b if side == "b" else diff.graph_a
    names = list(graph.modules) if graph is not None else list(_rows_by_name(diff, side))
    return [n for n in names if n]


def _worst(diff: ModelDiff, name: str, side: str) -> str:
    """A module's status for colouring: added/removed if it lies in such a subtree, else the
    most severe status inside it (a collapsed block shows what changed within)."""
    tops = diff.added if side == "b" else diff.removed
    if any(_within(name, top) for top in tops):
        return "added" if side == "b" else "removed"
    rows = _rows_by_name(diff, side)
    inside = [m.status for n, m in rows.items() if _within(n, name)]
    order = ["unchanged", "weight_changed", "shape_changed", "added", "removed"]
    return max(inside, key=order.index, default="unchanged")


def _within(name: str, top: str) -> bool:
    return name == top or not top or name.startswith(top + ".")


# ----------------------------------------------------------------- nodes
def _inside(layout: Layout, tops: Iterable[str], *, exact: bool = False) -> list[int]:
    """Module nodes of ``layout`` that are (or lie inside) one of ``tops``."""
    tops = list(tops)
    return [
        i
        for i, node in enumerate(layout.nodes)
        if node.get("kind") == "module"
        and any(
            node.get("module") == t if exact else _within(str(node.get("module")), t) and t
            for t in tops
        )
    ]


def _drawn(layout: Layout, name: str) -> list[int]:
    """Nodes that draw module ``name``: itself, its children, or the collapsed node holding it."""
    return [
        i
        for i, node in enumerate(layout.nodes)
        if node.get("kind") == "module"
        and (_within(str(node.get("module")), name) or _within(name, str(node.get("module"))))
        and (name or not node.get("module"))
    ]


def _describe(scene: Scene, layout: Layout, diff: ModelDiff, side: str) -> None:
    """Add the diff's numbers to each node's hover facts, with a one-line summary as a note
    (``weight changed: Δ 0.21, rank 4``) that the window's panel and the web viewer print."""
    rows = _rows_by_name(diff, side)
    tops = diff.added if side == "b" else diff.removed
    for i, node in enumerate(layout.nodes):
        module = str(node.get("module", ""))
        if node.get("kind") != "module":
            continue
        facts = scene.node_info.setdefault(i, {})
        if module in rows:
            facts.update(rows[module].facts())
            line = rows[module].brief()
        else:
            top = next((t for t in tops if _within(module, t)), None)
            if top is None:
                continue
            line = facts["status"] = f"{'added' if side == 'b' else 'removed'} (in {top})"
        facts["notes"] = [line]


def _ghosts(scene: Scene, layout: Layout, layout_a: Layout, diff: ModelDiff) -> None:
    """Each removed module as a translucent copy of its layers in A's layout, floating above the
    gap between its paired neighbours in B."""
    lo, hi = layout.bounds
    centres, sizes, owners, labels = [], [], [], []
    names_b = [m.name_b for m in diff.modules]
    right = -np.inf
    for k, row in enumerate(diff.modules):
        if row.status != "removed":
            continue
        before = [i for n in names_b[:k][::-1] if n is not None for i in _drawn(layout, n)][:1]
        after = [i for n in names_b[k + 1 :] if n is not None for i in _drawn(layout, n)][:1]
        anchors = [layout.positions[i] for i in before + after] or [layout.positions[0]]
        inside = _inside(layout_a, [str(row.name_a)]) or list(_module_nodes(layout_a).values())[:1]
        low = (layout_a.positions[inside] - layout_a.sizes[inside] / 2).min(axis=0)
        high = (layout_a.positions[inside] + layout_a.sizes[inside] / 2).max(axis=0)
        centre = np.mean(anchors, axis=0)
        centre[0] = max(centre[0], right + (high[0] - low[0]) / 2 + 0.5)  # no overlapping ghosts
        centre[2] = hi[2] + 1.0 + (high[2] - low[2]) / 2
        right = centre[0] + (high[0] - low[0]) / 2
        centres.append(layout_a.positions[inside] - (low + high) / 2 + centre)
        sizes.append(layout_a.sizes[inside])
        owners.append(np.full(len(inside), len(labels)))
        labels.append((centre + [0.0, 0.0, (high[2] - low[2]) / 2 + 0.3], f"removed: {row.name_a}"))
    ids = np.concatenate(owners) + 2 * _A_SLOTS
    ghost = meshes.boxes(np.concatenate(centres), np.concatenate(sizes), ids)
    scene.add_mesh(
        ghost, name="removed", pickable=True, color=STATUS_COLORS["removed"], opacity=0.35
    )
    for k, row in enumerate(m for m in diff.modules if m.status == "removed"):
        scene.node_info[2 * _A_SLOTS + k] = {
            **row.facts(),
            "name": row.name_a,
            "type": row.type_a or "?",
            "notes": [row.brief()],
        }
    scene.add_point_labels(
        [p for p, _ in labels], [t for _, t in labels], name="removed-labels", font_size=11,
        text_color=STATUS_COLORS["removed"], shape=None, show_points=False, always_visible=True,
    )  # fmt: skip


#: Node ids from here on belong to model A in a side-by-side scene; ghosts start at twice this.
_A_SLOTS = 1_000_000


def _add_model_a(
    scene: Scene, diff: ModelDiff, layout_b: Layout, layout_a: Layout, color_by: str
) -> None:
    """Model A's own scene, moved behind B, merged in; links between paired module nodes."""
    lo_b, hi_b = layout_b.bounds
    lo_a, hi_a = layout_a.bounds
    # A floats above B, high enough that from the default camera A's lowest corner shows above
    # B's highest: paired modules are then joined by links running up the picture
    up = _screen_up()
    top_b = max(float(c @ up) for c in _corners(lo_b, hi_b))
    bottom_a = min(float(c @ up) for c in _corners(lo_a, hi_a))
    gap = 0.08 * float(np.linalg.norm(hi_b - lo_b))
    lift = (top_b - bottom_a + gap) / up[2]
    shift = np.array([lo_b[0] - lo_a[0], 0.0, lift])
    moved = _shifted(layout_a, shift)
    other = build_scene(moved, color_by=_coloring(diff, color_by, "a"), labels=False)
    _describe(other, moved, diff, "a")
    for actor in other.actors:
        if actor.name.endswith("-3d") or actor.name.startswith("colorbar"):
            continue
        mesh = actor.mesh.copy()
        if "node_id" in mesh.cell_data:
            mesh.cell_data["node_id"] = mesh.cell_data["node_id"] + _A_SLOTS
        kwargs = {**actor.kwargs, "show_scalar_bar": False}
        scene.add_mesh(
            mesh, name=f"a-{actor.name}", pickable=actor.pickable, shader=actor.shader, **kwargs
        )
    for i, facts in other.node_info.items():
        scene.node_info[_A_SLOTS + i] = {**facts, "model": diff.label_a}
    _links(scene, diff, moved, layout_b)
    lo, hi = moved.bounds
    beside = [
        [lo_b[0] - 1, lo_b[1], (lo_b[2] + hi_b[2]) / 2],
        [lo[0] - 1, lo[1], (lo[2] + hi[2]) / 2],
    ]
    scene.add_point_labels(
        beside,
        [f"B: {diff.label_b}", f"A: {diff.label_a}"],
        name="model-labels", font_size=14, bold=True, text_color=FOREGROUND, shape=None,
        show_points=False, always_visible=True,
    )  # fmt: skip


def _screen_up() -> np.ndarray:
    """The default camera's up direction on screen (see :func:`fit_camera`)."""
    direction = VIEW_DIRECTION / np.linalg.norm(VIEW_DIRECTION)
    right = np.cross(-direction, [0.0, 0.0, 1.0])
    up = np.cross(right / np.linalg.norm(right), -direction)
    return up / np.linalg.norm(up)


def _corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )


def _shifted(layout: Layout, shift: np.ndarray) -> Layout:
    return dataclasses.replace(
        layout,
        positions=layout.positions + shift,
        edge_points=[p + shift for p in layout.edge_points],
        neuron_points=layout.neuron_points + shift,
        badges=[{**b, "position": list(np.asarray(b["position"]) + shift)} for b in layout.badges],
    )


def _links(scene: Scene, diff: ModelDiff, layout_a: Layout, layout_b: Layout) -> None:
    index_a = _module_nodes(layout_a)
    index_b = _module_nodes(layout_b)
    lines: dict[str, list[np.ndarray]] = {"same": [], "changed": []}
    for row in diff.modules:
        worth = row.own_params or row.status != "unchanged"  # param-free pairs would clutter
        if worth and row.name_a in index_a and row.name_b in index_b:
            a, b = layout_a.positions[index_a[row.name_a]], layout_b.positions[index_b[row.name_b]]
            kind = "same" if row.status == "unchanged" else "changed"
            lines[kind].append(np.array([a, b]))
    for kind, segments in lines.items():
        if segments:
            scene.add_mesh(
                meshes.polylines(segments), name=f"links-{kind}", color=LINK_COLORS[kind],
                line_width=1.5 if kind == "same" else 3, opacity=0.35 if kind == "same" else 0.9,
            )  # fmt: skip


def _module_nodes(layout: Layout) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, node in enumerate(layout.nodes):
        if node.get("kind") == "module":
            out.setdefault(str(node.get("module")), i)
    return out


__all__ = ["COLOR_BY", "STATUS_COLORS", "render_diff"]
