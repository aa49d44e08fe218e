"""Serpentine wrapping: a long chain of columns cut into rows stacked downwards (-z).

A straight layout of a deep model is a thin line that a 16:9 frame shows tiny. :func:`wrap_rows`
picks how many rows make the picture about as wide as the frame (:data:`ASPECT`) and where to
cut (at column boundaries crossed by the fewest edges, near evenly spaced targets);
:class:`Serpentine` moves each row under the previous one, every other row running back
(right to left), so consecutive rows are joined by U-turns at alternating ends; and
:meth:`Serpentine.route` draws an edge that crosses a row break around the turn.

All of it is O(N log N): sorting and searching over columns, one pass over edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: Width / height the wrapped picture aims at (the frame, less title, legend and colour bars).
ASPECT = 1.75
#: Vertical gap between consecutive rows.
ROW_GAP = 0.8
#: How far beyond the widest row the U-turns run.
TURN_GAP = 0.9
#: Share of a row's length searched on each side of an ideal cut for a quieter boundary.
CUT_WINDOW = 0.2


def crossings(n_columns: int, edge_layers: np.ndarray) -> np.ndarray:
    """Number of edges crossing the boundary after each column (``layer[u] <= c < layer[v]``).

    Examples
    --------
    >>> import numpy as np
    >>> crossings(4, np.array([[0, 1], [1, 2], [0, 3]])).tolist()
    [2, 2, 1, 0]
    """
    diff = np.zeros(n_columns + 1, dtype=int)
    if len(edge_layers):
        u, v = edge_layers[:, 0], edge_layers[:, 1]
        forward = v > u
        np.add.at(diff, u[forward], 1)
        np.add.at(diff, v[forward], -1)
    return np.cumsum(diff)[:n_columns]


def count_rows(length: float, height: float, depth: float = 0.0, aspect: float = ASPECT) -> int:
    """How many rows show a ``length`` x ``height`` strip largest in a frame of ``aspect``.

    ``depth`` is the strip's extent across (y), which the raised camera shows as extra height.
    The row count with the largest scale (frame size / picture size) wins, so a short model with
    a few tall blocks stays one row when that shows it larger, even if wider than 2:1; a long
    thin one wraps until its rows stop getting larger. On a tie (to
    1%) the picture nearer the frame's shape wins.

    Examples
    --------
    >>> count_rows(100.0, 4.0)
    4
    >>> count_rows(6.0, 4.0)
    1
    """
    options = [
        (*picture_scale(length / k, k, height, depth, aspect), k)
        for k in range(1, max(2, int(np.sqrt(length / max(height, 1e-9))) + 3))
    ]
    top = max(scale for scale, _, _ in options)
    return min((misfit, k) for scale, misfit, k in options if scale >= 0.99 * top)[1]


def picture_scale(
    row: float, k: int, height: float, depth: float = 0.0, aspect: float = ASPECT
) -> tuple[float, float]:
    """Scale (frame size / picture size, larger is better) of ``k`` rows, the longest ``row``
    long, each ``height`` high, and how far the picture's shape is from the frame's (the
    absolute log of the ratio of their aspects; 0 is a perfect fit).

    Examples
    --------
    >>> [round(v, 3) for v in picture_scale(25.0, 4, 4.0)]
    [0.054, 0.218]
    """
    width = row + (TURN_GAP if k > 1 else 0.0)
    tall = max(k * height + (k - 1) * ROW_GAP + 0.45 * depth, 1e-9)
    return min(aspect / width, 1.0 / tall), abs(float(np.log(width / tall / aspect)))


def wrap_rows(
    starts: np.ndarray, ends: np.ndarray, crossing: np.ndarray, n_rows: int
) -> np.ndarray:
    """Row of each column: cuts near ``k/n_rows`` of the length, at the least-crossed boundary
    (searched within :data:`CUT_WINDOW` of a row around the ideal cut, or anywhere after the
    previous cut when no column ends there).

    Parameters
    ----------
    starts, ends : numpy.ndarray of shape (C,)
        Left and right edge of each column (increasing).
    crossing : numpy.ndarray of shape (C,)
        Edges crossing the boundary after each column (:func:`crossings`).
    n_rows : int

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(8.0)
    >>> wrap_rows(x, x + 0.5, np.array([1, 1, 3, 1, 3, 3, 1, 0]), 2).tolist()
    [0, 0, 0, 0, 1, 1, 1, 1]
    """
    n = len(starts)
    rows = np.zeros(n, dtype=int)
    if n_rows <= 1 or n < 2:
        return rows
    length = ends[-1] - starts[0]
    per_row = length / n_rows
    previous = -1
    for k in range(1, n_rows):
        target = starts[0] + k * per_row
        lo = max(int(np.searchsorted(ends, target - CUT_WINDOW * per_row)), previous + 1)
        hi = min(int(np.searchsorted(ends, target + CUT_WINDOW * per_row)), n - 2)
        if lo > hi:  # no boundary near the ideal cut (a long unit): the nearest one anywhere
            lo, hi = previous + 1, n - 2
            if lo > hi:
                break
        window = np.arange(lo, hi + 1)
        # fewest crossing edges first, then closest to the ideal cut
        score = crossing[window] * per_row + np.abs(ends[window] - target)
        cut = int(window[np.argmin(score)])
        rows[cut + 1 :] += 1
        previous = cut
    return rows


@dataclass
class Serpentine:
    """Where each row of a straight layout goes: shifted left, mirrored when odd, moved down.

    A point ``(x, y, z)`` of row ``r`` goes to ``(x - start[r], y, z + drop[r])``, mirrored to
    ``width - (x - start[r])`` on odd rows so the data flows back.
    """

    start: np.ndarray
    drop: np.ndarray
    width: float
    top: np.ndarray
    bottom: np.ndarray

    @classmethod
    def stack(
        cls, start: np.ndarray, end: np.ndarray, top: np.ndarray, bottom: np.ndarray
    ) -> Serpentine:
        """Stack rows (their x range ``start..end`` and z range ``bottom..top``) downwards."""
        drop = np.zeros(len(start))
        for r in range(1, len(start)):
            drop[r] = drop[r - 1] + bottom[r - 1] - top[r] - ROW_GAP
        return cls(start, drop, float(np.max(end - start)), top + drop, bottom + drop)

    @property
    def n_rows(self) -> int:
        return len(self.start)

    def direction(self, row: int) -> float:
        """+1 where a row runs left to right, -1 where it runs back."""
        return -1.0 if row % 2 else 1.0

    def apply(self, points: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Move ``points`` (shape (M, 3)) of the given rows (shape (M,)) into place."""
        out = np.array(points, dtype=float, copy=True)
        local = out[:, 0] - self.start[rows]
        odd = rows % 2 == 1
        out[:, 0] = np.where(odd, self.width - local, local)
        out[:, 2] += self.drop[rows]
        return out

    def route(
        self,
        a: np.ndarray,
        b: np.ndarray,
        row_a: int,
        row_b: int,
        *,
        level: Literal["through", "over", "under"] = "through",
    ) -> np.ndarray:
        """Path of an edge from row ``row_a`` to a later row, around the turn after ``row_a``.

        ``a`` and ``b`` are the placed exit and entry points. ``"through"`` (the data flow
        from one row's end to the next row's start) runs level out of ``a`` to the turn, down
        it and level into ``b``. ``"over"`` (a skip connection) first rises above its rows and
        comes down onto ``b`` from above; ``"under"`` (a bus) runs below them and rises into
        ``b``: either way clear of every glyph in between.
        """
        side = self.width + TURN_GAP if row_a % 2 == 0 else -TURN_GAP
        if level == "through":
            return np.array([a, [side, a[1], a[2]], [side, b[1], b[2]], b])
        side += TURN_GAP / 2 * np.sign(side)
        if level == "over":
            high_a, high_b = self.top[row_a] + 0.3, self.top[row_b] + 0.3
        else:
            high_a, high_b = self.bottom[row_a] - 0.3, self.bottom[row_b] - 0.3
        return np.array(
            [
                a,
                [a[0], a[1], high_a],
                [side, a[1], high_a],
                [side, b[1], high_b],
                [b[0], b[1], high_b],
                b,
            ]
        )
