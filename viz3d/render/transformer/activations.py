"""Token activations as a grid of 3D bars: tokens along x, rows (layers) along y."""

from __future__ import annotations

import numpy as np

from viz3d.render.scene import Scene
from viz3d.render.transformer import geometry

#: Tallest bar, in token spacings.
BAR_HEIGHT = 2.4
#: Distance between layer rows, in token spacings (wide enough to see over a row into the next).
ROW_GAP = 1.6


def draw_token_activations(
    values: np.ndarray,
    rows: list[str],
    labels: list[str],
    *,
    cmap: str = "viridis",
    bar_title: str = "L2 norm",
    title: str = "",
    subtitle: str = "",
) -> Scene:
    """Bars whose height and colour give ``values`` (``rows x tokens``).

    Examples
    --------
    >>> import numpy as np
    >>> scene = draw_token_activations(np.ones((2, 3)), ["a", "b"], ["x", "y", "z"])
    >>> [a.name for a in scene.actors][:2]
    ['bars', 'floor']
    """
    values = np.asarray(values, dtype=float)
    n_rows, n_tokens = values.shape
    x, y = np.meshgrid(np.arange(n_tokens, dtype=float), ROW_GAP * np.arange(n_rows, dtype=float))
    low = min(float(values.min()), 0.0)
    span = max(float(values.max()) - low, 1e-12)
    heights = BAR_HEIGHT * (values - low) / span
    scene = Scene(background=geometry.BACKGROUND)
    base = np.column_stack([x.ravel(), y.ravel(), np.zeros(x.size)])
    clim = (
        float(values.min()),
        float(values.max()) if values.max() > values.min() else float(values.min()) + 1,
    )
    geometry.add_bars(
        scene,
        base,
        heights.ravel(),
        values.ravel(),
        footprint=0.7,
        cmap=cmap,
        clim=clim,
        bar_title=bar_title,
    )
    y_end = ROW_GAP * (n_rows - 1)
    geometry.add_labels(
        scene,
        np.column_stack([np.arange(n_tokens), np.full(n_tokens, -1.0), np.zeros(n_tokens)]),
        labels,
        name="token-labels",
        font_size=15,
        height=0.3,
    )
    geometry.add_labels(
        scene,
        np.column_stack([np.full(n_rows, -1.6), y[:, 0], np.zeros(n_rows)]),
        rows,
        name="row-labels",
        font_size=12,
        height=0.25,
        facing="+z",
    )
    geometry.frame_camera(
        scene,
        (-2.5, -1.3, 0),
        (n_tokens - 0.5, y_end + 0.5, BAR_HEIGHT),
        direction=(-0.45, -1.0, 1.35),
    )
    if title:
        geometry.add_title(scene, title, subtitle)
    return scene
