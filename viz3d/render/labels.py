"""Which layers get a label, what it says, and 3D text for exports.

Labels name layers, never neurons: the shortest unique suffix of the module path and the class
(``layer2.0.conv1 · Conv2d``). They are placed by priority (inputs and outputs, then size, then
depth) and, given the camera, never overlap on screen: each label's rectangle is projected and
a label that would overlap one already placed is left to the hover text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pyvista as pv

from viz3d.layout import Layout
from viz3d.render.scene import WINDOW_SIZE, Camera

#: Most layer labels in one scene.
MAX_LABELS = 36
#: Label font size in pixels (at least 12 px tall at 1280x720).
FONT_SIZE = 14
#: Font size of the ``xN`` badges of folded blocks (labels keep clear of them).
BADGE_SIZE = 16
#: Width of a character and height of a line, as multiples of the font size (upper bounds).
CHAR_WIDTH = 0.62
LINE_HEIGHT = 1.25
#: Part of the window the model and its labels use, as fractions (left, top, right, bottom) from
#: the window's left/top edges: the rest holds the title (top), the legend (bottom) and the
#: colour bars (right).
FRAME = (0.005, 0.05, 0.85, 0.905)

# a dot between path components, not one of the two of a folded range "0..11"
_COMPONENT = re.compile(r"(?<!\.)\.(?!\.)")
_NUMBERED = re.compile(r"\d+(\.\.\d+)?")


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


def unique_suffixes(names: Sequence[str]) -> list[str]:
    """Shortest trailing part of each dotted module path that no other path ends with.

    Examples
    --------
    >>> unique_suffixes(["layer1.0.conv1", "layer2.0.conv1", "layer2.0.conv2", "fc"])
    ['layer1.0.conv1', 'layer2.0.conv1', 'conv2', 'fc']
    >>> unique_suffixes(["model.layers.0..7", "model.norm"])  # "0..7" is one component
    ['layers.0..7', 'norm']
    """
    split = [_COMPONENT.split(str(n)) for n in names]
    counts: Counter[str] = Counter()
    for parts in split:
        counts.update({".".join(parts[-k:]) for k in range(1, len(parts) + 1)})
    out = []
    for parts in split:
        k = next((k for k in range(1, len(parts) + 1) if counts[".".join(parts[-k:])] == 1), 0)
        k = k or len(parts)
        # "0.conv1" or "0..7" alone says little: reach back to a named component
        while k < len(parts) and _NUMBERED.fullmatch(parts[-k]):
            k += 1
        out.append(".".join(parts[-k:]))
    return out


def label_texts(layout: Layout) -> list[str]:
    """Every node's label: the shortest unique suffix of its module path and its class
    (``layer2.0.conv1 · Conv2d``, ``... #2`` for a module's second call); ops by their type;
    inputs and outputs by their name."""
    nodes = layout.nodes
    named = [i for i, a in enumerate(nodes) if a.get("kind") == "module" and a.get("name")]
    suffix = dict(zip(named, unique_suffixes([str(nodes[i]["name"]) for i in named])))
    texts = [label_text(a, suffix.get(i)) for i, a in enumerate(nodes)]
    # a module called several times is one node per call: number the later calls
    calls: Counter[str] = Counter()
    for i in named:
        calls[texts[i]] += 1
        if calls[texts[i]] > 1:
            texts[i] += f" #{calls[texts[i]]}"
    return texts


def choose_labels(
    layout: Layout,
    max_labels: int = MAX_LABELS,
    *,
    camera: Camera | None = None,
    window: tuple[int, int] = WINDOW_SIZE,
    font_size: int = FONT_SIZE,
    texts: Sequence[str] | None = None,
) -> list[int]:
    """Indices of the nodes to label, in node order: by priority, never overlapping on screen.

    Candidates are layers with parameters or repeats, plus inputs and outputs (every node when
    there are few). Inputs and outputs come first, then larger layers, then shallower ones
    (fewer dots in the module path). With a ``camera``, each label's rectangle is projected
    to the ``window`` (see :func:`label_rectangles`) and a label overlapping one already
    chosen or a badge, or leaving :data:`FRAME`, is dropped; without one, labels are kept
    apart along x.

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
    volume = np.prod(layout.sizes, axis=1)

    def priority(i: int) -> tuple:
        kind = nodes[i].get("kind")
        depth = str(nodes[i].get("name") or "").count(".")
        return (kind not in ("input", "output"), -volume[i], depth, i)

    ranked = sorted(candidates, key=priority)
    if camera is None:
        x = layout.positions[:, 0]
        spacing = 0.0 if few else float(np.ptp(x)) / max_labels
        chosen: list[int] = []
        for i in ranked:
            if len(chosen) >= max_labels:
                break
            if spacing and chosen and np.min(np.abs(x[chosen] - x[i])) < spacing:
                continue
            chosen.append(i)
        return sorted(chosen)
    texts = label_texts(layout) if texts is None else texts
    rects = label_rectangles(
        label_anchors(layout, ranked), [texts[i] for i in ranked], camera, window, font_size
    )
    badges = badge_rectangles(layout, camera, window)
    badge_owner = np.array([b["node"] for b in layout.badges], dtype=int)
    chosen, taken = [], np.empty((0, 4))
    for i, rect in zip(ranked, rects):
        if len(chosen) >= max_labels:
            break
        # clear of other blocks' badges (a block's own badge stands under the block)
        others = badges[badge_owner != i]
        inside = (
            rect[0] >= FRAME[0] * window[0]
            and rect[1] >= FRAME[1] * window[1]
            and rect[2] <= FRAME[2] * window[0]
            and rect[3] <= FRAME[3] * window[1]
        )
        if not inside or overlapping(np.vstack([taken, others]), rect).any():
            continue
        chosen.append(i)
        taken = np.vstack([taken, rect])
    return sorted(chosen)


def label_anchors(layout: Layout, indices: Sequence[int]) -> np.ndarray:
    """Where each label stands: just above the top of its glyph."""
    idx = np.asarray(indices, dtype=int)
    anchors = layout.positions[idx].copy()
    anchors[:, 2] += layout.sizes[idx, 2] / 2 + 0.15
    return anchors


def project(points: np.ndarray, camera: Camera, window: tuple[int, int]) -> np.ndarray:
    """Pixel coordinates ``(x, y)`` (y down from the top) of 3D points seen by ``camera``.

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render.scene import Camera
    >>> cam = Camera((0, -10, 0), (0, 0, 0), (0, 0, 1), 30.0)
    >>> project(np.array([[0.0, 0.0, 0.0]]), cam, (1280, 720)).tolist()
    [[640.0, 360.0]]
    """
    position = np.asarray(camera.position, dtype=float)
    forward = np.asarray(camera.focal_point, dtype=float) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(camera.up, dtype=float))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rel = np.asarray(points, dtype=float).reshape(-1, 3) - position
    depth = np.maximum(rel @ forward, 1e-9)
    focal = window[1] / 2 / np.tan(np.radians(camera.view_angle) / 2)
    x = window[0] / 2 + focal * (rel @ right) / depth
    y = window[1] / 2 - focal * (rel @ up) / depth
    return np.column_stack([x, y])


def label_rectangles(
    anchors: np.ndarray,
    texts: Sequence[str],
    camera: Camera,
    window: tuple[int, int] = WINDOW_SIZE,
    font_size: int = FONT_SIZE,
) -> np.ndarray:
    """Screen rectangles ``(x0, y0, x1, y1)`` of labels drawn centred above their anchors.

    A character is taken as :data:`CHAR_WIDTH` x the font size wide and a line as
    :data:`LINE_HEIGHT` x the font size tall, which bounds VTK's default font.
    """
    centre = project(anchors, camera, window)
    width = np.array([len(t) for t in texts], dtype=float) * CHAR_WIDTH * font_size + 4
    height = LINE_HEIGHT * font_size
    return np.column_stack(
        [centre[:, 0] - width / 2, centre[:, 1] - height, centre[:, 0] + width / 2, centre[:, 1]]
    )


def badge_rectangles(
    layout: Layout, camera: Camera, window: tuple[int, int] = WINDOW_SIZE
) -> np.ndarray:
    """Screen rectangles of the ``xN`` badges of folded blocks (drawn centred, bold, boxed)."""
    if not layout.badges:
        return np.empty((0, 4))
    where = np.array([b["position"] for b in layout.badges], dtype=float)
    centre = project(where, camera, window)
    width = np.array([len(b["text"]) for b in layout.badges]) * CHAR_WIDTH * BADGE_SIZE + 14
    half_height = (LINE_HEIGHT * BADGE_SIZE + 8) / 2
    return np.column_stack(
        [
            centre[:, 0] - width / 2,
            centre[:, 1] - half_height,
            centre[:, 0] + width / 2,
            centre[:, 1] + half_height,
        ]
    )


def overlapping(rects: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """Which of ``rects`` (shape (n, 4)) overlap ``rect``."""
    return (
        (rects[:, 0] < rect[2])
        & (rect[0] < rects[:, 2])
        & (rects[:, 1] < rect[3])
        & (rect[1] < rects[:, 3])
    )


def label_text(node: dict, suffix: str | None = None) -> str:
    """The label of one node: its module path's ``suffix`` (default: the last components)
    and its class, as in ``layer2.0.conv1 · Conv2d``; ops by their type."""
    if node.get("kind") == "op":
        return str(node.get("type") or "?")
    name = str(node.get("name") or "")
    if node.get("kind") != "module" or not name:
        return abbreviate(name or str(node.get("type") or "?"))
    text = suffix if suffix is not None else abbreviate(name)
    kind = str(node.get("type") or "")
    return f"{text} \u00b7 {kind}" if kind else text


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
