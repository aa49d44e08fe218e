"""Attention as arcs between tokens: one vertical panel per head (or layer), keys below,
queries above, a tube from key to query for every weight over the threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from viz3d.render.scene import Scene
from viz3d.render.transformer import geometry

#: Height of one panel (keys to queries), in token spacings.
PANEL_HEIGHT = 2.6
#: Opacity classes: weights from each lower edge up get that opacity (few actors, readable depth).
OPACITY_STEPS = ((0.0, 0.3), (0.15, 0.6), (0.4, 0.95))


def draw_attention(
    panels: Sequence[tuple[int, int, np.ndarray, int, int]],
    labels: list[str],
    *,
    threshold: float = 0.02,
    cmap: str = "plasma",
    stacked: bool = False,
    title: str = "",
    subtitle: str = "",
) -> tuple[Scene, list[list[Any]]]:
    """The panels' arcs, tokens and labels.

    Parameters
    ----------
    panels : sequence of (layer, head, weights, depth, level)
        One ``(queries, keys)`` weight matrix each, drawn ``depth`` panels back and ``level``
        panels up (head ``-1``: a mean of heads).
    labels : list of str
        The tokens.
    threshold : float, default: 0.02
        Weights below it get no arc.
    cmap : str, default: "plasma"
        Colour map of the weights (0 to 1).
    stacked : bool, default: False
        The panels are layers stacked upwards (labelled by layer, not head).
    title, subtitle : str
        Shown at the top and bottom left.

    Returns
    -------
    scene : Scene
    arcs : list of list
        ``[layer, head, query, key, weight]`` of every arc drawn.

    Examples
    --------
    >>> import numpy as np
    >>> scene, arcs = draw_attention([(0, 1, np.array([[1.0, 0], [0.5, 0.5]]), 0, 0)],
    ...                              ["a", "b"])
    >>> arcs
    [[0, 1, 0, 0, 1.0], [0, 1, 1, 0, 0.5], [0, 1, 1, 1, 0.5]]
    """
    n = len(labels)
    gap = max(2.0, 0.6 * n)  # depth between head panels: room for the bowing arcs, panels apart
    curves, strengths, arcs = [], [], []
    rows: dict[tuple[int, int], None] = {}
    for layer, head, matrix, depth, level in panels:
        y, z0 = depth * gap, level * PANEL_HEIGHT
        rows[(depth, level)] = rows[(depth, level + 1)] = None
        for query, key in zip(*np.nonzero(matrix >= threshold), strict=True):
            start, end = np.array([key, y, z0]), np.array([query, y, z0 + PANEL_HEIGHT])
            bulge = np.array([0.0, -0.22 * abs(int(query) - int(key)) - 0.05, 0.0])
            curves.append(geometry.bezier(start, end, bulge))
            strengths.append(float(matrix[query, key]))
            arcs.append([layer, head, int(query), int(key), float(matrix[query, key])])
    scene = Scene(background=geometry.BACKGROUND)
    strengths_arr = np.asarray(strengths)
    edges = [low for low, _ in OPACITY_STEPS[1:]] + [np.inf]
    for (low, opacity), high in zip(OPACITY_STEPS, edges, strict=True):
        chosen = np.flatnonzero((strengths_arr >= low) & (strengths_arr < high))
        if not chosen.size:
            continue
        mesh = geometry.tubes([curves[i] for i in chosen], strengths_arr[chosen], (0.012, 0.09))
        scene.add_mesh(
            mesh,
            name=f"arcs-{low:g}",
            scalars="weight",
            cmap=cmap,
            clim=(0.0, 1.0),
            opacity=opacity,
            show_scalar_bar=True,
            scalar_bar_args=geometry.scalar_bar("attention weight\n"),
            smooth_shading=True,
        )
    depths = max(d for d, _ in rows) + 1
    levels = max(level for _, level in rows) + 1
    token_points = np.array([[i, d * gap, lv * PANEL_HEIGHT] for d, lv in rows for i in range(n)])
    scene.add_mesh(
        geometry.spheres(token_points, 0.16), name="tokens", color="#c9d1e0", smooth_shading=True
    )
    x = np.arange(n, dtype=float)
    top = (levels - 1) * PANEL_HEIGHT
    # receding panels foreshorten the rows: smaller labels overlap less
    font = 14 if depths == 1 else 12
    geometry.add_labels(
        scene,
        np.column_stack([x, np.zeros(n), np.full(n, -0.45)]),
        labels,
        name="key-labels",
        font_size=font,
        height=0.28,
    )
    back = (depths - 1) * gap  # queries labelled on the back panel, where no panel hides them
    geometry.add_labels(
        scene,
        np.column_stack([x, np.full(n, back), np.full(n, top + 0.45)]),
        labels,
        name="query-labels",
        font_size=font,
        height=0.28,
    )
    side = [
        (f"layer {layer}" if stacked else f"head {head}", depth * gap, (level + 0.5) * PANEL_HEIGHT)
        for layer, head, _, depth, level in panels
    ]
    geometry.add_labels(
        scene,
        np.array([[-1.3, y, z] for _, y, z in side]),
        [s for s, _, _ in side],
        name="panel-labels",
        font_size=12,
        height=0.25,
        color="#9aa3b5",
    )
    geometry.frame_camera(
        scene,
        (-1.8, -0.3 * n, -0.6),
        (n - 0.5, (depths - 1) * gap, top + 0.6),
        direction=(-0.65, -1.0, 0.5) if depths > 1 else (-0.15, -1.0, 0.25),
    )
    if title:
        geometry.add_title(scene, title, subtitle)
    return scene, arcs
