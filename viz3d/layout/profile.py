"""Height that follows resolution, so U-Nets show their U and autoencoders their hourglass.

A node's *level* is ``log2`` of its output's spatial size (height x width for feature maps);
flat vectors sit below every feature map, lower the fewer features they have (a latent code is
the bottom). When the levels along the main axis fall to a minimum and rise again by the end
(:func:`u_levels` decides), each column is raised by its level: the encoder descends, the
bottleneck is lowest and the decoder climbs back, and skip connections become bridges across.
Classifiers, whose resolution only falls, stay level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Height of the whole U (top to bottom) as a share of the straight layout's length.
DEPTH_SHARE = 0.55
#: Least fall and rise (in levels, ``log2`` of the spatial size) that counts as a U.
MIN_SWING = 1.0


def node_level(out_shapes: Sequence[Sequence[int]] | None) -> tuple[float, float] | None:
    """``(spatial level, features)`` of a node's first output, or ``None`` without one.

    Feature maps (4+ dims) have level ``log2(H*W...)``; vectors and sequences have level
    ``-inf`` (they are placed below all feature maps) and their last dimension as features.

    Examples
    --------
    >>> node_level([[1, 8, 32, 32]])
    (10.0, 8.0)
    >>> node_level([[1, 2048]])
    (-inf, 2048.0)
    """
    if not out_shapes or not out_shapes[0]:
        return None
    shape = [int(s) for s in out_shapes[0]]
    if len(shape) >= 4:
        return float(np.log2(max(np.prod(shape[2:]), 1))), float(shape[1])
    return float("-inf"), float(max(shape[-1], 1))


def u_levels(attrs: Sequence[dict[str, Any]], layers: np.ndarray) -> np.ndarray | None:
    """Level of each column, or ``None`` when resolution does not fall and rise again.

    Vectors get the level one below the smallest feature map, lowered further (up to one more
    level) the fewer features they have. Columns without shapes take their neighbours' level.

    Examples
    --------
    >>> import numpy as np
    >>> shapes = [[1, 1, 32, 32], [1, 8, 16, 16], [1, 32], [1, 8, 16, 16], [1, 1, 32, 32]]
    >>> u_levels([{"out_shapes": [s]} for s in shapes], np.arange(5)).tolist()
    [10.0, 8.0, 7.0, 8.0, 10.0]
    >>> u_levels([{"out_shapes": [s]} for s in shapes[:3]], np.arange(3)) is None
    True
    """
    found = [node_level(a.get("out_shapes")) for a in attrs]
    spatial = [lv for lv in found if lv and np.isfinite(lv[0])]
    if len(spatial) < 3:
        return None
    floor = min(lv[0] for lv in spatial) - 1
    widest = max((lv[1] for lv in found if lv and not np.isfinite(lv[0])), default=1.0)
    level = np.full(len(attrs), np.nan)
    for i, lv in enumerate(found):
        if lv is None:
            continue
        fewer = 1 - np.log2(lv[1]) / np.log2(max(widest, 2))
        level[i] = lv[0] if np.isfinite(lv[0]) else floor - fewer
    n_columns = int(layers.max()) + 1
    total, count = np.zeros(n_columns), np.zeros(n_columns)
    known = np.isfinite(level)
    np.add.at(total, layers[known], level[known])
    np.add.at(count, layers[known], 1)
    have = count > 0
    columns = np.arange(n_columns)
    by_column = np.interp(columns, columns[have], total[have] / count[have])
    low = int(np.argmin(by_column))
    falls = by_column[: low + 1].max() - by_column[low] >= MIN_SWING
    rises = by_column[-1] - by_column[low] >= MIN_SWING
    return by_column if falls and rises else None


def column_heights(levels: np.ndarray, length: float) -> np.ndarray:
    """z of each column: the highest level at 0, the U's depth :data:`DEPTH_SHARE` x ``length``.

    Examples
    --------
    >>> column_heights(np.array([10.0, 8.0, 10.0]), 10.0).tolist()
    [0.0, -5.5, 0.0]
    """
    span = max(float(np.ptp(levels)), 1e-9)
    return (levels - levels.max()) / span * DEPTH_SHARE * length
