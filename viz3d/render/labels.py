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
from functools import lru_cache

import numpy as np
import pyvista as pv
import vtk

from viz3d.layout import Layout
from viz3d.render.camera import WINDOW_SIZE, Camera

#: Most layer labels in one scene.
MAX_LABELS = 36
#: Label font size in pixels at 1280x720 (text 13 px tall; see :func:`text_extent`).
FONT_SIZE = 13
#: Smallest font any window gets (still legible at 640x360).
MIN_FONT_SIZE = 9
#: Smallest window the chosen labels must stay apart in (see :func:`window_font_size`).
SMALL_WINDOW = (640, 360)
#: Font size of the ``xN`` badges of folded blocks (labels keep clear of them).
BADGE_SIZE = 16
#: Free pixels kept around each label, so neighbours never touch.
LABEL_MARGIN = 2
#: Line height (and font size) in pixels of the legend in the lower left corner at 1280x720.
LEGEND_LINE = 14
#: Unique suffixes longer than this many components have their middle elided.
ELIDE_AFTER = 3
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

    A suffix longer than :data:`ELIDE_AFTER` components keeps the component that makes it
    unique and the shortest tail that still does, eliding the middle with an ellipsis.

    Examples
    --------
    >>> unique_suffixes(["layer1.0.conv1", "layer2.0.conv1", "layer2.0.conv2", "fc"])
    ['layer1.0.conv1', 'layer2.0.conv1', 'conv2', 'fc']
    >>> unique_suffixes(["model.layers.0..7", "model.norm"])  # "0..7" is one component
    ['layers.0..7', 'norm']
    >>> unique_suffixes(["text.encoder.layers.0.attn.q", "image.encoder.layers.0.attn.q"])
    ['text\u2026attn.q', 'image\u2026attn.q']
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
        out.append(_elide(parts, k, split) if k > ELIDE_AFTER else ".".join(parts[-k:]))
    return out


def _elide(parts: list[str], k: int, split: list[list[str]]) -> str:
    """``head…tail`` for the unique suffix ``parts[-k:]``: its first component and the
    shortest tail (of 4 characters or more) that no other path has after that component; the
    whole suffix if none."""
    head = parts[-k]
    for j in range(1, k - 1):
        tail = parts[-j:]
        # does another path hold `head` somewhere before ending in `tail`?
        clash = any(
            other is not parts and other[-j:] == tail and head in other[: len(other) - j]
            for other in split
        )
        # "q" or "0" alone says little: the tail needs a word
        if not clash and not _NUMBERED.fullmatch(tail[0]) and len(".".join(tail)) >= 4:
            return head + "\u2026" + ".".join(tail)
    return ".".join(parts[-k:])


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
    avoid: np.ndarray | None = None,
) -> list[int]:
    """Indices of the nodes to label, in node order: by priority, never overlapping on screen.

    Candidates are layers with parameters or repeats, plus inputs and outputs (every node when
    there are few). Inputs and outputs come first, then larger layers, then shallower ones
    (fewer dots in the module path). With a ``camera``, each label's rectangle is projected
    to the ``window`` (see :func:`label_rectangles`) and a label overlapping one already
    chosen or a badge, or leaving :data:`FRAME`, is dropped; so is one that would overlap in
    :data:`SMALL_WINDOW` at its smaller font (:func:`window_font_size`), or overlap one of
    the ``avoid`` rectangles (say, the legend's: :func:`legend_rectangle`). Without a camera,
    labels are kept apart along x.

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
    ranked_texts = [texts[i] for i in ranked]
    anchors = label_anchors(layout, ranked, camera=camera, texts=ranked_texts, font_size=font_size)
    rects = _both_windows(anchors, ranked_texts, camera, window, font_size)
    badges = badge_rectangles(layout, camera, window)
    badge_owner = np.array([b["node"] for b in layout.badges], dtype=int)
    blocked = np.empty((0, 4)) if avoid is None else np.asarray(avoid, dtype=float).reshape(-1, 4)
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
        if not inside or overlapping(np.vstack([taken, others, blocked]), rect).any():
            continue
        chosen.append(i)
        taken = np.vstack([taken, rect])
    return sorted(chosen)


def label_anchors(
    layout: Layout,
    indices: Sequence[int],
    *,
    camera: Camera | None = None,
    texts: Sequence[str] | None = None,
    window: tuple[int, int] = WINDOW_SIZE,
    font_size: int = FONT_SIZE,
) -> np.ndarray:
    """Where each label stands: just above the top of its glyph.

    With a ``camera`` and the labels' ``texts``, a label that would run past the left or right
    edge of :data:`FRAME` (in ``window`` or in :data:`SMALL_WINDOW`) is moved sideways (along
    the camera's right) just enough to stay inside, as long as it fits at all.
    """
    idx = np.asarray(indices, dtype=int)
    anchors = layout.positions[idx].copy()
    anchors[:, 2] += layout.sizes[idx, 2] / 2 + 0.15
    if camera is None or texts is None or not len(idx):
        return anchors
    rects = _both_windows(anchors, texts, camera, window, font_size)
    # a pixel inside the edges, so rounding cannot leave a moved label touching them
    left, right = FRAME[0] * window[0] + 1, FRAME[2] * window[0] - 1
    fits = rects[:, 2] - rects[:, 0] <= right - left
    shift = np.where(
        fits, np.maximum(left - rects[:, 0], 0) - np.maximum(rects[:, 2] - right, 0), 0.0
    )
    # pixels to scene units at each anchor's depth
    position = np.asarray(camera.position, dtype=float)
    forward = np.asarray(camera.focal_point, dtype=float) - position
    forward /= np.linalg.norm(forward)
    side = np.cross(forward, np.asarray(camera.up, dtype=float))
    side /= np.linalg.norm(side)
    focal = window[1] / 2 / np.tan(np.radians(camera.view_angle) / 2)
    depth = (anchors - position) @ forward
    return anchors + side * (shift * depth / focal)[:, None]


def _both_windows(
    anchors: np.ndarray,
    texts: Sequence[str],
    camera: Camera,
    window: tuple[int, int],
    font_size: int,
) -> np.ndarray:
    """Label rectangles in ``window`` joined with those in :data:`SMALL_WINDOW` (scaled to
    ``window``), where the font shrinks less than the picture (:func:`window_font_size`)."""
    rects = label_rectangles(anchors, texts, camera, window, font_size)
    small = label_rectangles(
        anchors, texts, camera, SMALL_WINDOW, window_font_size(SMALL_WINDOW, font_size)
    )
    small *= np.tile([window[0] / SMALL_WINDOW[0], window[1] / SMALL_WINDOW[1]], 2)
    return np.column_stack(
        [np.minimum(rects[:, :2], small[:, :2]), np.maximum(rects[:, 2:], small[:, 2:])]
    )


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

    Each rectangle is the text's extent as VTK lays it out (:func:`text_extent`), grown by
    :data:`LABEL_MARGIN` on every side; its bottom edge stands on the projected anchor, as
    PyVista's point labels do.
    """
    centre = project(anchors, camera, window)
    extent = np.array([text_extent(t, font_size) for t in texts], dtype=float).reshape(-1, 2)
    width, height = extent[:, 0] + 2 * LABEL_MARGIN, extent[:, 1] + LABEL_MARGIN
    return np.column_stack(
        [
            centre[:, 0] - width / 2,
            centre[:, 1] - height,
            centre[:, 0] + width / 2,
            centre[:, 1] + LABEL_MARGIN,
        ]
    )


@lru_cache(maxsize=4096)
def text_extent(text: str, font_size: int, bold: bool = False) -> tuple[int, int]:
    """Width and height in pixels of ``text`` drawn in VTK's default font (Arial) at
    ``font_size``, measured by VTK's own text renderer (what the labels are drawn with).

    Examples
    --------
    >>> w, h = text_extent("layer2.0.conv1 \u00b7 Conv2d", 13)
    >>> h >= 12 and 120 < w < 200
    True
    """
    prop = vtk.vtkTextProperty()
    prop.SetFontFamilyToArial()
    prop.SetFontSize(int(font_size))
    prop.SetBold(bool(bold))
    box = [0, 0, 0, 0]
    _TEXT_RENDERER.GetBoundingBox(prop, str(text), box, 72)
    return box[1] - box[0] + 1, box[3] - box[2] + 1


_TEXT_RENDERER = vtk.vtkTextRenderer()


def legend_rectangle(text: str, window: tuple[int, int] = WINDOW_SIZE) -> np.ndarray:
    """Screen rectangle of a legend drawn in the lower left corner (``add_text`` at
    ``"lower_left"``, font size 9): VTK's corner annotation draws it about
    :data:`LEGEND_LINE` pixels a line at 1280x720, scaled with the window's height.

    Examples
    --------
    >>> [float(v) for v in legend_rectangle("one line\\nand another")]
    [0.0, 684.0, 97.0, 720.0]
    """
    lines = str(text).splitlines() or [""]
    scale = window[1] / WINDOW_SIZE[1]
    width = max(text_extent(line, LEGEND_LINE)[0] for line in lines) + 8
    height = LEGEND_LINE * len(lines) + 8
    return np.array([0.0, window[1] - height * scale, width * scale, float(window[1])])


def window_font_size(window: tuple[int, int], base: int = FONT_SIZE) -> int:
    """Font size for a window: ``base`` at 1280x720, growing and shrinking with the square root
    of the window's scale (its height against 720 px, or width against 1280 px if less), never
    under :data:`MIN_FONT_SIZE`.

    Examples
    --------
    >>> window_font_size((1280, 720)), window_font_size((640, 360)), window_font_size((1920, 1080))
    (13, 9, 16)
    """
    scale = min(window[0] / WINDOW_SIZE[0], window[1] / WINDOW_SIZE[1])
    return max(MIN_FONT_SIZE, int(round(base * np.sqrt(max(scale, 0.0)))))


def badge_rectangles(
    layout: Layout, camera: Camera, window: tuple[int, int] = WINDOW_SIZE
) -> np.ndarray:
    """Screen rectangles of the ``xN`` badges of folded blocks (drawn centred, bold, boxed)."""
    if not layout.badges:
        return np.empty((0, 4))
    where = np.array([b["position"] for b in layout.badges], dtype=float)
    centre = project(where, camera, window)
    # bold text in a rounded box with a margin (PyVista's shape="rounded_rect")
    extent = np.array([text_extent(b["text"], BADGE_SIZE, True) for b in layout.badges])
    width = extent[:, 0] + 14.0
    half_height = (extent[:, 1] + 8.0) / 2
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
