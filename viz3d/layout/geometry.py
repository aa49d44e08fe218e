"""Shape and size of each node's glyph: how a layer looks before it is placed.

* Layers with parameters are **boxes**; convolutions are a **slab-stack** (slices along the data
  flow). A box's *volume* grows with the parameter count (or FLOPs) on a stated scale:

  - ``"cbrt"`` (default): volume is proportional to the count - a layer with 8x the parameters
    has 8x the volume;
  - ``"log"``: the box's size (cube root of its volume) ~ log10(1 + count), for models whose
    layers differ by many orders of magnitude.

  Sizes are normalised so the biggest layer has the volume of a :data:`THICKNESS` x
  :data:`MAX_SIDE` x :data:`MAX_SIDE` slab, and clamped below at :data:`MIN_SIDE` so small
  layers stay visible.
* A box's **proportions** follow its output tensor, as TensorSpace and PlotNeuralNet draw it
  (:func:`tensor_proportions`): a feature map ``(B, C, H, W)`` is ``C`` long along the data flow
  (x) and ``H`` high (z) by ``W`` deep (y); a sequence ``(B, T, F)`` is a plate ``F`` high by
  ``T`` deep; a vector ``(B, F)`` a thin square plate. Channels are compressed by a logarithm,
  sizes by a square root, so a 2048-channel layer and a 3-channel image both stay visible; no
  box is more than :data:`MAX_ASPECT` times longer than it is thin. The proportions never change
  the volume: the size metric stays honest.
* Parameter-free operations are small and distinct: **spheres** for merges and arithmetic
  (``add``, ``cat``, ``mul``, ``matmul``), **discs** for activations, normalisations and
  everything else; model inputs and outputs are small plates shaped like their tensors.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from viz3d.errors import GraphError
from viz3d.graph import human

Scale = Literal["cbrt", "log"]

#: Side of the largest box (scene units; one layer gap is about 1).
MAX_SIDE = 4.0
#: Smallest side of a box with parameters.
MIN_SIDE = 0.6
#: Thickness of a vector's plate (and of the reference slab) as a fraction of its side.
THICKNESS = 0.3
#: Size of parameter-free op glyphs.
OP_SIZE = 0.45
#: Length along the flow per doubling of a feature map's channels, relative to sqrt(H) across.
CHANNEL_SCALE = 0.5
#: Most elongation of a box: its longest side over its shortest.
MAX_ASPECT = 8.0
#: Longest side of any box; a model whose biggest box would be longer is drawn smaller as a
#: whole (every volume by the same factor, so the size metric stays honest).
MAX_EXTENT = 2.5 * MAX_SIDE
#: Thinnest side of any box, so a plate seen edge-on stays visible.
MIN_EXTENT = 0.12
#: Side of the model's input and output plates (their volume is fixed: they are data).
IO_SIDE = 0.9

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


def tensor_proportions(shape: Sequence[int] | None) -> tuple[float, float, float]:
    """Relative extents ``(along the flow x, across y, up z)`` of a box for an output ``shape``.

    A feature map ``(B, C, H, W)`` (or ``(B, C, D, H, W)``; channels-last ``(B, H, W, C)`` when
    its two middle sizes match and the last differs) is :data:`CHANNEL_SCALE` ``* (1 + log2 C)``
    along the flow, ``sqrt W`` deep and ``sqrt H`` high; a sequence ``(B, T, F)`` is ``sqrt T``
    deep and ``sqrt F`` high, as thin along the flow as a vector's plate; a vector ``(B, F)``, or
    an unknown shape, is a square plate :data:`THICKNESS` thick. The shortest side is at least
    ``1 /`` :data:`MAX_ASPECT` of the longest.

    Examples
    --------
    >>> from viz3d.layout.geometry import tensor_proportions
    >>> [round(p, 2) for p in tensor_proportions([1, 64, 16, 16])]
    [3.5, 4.0, 4.0]
    >>> [round(p, 2) for p in tensor_proportions([1, 16, 768])]
    [3.46, 4.0, 27.71]
    >>> tensor_proportions([1, 10])
    (0.3, 1.0, 1.0)
    """
    dims = [max(int(d), 1) for d in (shape or [])]
    if len(dims) >= 4:
        channels, high, wide = dims[1], dims[-2], dims[-1]
        if len(dims) == 4 and dims[1] == dims[2] and dims[2] != dims[3]:
            channels, high, wide = dims[3], dims[1], dims[2]  # channels-last (B, H, W, C)
        flow, across, up = (
            CHANNEL_SCALE * (1.0 + math.log2(channels)),
            math.sqrt(wide),
            math.sqrt(high),
        )
    elif len(dims) == 3:
        across, up = math.sqrt(dims[1]), math.sqrt(dims[2])
        flow = THICKNESS * math.sqrt(across * up)
    else:
        flow, across, up = THICKNESS, 1.0, 1.0
    floor = max(flow, across, up) / MAX_ASPECT
    return max(flow, floor), max(across, floor), max(up, floor)


def glyph_size(kind: str, side: float, shape: Sequence[int] | None = None) -> np.ndarray:
    """Extent ``(dx, dy, dz)`` of one glyph of ``kind`` with size ``side``.

    A box (or slab-stack) has the volume of a ``THICKNESS * side`` x ``side`` x ``side`` slab
    and the proportions of its output tensor ``shape`` (see :func:`tensor_proportions`); without
    a shape it is that slab. Spheres and discs have a fixed size.

    Examples
    --------
    >>> from viz3d.layout.geometry import glyph_size
    >>> glyph_size("box", 2.0).round(2).tolist()
    [0.6, 2.0, 2.0]
    >>> glyph_size("slab-stack", 2.0, [1, 64, 4, 4]).round(2).tolist()
    [1.94, 1.11, 1.11]
    """
    if kind in ("box", "slab-stack"):
        return _boxes(np.array([tensor_proportions(shape)]), np.array([float(side)]))[0]
    if kind == "sphere":
        return np.array([OP_SIZE, OP_SIZE, OP_SIZE])
    return np.array([0.12, OP_SIZE * 1.3, OP_SIZE * 1.3])


def glyph_sizes(
    attrs: Sequence[Mapping[str, Any]], kinds: Sequence[str], sides: np.ndarray
) -> np.ndarray:
    """Extents ``(N, 3)`` of every node's glyph: :func:`glyph_size` with each node's output shape.

    Model inputs and outputs are plates of a fixed volume (side :data:`IO_SIDE`) shaped like
    their tensors. If the longest side of any box would exceed :data:`MAX_EXTENT`, every box
    shrinks by the same factor, so volume ratios (the size metric) are kept.

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.layout.geometry import glyph_sizes
    >>> attrs = [{"kind": "module", "out_shapes": [[1, 64, 4, 4]]}, {"kind": "op"}]
    >>> glyph_sizes(attrs, ["slab-stack", "sphere"], np.array([2.0, 0.6])).round(2).tolist()
    [[1.94, 1.11, 1.11], [0.45, 0.45, 0.45]]
    """
    n = len(attrs)
    kinds_arr = np.asarray(kinds, dtype=object)
    io = np.array([a.get("kind") in ("input", "output") for a in attrs], dtype=bool)
    boxed = np.isin(kinds_arr, ("box", "slab-stack")) & ~io
    sizes = np.where(
        (kinds_arr == "sphere")[:, None], glyph_size("sphere", 0.0), glyph_size("disc", 0.0)
    )
    proportions = functools.lru_cache(maxsize=None)(tensor_proportions)  # shapes repeat
    for sel, side in ((boxed, np.asarray(sides, dtype=float)), (io, np.full(n, IO_SIDE))):
        if sel.any():
            shapes = np.array([proportions(_first_shape(attrs[i])) for i in np.flatnonzero(sel)])
            sizes[sel] = _boxes(shapes, side[sel])
    longest = float(sizes[boxed].max()) if boxed.any() else 0.0
    if longest > MAX_EXTENT:
        sizes[boxed] *= MAX_EXTENT / longest
    sizes[boxed | io] = np.maximum(sizes[boxed | io], MIN_EXTENT)
    return sizes


def scale_legend(scale: Scale, reference: float, what: str = "params") -> str:
    """The sentence stating the size scale (and what shapes the boxes), for the scene's legend.

    Examples
    --------
    >>> from viz3d.layout.geometry import scale_legend
    >>> print(scale_legend("cbrt", 2.4e6))
    box volume ~ params (cube root scale); largest = 2.4M params
    box proportions = output tensor: channels×H×W, tokens×features
    """
    rule = (
        f"box volume ~ {what} (cube root scale)"
        if scale == "cbrt"
        else f"box size ~ log10(1 + {what}), volume ~ its cube"
    )
    return (
        f"{rule}; largest = {human(reference)} {what}\n"
        "box proportions = output tensor: channels×H×W, tokens×features"
    )


def _boxes(proportions: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """Extents with the given proportions and the volume of ``THICKNESS * s`` x ``s`` x ``s``."""
    volume = THICKNESS * sides**3
    return proportions * np.cbrt(volume / np.prod(proportions, axis=1))[:, None]


def _first_shape(attrs: Mapping[str, Any]) -> tuple[int, ...] | None:
    shapes = attrs.get("out_shapes") or []
    return tuple(shapes[0]) if shapes and isinstance(shapes[0], list | tuple) else None


def _transform(scale: Scale):
    if scale == "cbrt":
        return np.cbrt
    if scale == "log":
        return np.log1p
    raise GraphError(f"size scale must be 'cbrt' or 'log', got {scale!r}")
