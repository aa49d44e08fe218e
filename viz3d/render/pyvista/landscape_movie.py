"""Loss-landscape videos: an orbit around one surface, and a surface morphing over training."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viz3d.errors import RenderError
from viz3d.render.landscape import Scale, render_landscape, surface_geometry
from viz3d.render.pyvista.movie import MovieWriter, even_size, orbit_movie
from viz3d.render.pyvista.plotter import build_plotter, draw


def landscape_orbit_movie(
    landscape: Any,
    path: str | os.PathLike,
    *,
    seconds: float = 10,
    fps: int = 30,
    window_size: tuple[int, int] = (1920, 1080),
    elevation: float = 35.0,
    scale: Scale = "linear",
    progress: bool = True,
    **render_options: Any,
) -> Path:
    """Orbit the camera around a landscape's surface; the movie loops seamlessly.

    ``render_options`` go to :func:`viz3d.render.landscape.render_landscape`; the rest are as in
    :func:`viz3d.render.pyvista.movie.orbit_movie` (atomic write, progress bar, MP4 or GIF).

    Examples
    --------
    >>> import os, tempfile
    >>> from viz3d.landscape import Landscape
    >>> axis = np.linspace(-1, 1, 9)
    >>> bowl = Landscape((axis, axis), np.add.outer(axis**2, axis**2), np.ones((9, 9), bool))
    >>> out = landscape_orbit_movie(bowl, os.path.join(tempfile.mkdtemp(), "bowl.gif"), seconds=1,
    ...                             fps=4, window_size=(96, 64), progress=False)
    >>> out.suffix
    '.gif'
    """
    scene = render_landscape(landscape, scale=scale, **render_options)
    return orbit_movie(
        scene,
        path,
        seconds=seconds,
        fps=fps,
        window_size=window_size,
        elevation=elevation,
        progress=progress,
    )


def _blend(a: Any, b: Any, t: float) -> Any:
    losses = (1 - t) * np.asarray(a.losses, dtype=float) + t * np.asarray(b.losses, dtype=float)
    trajectory = a.trajectory
    if a.trajectory is not None and b.trajectory is not None:
        coords = (1 - t) * a.trajectory.coords + t * b.trajectory.coords
        trajectory = dataclasses.replace(a.trajectory, coords=coords)
    return dataclasses.replace(a, losses=losses, done=a.done & b.done, trajectory=trajectory)


def evolution_movie(
    landscapes: Sequence[Any],
    path: str | os.PathLike,
    *,
    seconds: float = 8,
    fps: int = 24,
    window_size: tuple[int, int] = (1280, 720),
    scale: Scale = "linear",
    labels: Sequence[str] | None = None,
    progress: bool = True,
) -> Path:
    """Morph a surface through a sequence of landscapes (one per training checkpoint).

    The landscapes must share their grid (as :func:`viz3d.landscape.evolution.landscape_evolution`
    makes them). Heights and colours use one scale for the whole movie, so a valley that
    deepens is seen deepening; the centre marker is the current checkpoint and the tube its
    training path. Frames between two checkpoints blend their losses linearly.

    Examples
    --------
    >>> import os, tempfile
    >>> from viz3d.landscape import Landscape
    >>> axis = np.linspace(-1, 1, 9)
    >>> bowl, mask = np.add.outer(axis**2, axis**2), np.ones((9, 9), bool)
    >>> frames = [Landscape((axis, axis), k * bowl + 1, mask) for k in (1, 2, 3)]
    >>> evolution_movie(frames, os.path.join(tempfile.mkdtemp(), "e.mp4"), seconds=1, fps=6,
    ...                 window_size=(96, 64), progress=False).suffix
    '.mp4'
    """
    if len(landscapes) < 2:
        raise RenderError(f"an evolution movie needs at least 2 landscapes, got {len(landscapes)}")
    shapes = {np.shape(ls.losses) for ls in landscapes}
    if len(shapes) != 1 or landscapes[0].dims != 2:
        raise RenderError(f"the landscapes must be 2D on one grid; got shapes {sorted(shapes)}")
    labels = (
        list(labels)
        if labels is not None
        else [f"checkpoint {k + 1}" for k in range(len(landscapes))]
    )
    size = even_size(window_size)
    count = max(2, round(seconds * fps))
    xs, ys = landscapes[0].coords
    extent = float(max(np.ptp(xs), np.ptp(ys))) or 1.0
    everything = np.stack([np.where(ls.done, ls.losses, np.nan) for ls in landscapes])
    geometry = surface_geometry(everything, extent, scale)

    def scene_at(frame: int) -> Any:
        position = frame / (count - 1) * (len(landscapes) - 1)
        k = min(int(position), len(landscapes) - 2)
        t = position - k
        current = _blend(landscapes[k], landscapes[k + 1], t)
        name = labels[k] if t < 0.5 else labels[k + 1]
        return render_landscape(
            current,
            scale=scale,
            geometry=geometry,
            title=f"{name}   loss {current.center_loss:.4g}",
        )

    first = scene_at(0)
    plotter = build_plotter(first, True, size, interactive=False)
    try:
        with MovieWriter(path, fps, size, total=count, progress=progress) as movie:
            for frame in range(count):
                scene = first if frame == 0 else scene_at(frame)
                if frame:
                    draw(plotter, scene)  # same names replace the last frame's; camera stays
                movie.append(plotter.screenshot(return_img=True))
    finally:
        plotter.close()
    return Path(path)
