"""How the web viewer's data is encoded: base64 typed arrays and colours as bytes.

Numeric arrays travel as base64 little-endian typed arrays (``{"dtype": "f4", "b64": ...}``),
compact and quick to parse in the page; colours as RGB bytes sampled from matplotlib colour
maps, so the page shows what the PNG shows.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from viz3d.errors import RenderError


def typed(values: Any, dtype: str, code: str) -> dict[str, str]:
    """``values`` as a base64 typed array of ``dtype`` (non-finite floats become 0).

    Examples
    --------
    >>> typed([1, 2], "<i4", "i4")
    {'dtype': 'i4', 'b64': 'AQAAAAIAAAA='}
    """
    arr = np.asarray(values, dtype=float if dtype[1] == "f" else None)
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    data = np.ascontiguousarray(arr, dtype=dtype).reshape(-1).tobytes()
    return {"dtype": code, "b64": base64.b64encode(data).decode("ascii")}


def f4(values: Any) -> dict[str, str]:
    """32-bit floats."""
    return typed(values, "<f4", "f4")


def i4(values: Any) -> dict[str, str]:
    """32-bit signed integers."""
    return typed(values, "<i4", "i4")


def u1(values: Any) -> dict[str, str]:
    """Bytes (values clipped to 0..255 and truncated)."""
    return typed(np.clip(np.asarray(values, dtype=float), 0, 255), "|u1", "u1")


def q2(points: np.ndarray) -> dict[str, Any]:
    """3D points quantised to 16 bits per axis over their bounding box (half the bytes of f4;
    the error, 1/65535 of the extent, is far below a neuron's spacing).

    Examples
    --------
    >>> q2(np.array([[0.0, 0, 0], [1, 2, 4]]))["step"][2] * 65535
    4.0
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    lo = pts.min(axis=0) if len(pts) else np.zeros(3)
    step = (np.ptp(pts, axis=0) if len(pts) else np.ones(3)) / 65535
    step = np.where(step > 0, step, 1.0)
    q = np.round((pts - lo) / step).astype("<u2")
    return {**typed(q, "<u2", "u2"), "lo": [float(v) for v in lo], "step": [float(v) for v in step]}


def colormap(name: str):
    """A matplotlib colour map by name (a :class:`RenderError` names unknown ones)."""
    import matplotlib

    try:
        return matplotlib.colormaps[name]
    except KeyError as exc:
        raise RenderError(f"unknown colour map {name!r}: use a matplotlib colour map name") from exc


def map_colors(
    values: np.ndarray, cmap: str, clim: tuple[float, float], nan_rgb: np.ndarray
) -> np.ndarray:
    """RGB (0..255) of ``values`` on ``cmap`` over ``clim``; non-finite values get ``nan_rgb``.

    Examples
    --------
    >>> map_colors(np.array([0.0, np.nan]), "gray", (0.0, 1.0), np.array([1, 2, 3])).tolist()
    [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]
    """
    lo, hi = clim
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    t = np.clip((np.where(finite, values, lo) - lo) / ((hi - lo) or 1.0), 0.0, 1.0)
    rgb = colormap(cmap)(t)[:, :3] * 255
    rgb[~finite] = nan_rgb
    return np.round(rgb)


def rgb_hex(rgb: Any) -> str:
    """``"#rrggbb"`` of an RGB(A) triple in 0..1.

    Examples
    --------
    >>> rgb_hex((1.0, 0.5, 0.0))
    '#ff8000'
    """
    r, g, b = (int(round(float(c) * 255)) for c in list(rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def to_rgb255(color: Any) -> np.ndarray:
    """Any matplotlib colour as RGB in 0..255."""
    from matplotlib.colors import to_rgb

    return np.array(to_rgb(color)) * 255
