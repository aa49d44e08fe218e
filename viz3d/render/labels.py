"""Which layers get a label, what it says, and 3D text for exports.

Labels name layers, never neurons, and stay few: the biggest layers first, then others, while
keeping labels at least a minimum distance apart along the main axis, so a 1000-layer model
gets a readable handful instead of an unreadable smear. Names are abbreviated to their last
module-path components.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyvista as pv

from viz3d.layout import Layout

#: Most layer labels in one scene.
MAX_LABELS = 36


def abbreviate(name: str, max_len: int = 22) -> str:
    """Shorten a qualified module name to its last components, at most ``max_len`` characters.

    Examples
    --------
    >>> abbreviate("transformer.h.0.attn.c_attn")
    'attn.c_attn'
    >>> abbreviate("transformer.h.0..23")
    'h.0..23'
    >>> abbreviate("a_really_long_module_name_indeed", 12)
    'a_really_l..'
    """
    name = str(name)
    if ".." in name:
        # a folded run "transformer.h.0..23": abbreviate the first member, keep the range
        head, _, last = name.partition("..")
        return abbreviate(head, max(max_len - len(last) - 2, 4)) + ".." + last
    parts = name.split(".")
    text = ".".join(parts[-2:]) if len(parts) > 2 else name
    if len(text) > max_len and len(parts) > 1:
        text = parts[-1]
    return text if len(text) <= max_len else text[: max_len - 2] + ".."


def choose_labels(layout: Layout, max_labels: int = MAX_LABELS) -> list[int]:
    """Indices of the nodes to label, in node order.

    Candidates are layers with parameters or repeats, plus inputs and outputs; ops only
    when there are few nodes. Larger layers win; a candidate closer than the spacing
    ``(length of the model) / max_labels`` along x to a chosen one is dropped.

    Examples
    --------
    >>> from viz3d.layout import Layout
    >>> choose_labels(Layout.empty())
    []
    """
    n = len(layout)
    if n == 0:
        return []
    nodes = layout.nodes
    few = n <= max_labels
    candidates = [
        i
        for i, a in enumerate(nodes)
        if few
        or a.get("params", 0) > 0
        or a.get("repeat", 1) > 1
        or a.get("kind") in ("input", "output")
    ]
    x = layout.positions[:, 0]
    spacing = 0.0 if few else float(np.ptp(x)) / max_labels
    # inputs/outputs first, then by size (volume), ties by order
    volume = np.prod(layout.sizes, axis=1)
    io_first = [i for i in candidates if nodes[i].get("kind") in ("input", "output")]
    rest = sorted((i for i in candidates if i not in set(io_first)), key=lambda i: (-volume[i], i))
    chosen: list[int] = []
    taken_x = np.empty(0)
    for i in io_first + rest:
        if len(chosen) >= max_labels:
            break
        if spacing and taken_x.size and np.min(np.abs(taken_x - x[i])) < spacing:
            continue
        chosen.append(i)
        taken_x = np.append(taken_x, x[i])
    return sorted(chosen)


def label_text(node: dict) -> str:
    """The label of one node: short name, with the class for numbered children; ops by type."""
    if node.get("kind") == "op":
        return str(node.get("type") or "?")
    name = str(node.get("name") or "")
    text = abbreviate(name or str(node.get("type") or "?"))
    if node.get("kind") == "module" and name.rsplit(".", 1)[-1].replace("..", "").isdigit():
        # Sequential children are called "0", "1"...: the class says more
        text = f"{text} {node.get('type', '')}".strip()
    return text


def text3d(
    texts: Sequence[str],
    anchors: np.ndarray,
    *,
    height: float,
    facing: str = "-y",
) -> pv.PolyData:
    """Merged 3D text meshes (for exports, which drop 2D text), each centred over its anchor.

    Parameters
    ----------
    texts : sequence of str
    anchors : array of shape (n, 3)
        Bottom-centre of each text.
    height : float
        Letter height in scene units.
    facing : {"-y", "+z"}, default: "-y"
        ``"-y"``: upright text readable from the front (the default camera side);
        ``"+z"``: lying flat, readable from above.

    Examples
    --------
    >>> import numpy as np
    >>> mesh = text3d(["fc1", "fc2"], np.array([[0, 0, 0], [3, 0, 0]]), height=0.5)
    >>> mesh.n_cells > 0
    True
    """
    meshes = []
    for text, anchor in zip(texts, np.asarray(anchors, dtype=float).reshape(-1, 3)):
        if not text.strip():
            continue
        mesh = pv.Text3D(text, depth=0.05 * height)
        x0, x1, y0, y1, _, _ = mesh.bounds
        mesh.points -= [(x0 + x1) / 2, y0, 0]
        mesh.points *= height / max(y1 - y0, 1e-9)
        if facing == "-y":
            # Text3D lies in the x-y plane; stand it up in the x-z plane
            mesh.points = mesh.points[:, [0, 2, 1]] * [1, -1, 1]
        mesh.points += anchor
        meshes.append(mesh)
    if not meshes:
        return pv.PolyData()
    return pv.merge(meshes) if len(meshes) > 1 else meshes[0]
