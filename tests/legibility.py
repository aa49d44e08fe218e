"""Legibility measures of rendered scenes, shared by tests/test_legibility.py and the gallery.

* :func:`content_fill` - the share of 32x32-pixel cells of a frame, inside the margins that the
  title, the legend and the colour bars use, that hold part of the model.
* :func:`gallery` - samples/gallery.py as a module, and :func:`gallery_graph` - the graph the
  gallery draws for one of its entries (traced once per test session).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

_GALLERY = Path(__file__).resolve().parents[1] / "samples" / "gallery.py"

#: Cell side in pixels.
CELL = 32
#: Margins of a 1280x720 frame kept for the title (top), legend (bottom) and colour bars
#: (right), as fractions of the frame: (left, top, right, bottom).
MARGINS = (0.0, 32 / 720, 1 - 1088 / 1280, 64 / 720)


def content_fill(image: np.ndarray, background: str | tuple[int, int, int], tol: int = 12) -> float:
    """Fraction of the cells inside the margins holding a pixel that differs from the background.

    Parameters
    ----------
    image : numpy.ndarray of shape (H, W, 3 or 4)
        A screenshot (uint8).
    background : str or tuple of int
        Background colour, ``"#rrggbb"`` or RGB.
    tol : int, default: 12
        A pixel is content when one channel differs from the background by more than this.

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.zeros((720, 1280, 3), np.uint8)
    >>> frame[100:200, 100:300] = 255
    >>> round(content_fill(frame, (0, 0, 0)), 3)
    0.043
    """
    if isinstance(background, str):
        background = tuple(int(background.lstrip("#")[k : k + 2], 16) for k in (0, 2, 4))
    height, width = image.shape[:2]
    diff = np.abs(image[..., :3].astype(int) - np.asarray(background, dtype=int)).max(axis=-1)
    left, top, right, bottom = MARGINS
    x0, x1 = int(round(left * width)), int(round((1 - right) * width))
    y0, y1 = int(round(top * height)), int(round((1 - bottom) * height))
    # whole cells only
    x1 = x0 + (x1 - x0) // CELL * CELL
    y1 = y0 + (y1 - y0) // CELL * CELL
    busy = diff[y0:y1, x0:x1] > tol
    cells = busy.reshape((y1 - y0) // CELL, CELL, (x1 - x0) // CELL, CELL).any(axis=(1, 3))
    return float(cells.mean())


@functools.cache
def gallery() -> ModuleType:
    """samples/gallery.py, loaded as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("viz3d_gallery", _GALLERY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@functools.cache
def gallery_graph(name: str):
    """The graph the gallery draws for entry ``name`` (traced, folded, collapsed as by default)."""
    import torch

    import viz3d
    from viz3d.api import choose_view

    entry = gallery().GALLERY[name]
    torch.manual_seed(0)
    return choose_view(viz3d.trace(entry.build(), entry.inputs()))
