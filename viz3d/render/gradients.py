"""Training diagnostics drawn on the architecture: gradient-norm colouring and Grad-CAM planes.

Both start from a :class:`viz3d.layout.Layout` of the model and add to the usual layer scene:
outlines around layers whose gradients vanish or explode, or textured planes holding the input
image, its Grad-CAM overlay and the feature maps of the chosen layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyvista as pv

from viz3d.errors import RenderError
from viz3d.layout import Layout
from viz3d.render.builder import build_scene, fit_camera
from viz3d.render.colors import ValueColoring
from viz3d.render.scene import Scene

# magenta, not cyan: module containers are drawn in blues
VANISHING = ("magenta", "#ff4fd8")
EXPLODING = ("red", "#ff4d6d")
FOREGROUND = "#e8eaf0"


def _node_indices(layout: Layout, modules: Sequence[str]) -> list[int]:
    wanted = set(modules)
    return [
        i
        for i, n in enumerate(layout.nodes)
        if n.get("module") in wanted and n.get("kind") == "module"
    ]


def _outline(layout: Layout, indices: list[int], grow: float = 1.25) -> pv.PolyData:
    boxes = []
    for i in indices:
        centre, size = layout.positions[i], np.maximum(layout.sizes[i], 0.2) * grow
        lo, hi = centre - size / 2, centre + size / 2
        boxes.append(pv.Box(bounds=(lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])).extract_all_edges())
    return pv.merge(boxes) if len(boxes) > 1 else boxes[0]


def render_gradient_flow(
    layout: Layout,
    grad_norms: Mapping[str, float],
    *,
    vanishing: Sequence[str] = (),
    exploding: Sequence[str] = (),
    title: str | None = None,
) -> Scene:
    """The architecture coloured by log10 gradient norm, flagged layers outlined.

    Vanishing layers get a magenta outline, exploding ones a red outline; the legend says which.

    Examples
    --------
    >>> import torch, viz3d
    >>> from viz3d.layout import compute_layout
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
    >>> layout = compute_layout(viz3d.trace(model, torch.randn(2, 4)))
    >>> scene = render_gradient_flow(layout, {"0": 1e-6, "1": 1.0}, vanishing=["0"])
    >>> "vanishing" in [a.name for a in scene.actors]
    True
    """
    heading = title or f"{layout.info.get('model_name') or 'model'} - gradient flow"
    scene = build_scene(layout, color_by=ValueColoring("gradient norm", grad_norms), title=heading)
    notes = []
    for name, flagged, (colour_name, colour) in (
        ("vanishing", vanishing, VANISHING),
        ("exploding", exploding, EXPLODING),
    ):
        indices = _node_indices(layout, flagged)
        if indices:
            scene.add_mesh(
                _outline(layout, indices),
                name=name,
                color=colour,
                line_width=3,
                render_lines_as_tubes=True,
            )
            notes.append(f"{name} gradients ({len(indices)} layers): {colour_name} outline")
    scene.add_text(
        "\n".join(notes) or "no vanishing or exploding gradients",
        position="lower_right",
        font_size=11,
        color=FOREGROUND,
        name="flags",
    )
    scene.metadata["gradient_flagged"] = {
        "vanishing": list(vanishing),
        "exploding": list(exploding),
    }
    return scene


def _texture(image: np.ndarray, min_pixels: int = 64) -> pv.Texture:
    """A texture from an H x W x 3 array in [0, 1] or uint8, upsampled so pixels stay crisp."""
    rgb = np.asarray(image)
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    repeat = max(1, int(np.ceil(min_pixels / max(rgb.shape[:2]))))
    rgb = np.repeat(np.repeat(rgb, repeat, axis=0), repeat, axis=1)
    # an upright plane's texture coordinates run u along z and v along -x: hand VTK the mirrored
    # transpose so the picture reads upright from the front
    texture = pv.Texture(np.ascontiguousarray(rgb[:, ::-1].transpose(1, 0, 2)))
    texture.interpolate = False
    return texture


def _upright_plane(centre: np.ndarray, width: float, height: float) -> pv.PolyData:
    """A plane standing in the x-z plane (facing the default front-left camera)."""
    return pv.Plane(center=tuple(centre), direction=(0, -1, 0), i_size=height, j_size=width)


def _colourise(values: np.ndarray, cmap: str = "magma") -> np.ndarray:
    from matplotlib import colormaps

    finite = np.isfinite(values)
    low = float(values[finite].min()) if finite.any() else 0.0
    high = float(values[finite].max()) if finite.any() else 0.0
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    # non-finite pixels get the map's "bad" colour (black) instead of poisoning the range
    return colormaps[cmap](np.where(finite, scaled, np.nan))[..., :3]


def render_grad_cam(
    layout: Layout,
    image: np.ndarray,
    overlay: np.ndarray,
    features: np.ndarray,
    *,
    layer: str,
    target: object,
    title: str | None = None,
) -> Scene:
    """The architecture with the input, its Grad-CAM overlay and ``layer``'s feature maps as planes.

    The input and the overlay stand above the model's input; up to 16 feature maps stand in a
    grid above the chosen layer, which is outlined.

    Examples
    --------
    >>> import torch, viz3d
    >>> from viz3d.layout import compute_layout
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
    ...                             torch.nn.Flatten(), torch.nn.Linear(256, 2))
    >>> cam = viz3d.grad_cam(model, torch.rand(1, 8, 8), target=1)
    >>> layout = compute_layout(viz3d.trace(model, torch.rand(1, 1, 8, 8)))
    >>> scene = render_grad_cam(layout, cam.image, cam.overlay(), cam.features, layer="0", target=1)
    >>> sorted(a.name for a in scene.actors if a.name.startswith("cam-"))[:3]
    ['cam-feature-0', 'cam-feature-1', 'cam-feature-2']
    """
    layer_nodes = _node_indices(layout, [layer])
    if not layer_nodes:
        raise RenderError(
            f"layer {layer!r} is not drawn in this layout (collapsed or folded?); "
            "render at op level (depth=None, fold=False)"
        )
    heading = (
        title
        or f"{layout.info.get('model_name') or 'model'} - Grad-CAM of target {target} at {layer}"
    )
    scene = build_scene(layout, color_by="activation", title=heading)
    lo, hi = layout.bounds
    side = 0.18 * float(max(hi[0] - lo[0], 4.0))
    inputs = [i for i, n in enumerate(layout.nodes) if n.get("kind") == "input"] or [0]
    base = layout.positions[inputs[0]]
    top = float(hi[2]) + 0.75 * side
    for k, (name, picture) in enumerate((("cam-input", image), ("cam-overlay", overlay))):
        centre = np.array([base[0] + k * 1.1 * side, base[1], top])
        scene.add_mesh(_upright_plane(centre, side, side), name=name, texture=_texture(picture))
    scene.add_point_labels(
        [[base[0], base[1], top + 0.6 * side], [base[0] + 1.1 * side, base[1], top + 0.6 * side]],
        ["input", f"Grad-CAM (target {target})"],
        name="cam-labels",
        font_size=12,
        text_color=FOREGROUND,
        shape_opacity=0.0,
        show_points=False,
    )
    node = layer_nodes[-1]
    maps = np.asarray(features)[:16]
    columns = int(np.ceil(np.sqrt(len(maps))))
    cell = 0.5 * side
    anchor = layout.positions[node]
    # above the layer, but never over the overlay plane (short models put them side by side)
    overlay_right = base[0] + 1.6 * side
    grid_x = max(float(anchor[0]), overlay_right + 0.2 * side + columns * 1.1 * cell / 2)
    for k, fmap in enumerate(maps):
        row, col = divmod(k, columns)
        centre = np.array(
            [
                grid_x + (col - (columns - 1) / 2) * 1.1 * cell,
                anchor[1],
                top - 0.5 * side + (row + 0.5) * 1.1 * cell,
            ]
        )
        scene.add_mesh(
            _upright_plane(centre, cell, cell),
            name=f"cam-feature-{k}",
            texture=_texture(_colourise(fmap)),
        )
    scene.add_mesh(
        _outline(layout, [node]),
        name="cam-layer",
        color="#ffd166",
        line_width=3,
        render_lines_as_tubes=True,
    )
    bounds = np.asarray(scene.bounds)
    fit_camera(scene, bounds[0::2], bounds[1::2])
    scene.metadata["grad_cam"] = {"layer": layer, "target": str(target), "feature_maps": len(maps)}
    return scene


def gradient_dynamics_movie(
    layout: Layout,
    snapshots: Sequence[Mapping[str, float]],
    steps: Sequence[int],
    path: str | os.PathLike,
    *,
    seconds_per_snapshot: float = 0.5,
    fps: int = 12,
    window_size: tuple[int, int] = (1280, 720),
    progress: bool = True,
) -> Path:
    """A video of the architecture recoloured by gradient norm, one snapshot after another.

    The colour range is fixed over the whole video (log10 of the smallest and largest norm
    seen), so a layer that fades is really losing gradient. Written atomically.

    Examples
    --------
    >>> import os, tempfile, torch, viz3d
    >>> from viz3d.layout import compute_layout
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
    >>> layout = compute_layout(viz3d.trace(model, torch.randn(2, 4)))
    >>> out = gradient_dynamics_movie(layout, [{"0": 1.0, "1": 2.0}, {"0": 0.1, "1": 2.0}], [0, 10],
    ...                               os.path.join(tempfile.mkdtemp(), "g.gif"), fps=4,
    ...                               window_size=(96, 64), progress=False)
    >>> out.suffix
    '.gif'
    """
    from viz3d.render.pyvista.movie import MovieWriter, even_size
    from viz3d.render.pyvista.plotter import build_plotter, draw

    if not snapshots:
        raise RenderError(
            "no gradient snapshots to film: record some with viz3d.watch(model, every=N)"
        )
    values = np.array([v for snap in snapshots for v in snap.values() if 0 < v < np.inf])
    clim = (
        (float(np.log10(values.min())), float(np.log10(values.max())))
        if len(values)
        else (0.0, 1.0)
    )
    if clim[0] == clim[1]:
        clim = (clim[0] - 0.5, clim[1] + 0.5)
    hold = max(1, round(seconds_per_snapshot * fps))
    size = even_size(window_size)
    name = layout.info.get("model_name") or "model"
    scenes = (
        build_scene(
            layout,
            color_by=ValueColoring("gradient norm", snap, clim=clim),
            title=f"{name} - gradient norms at step {step}",
        )
        for snap, step in zip(snapshots, steps)
    )
    first = next(scenes)
    plotter = build_plotter(first, True, size, interactive=False)
    try:
        with MovieWriter(path, fps, size, total=hold * len(snapshots), progress=progress) as movie:
            for scene in [first, *scenes]:
                if scene is not first:
                    # only the colours and the title change from one snapshot to the next
                    draw(plotter, scene, names={"layers", "ops", "title"})
                frame = plotter.screenshot(return_img=True)
                for _ in range(hold):
                    movie.append(frame)
    finally:
        plotter.close()
    return Path(path)
