"""Feature views drawn on the architecture: stacks of textured slices standing above layers.

Feature maps, activation-maximisation images and deep-feature-factorisation concepts all end up
here as :class:`SliceStack` s: a layer (or the model's input/output) and the small pictures to
stand above it (:func:`render_feature_slices`), or, in the default scene, on the front of the
layer's own box (:func:`add_layer_maps`). The planes and textures are the Grad-CAM view's
(``render/gradients.py``), so a picture reads upright from the front in every view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from viz3d.errors import RenderError
from viz3d.layout import Layout
from viz3d.render import meshes
from viz3d.render.builder import FOREGROUND, build_scene, fit_camera
from viz3d.render.gradients import _colourise, _node_indices, _texture, _upright_plane
from viz3d.render.scene import Scene

#: Most slices in one column of a stack; more channels open further columns.
ROWS = 4
#: Most slices drawn in one scene (each is an actor with its own texture).
MAX_SLICES = 256
LEADER_COLOR = "#ffd166"
#: Smallest tile of a layer's maps on its box (scene units), so a thin layer's maps stay legible.
MIN_TILE = 0.45
#: Gap between a layer's tiles, as a fraction of a tile.
TILE_GAP = 0.08


@dataclass(frozen=True)
class SliceStack:
    """Pictures to stand above one node of the architecture.

    Attributes
    ----------
    layer : str
        A module name (the node of its last call; a collapsed module's nearest drawn ancestor),
        or ``"input"`` / ``"output"`` for the model's input or output node.
    pictures : sequence of numpy.ndarray
        ``h x w`` maps (coloured with ``cmap``, one range for the whole stack) or ``h x w x 3``
        images in [0, 1] or ``uint8``, drawn as they are. Row 0 is the top.
    caption : str
        Shown above the stack.
    cmap : str
        Colour map of 2D maps.
    """

    layer: str
    pictures: Sequence[np.ndarray]
    caption: str = ""
    cmap: str = "magma"


def anchor_node(layout: Layout, layer: str) -> int:
    """Index of the layout node that stands for ``layer``.

    Examples
    --------
    >>> import torch, viz3d
    >>> from viz3d.layout import compute_layout
    >>> layout = compute_layout(viz3d.trace(torch.nn.Sequential(torch.nn.Linear(2, 2)),
    ...                                     torch.rand(1, 2)))
    >>> [layout.nodes[anchor_node(layout, name)]["kind"] for name in ("input", "0", "output")]
    ['input', 'module', 'output']
    """
    if layer in ("input", "output"):
        found = [i for i, n in enumerate(layout.nodes) if n.get("kind") == layer]
        if found:
            return found[0] if layer == "input" else found[-1]
    found = _node_indices(layout, [layer])
    if found:
        return found[-1]
    # a collapsed or folded layout draws the layer inside its nearest drawn ancestor
    ancestors = [
        (len(n["module"]), i)
        for i, n in enumerate(layout.nodes)
        if n.get("kind") == "module" and n.get("module") and layer.startswith(n["module"] + ".")
    ]
    if ancestors:
        return max(ancestors)[1]
    raise RenderError(
        f"layer {layer!r} is not drawn in this layout; pass the name of a module the model "
        "ran (see viz3d.trace(model, x).summary())"
    )


def _rgb(stack: SliceStack) -> list[np.ndarray]:
    flat = [np.asarray(p) for p in stack.pictures if np.ndim(p) == 2]
    # one colour range for the whole stack, so a weak channel looks weak
    coloured = iter(_colourise(np.stack(flat), stack.cmap)) if flat else iter(())
    return [next(coloured) if np.ndim(p) == 2 else np.asarray(p) for p in stack.pictures]


def render_feature_slices(
    layout: Layout,
    stacks: Sequence[SliceStack],
    *,
    title: str | None = None,
    title_suffix: str = "features",
) -> Scene:
    """The architecture with each stack's pictures as upright textured slices above its node.

    A stack is a grid of at most :data:`ROWS` slices per column, its strongest picture at the
    top left, joined to its node by a leader line. Stacks keep the architecture's order from left
    to right and never overlap.

    Parameters
    ----------
    layout : Layout
        From :func:`viz3d.layout.compute_layout`.
    stacks : sequence of SliceStack
        What to draw, and where.
    title : str, optional
        Defaults to ``"<model> - <title_suffix>"``.
    title_suffix : str, default: "features"
        What the view shows.

    Returns
    -------
    Scene
        Slice actors are named ``slice-<stack>-<picture>``.

    Examples
    --------
    >>> import numpy as np, torch, viz3d
    >>> from viz3d.layout import compute_layout
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
    >>> layout = compute_layout(viz3d.trace(model, torch.rand(1, 1, 6, 6)))
    >>> scene = render_feature_slices(layout, [SliceStack("0", [np.eye(4), np.ones((4, 4))])])
    >>> sorted(a.name for a in scene.actors if a.name.startswith("slice-"))
    ['slice-0-0', 'slice-0-1']
    """
    total = sum(len(s.pictures) for s in stacks)
    if not total:
        raise RenderError("no pictures to draw: every stack is empty")
    if total > MAX_SLICES:
        raise RenderError(f"{total} slices is too many to draw (at most {MAX_SLICES}); lower k")
    heading = title or f"{layout.info.get('model_name') or 'model'} - {title_suffix}"
    scene = build_scene(layout, color_by="activation", title=heading)
    lo, hi = layout.bounds
    anchors = [anchor_node(layout, s.layer) for s in stacks]
    order = sorted(range(len(stacks)), key=lambda s: layout.positions[anchors[s]][0])
    columns = [max(1, -(-len(stacks[s].pictures) // ROWS)) for s in order]
    length = float(max(hi[0] - lo[0], 4.0))
    # as large as the Grad-CAM view's maps, smaller when the stacks would not fit side by side
    cell = min(0.09 * length, length / (1.1 * sum(columns) + 0.4 * len(columns)))
    right = -np.inf
    leaders, label_points, label_texts = [], [], []
    for s, cols in zip(order, columns):
        stack, node = stacks[s], anchors[s]
        pictures = _rgb(stack)
        rows = min(len(pictures), ROWS)
        width = cols * 1.1 * cell
        anchor = layout.positions[node]
        centre_x = max(float(anchor[0]), right + 0.4 * cell + width / 2)
        right = centre_x + width / 2
        bottom = float(hi[2]) + 0.6 * cell
        for j, picture in enumerate(pictures):
            col, row = divmod(j, rows)
            centre = np.array(
                [
                    centre_x + (col - (cols - 1) / 2) * 1.1 * cell,
                    anchor[1],
                    bottom + (rows - row - 0.5) * 1.1 * cell,
                ]
            )
            scene.add_mesh(
                _upright_plane(centre, cell, cell), name=f"slice-{s}-{j}", texture=_texture(picture)
            )
        top_of_node = anchor[2] + layout.sizes[node][2] / 2
        leaders.append(
            np.array([[anchor[0], anchor[1], top_of_node], [centre_x, anchor[1], bottom]])
        )
        label_points.append([centre_x, anchor[1], bottom + rows * 1.1 * cell + 0.25 * cell])
        label_texts.append(stack.caption or stack.layer)
    scene.add_mesh(
        meshes.polylines(leaders), name="feature-leaders", color=LEADER_COLOR, line_width=2
    )
    scene.add_point_labels(
        label_points,
        label_texts,
        name="slice-captions",
        font_size=12,
        text_color=FOREGROUND,
        shape_opacity=0.0,
        show_points=False,
        always_visible=True,
    )
    bounds = np.asarray(scene.bounds)
    fit_camera(scene, bounds[0::2], bounds[1::2] + [0, 0, 0.6 * cell])
    scene.metadata["feature_slices"] = {
        stack.layer: len(stack.pictures) for stack in stacks if stack.pictures
    }
    return scene


def add_layer_maps(
    scene: Scene, layout: Layout, maps: Mapping[str, np.ndarray], *, cmap: str = "magma"
) -> dict[str, int]:
    """Draw each layer's activation maps as textured tiles on the front of its own box.

    The tiles stand just in front of the box's face towards the default camera (-y), in the
    grid that makes them largest within that face (at least :data:`MIN_TILE`), one colour range
    per layer. A drawn node standing for several layers (a collapsed or folded block) shows the
    last of them that ran; layers the layout does not draw are skipped. At most
    :data:`MAX_SLICES` tiles in all: beyond that, evenly spread layers keep theirs.

    Parameters
    ----------
    scene : Scene
        A scene built from ``layout`` (:func:`viz3d.render.build_scene`); changed in place.
    layout : Layout
        The layout the scene shows.
    maps : mapping of str to numpy.ndarray
        Module name -> its ``k x h x w`` maps, in run order
        (:func:`viz3d.features.layer_maps.first_channels`).
    cmap : str, default: "magma"
        Colour map of the maps.

    Returns
    -------
    dict of str to int
        The layers drawn and their number of tiles (also in ``scene.metadata["feature_maps"]``);
        tile actors are named ``map-<node>-<channel>``.

    Examples
    --------
    >>> import numpy as np, torch, viz3d
    >>> from viz3d.layout import compute_layout
    >>> from viz3d.render import build_scene
    >>> layout = compute_layout(viz3d.trace(torch.nn.Conv2d(1, 2, 3), torch.rand(1, 1, 6, 6)))
    >>> scene = build_scene(layout)
    >>> add_layer_maps(scene, layout, {"": np.random.rand(2, 4, 4)})
    {'': 2}
    """
    by_node: dict[int, SliceStack] = {}
    for name, pictures in maps.items():
        if len(pictures):
            try:
                node = anchor_node(layout, name)
            except RenderError:
                continue  # hidden in this view (a collapsed side branch): nothing to stand on
            by_node.pop(node, None)  # in run order: the last layer of a block wins
            by_node[node] = SliceStack(name, list(pictures), name, cmap)
    nodes = list(by_node)
    per = max((len(stack.pictures) for stack in by_node.values()), default=1)
    if len(nodes) * per > MAX_SLICES:
        keep = np.unique(np.linspace(0, len(nodes) - 1, MAX_SLICES // per).round().astype(int))
        nodes = [nodes[i] for i in keep]
    for node in nodes:
        stack = by_node[node]
        centres, side = _face_tiles(layout.positions[node], layout.sizes[node], len(stack.pictures))
        for j, (centre, picture) in enumerate(zip(centres, _rgb(stack))):
            scene.add_mesh(
                _upright_plane(centre, side, side),
                name=f"map-{node}-{j}",
                texture=_texture(picture),
            )
    drawn = {by_node[n].layer: len(by_node[n].pictures) for n in nodes}
    scene.metadata["feature_maps"] = drawn
    if drawn:
        legend = next((t for t in scene.texts if t.name == "legend"), None)
        note = f"tiles: first {per} channels of each conv output ({cmap}, one range per layer)"
        if legend is not None:
            scene.add_text(
                f"{legend.text}\n{note}",
                position=legend.position,
                font_size=legend.font_size,
                color=legend.color,
                name="legend",
            )
    return drawn


def _face_tiles(centre: np.ndarray, size: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Centres and side of ``k`` square tiles in the grid that is largest on the box's -y face."""
    width, height = float(size[0]), float(size[2])
    # a full grid (2 x 2, not 3 + 1) unless a ragged one has clearly larger tiles
    _, cols = max(
        (min(width / c, height / -(-k // c)) * (1.0 if k % c == 0 else 0.8), c)
        for c in range(1, k + 1)
    )
    rows = -(-k // cols)
    pitch = max(min(width / cols, height / rows), MIN_TILE * (1 + TILE_GAP))
    col, row = np.arange(k) % cols, np.arange(k) // cols
    centres = np.column_stack(
        [
            centre[0] + (col - (cols - 1) / 2) * pitch,
            np.full(k, centre[1] - size[1] / 2 - 0.03),
            centre[2] + ((rows - 1) / 2 - row) * pitch,
        ]
    )
    return centres, pitch / (1 + TILE_GAP)
