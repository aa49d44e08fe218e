"""The web backend: a :class:`~viz3d.render.Scene` as one self-contained three.js viewer page.

Layer scenes (from :func:`viz3d.render.build_scene`) are drawn from their layout, with hover
facts, a module tree, search, overlays, expandable folds, labels and the forward-pass
animation; the meshes of any scene (a loss landscape, gradient outlines) are drawn as geometry
with their colours, hover showing their point values (alpha, beta and the loss).

The page (``viewer.html`` + ``viewer.css`` + ``viewer.js``), the vendored three.js bundle
(``vendor/``, MIT licence, rebuilt by ``vendor/update.sh``) and the scene data
(:func:`viz3d.render.web.data.scene_data`) are inlined into one HTML file: it opens from
``file://`` with no network, no CDN and no Python, and inside Jupyter as an ``<iframe srcdoc>``.

Model-supplied strings never reach the page as markup: the data is strict JSON in a
``<script type="application/json">`` element with ``<``, ``>`` and ``&`` written as ``\\u``
escapes, and the page puts every string on screen as text (``textContent``).
"""

from __future__ import annotations

import html
import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from viz3d.errors import RenderError
from viz3d.files import atomic_write, finite_json
from viz3d.render.web.data import scene_data

__all__ = ["iframe_html", "scene_data", "viewer_html", "write_viewer"]

#: Height of the viewer inside a notebook cell.
NOTEBOOK_HEIGHT = 620


def viewer_html(scene: Any) -> str:
    """The viewer page of ``scene`` as one HTML string (three.js, page and data inlined).

    Parameters
    ----------
    scene : Scene
        Any scene; layer scenes from :func:`viz3d.render.build_scene` get the full viewer.

    Returns
    -------
    str

    Examples
    --------
    >>> import torch, viz3d
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8))
    >>> scene = viz3d.enhanced_3d_visualization(model, input_shape=(1, 4), show=False)
    >>> page = viewer_html(scene)
    >>> page.startswith("<!DOCTYPE html>"), "<script src" in page
    (True, False)
    """
    data = script_json(scene_data(scene))
    page = _asset("viewer.html")
    parts = {
        "{{TITLE}}": html.escape(scene.title or "viz3d"),
        "{{STYLE}}": _asset("viewer.css"),
        "{{THREE}}": _asset("vendor/three.bundle.js"),
        "{{VIEWER}}": _asset("viewer.js"),
        "{{DATA}}": data,
    }
    for key in parts:
        if page.count(key) != 1:
            raise RenderError(f"viewer.html must hold {key} exactly once")
    # one pass, so a placeholder-like string inside the data is never substituted
    pieces = page.split("{{")
    out = [pieces[0]]
    for piece in pieces[1:]:
        key, sep, rest = piece.partition("}}")
        token = "{{" + key + "}}"
        out.append((parts[token] + rest) if sep and token in parts else "{{" + piece)
    return "".join(out)


def write_viewer(scene: Any, path: str | os.PathLike) -> Path:
    """Write the viewer page of ``scene`` to ``path``, atomically.

    Examples
    --------
    >>> import os, tempfile, torch, viz3d
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8))
    >>> scene = viz3d.enhanced_3d_visualization(model, input_shape=(1, 4), show=False)
    >>> out = write_viewer(scene, os.path.join(tempfile.mkdtemp(), "model.html"))
    >>> out.stat().st_size > 100_000
    True
    """
    page = viewer_html(scene)
    return atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"), suffix=".html")


def iframe_html(scene: Any, height: int = NOTEBOOK_HEIGHT) -> str:
    """The viewer as an ``<iframe srcdoc>`` for a notebook cell (no server, no extension).

    The frame sits in a ``<div>``: IPython warns about HTML that is a bare ``<iframe>``, and
    the page survives ``jupyter nbconvert --to html`` as it is (the ``srcdoc`` attribute holds
    the whole page, escaped, so nothing in it is read as the notebook's own markup).

    Examples
    --------
    >>> import torch, viz3d
    >>> scene = viz3d.enhanced_3d_visualization(torch.nn.Linear(2, 2), input_shape=(1, 2),
    ...                                         show=False)
    >>> iframe_html(scene).startswith('<div class="viz3d-cell"><iframe class="viz3d-viewer"')
    True
    """
    page = html.escape(viewer_html(scene), quote=True)
    return (
        f'<div class="viz3d-cell"><iframe class="viz3d-viewer" srcdoc="{page}" '
        f'title="viz3d viewer" style="width:100%;height:{int(height)}px;border:0" '
        'allow="fullscreen"></iframe></div>'
    )


def script_json(data: Any) -> str:
    """Strict JSON that is safe inside a ``<script>`` element (no ``<``, ``>`` or ``&``).

    Examples
    --------
    >>> script_json({"name": "</script><b>", "x": float("nan")})
    '{"name": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e", "x": null}'
    """
    text = json.dumps(finite_json(data), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def _asset(name: str) -> str:
    try:
        return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise RenderError(
            f"the web viewer's {name} is missing from the viz3d package; reinstall viz3d "
            "(or run viz3d/render/web/vendor/update.sh for the three.js bundle)"
        ) from exc
