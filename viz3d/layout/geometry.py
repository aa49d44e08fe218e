"""Shape and size of each node's glyph: how a layer looks before it is placed.

* Layers with parameters are **boxes** (thin slabs facing the main axis); convolutions are a
  **slab-stack** (their channels as stacked slices). The box volume grows with the parameter
  count (or FLOPs) on a stated scale:

  - ``"cbrt"`` (default): side ~ cube root of the count, so *volume is proportional to the
    count* - a layer with 8x the parameters has 8x the volume;
  - ``"log"``: side ~ log10(1 + count), for models whose layers differ by many orders of
    magnitude.

  Sides are normalised so the biggest layer has side :data:`MAX_SIDE` and clamped below at
  :data:`MIN_SIDE` so small layers stay visible.
* Parameter-free operations are small and distinct: **spheres** for merges and arithmetic
  (``add``, ``cat``, ``mul``, ``matmul``), **discs** for activations, normalisations and
  everything else; model inputs and outputs are small flat boxes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from viz3d.errors import GraphError
from viz3d.graph import human

Scale = Literal["cbrt", "log"]

#: Side of the largest box (scene units; one layer gap is about 1).
MAX_SIDE = 4.0
#: Smallest side of a box with parameters.
MIN_SIDE = 0.6
#: Box thickness along the main axis, as a fraction of its side.
THICKNESS = 0.3
#: Size of parameter-free op glyphs.
OP_SIZE = 0.45

KINDS = ("box", "sphere", "disc", "slab-stack")

_MERGE_OPS = {
    "add",
    "sub",
    "mul",
    "div",
    "cat",
    "stack",
    "matmul",
    "bmm",
    "mm",
    "einsum",
    "baddbmm",
    "addmm",
}
_MERGE_CATEGORIES = {"arith", "matmul"}


def shape_kind(attrs: Mapping[str, Any]) -> str:
    """Glyph kind of a node: ``"box"``, ``"slab-stack"``, ``"sphere"`` or ``"disc"``.

    Examples
    --------
    >>> from viz3d.layout.geometry import shape_kind
    >>> shape_kind({"kind": "module", "type": "Conv2d", "params": 448})
    'slab-stack'
    >>> shape_kind({"kind": "op", "type": "add", "category": "arith", "params": 0})
    'sphere'
    >>> shape_kind({"kind": "module", "type": "ReLU", "params": 0})
    'disc'
    """
    kind = attrs.get("kind", "op")
    if kind in ("input", "output"):
        return "box"
    if attrs.get("params", 0) > 0 or attrs.get("repeat", 1) > 1:
        return "slab-stack" if "conv" in str(attrs.get("type", "")).lower() else "box"
    op = str(attrs.get("type", "")).lower()
    if op in _MERGE_OPS or attrs.get("category") in _MERGE_CATEGORIES:
        return "sphere"
    return "disc"


def scaled_side(
    values: np.ndarray, *, scale: Scale = "cbrt", reference: float | None = None
) -> np.ndarray:
    """Side lengths for counts ``values`` on ``scale``, the largest (or ``reference``) -> MAX_SIDE.

    Parameters
    ----------
    values : array of float
        Parameter counts (or FLOPs); zeros give :data:`MIN_SIDE`.
    scale : {"cbrt", "log"}, default: "cbrt"
        See the module docstring.
    reference : float, optional
        The count drawn with side :data:`MAX_SIDE` (default: the largest of ``values``).

    Returns
    -------
    numpy.ndarray
        Sides, monotone non-decreasing in ``values``, within ``[MIN_SIDE, MAX_SIDE]``.

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.layout.geometry import scaled_side
    >>> scaled_side(np.array([0, 1000, 8000])).round(2)
    array([0.6, 2. , 4. ])
    """
    values = np.maximum(np.asarray(values, dtype=float), 0.0)
    transform = _transform(scale)
    top = transform(
        float(reference if reference is not None else (values.max() if values.size else 0.0))
    )
    if top <= 0:
        return np.full(values.shape, MIN_SIDE)
    return np.clip(MAX_SIDE * transform(values) / top, MIN_SIDE, MAX_SIDE)


def glyph_size(kind: str, side: float) -> np.ndarray:
    """Extent ``(dx, dy, dz)`` of a glyph of ``kind`` with face side ``side``.

    Examples
    --------
    >>> from viz3d.layout.geometry import glyph_size
    >>> glyph_size("box", 2.0).tolist()
    [0.6, 2.0, 2.0]
    """
    if kind in ("box", "slab-stack"):
        return np.array([THICKNESS * side, side, side])
    if kind == "sphere":
        return np.array([OP_SIZE, OP_SIZE, OP_SIZE])
    return np.array([0.12, OP_SIZE * 1.3, OP_SIZE * 1.3])


def scale_legend(scale: Scale, reference: float, what: str = "params") -> str:
    """The sentence stating the size scale, for the scene's legend.

    Examples
    --------
    >>> from viz3d.layout.geometry import scale_legend
    >>> scale_legend("cbrt", 2.4e6)
    'box volume ~ params (side ~ cube root); largest = 2.4M params'
    """
    rule = (
        "box volume ~ " + what + " (side ~ cube root)"
        if scale == "cbrt"
        else f"box side ~ log10(1 + {what})"
    )
    return f"{rule}; largest = {human(reference)} {what}"


def _transform(scale: Scale):
    if scale == "cbrt":
        return np.cbrt
    if scale == "log":
        return np.log1p
    raise GraphError(f"size scale must be 'cbrt' or 'log', got {scale!r}")
