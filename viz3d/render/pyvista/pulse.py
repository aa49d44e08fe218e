"""The forward-pass pulse: layers light up, in execution order, as a flash runs along the edges.

:class:`Pulse` adds its own actors to a plotter built from a :class:`~viz3d.render.Scene`:

* copies of the ``layers``, ``ops`` and ``neurons`` actors (the originals are hidden) whose
  points carry ``pulse_arrival``, the animation time at which the data reaches their node, and
  ``pulse_rgba``, the colour the scene gives them (activation colour by default);
* ``pulse-edges``: tubes over every edge and skip arc, invisible except where the flash is.

Moving the animation is one call, :meth:`Pulse.set_time`. Where the GL driver accepts the
``shaders/pulse.glsl`` effect, that call sets one float uniform (``pulseTime``) on each pulse
actor and the GPU does the rest; VTK compares uniform *values* without rebuilding the shader
program (only adding or removing a uniform, or changing a replacement, rebuilds it). Elsewhere
the same formula (:func:`pulse_rgba`) runs in numpy and rewrites the per-point colours: the
two paths give the same picture. :attr:`Pulse.mode` says which one is used (also logged).

Arrival times come from the scene alone: node ``i`` of ``scene.node_info`` is reached at the
``i``-th step in execution order (a ``build_scene`` scene keeps the traced graph's execution
order; a node fact ``order`` overrides it), edges are matched to the nodes their ends touch, and
neuron points to the box holding them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyvista as pv
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkDataObject
from vtkmodules.vtkRenderingCore import vtkActor
from vtkmodules.vtkRenderingOpenGL2 import vtkOpenGLPolyDataMapper

from viz3d.errors import RenderError
from viz3d.render.pyvista import shaders
from viz3d.render.pyvista.camera_paths import ForwardPath, forward_path

log = logging.getLogger(__name__)

PulseMode = Literal["shader", "cpu"]

#: Actors of a ``build_scene`` scene that light up with their node (hidden and replaced).
NODE_ACTORS = ("layers", "ops", "neurons")
#: Actors whose polylines the pulse runs along.
EDGE_ACTORS = ("edges", "skips")

#: Default look of the pulse (uniforms of ``shaders/pulse.glsl``; see :func:`pulse_rgba`).
PULSE_UNIFORMS: dict[str, Any] = shaders.EFFECTS["pulse"]
EDGE_PULSE_COLOR = (0.55, 0.92, 1.0)


def pulse_rgba(
    time: float,
    arrival: np.ndarray,
    rgba: np.ndarray,
    *,
    width: float,
    dim: float = PULSE_UNIFORMS["pulseDim"],
    flash: float = PULSE_UNIFORMS["pulseFlash"],
    color: tuple[float, float, float] = PULSE_UNIFORMS["pulseColor"],
    alpha_floor: float = 1.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Colours at animation ``time`` of points reached at ``arrival`` (``shaders/pulse.glsl``).

    The same formula as the shader, in numpy (the CPU path).

    Before its arrival a point is ``dim`` times its colour; it brightens over one ``width``,
    flashes towards ``color`` when the pulse passes and then keeps its full colour. Opacity
    is ``alpha_floor`` away from the flash and 1 at its peak.

    Parameters
    ----------
    time : float
        Animation time (0 to 1).
    arrival : numpy.ndarray of shape (n,)
        When the pulse reaches each point.
    rgba : numpy.ndarray of shape (n, 4), uint8
        The points' own colours.
    width : float
        Time scale of the flash.
    dim, flash, color, alpha_floor
        As the shader's ``pulseDim``, ``pulseFlash``, ``pulseColor``, ``pulseAlphaFloor``.
    out : numpy.ndarray, optional
        Where to write the result (shape and dtype of ``rgba``).

    Returns
    -------
    numpy.ndarray of shape (n, 4), uint8

    Examples
    --------
    >>> import numpy as np
    >>> from viz3d.render.pyvista.pulse import pulse_rgba
    >>> rgba = np.full((3, 4), 200, dtype=np.uint8)
    >>> pulse_rgba(0.5, np.array([0.0, 0.5, 1.0]), rgba, width=0.05)[:, 0].tolist()
    [200, 236, 50]
    """
    dt = (time - np.asarray(arrival, dtype=np.float32)) / width
    x = np.clip(dt + 1.0, 0.0, 1.0)
    level = dim + (1.0 - dim) * (x * x * (3.0 - 2.0 * x))
    glow = np.exp(-dt * dt)
    mix = (flash * glow)[:, None]
    rgb = (
        rgba[:, :3].astype(np.float32) * level[:, None] * (1.0 - mix)
        + 255.0 * np.asarray(color) * mix
    )
    alpha = rgba[:, 3].astype(np.float32) * (alpha_floor + (1.0 - alpha_floor) * glow)
    result = out if out is not None else np.empty_like(rgba)
    result[:, :3] = np.clip(rgb + 0.5, 0, 255)
    result[:, 3] = np.clip(alpha + 0.5, 0, 255)
    return result


@dataclass
class _PulseActor:
    actor: vtkActor
    arrival: np.ndarray
    base: np.ndarray
    colors: np.ndarray
    vtk_colors: Any
    alpha_floor: float
    flash_color: tuple[float, float, float]


class Pulse:
    """Pulse actors on a plotter built from ``scene``; move them with :meth:`set_time`.

    Parameters
    ----------
    scene : Scene
        The scene the plotter was built from (for node geometry and order).
    plotter : pyvista.Plotter
        Built by ``scene.plotter(...)``; its node actors are hidden and replaced.
    lead, tail : float, default: 0.06, 0.14
        Animation time before the first node is reached and after the last one.
    mode : {"shader", "cpu"}, optional
        Force a path; by default the shader where the driver accepts it, else the CPU.

    Attributes
    ----------
    mode : {"shader", "cpu"}
        The path in use.
    path : ForwardPath
        Nodes in execution order; ``arrival[j]`` is when node ``path.nodes[j]`` lights up.

    Examples
    --------
    >>> import pyvista as pv
    >>> from viz3d.render import Scene
    >>> from viz3d.render.pyvista.pulse import Pulse
    >>> scene = Scene(node_info={0: {"name": "a"}, 1: {"name": "b"}})
    >>> mesh = pv.Cube(center=(0, 0, 0)).merge(pv.Cube(center=(3, 0, 0)))
    >>> mesh.cell_data["node_id"] = [0] * 6 + [1] * 6
    >>> _ = scene.add_mesh(mesh, name="layers", pickable=True, color="tomato")
    >>> pl = scene.plotter(off_screen=True, window_size=(64, 48))
    >>> pulse = Pulse(scene, pl)
    >>> pulse.set_time(0.5)
    >>> pulse.mode in ("shader", "cpu"), pulse.layer_at(0.5)
    (True, 'a')
    >>> pl.close()
    """

    def __init__(
        self,
        scene: Any,
        plotter: pv.Plotter,
        *,
        lead: float = 0.06,
        tail: float = 0.14,
        mode: PulseMode | None = None,
    ) -> None:
        self.path: ForwardPath = forward_path(scene)
        if not len(self.path.nodes):
            raise RenderError(
                "the forward-pass animation needs pickable layer meshes with a 'node_id' cell "
                "array (as build_scene makes); this scene has none"
            )
        n = len(self.path.nodes)
        self.arrival = lead + (1.0 - lead - tail) * np.arange(n) / max(n - 1, 1)
        step = (1.0 - lead - tail) / max(n - 1, 1)
        self.width = float(max(0.45 * step, 0.004))
        self._node_arrival = dict(zip(self.path.nodes.tolist(), self.arrival.tolist()))
        self._actors: list[_PulseActor] = []
        # the first pulse actor tells whether the driver accepts the shader (then cached)
        self.mode: PulseMode = mode or "shader"
        for name in NODE_ACTORS:
            if name in plotter.actors:
                self._replace_node_actor(scene, plotter, name)
        self._add_edge_pulse(plotter, scene)
        log.info(
            "forward-pass pulse drawn by the %s path (%d actors)", self.mode, len(self._actors)
        )

    # ----------------------------------------------------------------- animation
    def set_time(self, time: float) -> None:
        """Show the animation at ``time`` (0: before the input, 1: after the output settled)."""
        for item in self._actors:
            if self.mode == "shader":
                prop = item.actor.GetShaderProperty()
                prop.GetFragmentCustomUniforms().SetUniformf("pulseTime", float(time))
            else:
                pulse_rgba(
                    time,
                    item.arrival,
                    item.base,
                    width=self.width,
                    color=item.flash_color,
                    alpha_floor=item.alpha_floor,
                    out=item.colors,
                )
                item.vtk_colors.Modified()

    def layer_at(self, time: float) -> str:
        """Name of the last node the pulse has reached at ``time`` (empty before the first)."""
        reached = np.flatnonzero(self.arrival <= time + 1e-9)
        return self.path.names[reached[-1]] if len(reached) else ""

    # ----------------------------------------------------------------- actors
    def _replace_node_actor(self, scene: Any, plotter: pv.Plotter, name: str) -> None:
        original = plotter.actors[name]
        mesh = pv.wrap(original.GetMapper().GetInput()).copy()
        if mesh.n_points == 0:
            return
        rgba = _drawn_colors(original, mesh)
        arrival = self._arrival_of_points(mesh)
        effect = next((spec.shader for spec in scene.actors if spec.name == name), None)
        self._add_actor(
            plotter, f"pulse-{name}", mesh, rgba, arrival, original, alpha_floor=1.0, effect=effect
        )
        original.SetVisibility(False)

    def _arrival_of_points(self, mesh: pv.PolyData) -> np.ndarray:
        if "node_id" in mesh.cell_data:
            cell_time = np.array(
                [self._node_arrival.get(int(i), 1.0) for i in mesh.cell_data["node_id"]]
            )
            return _cell_to_point(mesh, cell_time[:, None])[:, 0]
        # neuron points carry no node id: they sit on their layer's box
        owner = _nearest_box(mesh.points, self.path.lo, self.path.hi)
        return self.arrival[owner]

    def _add_edge_pulse(self, plotter: pv.Plotter, scene: Any) -> None:
        lines = [
            line
            for spec in scene.actors
            if spec.name in EDGE_ACTORS and spec.only != "export"
            for line in _polylines(spec.mesh)
        ]
        if not lines:
            return
        radius = 0.035 * float(self.path.sizes.max())
        resampled, times = [], []
        for line in lines:
            src = int(_nearest_box(line[:1], self.path.lo, self.path.hi)[0])
            dst = int(_nearest_box(line[-1:], self.path.lo, self.path.hi)[0])
            t0, t1 = sorted((self.arrival[src], self.arrival[dst]))
            if src > dst:
                line = line[::-1]
            dense, frac = _resample(line, step=radius)
            resampled.append(dense)
            times.append(t0 + (t1 - t0) * frac)
        tubes = _tubes(resampled, np.concatenate(times), radius)
        rgba = np.tile(
            np.array([*(np.array(EDGE_PULSE_COLOR) * 255), 255], dtype=np.uint8),
            (tubes.n_points, 1),
        )
        self._add_actor(
            plotter,
            "pulse-edges",
            tubes,
            rgba,
            tubes.point_data["pulse_arrival"],
            None,
            alpha_floor=0.0,
        )

    def _add_actor(
        self,
        plotter: pv.Plotter,
        name: str,
        mesh: pv.PolyData,
        rgba: np.ndarray,
        arrival: np.ndarray,
        original: vtkActor | None,
        *,
        alpha_floor: float,
        effect: str | None = None,
    ) -> None:
        mesh = mesh.copy(deep=False)
        colors = np.ascontiguousarray(rgba, dtype=np.uint8)
        base = colors.copy()
        vtk_colors = numpy_to_vtk(colors, deep=False)
        vtk_colors.SetName("pulse_rgba")
        mesh.GetPointData().AddArray(vtk_colors)
        mesh.point_data["pulse_arrival"] = np.asarray(arrival, dtype=np.float32)

        mapper = vtkOpenGLPolyDataMapper()
        mapper.SetInputData(mesh)
        mapper.SetScalarModeToUsePointFieldData()
        mapper.SelectColorArray("pulse_rgba")
        mapper.SetColorModeToDirectScalars()
        mapper.ScalarVisibilityOn()
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        if original is not None:
            prop.DeepCopy(original.GetProperty())
        else:
            prop.SetAmbient(0.6)
            prop.SetDiffuse(0.6)
            prop.SetSpecular(0.0)
        if alpha_floor < 1.0:
            # below 1 VTK draws the actor in the translucent pass, where per-point alpha blends
            prop.SetOpacity(0.999)
        if self.mode == "shader":
            mapper.MapDataArrayToVertexAttribute(
                "pulseArrival", "pulse_arrival", vtkDataObject.FIELD_ASSOCIATION_POINTS, -1
            )
            accepted = shaders.apply_shader(
                actor,
                "pulse",
                pulseWidth=self.width,
                pulseAlphaFloor=alpha_floor,
                pulseAmbient=prop.GetAmbient(),
                pulseDiffuse=prop.GetDiffuse(),
                pulseColor=self._flash_color(original),
            )
            if not accepted:
                log.info(
                    "the GL driver rejected shaders/pulse.glsl; animating the pulse on the CPU"
                )
                self.mode = "cpu"
        if effect:
            # the scene's own effect (the neurons' glow) goes on the replacement too
            shaders.apply_shader(actor, effect)
        plotter.add_actor(actor, name=name, reset_camera=False, pickable=False)
        # the CPU path writes into `colors`, which VTK shares through `vtk_colors`
        self._actors.append(
            _PulseActor(
                actor,
                np.asarray(arrival, dtype=np.float32),
                base,
                colors,
                vtk_colors,
                alpha_floor,
                self._flash_color(original),
            )
        )

    @staticmethod
    def _flash_color(original: vtkActor | None) -> tuple[float, float, float]:
        """Layers flash warm white; the edge tubes, already pulse-coloured, flash pure white."""
        return PULSE_UNIFORMS["pulseColor"] if original is not None else (1.0, 1.0, 1.0)


# ----------------------------------------------------------------- geometry helpers
def _drawn_colors(actor: vtkActor, mesh: pv.PolyData) -> np.ndarray:
    """Per-point RGBA (uint8) as the actor draws ``mesh``: mapped scalars or its solid colour."""
    mapper = actor.GetMapper()
    prop = actor.GetProperty()
    name = mapper.GetArrayName()
    cell = mapper.GetScalarModeAsString() in ("UseCellData", "UseCellFieldData")
    data = mesh.cell_data if cell else mesh.point_data
    if mapper.GetScalarVisibility() and name and name in data:
        values = np.asarray(data[name])
        if values.dtype == np.uint8 and values.ndim == 2:
            rgba = np.column_stack([values[:, :3], np.full(len(values), 255, np.uint8)])
        else:
            lut = mapper.GetLookupTable()
            lut.SetRange(mapper.GetScalarRange())
            mapped = lut.MapScalars(numpy_to_vtk(np.ascontiguousarray(values, dtype=float)), 1, -1)
            rgba = vtk_to_numpy(mapped).reshape(len(values), 4).copy()
        if cell:
            rgba = _cell_to_point(mesh, rgba.astype(float)).round().astype(np.uint8)
        return rgba
    color = np.array(prop.GetColor()) * 255
    return np.tile(np.array([*color, 255]).round().astype(np.uint8), (mesh.n_points, 1))


def _cell_to_point(mesh: pv.PolyData, values: np.ndarray) -> np.ndarray:
    """Average cell values onto points (exact for glyph meshes, whose points belong to one node)."""
    probe = mesh.copy(deep=False)
    for k in range(values.shape[1]):
        probe.cell_data[f"v{k}"] = values[:, k]
    probe = probe.cell_data_to_point_data()
    return np.column_stack([probe.point_data[f"v{k}"] for k in range(values.shape[1])])


def _nearest_box(
    points: np.ndarray, lo: np.ndarray, hi: np.ndarray, chunk: int = 4096
) -> np.ndarray:
    """Index of the axis-aligned box closest to each point (0 distance inside a box)."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    out = np.empty(len(points), dtype=int)
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk, None, :]
        gap = np.maximum(np.maximum(lo[None] - p, p - hi[None]), 0.0)
        out[start : start + chunk] = np.argmin((gap**2).sum(axis=2), axis=1)
    return out


def _polylines(mesh: Any) -> list[np.ndarray]:
    """The points of each line cell of a ``MeshData``."""
    return [mesh.points[ids] for ids in mesh.cells("lines")]


def _resample(line: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ~``step`` along a polyline (at least 16) and their arc-length fractions.

    Dense points keep the CPU path (per-point colours) looking like the per-fragment shader.
    """
    seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    total = arc[-1]
    if total <= 0:
        return line[:1].repeat(2, axis=0), np.array([0.0, 1.0])
    frac = np.linspace(0.0, 1.0, int(np.clip(total / step, 16, 400)))
    dense = np.column_stack([np.interp(frac * total, arc, line[:, k]) for k in range(3)])
    return dense, frac


def _tubes(lines: list[np.ndarray], arrival: np.ndarray, radius: float) -> pv.PolyData:
    counts = [len(p) for p in lines]
    offsets = np.cumsum([0] + counts[:-1])
    cells = np.concatenate(
        [np.concatenate([[n], o + np.arange(n)]) for n, o in zip(counts, offsets)]
    )
    poly = pv.PolyData(np.concatenate(lines), lines=cells)
    poly.point_data["pulse_arrival"] = arrival.astype(np.float32)
    return poly.tube(radius=radius, n_sides=8, capping=False)
