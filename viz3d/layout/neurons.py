"""Neuron points: a sampled grid of each layer's output units, coloured by traced activation.

A layer with ``n`` neurons (out features of a Linear/attention layer, channels of a conv) gets
``min(n, cap)`` evenly spaced samples laid out as a near-square grid on the glyph's face that
looks back along the main axis (-x, towards the default camera). Conv layers (``"slab-stack"``)
spread their channels over the faces of the stacked slices instead, one block of channels per
slice.

A point's value is the traced mean activation of one neuron. The trace keeps ``k <= 256`` of
them (``stats["neurons"]``), sample ``j`` being neuron ``floor(j * n / k)``
(:func:`viz3d.trace.stats.sample_index`). With ``m <= k`` points, point ``i`` shows sample
``floor(i * k / m)``: the same evenly spread rule applied to the samples, so every point is a real
neuron (with the default caps, ``m == k`` and point ``i`` is sample ``i``). With more points than
samples, point ``i`` stands for neuron ``floor(i * n / m)`` and shows the last sample at or before
it. ``NaN`` (drawn in the "no data" colour) when the trace has no activations (``meta`` device) or
the neuron had no finite value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Default most neuron points per layer.
NEURON_CAP = 256
#: Number of slices drawn for a conv layer's channel stack.
SLICES = 4
#: Fraction of a conv layer's thickness filled by its slices (the rest is the gaps).
SLICE_FILL = 0.55


def neuron_count(attrs: Mapping[str, Any]) -> int:
    """Number of neurons of a node: ``stats["neuron_count"]``, else the last output dim
    (or dim 1 for 4D/5D outputs, the conv channels); 0 for inputs/outputs and unknown shapes.

    Examples
    --------
    >>> from viz3d.layout.neurons import neuron_count
    >>> neuron_count({"kind": "module", "out_shapes": [[2, 16, 8, 8]], "stats": None})
    16
    >>> neuron_count({"kind": "module", "out_shapes": [[2, 10]], "stats": None})
    10
    """
    if attrs.get("kind") in ("input", "output"):
        return 0
    stats = attrs.get("stats") or {}
    if stats.get("neuron_count"):
        return int(stats["neuron_count"])
    shapes = attrs.get("out_shapes") or []
    if not shapes or not shapes[0]:
        return 0
    shape = shapes[0]
    return int(shape[1] if len(shape) in (4, 5) else shape[-1])


def neuron_grid(
    attrs: Mapping[str, Any],
    center: np.ndarray,
    size: np.ndarray,
    kind: str,
    cap: int = NEURON_CAP,
) -> tuple[np.ndarray, np.ndarray]:
    """Points and values of a node's sampled neurons.

    Parameters
    ----------
    attrs : mapping
        The node's LayerGraph attributes (``stats``, ``out_shapes``, ``kind``).
    center, size : array of shape (3,)
        The glyph's centre and extent.
    kind : str
        The glyph kind (see :func:`viz3d.layout.geometry.shape_kind`).
    cap : int, default: 256
        Most points for this node.

    Returns
    -------
    points : numpy.ndarray of shape (m, 3)
    values : numpy.ndarray of shape (m,)
        ``m <= cap``; values are ``NaN`` without traced activations.

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.layout.neurons import neuron_grid
    >>> attrs = {"kind": "module", "out_shapes": [[1, 1000]], "stats": None}
    >>> pts, vals = neuron_grid(attrs, np.zeros(3), np.array([0.3, 2.0, 2.0]), "box", cap=64)
    >>> pts.shape, bool(np.isnan(vals).all())
    ((64, 3), True)
    """
    total = neuron_count(attrs)
    m = min(total, max(int(cap), 0))
    if m == 0 or kind not in ("box", "slab-stack"):
        return np.empty((0, 3)), np.empty(0)
    values = _values(attrs.get("stats"), m, total)
    if kind == "slab-stack":
        slices = min(SLICES, m)
        per = -(-m // slices)
        # on the -x face of each slice (towards the default camera), where no slice hides them
        xs = _slice_x(center, size, slices) - size[0] * SLICE_FILL / SLICES / 2 - 0.02
        points = np.concatenate(
            [
                _face_grid(min(per, m - s * per), xs[s], center, size)
                for s in range(slices)
                if s * per < m
            ]
        )
    else:
        points = _face_grid(m, center[0] - size[0] / 2 - 0.02, center, size)
    return points, values


def slice_centers(center: np.ndarray, size: np.ndarray, slices: int = SLICES) -> np.ndarray:
    """x positions of the slices of a conv layer's stack (front to back along +x).

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.layout.neurons import slice_centers
    >>> slice_centers(np.zeros(3), np.array([1.0, 2, 2]), 2).tolist()
    [-0.25, 0.25]
    """
    return _slice_x(center, size, slices)


def _slice_x(center: np.ndarray, size: np.ndarray, slices: int) -> np.ndarray:
    step = size[0] / slices
    return center[0] - size[0] / 2 + step * (np.arange(slices) + 0.5)


def _face_grid(m: int, x: float, center: np.ndarray, size: np.ndarray) -> np.ndarray:
    """``m`` points in a near-square grid on the y-z face at ``x``, inset from the edges."""
    cols = int(np.ceil(np.sqrt(m)))
    rows = int(np.ceil(m / cols))
    inset = 0.82
    ys = (np.arange(cols) + 0.5) / cols - 0.5
    zs = 0.5 - (np.arange(rows) + 0.5) / rows
    gy, gz = np.meshgrid(ys, zs)
    pts = np.column_stack(
        [
            np.full(gy.size, x),
            center[1] + inset * size[1] * gy.ravel(),
            center[2] + inset * size[2] * gz.ravel(),
        ]
    )
    return pts[:m]


def _values(stats: Mapping[str, Any] | None, m: int, total: int) -> np.ndarray:
    """Traced mean activations shown by ``m`` points of a layer of ``total`` neurons."""
    samples = np.asarray((stats or {}).get("neurons") or [], dtype=float)
    k = samples.size
    if k == 0:
        return np.full(m, np.nan)
    if m <= k:
        return samples[np.arange(m) * k // m]
    neuron = np.arange(m) * total // m
    # sample j is neuron floor(j * total / k), which is <= i exactly when j < (i + 1) * k / total
    return samples[np.clip(((neuron + 1) * k - 1) // max(total, 1), 0, k - 1)]
