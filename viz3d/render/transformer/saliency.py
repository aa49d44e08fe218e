"""Saliency of each token as coloured 3D bars, each labelled with its share of the total."""

from __future__ import annotations

import numpy as np

from viz3d.render.scene import Scene
from viz3d.render.transformer import geometry

#: Tallest bar, in token spacings.
BAR_HEIGHT = 3.0


def draw_saliency(
    values: np.ndarray,
    labels: list[str],
    *,
    cmap: str = "inferno",
    title: str = "",
    subtitle: str = "",
) -> Scene:
    """One bar per token, as tall as its (non-negative) saliency.

    Examples
    --------
    >>> import numpy as np
    >>> scene = draw_saliency(np.array([1.0, 3.0]), ["a", "b"])
    >>> [s.labels for s in scene.point_labels if s.name == "share-labels"]
    [['25%', '75%']]
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    top = max(float(values.max()), 1e-12)
    heights = BAR_HEIGHT * values / top
    base = np.column_stack([np.arange(n, dtype=float), np.zeros(n), np.zeros(n)])
    scene = Scene(background=geometry.BACKGROUND)
    geometry.add_bars(
        scene,
        base,
        heights,
        values,
        footprint=0.72,
        cmap=cmap,
        clim=(0.0, top),
        bar_title="grad x input (L2)",
    )
    geometry.add_labels(
        scene, base + [0.0, -0.95, 0.0], labels, name="token-labels", font_size=15, height=0.3
    )
    shares = values / max(float(values.sum()), 1e-12)
    geometry.add_labels(
        scene,
        base + np.column_stack([np.zeros((n, 2)), heights + 0.35]),
        [f"{100 * s:.0f}%" for s in shares],
        name="share-labels",
        font_size=12,
        height=0.22,
        color="#b8c0d0",
    )
    geometry.frame_camera(
        scene, (-0.6, -1.3, 0), (n - 0.4, 0.6, BAR_HEIGHT + 0.6), direction=(-0.3, -1.0, 0.55)
    )
    if title:
        geometry.add_title(scene, title, subtitle)
    return scene
