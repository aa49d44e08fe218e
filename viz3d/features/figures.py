"""2D figures of this package: grids of small images, drawn and saved with matplotlib (no pyplot).

Images are drawn with ``imshow``'s default ``origin="upper"``: row 0 of a map is its top row, as
in the input image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from viz3d.errors import InputError
from viz3d.files import atomic_write

#: Figure formats ``save_figure`` writes.
FORMATS = (".png", ".pdf", ".svg")

#: One block of the grid: a heading and its ``(image, caption)`` cells.
Block = tuple[str, Sequence[tuple[np.ndarray, str]]]


def grid_figure(
    blocks: Sequence[Block],
    *,
    title: str = "",
    columns: int = 8,
    cmap: str = "magma",
    shared_scale: bool = True,
    footer: str = "",
):
    """A figure with one block per entry of ``blocks``, each a grid of captioned images.

    2D images use ``cmap`` with one colour range per block when ``shared_scale`` (so channels of
    one layer compare); H x W x 3 images are drawn as they are.

    Examples
    --------
    >>> import numpy as np
    >>> fig = grid_figure([("layer", [(np.eye(4), "ch 0"), (np.ones((4, 4)), "ch 1")])])
    >>> len([ax for ax in fig.get_axes() if ax.images])
    2
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, works headless

    if not blocks or not any(len(cells) for _, cells in blocks):
        raise InputError("nothing to draw: no images were given")
    width = min(columns, max(len(cells) for _, cells in blocks))
    lines = [max(1, -(-len(cells) // width)) for _, cells in blocks]
    cell = 1.45
    fig = Figure(
        figsize=(width * cell, sum(lines) * cell + 0.45 * len(blocks) + (0.4 if title else 0)),
        dpi=110,
        layout="constrained",
    )
    if title:
        fig.suptitle(title, fontsize=11)
    subfigs = np.atleast_1d(fig.subfigures(len(blocks), 1, height_ratios=lines))
    for sub, (heading, cells), rows in zip(subfigs, blocks, lines):
        sub.suptitle(heading, fontsize=9, x=0.0, ha="left")
        axes = np.atleast_1d(sub.subplots(rows, width, squeeze=False)).ravel()
        flat = [np.asarray(image, dtype=float) for image, _ in cells if np.ndim(image) == 2]
        low = min((float(a.min()) for a in flat), default=0.0)
        high = max((float(a.max()) for a in flat), default=1.0)
        for ax in axes:
            ax.set_axis_off()
        for ax, (image, caption) in zip(axes, cells):
            picture = np.asarray(image)
            if picture.ndim == 2:
                scale = {"vmin": low, "vmax": high} if shared_scale else {}
                ax.imshow(picture, cmap=cmap, interpolation="nearest", **scale)
            else:
                ax.imshow(picture, interpolation="nearest")
            ax.set_title(caption, fontsize=7)
    if footer:
        fig.supxlabel(footer, fontsize=8, x=0.0, ha="left")
    return fig


def check_figure_path(path: str | os.PathLike) -> Path:
    """The path as a :class:`Path`, or an :class:`InputError` when its format is unknown."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise InputError(f"cannot write a figure to {out}: use {', '.join(FORMATS)}")
    return out


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write a matplotlib figure atomically (see :func:`viz3d.files.atomic_write`).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> out = save_figure(grid_figure([("a", [(np.eye(3), "x")])]),
    ...                   os.path.join(tempfile.mkdtemp(), "grid.png"))
    >>> out.stat().st_size > 0
    True
    """
    out = check_figure_path(path)
    fmt = out.suffix[1:].lower()
    return atomic_write(out, lambda tmp: fig.savefig(tmp, format=fmt), suffix=out.suffix)
