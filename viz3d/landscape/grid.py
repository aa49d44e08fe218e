"""Grid axes and the coefficients of each grid point along the directions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from viz3d.errors import LandscapeError


def per_axis(value: float | Sequence, dims: int, name: str) -> tuple:
    """Expand a scalar option to one value per axis, or check a per-axis tuple's length."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (value,) * dims
    values = tuple(value)
    if len(values) != dims:
        raise LandscapeError(
            f"{name}={value!r} gives {len(values)} values for a {dims}D landscape; "
            f"pass one number or a tuple of {dims}"
        )
    return values


def make_axes(
    dims: int, steps: int | Sequence[int], span: float | Sequence[float]
) -> tuple[np.ndarray, ...]:
    """One axis per dimension, ``steps`` points from ``-span`` to ``+span``.

    With an odd number of steps the middle point is exactly 0, so the grid contains the
    unperturbed model.
    """
    if dims not in (1, 2):
        raise LandscapeError(f"dims={dims!r} is not supported; use dims=1 or dims=2")
    axes = []
    for n, s in zip(per_axis(steps, dims, "steps"), per_axis(span, dims, "span")):
        if int(n) != n or n < 1:
            raise LandscapeError(f"steps must be positive integers, got {n!r}")
        if not np.isfinite(s) or s <= 0:
            raise LandscapeError(f"span must be a positive finite number, got {s!r}")
        axis = np.linspace(-float(s), float(s), int(n))
        if n % 2 == 1:
            axis[n // 2] = 0.0  # linspace may leave a rounding residue at the centre
        axes.append(axis)
    return tuple(axes)


def point_coefficients(axes: tuple[np.ndarray, ...], flat_indices: np.ndarray) -> np.ndarray:
    """Coefficients ``(len(flat_indices), dims)`` of grid points given by C-order flat index.

    Flat index ``i * len(axes[1]) + j`` is the point ``(axes[0][i], axes[1][j])``, so a
    flat result reshaped to ``(steps_x, steps_y)`` keeps the axis order.
    """
    shape = tuple(len(axis) for axis in axes)
    index = np.unravel_index(flat_indices, shape)
    return np.stack([axis[i] for axis, i in zip(axes, index)], axis=1)
