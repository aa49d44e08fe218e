"""What colour each layer gets: the colour modes, their colour maps, ranges and legend titles.

``color_by``:

* ``"activation"`` (default) - the RMS of the layer's traced output, ``sqrt(mean**2+std**2)``;
  layers without activations (``meta`` traces) fall back to ``"params"``.
* ``"params"`` / ``"flops"`` - log10 of the count, so a 100x bigger layer is 2 steps brighter.
* ``"type"`` - one fixed colour per layer class (same class, same colour, across models).
* a :class:`ValueColoring` - your own value per module (gradient norms, say).

Neurons are always coloured by their signed mean activation on a diverging map centred on 0.

Colour ranges come from the finite values only; a layer or neuron whose value is NaN or infinite
is drawn in :data:`NAN_COLOR` ("no data"), never at an end of the scale. A scalar range runs
from the smallest to the largest value unless a few outliers would squeeze everything else into
a corner of the map: then the outliers take the end colours and the colour-bar title says
"outliers clipped" (the rule is in :func:`color_range`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from viz3d.errors import RenderError
from viz3d.layout import Layout

log = logging.getLogger(__name__)

ColorBy = Literal["activation", "params", "flops", "type"]

#: Colour maps (matplotlib names understood by PyVista).
NODE_CMAP = "viridis"
NEURON_CMAP = "coolwarm"
#: Colour of layers and neurons with no value (no activation traced).
NAN_COLOR = "#8a8f98"

# qualitative palette (Tableau 10, brightened for a dark background)
_PALETTE = np.array(
    [
        [0.35, 0.63, 0.87],
        [1.00, 0.62, 0.25],
        [0.40, 0.78, 0.40],
        [0.95, 0.40, 0.40],
        [0.72, 0.56, 0.88],
        [0.70, 0.50, 0.45],
        [0.95, 0.60, 0.82],
        [0.70, 0.70, 0.70],
        [0.85, 0.85, 0.35],
        [0.35, 0.85, 0.90],
    ]
)


@dataclass(frozen=True)
class ValueColoring:
    """Colour layers by a value per module qualified name, e.g. gradient norms.

    A node takes the value of its module; a collapsed or folded node that has none takes the
    root-sum-square of the values of the modules inside it (right for norms). With ``log`` the
    colour shows ``log10(value)``; ``clim`` fixes the colour range (in those units), e.g. for
    the frames of a video.

    Examples
    --------
    >>> from viz3d.layout import Layout
    >>> node_colors(Layout.empty(), ValueColoring("grad norm", {})).title
    'log10 grad norm'
    """

    title: str
    values: Mapping[str, float]
    cmap: str = "magma"
    log: bool = True
    clim: tuple[float, float] | None = None

    def value_of(self, node: Mapping[str, object]) -> float:
        """The value of one layout node (NaN when no module inside it has one)."""
        module = str(node.get("module", ""))
        if module in self.values:
            return float(self.values[module])
        members = [str(m).rpartition("#")[0] for m in node.get("members") or []] or [module]
        inside = [
            v
            for k, v in self.values.items()
            if any(k == m or k.startswith(m + ".") or not m for m in members)
        ]
        return float(np.sqrt(np.sum(np.square(inside)))) if inside else float("nan")


@dataclass(frozen=True)
class NodeColors:
    """How to colour the layer glyphs.

    ``values`` (scalar modes) with ``cmap``/``clim`` and a colour-bar ``title``, or ``rgb``
    (``"type"`` mode) with ``legend``: class name -> RGB.
    """

    mode: str
    title: str
    values: np.ndarray | None = None
    cmap: str | None = None
    clim: tuple[float, float] | None = None
    rgb: np.ndarray | None = None
    legend: dict[str, tuple[float, float, float]] | None = None


def node_colors(layout: Layout, color_by: ColorBy | ValueColoring = "activation") -> NodeColors:
    """Colour values (or RGB) of every node of ``layout`` for ``color_by``.

    Examples
    --------
    >>> from viz3d.layout import Layout
    >>> node_colors(Layout.empty(), "type").mode
    'type'
    """
    if isinstance(color_by, ValueColoring):
        raw = np.array([color_by.value_of(n) for n in layout.nodes], dtype=float)
        if color_by.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                raw = np.where(raw > 0, np.log10(raw), np.nan)
        title = f"log10 {color_by.title}" if color_by.log else color_by.title
        if color_by.clim is not None:
            return NodeColors("custom", title, _no_data(raw), color_by.cmap, color_by.clim)
        return _scalar("custom", title, raw, color_by.cmap)
    if color_by == "activation":
        values = np.asarray(layout.values, dtype=float)
        if np.isfinite(values).any():
            return _scalar("activation", "activation RMS", values, NODE_CMAP)
        log.info("no traced activations (meta device?): colouring layers by params instead")
        color_by = "params"
    if color_by in ("params", "flops"):
        counts = np.array([float(n.get(color_by) or 0) for n in layout.nodes])
        values = np.where(counts > 0, np.log10(np.maximum(counts, 1)), np.nan)
        return _scalar(color_by, f"log10 {color_by}", values, "plasma")
    if color_by == "type":
        types = [str(n.get("type", "")) for n in layout.nodes]
        legend = {t: type_color(t) for t in sorted(set(types))}
        rgb = np.array([legend[t] for t in types]).reshape(-1, 3)
        return NodeColors("type", "layer type", rgb=rgb, legend=legend)
    raise RenderError(
        f"color_by must be 'activation', 'params', 'flops' or 'type', got {color_by!r}"
    )


def neuron_clim(values: np.ndarray) -> tuple[float, float]:
    """Symmetric range ``(-m, m)`` for signed neuron activations (90th percentile of ``|v|``,
    so typical neurons show colour rather than the map's neutral middle).

    Examples
    --------
    >>> import numpy as np
    >>> neuron_clim(np.array([-1.0, 0.5, 2.0]))
    (-1.8, 1.8)
    """
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return (-1.0, 1.0)
    m = float(np.percentile(finite, 90))
    m = m if m > 0 else 1.0
    return (-round(m, 6), round(m, 6))


def type_color(type_name: str) -> tuple[float, float, float]:
    """A stable colour for a layer class (hash of the name into a fixed palette).

    Examples
    --------
    >>> type_color("Linear") == type_color("Linear")
    True
    """
    digest = int(hashlib.sha1(type_name.encode()).hexdigest()[:8], 16)
    return tuple(float(c) for c in _PALETTE[digest % len(_PALETTE)])


def color_range(values: np.ndarray) -> tuple[tuple[float, float], bool]:
    """Colour range of ``values``, ignoring NaN and infinities, and whether it was clipped.

    The range is ``(min, max)`` of the finite values, except that values further than the span
    between the 2nd and the 98th percentile beyond either percentile are outliers: the range ends
    at the last value inside these fences and outliers take the end colours, so one exploding
    layer cannot push every other one into one end of the map. A single value ``v`` gets
    ``(v - 0.5, v + 0.5)``; no finite value ``(0, 1)``.

    Returns
    -------
    clim : tuple of float
    clipped : bool
        Whether outliers were left outside the range (say so on the colour bar).

    Examples
    --------
    >>> import numpy as np
    >>> color_range(np.array([0.2, 0.5, float("inf"), np.nan, 1.0]))
    ((0.2, 1.0), False)
    >>> color_range(np.r_[np.linspace(0, 1, 60), 1000.0])
    ((0.0, 1.0), True)
    """
    finite = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    if finite.size == 0:
        return (0.0, 1.0), False
    lo, hi = float(finite[0]), float(finite[-1])
    if hi <= lo:
        return (lo - 0.5, hi + 0.5), False
    # inner percentiles taken on actual values, so a lone outlier among a few is still cut off
    p_lo = float(np.percentile(finite, 2, method="higher"))
    p_hi = float(np.percentile(finite, 98, method="lower"))
    span = p_hi - p_lo
    if span <= 0:  # nearly all values equal: no scale to tell outliers by, keep the full range
        return (lo, hi), False
    # fences one inner span beyond the percentiles; the range ends at the last value inside
    low = float(finite[finite >= p_lo - span][0])
    high = float(finite[finite <= p_hi + span][-1])
    return (low, high), (low, high) != (lo, hi)


def _scalar(mode: str, title: str, values: np.ndarray, cmap: str) -> NodeColors:
    clim, clipped = color_range(values)
    if clipped:
        title += " (outliers clipped)"
    return NodeColors(mode, title, _no_data(values), cmap, clim)


def _no_data(values: np.ndarray) -> np.ndarray:
    """``values`` with infinities made NaN: VTK draws NaN in the "no data" colour but would put
    an infinite value at the top (or bottom) of the scale."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.nan)
