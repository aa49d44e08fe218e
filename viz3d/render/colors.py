"""What colour each layer gets: the colour modes, their colour maps, ranges and legend titles.

``color_by``:

* ``"activation"`` (default) - the RMS of the layer's traced output, ``sqrt(mean**2+std**2)``;
  layers without activations (``meta`` traces) fall back to ``"params"``.
* ``"params"`` / ``"flops"`` - log10 of the count, so a 100x bigger layer is 2 steps brighter.
* ``"type"`` - one fixed colour per layer class (same class, same colour, across models).
* a :class:`ValueColoring` - your own value per module (gradient norms, say).

Neurons are always coloured by their signed mean activation on a diverging map centred on 0.

Colour ranges come from the finite values only; a layer or neuron whose value is NaN or infinite
is drawn in :data:`NAN_COLOR` ("no data"), never at an end of the scale. A scalar range is
robust: it runs from the 2nd to the 98th percentile of the values, the few beyond take the end
colours, and the colour-bar title says so ("2-98th pct"). Positive values spanning more than
:data:`LOG_RATIO` x (or more than 10x and crowded into one end of a linear map) are shown as
``log10``, also stated in the title (the rules are in :func:`color_range` and
:func:`use_log`). :func:`color_spread` measures how much of the map a model's layers use.
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
#: Module container colours by nesting depth (outermost first, then cycling).
CONTAINER_COLORS = ["#4f8cff", "#38c9a0", "#e8a33d", "#b57cf0", "#ef6f8e"]
#: Percentiles the robust colour range runs between.
PERCENTILES = (2.0, 98.0)
#: Positive values spanning more than this ratio are coloured on a log scale.
LOG_RATIO = 100.0

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
    root-sum-square of the values of the modules inside it (right for norms). The model's
    inputs and outputs, and ops outside every module, have no value of their own ("no data")
    unless ``values`` names them: summing the whole model into them would stretch the range.
    With ``log`` the colour shows ``log10(value)``; ``clim`` fixes the colour range (in those
    units), e.g. for the frames of a video.

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
        module = str(node.get("module") or "")
        if node.get("kind") in ("input", "output"):
            module = str(node.get("name") or "")
            return float(self.values[module]) if module in self.values else float("nan")
        if module in self.values:
            return float(self.values[module])
        if not module and node.get("kind") != "module" and not node.get("members"):
            return float("nan")  # plumbing at the top level belongs to no module
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
        return _scalar("custom", title, raw, color_by.cmap, log=False)
    if color_by == "activation":
        values = np.asarray(layout.values, dtype=float)
        if np.isfinite(values).any():
            return _scalar("activation", "activation RMS", values, NODE_CMAP)
        log.info("no traced activations (meta device?): colouring layers by params instead")
        color_by = "params"
    if color_by in ("params", "flops"):
        counts = np.array([float(n.get(color_by) or 0) for n in layout.nodes])
        values = np.where(counts > 0, np.log10(np.maximum(counts, 1)), np.nan)
        return _scalar(color_by, f"log10 {color_by}", values, "plasma", log=False)
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
    """Robust colour range of ``values``, ignoring NaN and infinities, and whether it clipped.

    The range runs from the 2nd to the 98th percentile (:data:`PERCENTILES`, taken on actual
    values), so one exploding layer cannot push every other one into one end of the map; the
    values beyond take the end colours. With few values those percentiles are the extremes,
    so an outlier fence applies too: values further than the span between the second-smallest
    and second-largest value beyond either are cut off. A single value ``v`` (or all equal)
    gets ``(v - 0.5, v + 0.5)``; no finite value ``(0, 1)``.

    Returns
    -------
    clim : tuple of float
    clipped : bool
        Whether some values lie outside the range (say so on the colour bar).

    Examples
    --------
    >>> import numpy as np
    >>> color_range(np.array([0.2, 0.5, float("inf"), np.nan, 1.0]))
    ((0.2, 1.0), False)
    >>> (lo, hi), clipped = color_range(np.r_[np.linspace(0, 1, 99), 1000.0])
    >>> round(lo, 2), round(hi, 2), clipped
    (0.02, 0.99, True)
    >>> color_range(np.array([1.0, 1.2, 1.1, 1.3, 1.4, 500.0]))
    ((1.0, 1.4), True)
    """
    finite = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    if finite.size == 0:
        return (0.0, 1.0), False
    lo, hi = float(finite[0]), float(finite[-1])
    if hi <= lo:
        return (lo - 0.5, hi + 0.5), False
    if finite.size < 3:  # two values: nothing to call an outlier
        return (lo, hi), False
    low, high = (float(v) for v in np.percentile(finite, PERCENTILES, method="nearest"))
    inner_lo = float(np.percentile(finite, PERCENTILES[0], method="higher"))
    inner_hi = float(np.percentile(finite, PERCENTILES[1], method="lower"))
    span = inner_hi - inner_lo
    if span > 0:  # the fence: a lone outlier among a few values is cut off too
        low = max(low, float(finite[finite >= inner_lo - span][0]))
        high = min(high, float(finite[finite <= inner_hi + span][-1]))
    if high <= low:  # nearly all values equal: no scale to tell outliers by
        return (lo, hi), False
    return (low, high), (low, high) != (lo, hi)


def use_log(values: np.ndarray) -> bool:
    """Whether positive ``values`` read better on a log scale.

    Yes when the values inside the robust range (:func:`color_range`; its outliers are clipped
    on any scale) span more than :data:`LOG_RATIO` x, or
    more than 10x while a linear map would put half the values into its bottom fifth (a
    skewed spread, typical of activation sizes).

    Examples
    --------
    >>> import numpy as np
    >>> use_log(np.array([0.01, 0.5, 3.0])), use_log(np.array([1.0, 2.0, 3.0]))
    (True, False)
    >>> use_log(np.array([0.0, 1e-6, 0.5, 3.0])), use_log(np.array([-1.0, 0.01, 3.0]))
    (True, False)
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    positive = finite[finite > 0]
    if positive.size < 3 or (finite < 0).any():
        return False
    # zeros (dead layers) count as the smallest positive value, where the log scale puts them
    finite = np.maximum(finite, positive.min())
    # outliers are clipped anyway: they alone do not call for a log scale
    (fence_lo, fence_hi), _ = color_range(finite)
    finite = finite[(finite >= fence_lo) & (finite <= fence_hi)]
    low, high = np.percentile(finite, PERCENTILES)
    ratio = high / low
    crowded = np.median(finite) < low + 0.2 * (high - low)
    return bool(ratio > LOG_RATIO or (ratio > 10 and crowded))


def color_spread(coloring: NodeColors) -> float:
    """Share of the colour map the middle 80% of the coloured nodes cover (their 10th to 90th
    percentile position on the map): near 0 when nearly every layer has one colour.

    Examples
    --------
    >>> import numpy as np
    >>> spread = NodeColors("x", "x", np.linspace(0, 1, 11), "viridis", (0.0, 1.0))
    >>> round(color_spread(spread), 2)
    0.8
    """
    if coloring.values is None or coloring.clim is None:
        return 0.0
    values = np.asarray(coloring.values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0
    lo, hi = coloring.clim
    where = np.clip((values - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    return float(np.percentile(where, 90) - np.percentile(where, 10))


def _scalar(mode: str, title: str, values: np.ndarray, cmap: str, log: bool = True) -> NodeColors:
    """A scalar colouring on the robust range, on a log scale where :func:`use_log` says so
    (``log=False``: the values are logarithms already)."""
    values = _no_data(values)
    if log and use_log(values):
        # a zero stays at the bottom of the scale, not "no data": it is a value
        floor = np.nanmin(np.where(values > 0, values, np.nan))
        values = np.log10(np.where(np.isfinite(values), np.maximum(values, floor), np.nan))
        title = f"log10 {title}"
    clim, clipped = color_range(values)
    if clipped:
        title += " (2-98th pct)"
    return NodeColors(mode, title, values, cmap, _readable(clim))


def _readable(clim: tuple[float, float]) -> tuple[float, float]:
    """``clim`` rounded to a thousandth of its span: the colour bar reads ``0``, not the float
    noise ``2.2e-16`` of log10 of a LayerNorm's RMS of 1.

    Examples
    --------
    >>> _readable((-2.0812, 2.2e-16))
    (-2.081, 0.0)
    """
    span = clim[1] - clim[0]
    if not (np.isfinite(span) and span > 0):
        return clim
    digits = max(0, 3 - int(np.floor(np.log10(span))))
    rounded = (round(clim[0], digits), round(clim[1], digits))
    return rounded if rounded[1] > rounded[0] else clim


def _no_data(values: np.ndarray) -> np.ndarray:
    """``values`` with infinities made NaN: VTK draws NaN in the "no data" colour but would put
    an infinite value at the top (or bottom) of the scale."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.nan)
