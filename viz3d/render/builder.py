"""``build_scene``: a :class:`viz3d.layout.Layout` drawn as a :class:`Scene` with few actors.

Actors (each one merged mesh, whatever the model size):

==============  ===============================================================================
``layers``      every box and conv slice, pickable (``node_id`` cells), coloured by ``color_by``
``ops``         every parameter-free op (spheres for merges, discs for the rest), pickable
``neurons``     sampled neuron points coloured by traced mean activation, with the ``glow``
                shader on screen
``edges``       straight data-flow segments; ``skips`` the skip-connection arcs, highlighted
``*-3d``        export-only geometry: title, layer labels, badges, colour bar (vtk.js, glTF
                and VTK files drop 2D text)
==============  ===============================================================================

On screen: a title with totals, a size legend stating the scale, colour bars and a few layer
labels (see :mod:`viz3d.render.labels`); hovering a layer shows its facts.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pyvista as pv

from viz3d.layout import Layout, human
from viz3d.layout.containers import ghost_count
from viz3d.layout.neurons import SLICE_FILL, SLICES, slice_centers
from viz3d.render import colors as colormod
from viz3d.render import labels as labelmod
from viz3d.render import meshes
from viz3d.render.camera import box_corners, view_basis
from viz3d.render.scene import WINDOW_SIZE, Scene

#: Background and foreground of the default dark theme.
BACKGROUND = "#12151c"
FOREGROUND = "#e8eaf0"
EDGE_COLOR = "#7d8595"
SKIP_COLOR = "#ffb347"
#: Camera direction from the model's centre (front-left, above), before normalising.
VIEW_DIRECTION = np.array([-0.25, -1.0, 0.45])

_SPHERE = pv.Sphere(radius=0.5, theta_resolution=14, phi_resolution=10)
_DISC = pv.Cylinder(radius=0.5, height=1.0, direction=(1, 0, 0), resolution=20)


def build_scene(
    layout: Layout,
    *,
    color_by: colormod.ColorBy | colormod.ValueColoring = "activation",
    title: str | None = None,
    labels: bool = True,
    max_labels: int = labelmod.MAX_LABELS,
    glow: bool = True,
    background: str = BACKGROUND,
) -> Scene:
    """Draw a layout as a scene: merged glyph meshes, edges, neurons, labels and legends.

    Parameters
    ----------
    layout : Layout
        From :func:`viz3d.layout.compute_layout`.
    color_by : {"activation", "params", "flops", "type"} or ValueColoring, default: "activation"
        What the layer colour shows (see :mod:`viz3d.render.colors`).
    title : str, optional
        Title; defaults to the model name with its totals.
    labels : bool, default: True
        Draw layer labels (culled to ``max_labels``).
    max_labels : int, default: 36
        Most layer labels.
    glow : bool, default: True
        Apply the ``glow`` shader to the neuron points on screen.
    background : str, default: "#12151c"
        Background colour.

    Returns
    -------
    Scene

    Examples
    --------
    >>> import networkx as nx
    >>> from viz3d.graph import GraphInfo, LayerGraph
    >>> from viz3d.layout import compute_layout
    >>> from viz3d.render import build_scene
    >>> g = nx.DiGraph([("in", "fc"), ("fc", "out")])
    >>> g.nodes["in"].update(kind="input", name="input", type="Input")
    >>> fc = dict(kind="module", name="fc", type="Linear", params=40, out_shapes=[[1, 8]])
    >>> g.nodes["fc"].update(fc)
    >>> g.nodes["out"].update(kind="output", name="output", type="Output")
    >>> scene = build_scene(compute_layout(LayerGraph(g, GraphInfo(model_name="tiny"))))
    >>> [a.name for a in scene.actors][:3]
    ['layers', 'edges', 'neurons']
    """
    info = layout.info
    heading = title if title is not None else _title(info)
    node_info = {i: _hover_facts(node, i, layout) for i, node in enumerate(layout.nodes)}
    scene = Scene(
        title=heading,
        background=background,
        node_info=node_info,
        metadata=_metadata(layout, color_by),
    )
    scene.layout = layout  # the web viewer draws the layout itself
    if not len(layout):
        scene.add_text(heading + "\n(empty graph)", color=FOREGROUND, name="title")
        return scene

    coloring = colormod.node_colors(layout, color_by)
    scene.metadata["color_by"] = coloring.mode
    if isinstance(color_by, colormod.ValueColoring):
        scene.overlays[color_by.title] = color_by  # the viewer opens on this colouring too
        scene.metadata["overlay"] = color_by.title
    _add_glyphs(scene, layout, coloring)
    _add_edges(scene, layout)
    _add_neurons(scene, layout, glow)
    _add_containers(scene, layout)
    _add_legends(scene, layout, coloring, heading)
    _add_camera(scene, layout)  # above the legend
    if labels:
        _add_labels(scene, layout, max_labels)
    return scene


# ----------------------------------------------------------------- actors
def _add_glyphs(scene: Scene, layout: Layout, coloring: colormod.NodeColors) -> None:
    glyphs = np.array(layout.glyphs)
    ids = np.arange(len(layout))
    arrays = _color_arrays(coloring)
    style = _color_style(coloring)

    box = np.flatnonzero(glyphs == "box")
    stack = np.flatnonzero(glyphs == "slab-stack")
    # a conv layer is SLICES thin slices filling its box: channels stacked along the data flow
    slab_centers = (
        np.concatenate(
            [
                np.column_stack(
                    [slice_centers(layout.positions[i], layout.sizes[i])]
                    + [np.full(SLICES, layout.positions[i][k]) for k in (1, 2)]
                )
                for i in stack
            ]
        )
        if len(stack)
        else np.empty((0, 3))
    )
    slab_sizes = np.repeat(layout.sizes[stack] * [SLICE_FILL / SLICES, 1, 1], SLICES, axis=0)
    slab_ids = np.repeat(stack, SLICES)
    centers = np.concatenate([layout.positions[box], slab_centers])
    sizes = np.concatenate([layout.sizes[box], slab_sizes])
    owners = np.concatenate([ids[box], slab_ids])
    layer_mesh = meshes.boxes(centers, sizes, owners, {k: v[owners] for k, v in arrays.items()})
    scene.add_mesh(layer_mesh, name="layers", pickable=True, **style, **_SOLID)

    ops = np.flatnonzero(np.isin(glyphs, ["sphere", "disc"]))
    parts = []
    for kind, template in (("sphere", _SPHERE), ("disc", _DISC)):
        sel = ops[glyphs[ops] == kind]
        if len(sel):
            parts.append(
                meshes.template_glyphs(
                    template,
                    layout.positions[sel],
                    layout.sizes[sel],
                    sel,
                    {k: v[sel] for k, v in arrays.items()},
                )
            )
    op_mesh = pv.merge(parts) if len(parts) > 1 else (parts[0] if parts else pv.PolyData())
    if op_mesh.n_cells:
        scene.add_mesh(
            op_mesh,
            name="ops",
            pickable=True,
            smooth_shading=True,
            **{**style, "show_scalar_bar": False},
            **_SOLID,
        )


def _add_edges(scene: Scene, layout: Layout) -> None:
    plain = [p for p, s in zip(layout.edge_points, layout.edge_skip) if not s]
    arcs = [p for p, s in zip(layout.edge_points, layout.edge_skip) if s]
    if plain:
        scene.add_mesh(
            meshes.polylines(plain), name="edges", color=EDGE_COLOR, line_width=2, opacity=0.85
        )
    if arcs:
        scene.add_mesh(
            meshes.polylines(arcs),
            name="skips",
            color=SKIP_COLOR,
            line_width=3.5,
            render_lines_as_tubes=True,
        )


def _add_containers(scene: Scene, layout: Layout) -> None:
    """Module boxes: one translucent mesh coloured by nesting depth, ghost copies behind folded
    blocks, thin outlines, and a pickable tab on each box's top front edge (the faces stay
    unpickable so the layers inside them can still be hovered)."""
    if not layout.containers:
        return
    boxes = layout.containers
    lo = np.array([c["lo"] for c in boxes], dtype=float)
    hi = np.array([c["hi"] for c in boxes], dtype=float)
    palette = colormod.CONTAINER_COLORS
    rgb = _hex_rgb(palette)[[c["depth"] % len(palette) for c in boxes]]
    ids = len(layout) + np.arange(len(boxes))
    scene.add_mesh(
        meshes.boxes((lo + hi) / 2, hi - lo, ids, {"rgb": rgb}),
        name="containers",
        scalars="rgb",
        rgb=True,
        opacity=0.13,
        show_scalar_bar=False,
    )
    ghost = [(k, j) for k, c in enumerate(boxes) for j in range(1, ghost_count(c["repeat"]) + 1)]
    outline_lo, outline_hi, outline_rgb = [lo], [hi], [rgb]
    if ghost:
        which = np.array([k for k, _ in ghost])
        shift = np.array([np.multiply(boxes[k]["ghost_offset"], j) for k, j in ghost])
        scene.add_mesh(
            meshes.boxes((lo + hi)[which] / 2 + shift, (hi - lo)[which], ids[which]),
            name="container-ghosts",
            color=colormod.CONTAINER_COLORS[0],
            opacity=0.05,
        )
        outline_lo.append(lo[which] + shift)
        outline_hi.append(hi[which] + shift)
        outline_rgb.append((rgb[which] * 0.45).astype(np.uint8))
    lines = _box_outlines(np.concatenate(outline_lo), np.concatenate(outline_hi))
    scene.add_mesh(
        meshes.polylines(lines, {"rgb": np.repeat(np.concatenate(outline_rgb), 6, axis=0)}),
        name="container-edges",
        scalars="rgb",
        rgb=True,
        line_width=1.5,
        opacity=0.8,
        show_scalar_bar=False,
    )
    extent = hi - lo
    tab = np.column_stack(
        [np.minimum(1.6, 0.35 * extent[:, 0]), np.full(len(boxes), 0.04), np.full(len(boxes), 0.1)]
    )
    at = np.column_stack([lo[:, 0] + tab[:, 0] / 2, lo[:, 1], hi[:, 2] - tab[:, 2] / 2])
    scene.add_mesh(
        meshes.boxes(at, tab, ids, {"rgb": rgb}),
        name="container-tabs",
        pickable=True,
        scalars="rgb",
        rgb=True,
        show_scalar_bar=False,
    )
    for k, c in enumerate(boxes):
        facts = {key: c[key] for key in ("name", "type", "params", "flops", "repeat", "depth")}
        if c.get("member_facts"):
            facts["member_facts"] = c["member_facts"]
        scene.node_info[int(ids[k])] = {**facts, "kind": "container", "index": int(ids[k])}


def _box_outlines(lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """The 12 edges of each box as 6 polylines: bottom and top loops and 4 uprights."""
    unit = np.array([[x, y, z] for z in (0, 1) for x, y in ((0, 0), (1, 0), (1, 1), (0, 1))])
    corners = lo[:, None, :] + (hi - lo)[:, None, :] * unit[None]
    loop = [0, 1, 2, 3, 0]
    out: list[np.ndarray] = []
    for c in corners:
        out += [c[loop], c[[k + 4 for k in loop]]]
        out += [c[[k, k + 4]] for k in range(4)]
    return out


def _hex_rgb(colors: list[str]) -> np.ndarray:
    return np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.uint8)


def _add_neurons(scene: Scene, layout: Layout, glow: bool) -> None:
    if not len(layout.neuron_points):
        return
    values = layout.neuron_values
    cloud = meshes.points(
        layout.neuron_points, {"activation": values, "node_id": layout.neuron_owner}
    )
    traced = bool(np.isfinite(values).any())
    kwargs: dict[str, Any] = {
        "render_points_as_spheres": True,
        "point_size": _neuron_pixels(layout),
    }
    if traced:
        kwargs.update(
            scalars="activation",
            cmap=colormod.NEURON_CMAP,
            clim=colormod.neuron_clim(values),
            nan_color=colormod.NAN_COLOR,
            scalar_bar_args=_bar_args("neuron mean activation", 0.05),
        )
    else:
        kwargs.update(color="#c9d1e0", scalars=None)
    scene.add_mesh(cloud, name="neurons", shader="glow" if glow else None, **kwargs)


def _add_camera(scene: Scene, layout: Layout) -> None:
    lo, hi = layout.bounds
    # a long legend (a line per layer class) fills the lower left corner: frame the model above
    legend = [labelmod.legend_rectangle(t.text) for t in scene.texts if t.name == "legend"]
    top = min([FRAME[3], *(r[1] / WINDOW_SIZE[1] for r in legend)])
    frame = (*FRAME[:3], top)
    fit_camera(
        scene, lo, hi, points=_layout_points(layout), directions=VIEW_DIRECTIONS, frame=frame
    )


#: Part of the window the model may use (see :data:`viz3d.render.labels.FRAME`).
FRAME = labelmod.FRAME
#: Directions a model's default view may come from (front-left, above, from nearly frontal to
#: oblique): the one showing the model largest wins, so a narrow picture is seen more from the
#: side and a long one more from the front.
VIEW_DIRECTIONS = tuple(np.array([x, -1.0, 0.45]) for x in (-0.25, -0.45, -0.65))


def fit_camera(
    scene: Scene,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    points: np.ndarray | None = None,
    directions: tuple[np.ndarray, ...] | None = None,
    frame: tuple[float, float, float, float] = FRAME,
) -> None:
    """Look at the box ``lo..hi`` from the front-left, above, as close as fits it in the frame.

    The camera looks along :data:`VIEW_DIRECTION` (or the one of ``directions`` that shows the
    model largest) and is moved sideways and as near as possible so that every one of
    ``points`` (default: the box's 8 corners) projects inside ``frame`` (default
    :data:`FRAME`: left, top, right, bottom as fractions of the window) of a
    :data:`~viz3d.render.scene.WINDOW_SIZE` window: the model fills the frame instead of
    sitting in the middle of the box's empty corners.
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    center = (lo + hi) / 2
    if points is None or not len(points):
        points = box_corners(lo, hi)
    q = np.asarray(points, dtype=float).reshape(-1, 3) - center
    size = max(float(np.linalg.norm(hi - lo)), 1.0)
    # the nearest fitting camera shows the model largest
    distance, focal, direction = min(
        (
            (*_fit(q, d / np.linalg.norm(d), size, frame), d / np.linalg.norm(d))
            for d in (directions or (VIEW_DIRECTION,))
        ),
        key=lambda fit: fit[0],
    )
    focal = center + focal
    scene.set_camera(focal + direction * distance, focal, (0.0, 0.0, 1.0))


def _fit(
    q: np.ndarray, direction: np.ndarray, size: float, frame: tuple[float, ...] = FRAME
) -> tuple[float, np.ndarray]:
    """Nearest camera distance along ``direction`` and the focal shift that fit ``q`` in
    ``frame``."""
    right, cam_up = view_basis(direction)
    along, across, upward = q @ direction, q @ right, q @ cam_up
    tan_v = np.tan(np.radians(15))
    tan_h = tan_v * WINDOW_SIZE[0] / WINDOW_SIZE[1]
    left, top, right_edge, bottom = frame
    # normalised device coordinates of the frame (y grows upwards)
    x_lo, x_hi = 2 * left - 1, 2 * right_edge - 1
    y_lo, y_hi = 1 - 2 * bottom, 1 - 2 * top

    def shift(distance: float) -> tuple[float, float] | None:
        """Sideways/upwards camera shift putting every point inside the frame, if any does."""
        depth = distance - along
        sx = (np.max(across - x_hi * tan_h * depth), np.min(across - x_lo * tan_h * depth))
        sy = (np.max(upward - y_hi * tan_v * depth), np.min(upward - y_lo * tan_v * depth))
        if sx[0] > sx[1] or sy[0] > sy[1]:
            return None
        return (sx[0] + sx[1]) / 2, (sy[0] + sy[1]) / 2

    near, far = float(along.max()) + 1e-3 * size, float(along.max()) + 100.0 * size
    # feasibility only grows with distance: bisect for the nearest camera that fits
    for _ in range(48):
        mid = (near + far) / 2
        near, far = (near, mid) if shift(mid) is not None else (mid, far)
    distance = max(far, 2.0)
    sx, sy = shift(distance) or (0.0, 0.0)
    return distance, sx * right + sy * cam_up


def _layout_points(layout: Layout) -> np.ndarray:
    """What the camera must keep in view: every glyph corner, every few points of every edge,
    every module box (with its last ghost) and, over each glyph, room for a label line (about
    4% of the model's height)."""
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) / 2
    glyphs = (layout.positions[:, None, :] + layout.sizes[:, None, :] * corners).reshape(-1, 3)
    lo, hi = layout.bounds
    label_room = labelmod.label_anchors(layout, range(len(layout)))
    label_room[:, 2] += 0.04 * float(hi[2] - lo[2])
    edges = [p[:: max(1, len(p) // 6)] for p in layout.edge_points] + [
        p[-1:] for p in layout.edge_points
    ]
    boxes = [np.empty((0, 3))]
    for c in layout.containers:
        a, b = np.asarray(c["lo"], dtype=float), np.asarray(c["hi"], dtype=float)
        last = np.multiply(c.get("ghost_offset") or 0.0, ghost_count(c.get("repeat", 1)))
        box = (a + b) / 2 + (b - a) * corners
        boxes += [box, box + last]
    return np.concatenate([glyphs, label_room, *edges, *boxes])


def _add_legends(scene: Scene, layout: Layout, coloring: colormod.NodeColors, heading: str) -> None:
    info = layout.info
    scene.add_text(heading, position="upper_left", font_size=13, color=FOREGROUND, name="title")
    legend = [info.get("size_legend", ""), f"colour: {coloring.title}"]
    if layout.edge_skip.any():
        legend.append("orange: skip connections")
    if coloring.legend:
        legend += [f"  {name}" for name in list(coloring.legend)[:12]]
    scene.add_text(
        "\n".join(legend), position="lower_left", font_size=9, color=FOREGROUND, name="legend"
    )

    lo, hi = layout.bounds
    height = max(0.35, 0.025 * float(np.ptp([lo[0], hi[0]])) ** 0.8)
    title_anchor = np.array([[(lo[0] + hi[0]) / 2, lo[1], hi[2] + 1.5 * height]])
    scene.add_mesh(
        labelmod.text3d([heading.splitlines()[0]], title_anchor, height=1.3 * height),
        name="title-3d",
        only="export",
        color=FOREGROUND,
    )
    if coloring.values is not None:
        bar = _colorbar_mesh(coloring, lo, hi, height)
        scene.add_mesh(
            bar,
            name="colorbar-3d",
            only="export",
            scalars="value",
            cmap=coloring.cmap,
            clim=coloring.clim,
            show_scalar_bar=False,
            lighting=False,
        )
        lo_text, hi_text = (f"{v:.3g}" for v in coloring.clim)
        bx0, bx1, _, _, bz0, bz1 = bar.bounds
        ticks = np.array(
            [
                [bx0, lo[1], bz1 + 0.2 * height],
                [bx1, lo[1], bz1 + 0.2 * height],
                [(bx0 + bx1) / 2, lo[1], bz0 - 1.3 * height],
            ]
        )
        scene.add_mesh(
            labelmod.text3d([lo_text, hi_text, coloring.title], ticks, height=0.8 * height),
            name="colorbar-text-3d",
            only="export",
            color=FOREGROUND,
        )


def _add_labels(scene: Scene, layout: Layout, max_labels: int) -> None:
    every = labelmod.label_texts(layout)
    legend = [labelmod.legend_rectangle(t.text) for t in scene.texts if t.name == "legend"]
    # placed for the default camera: no two overlap there nor the legend, the rest is on hover
    chosen = labelmod.choose_labels(
        layout, max_labels, camera=scene.camera, texts=every, avoid=np.array(legend)
    )
    if chosen:
        texts = [every[i] for i in chosen]
        tops = labelmod.label_anchors(layout, chosen, camera=scene.camera, texts=texts)
        scene.add_point_labels(
            tops,
            texts,
            name="layer-labels",
            font_size=labelmod.FONT_SIZE,
            text_color=FOREGROUND,
            shape=None,
            show_points=False,
            always_visible=True,
            justification_horizontal="center",
        )
        lo, hi = layout.bounds
        height = max(0.22, 0.012 * float(hi[0] - lo[0]) ** 0.8)
        scene.add_mesh(
            labelmod.text3d(texts, tops, height=height),
            name="labels-3d",
            only="export",
            color=FOREGROUND,
        )
    if layout.badges:
        where = np.array([b["position"] for b in layout.badges])
        texts = [b["text"] for b in layout.badges]
        scene.add_point_labels(
            where,
            texts,
            name="badges",
            font_size=16,
            bold=True,
            text_color="#ffd166",
            shape="rounded_rect",
            shape_color="#2a3142",
            shape_opacity=0.9,
            show_points=False,
            always_visible=True,
        )
        scene.add_mesh(
            labelmod.text3d(texts, where, height=0.6),
            name="badges-3d",
            only="export",
            color="#ffd166",
        )


# ----------------------------------------------------------------- helpers
_SOLID: dict[str, Any] = {"ambient": 0.25, "diffuse": 0.75, "specular": 0.25, "specular_power": 20}


def _color_arrays(coloring: colormod.NodeColors) -> dict[str, np.ndarray]:
    if coloring.rgb is not None:
        return {"rgb": (coloring.rgb * 255).astype(np.uint8)}
    return {"value": np.asarray(coloring.values, dtype=float)}


def _color_style(coloring: colormod.NodeColors) -> dict[str, Any]:
    if coloring.rgb is not None:
        return {"scalars": "rgb", "rgb": True}
    return {
        "scalars": "value",
        "cmap": coloring.cmap,
        "clim": coloring.clim,
        "nan_color": colormod.NAN_COLOR,
        "scalar_bar_args": _bar_args(coloring.title, 0.55),
    }


def _bar_args(title: str, position_y: float) -> dict[str, Any]:
    # a long title ("log10 activation RMS (2-98th pct)") would run past the window's right
    # edge: lines of at most 18 characters stay inside it
    return {
        "title": textwrap.fill(title, 18),
        "vertical": True,
        "position_x": 0.9,
        "position_y": position_y,
        "height": 0.33,  # room above for a two-line title
        "width": 0.035,
        "color": FOREGROUND,
        "title_font_size": 13,
        "label_font_size": 11,
        "n_labels": 4,
        "fmt": "%.3g",
    }


def _colorbar_mesh(
    coloring: colormod.NodeColors, lo: np.ndarray, hi: np.ndarray, height: float
) -> pv.PolyData:
    """A horizontal strip under the model's front edge, its cells running through the colours."""
    steps = 32
    length = min(12.0 * height * 2, float(hi[0] - lo[0]) * 0.5 + 2)
    x0 = (lo[0] + hi[0]) / 2 - length / 2
    xs = np.linspace(x0, x0 + length, steps + 1)
    z0 = lo[2] - 2.5 * height
    strip = pv.Plane(
        center=(0, 0, 0),
        direction=(0, -1, 0),
        i_size=1,
        j_size=1,
        i_resolution=1,
        j_resolution=steps,
    )
    strip.points[:, 0] = np.interp(strip.points[:, 0], [-0.5, 0.5], [xs[0], xs[-1]])
    strip.points[:, 2] = z0 + (strip.points[:, 2] + 0.5) * height
    strip.points[:, 1] = lo[1]
    # point data (not cell data): the export bakes point colours, which vtk.js draws as a gradient
    strip.point_data["value"] = np.interp(strip.points[:, 0], [xs[0], xs[-1]], list(coloring.clim))
    return strip


def _neuron_pixels(layout: Layout) -> float:
    """Point size in pixels so neighbouring neurons nearly touch at the default zoom."""
    lo, hi = layout.bounds
    # the default camera frames roughly the model's length across the window's width
    pixels_per_unit = WINDOW_SIZE[0] / max(float(np.linalg.norm(hi - lo)), 2.0)
    counts = np.bincount(layout.neuron_owner, minlength=len(layout))
    owners = np.flatnonzero(counts)
    spacing = np.median(layout.sizes[owners, 1] * 0.82 / np.sqrt(counts[owners]))
    return float(np.clip(0.6 * spacing * pixels_per_unit, 4.0, 12.0))


def _title(info: dict[str, Any]) -> str:
    name = info.get("model_name") or "model"
    params, flops = human(info.get("total_params", 0)), human(info.get("total_flops", 0))
    line = f"{name}  -  {params} params  -  {flops} FLOPs"
    if info.get("partial"):
        line += "  -  PARTIAL (forward failed)"
    return line


def _hover_facts(node: dict[str, Any], index: int, layout: Layout) -> dict[str, Any]:
    return {**node, "index": index, "id": layout.node_ids[index]}


def _metadata(layout: Layout, color_by: str) -> dict[str, Any]:
    info = layout.info
    return {
        "model_name": info.get("model_name", ""),
        "total_params": info.get("total_params", 0),
        "total_flops": info.get("total_flops", 0),
        "level": info.get("level", ""),
        "size_legend": info.get("size_legend", ""),
        "color_by": color_by,
        "nodes": len(layout),
        "neurons": len(layout.neuron_points),
    }
