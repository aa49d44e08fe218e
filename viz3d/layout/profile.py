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

#: Height of the whole U (top to bottom) as a share of its width: a staircase U (levels side
#: by side) and one drawn as two arms (:func:`fold_arms`).
DEPTH_SHARE = 0.32
ARM_DEPTH_SHARE = 0.42
#: Least median number of columns per level for a U to be drawn as two arms: shorter levels
#: (an autoencoder's one or two layers each) would stand on top of each other.
ARM_RUN = 3
#: Least fall and rise (in levels, ``log2`` of the spatial size) that counts as a U.
MIN_SWING = 1.0
#: Share of the usual gap kept between neighbouring columns on one level of a U: the U is
#: as wide as its chain is long, so tighter levels leave its blocks larger in the frame.
LEVEL_GAP_SHARE = 0.5
#: Clearance of a skip bridge over the highest glyph it passes.
BRIDGE = 0.3


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


def column_heights(levels: np.ndarray, length: float, share: float = DEPTH_SHARE) -> np.ndarray:
    """z of each column: the highest level at 0, the U's depth ``share`` x ``length``.

    Examples
    --------
    >>> column_heights(np.array([10.0, 8.0, 10.0]), 10.0, 0.5).tolist()
    [0.0, -5.0, 0.0]
    """
    span = max(float(np.ptp(levels)), 1e-9)
    return (levels - levels.max()) / span * share * length


def tighten(column_x: np.ndarray, thickness: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Column centres with the gaps between neighbours on one level cut to
    :data:`LEVEL_GAP_SHARE`; gaps where the level changes (the U's descents and climbs) stay.

    Examples
    --------
    >>> import numpy as np
    >>> tighten(np.array([0.0, 2.0, 4.0]), np.ones(3), np.array([3.0, 3.0, 2.0])).tolist()
    [0.0, 1.5, 3.5]
    """
    gaps = np.diff(column_x) - (thickness[:-1] + thickness[1:]) / 2
    gaps = np.where(np.diff(levels) == 0, gaps * LEVEL_GAP_SHARE, gaps)
    steps = (thickness[:-1] + thickness[1:]) / 2 + gaps
    return column_x[0] + np.concatenate([[0.0], np.cumsum(steps)])


def bridges(
    layers: np.ndarray,
    positions: np.ndarray,
    sizes: np.ndarray,
    edge_index: np.ndarray,
    edge_points: list[np.ndarray],
    edge_skip: np.ndarray,
) -> list[np.ndarray]:
    """Skip connections of a U as low bridges across its hollow instead of high arcs.

    A skip edge rises from the top of its source just above the highest glyph between its
    ends, runs level across and comes down onto its target: between the encoder and the
    decoder of one level that is barely above the level itself, so the picture keeps the
    height of the U and is framed larger.

    Examples
    --------
    >>> import numpy as np
    >>> pos = np.array([[0.0, 0, 0], [1, 0, -3], [2, 0, 0]])
    >>> arc = [np.array([[0.0, 0, 0], [1, 0, 9], [2, 0, 0]])]
    >>> bridge = bridges(np.arange(3), pos, np.ones((3, 3)), np.array([[0, 2]]), arc, [True])
    >>> bridge[0][:, 2].tolist()
    [0.5, 0.8, 0.8, 0.5]
    """
    top = positions[:, 2] + sizes[:, 2] / 2
    out = list(edge_points)
    for k in np.flatnonzero(edge_skip):
        i, j = edge_index[k]
        between = (layers > layers[i]) & (layers < layers[j])
        height = max(top[between].max() if between.any() else -np.inf, top[i], top[j]) + BRIDGE
        a = positions[i] + [0, 0, sizes[i, 2] / 2]
        b = positions[j] + [0, 0, sizes[j, 2] / 2]
        out[k] = np.array([a, [a[0], a[1], height], [b[0], b[1], height], b])
    return out


def fold_arms(column_x: np.ndarray, thickness: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Column centres of a U drawn as two arms: the levels before the lowest stand right-aligned
    one under the other (the encoder arm), the lowest level to their right, and the levels
    after it left-aligned one over the other (the decoder arm), so the U is about three levels
    wide instead of all of them.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(7.0)
    >>> fold_arms(x, np.full(7, 0.5), np.array([3, 3, 2, 1, 2, 3, 3.0])).tolist()
    [0.0, 0.75, 0.75, 1.75, 2.75, 2.75, 3.5]
    """
    column_x = tighten(column_x, thickness, levels)
    change = np.flatnonzero(np.diff(levels) != 0) + 1
    runs = np.split(np.arange(len(levels)), change)
    low = int(np.argmin([levels[r[0]] for r in runs]))
    # the gap kept where the level changes
    gaps = np.diff(column_x) - (thickness[:-1] + thickness[1:]) / 2
    gap = float(gaps[change - 1].min()) if len(change) else 0.0
    out = column_x.copy()
    # encoder runs end where the longest of them ends
    ends = [column_x[r[-1]] - column_x[r[0]] for r in runs[:low]]
    inner = max(ends, default=0.0)
    for r, length in zip(runs[:low], ends):
        out[r] = column_x[r] - column_x[r[0]] + inner - length
    start = (
        inner + thickness[runs[low - 1][-1]] / 2 + gap + thickness[runs[low][0]] / 2 if low else 0
    )
    out[runs[low]] = column_x[runs[low]] - column_x[runs[low][0]] + start
    last = runs[low][-1]
    begin = out[last] + gap + thickness[last] / 2
    for r in runs[low + 1 :]:
        out[r] = column_x[r] - column_x[r[0]] + begin + thickness[r[0]] / 2
    return out


def shape_u(
    column_x: np.ndarray, thickness: np.ndarray, levels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Column centres and heights of a U: two arms (:func:`fold_arms`) when its levels hold
    at least :data:`ARM_RUN` columns each (median), else a staircase of levels side by side
    with the gaps on each level tightened (:func:`tighten`).

    Examples
    --------
    >>> import numpy as np
    >>> x, z = shape_u(np.arange(5.0), np.full(5, 0.5), np.array([3, 2, 1, 2, 3.0]))
    >>> x.tolist(), z.tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, -0.64, -1.28, -0.64, 0.0])
    """
    runs = np.diff(np.flatnonzero(np.r_[True, np.diff(levels) != 0, True]))
    if np.median(runs) >= ARM_RUN:
        x = fold_arms(column_x, thickness, levels)
        return x, column_heights(levels, float(np.ptp(x)), ARM_DEPTH_SHARE)
    x = tighten(column_x, thickness, levels)
    return x, column_heights(levels, float(np.ptp(x)))
